"""`probe --symbolic`'s files: a `kan` node's edge functions fitted on the range its inputs take over
the split (symbolic.py fits them), written as `formulas.txt` — each edge, each output of the layer,
and a chain of kan layers as one formula — and drawn against the learned curves (`symbolic.png`)."""

from __future__ import annotations

import math
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from rich.console import Console

from ..train.progress import work_bar
from .symbolic import LIBRARY, LayerFormulas, four_digits, layer_formulas, simplified


def input_ranges(module, layer, inputs: list[str], split, batch_size: int = 256) -> np.ndarray:
    """The range (in, 2) of each input of `layer` over the split, caught on its way into the layer."""
    low, high = None, None

    def hook(_module, args):
        nonlocal low, high
        x = args[0].detach().reshape(-1, args[0].shape[-1]).double()
        low = x.min(0).values if low is None else torch.minimum(low, x.min(0).values)
        high = x.max(0).values if high is None else torch.maximum(high, x.max(0).values)

    handle = layer.register_forward_pre_hook(hook)
    try:
        with torch.no_grad():
            for start in range(0, len(split), batch_size):
                batch = split.batch(torch.arange(start, min(start + batch_size, len(split))))
                module(*[batch.inputs[name] for name in inputs])
    finally:
        handle.remove()
    ranges = torch.stack([low, high], dim=1).cpu().numpy()
    ranges[:, 1] = np.maximum(ranges[:, 1], ranges[:, 0] + 1e-6)  # an input constant over the split
    return ranges


def symbolic_probe(
    module, checked, node: str, inputs: list[str], split, out: Path, console: Console | None = None
) -> dict[Path, str]:
    """Write `formulas.txt` and `symbolic.png` for the `kan` node's layer, fitted on the split's range;
    the fits' progress shows on `console` (None: quiet)."""
    from .activations import stages

    layers = stages(module, checked)
    chain = [*_kan_chain(checked, node), node]
    total = sum(layers[name].base_weight.numel() for name in chain) * len(LIBRARY)  # an edge per function
    progress, advance = work_bar(console, "fitting edge functions", total) if console else (nullcontext(), None)
    with progress:
        ranges = input_ranges(module, layers[node], inputs, split)
        formulas, xs, ys = layer_formulas(layers[node], ranges, advance)
        chained = _chain(module, checked, node, inputs, split, formulas, advance)
    source = checked.graph.nodes[node].inputs[0]
    lines = [
        f"# {node}: each edge function φ(x_i → y_o) fitted as c·f(a·x + b) + d on the inputs' range over the split",
        f"# x_i: the i-th value of {source}; y_o: the o-th value of {node}; R² of the fit on that range",
        "",
    ]
    for o, row in enumerate(formulas.edges):
        for i, fit in enumerate(row):
            shown = simplified([fit], [f"x_{i + 1}"], most=0)  # simplify costs 40 ms an edge and changes little
            low, high = ranges[i]
            lines.append(
                f"y_{o + 1} <- x_{i + 1}  {fit.function:<8} R² = {fit.r2:.4f}  on [{low:.3g}, {high:.3g}]  {shown}"
            )
    lines += ["", f"# {node} as formulas in its inputs (Σ over the edges, simplified with sympy)"]
    lines += [f"y_{o + 1} = {formula}" for o, formula in enumerate(formulas.outputs)]
    lines += chained
    (out / "formulas.txt").write_text("\n".join(lines) + "\n")
    _symbolic_figure(formulas, xs, ys, node, out / "symbolic.png")
    edges = sum(len(row) for row in formulas.edges)
    return {
        out / "formulas.txt": f"the {edges} edge functions as formulas with their R², and the layer's outputs",
        out / "symbolic.png": "each learned function against its formula",
    }


def _kan_chain(checked, node: str) -> list[str]:
    """The kan layers the node reads through kan layers only, first first."""
    graph, chain = checked.graph, []
    source = graph.nodes[node].inputs[0]
    while graph.nodes[source].block == "kan":
        chain.insert(0, source)
        source = graph.nodes[source].inputs[0]
    return chain


def _chain(module, checked, node: str, inputs: list[str], split, last: LayerFormulas, advance=None) -> list[str]:
    """Where the node reads a chain of kan layers, the chain as one formula in the chain's inputs: each
    layer's fits with the previous layer's formulas put in for its inputs (rounded, not simplified)."""
    from .activations import stages

    chain = _kan_chain(checked, node)
    if not chain:
        return []
    source = checked.graph.nodes[chain[0]].inputs[0]
    layers = stages(module, checked)
    values = None  # the current layer's inputs as expressions; None: the chain's own inputs x_1 … x_n
    for name in chain:
        formulas, _, _ = layer_formulas(layers[name], input_ranges(module, layers[name], inputs, split), advance)
        values = _composed(formulas, values)
    outputs = [_rounded(expression) for expression in _composed(last, values)]
    path = " → ".join([*chain, node])
    return ["", f"# {path} as formulas in x_i, the i-th value of {source} (each layer's fits put in the next)"] + [
        f"y_{o + 1} = {str(expression).replace('**', '^')}" for o, expression in enumerate(outputs)
    ]


def _composed(formulas: LayerFormulas, values: list | None) -> list:
    """Each output of the layer with `values` put in for its inputs (None: the symbols x_1 … x_n). Every
    function applied in it is frozen into a symbol named by its text (rounded), so the next layer's
    composition leaves it alone: sympy asking its assumptions of functions nested in functions took
    minutes on a 64-wide layer, and nothing outside a function's argument changes it."""
    import sympy

    outputs = [
        sympy.Add(*(fit.expression(values[i] if values else sympy.Symbol(f"x_{i + 1}")) for i, fit in enumerate(row)))
        for row in formulas.edges
    ]
    applied = {
        node
        for output in outputs
        for node in sympy.preorder_traversal(output)
        if isinstance(node, sympy.Function | sympy.Pow)
    }
    names = {node: sympy.Symbol(str(_rounded(node)).replace("**", "^")) for node in applied}
    return [output.xreplace(names) for output in outputs]


def _rounded(expression):
    import sympy

    return expression.xreplace({n: four_digits(float(n)) for n in expression.atoms(sympy.Float)})


def _symbolic_figure(formulas: LayerFormulas, xs: np.ndarray, ys: np.ndarray, node: str, path: Path, most=24):
    from matplotlib.figure import Figure

    from .plots import DPI

    spread = (ys.max(-1) - ys.min(-1)).ravel()
    chosen = np.argsort(-spread)[:most]
    columns = min(len(chosen), 4)
    rows = math.ceil(len(chosen) / columns)
    figure = Figure(figsize=(max(3.2 * columns, 5.5), 2.5 * rows + 0.5))
    grid = np.atleast_1d(figure.subplots(rows, columns, squeeze=False)).ravel()
    for axes in grid[len(chosen) :]:
        axes.axis("off")
    inputs = ys.shape[1]
    for axes, index in zip(grid, chosen):
        o, i = divmod(int(index), inputs)
        fit = formulas.edges[o][i]
        axes.plot(xs[i], ys[o, i], label="learned", linewidth=2, alpha=0.6)
        with np.errstate(all="ignore"):
            axes.plot(xs[i], fit(xs[i]), "--", color="black", linewidth=1, label=fit.function)
        axes.set_title(f"x_{i + 1} → y_{o + 1}: {fit.function}, R² {fit.r2:.3f}", fontsize=8)
        axes.tick_params(labelsize=7)
        axes.legend(fontsize=6, loc="best")
    shown = f"the {len(chosen)} of largest range, of {len(spread)}" if len(chosen) < len(spread) else "every edge"
    figure.suptitle(f"{node}: learned functions and their symbolic fits ({shown})", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=DPI)
