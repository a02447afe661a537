"""The compiler's public entry points: check a spec, summarise it, generate and build its module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..blocks.registry import PluginError, load_plugins
from ..blocks.tensor_type import TensorType
from ..dsl.errors import SpecError, SpecErrors
from .build_graph import build_graph, select_model
from .codegen import Generated, generate_source, load_module_class
from .evaluate import EvalError, LetTable
from .expansion import MAX_NODES
from .freezing import apply_freezing
from .infer_shapes import infer_shapes
from .loader import load_program, read_source
from .model_graph import ModelGraph, NodeGraph
from .naming import assign_attributes, assign_layout, module_path
from .run_sizes import check_run_sizes
from .sharing import check_shares
from .summary import Summary, summarize

# Draws a checked model as SVG text for notebooks (None: no drawing, plain text). Set by `render`
# when it is imported, so that the compiler, below render in the stack, never imports it.
_svg_display: Callable[[CheckedModel], str | None] | None = None


def set_svg_display(draw: Callable[[CheckedModel], str | None]) -> None:
    """Make `draw` the notebook display of every `CheckedModel` (cramnet.render registers its diagram)."""
    global _svg_display
    _svg_display = draw


@dataclass
class CheckedModel:
    """A spec that passed every check: its graph (one node per primitive block call, each with
    `block`, `args`, `type`, `params`, `flops`, `span`, `attr`), inputs, outputs and sources."""

    model: ModelGraph
    path: str
    sources: dict[str, str]

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def graph(self) -> NodeGraph:
        return self.model.graph

    @property
    def inputs(self) -> list[str]:
        return self.model.inputs

    @property
    def outputs(self) -> list[str]:
        """Output names, in `output` order."""
        return list(self.model.outputs)

    @property
    def input_types(self) -> dict[str, TensorType]:
        return {n: self.graph.nodes[n].type for n in self.inputs}

    @property
    def output_types(self) -> dict[str, TensorType]:
        return {name: self.graph.nodes[node].type for name, node in self.model.outputs.items()}

    def module_path(self, node: str) -> str:
        """Where a node's module lives in the built module: `pre_ln.0.attention_1` (naming.py)."""
        return module_path(self.graph.nodes[node])

    def check_sizes(self, sizes: Mapping[str, int]) -> None:
        """Raise `SpecErrors` (E403) when a block refuses the run-time sizes given: `--dim seq=32` on
        a `pos_embed(16)` model is a located error now, not a torch error when the model runs."""
        errors = check_run_sizes(self.model, sizes)
        if errors:
            raise SpecErrors(errors, self.sources)

    def summary(self, sizes: Mapping[str, int] | None = None, batch: int = 1, depth: int | None = None) -> Summary:
        return summarize(self.model, sizes, batch, depth)

    def source(self, standalone: bool = True) -> str:
        """The generated module as Python source; standalone source imports only torch."""
        return self.generated(standalone).source

    def generated(self, standalone: bool = True) -> Generated:
        """The generated source with the name of its model class and the classes it needs."""
        return generate_source(self.model, Path(self.path).name, standalone)

    def _repr_svg_(self) -> str | None:
        """In Jupyter a checked model shows as its diagram once `cramnet.render` is imported (None, so
        plain text, before that or without Graphviz)."""
        return _svg_display(self) if _svg_display is not None else None

    def build(self, seed: int | None = None) -> nn.Module:
        """Instantiate the module (weights initialised as PyTorch's modules do; `seed` fixes them)."""
        cls = load_module_class(self.generated(standalone=False), self.name)
        if seed is None:
            module = self._init_tied_embeddings(cls())
        else:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                module = self._init_tied_embeddings(cls())
        apply_freezing(module, self.graph)  # `freeze = true` calls
        return module

    def _init_tied_embeddings(self, module: nn.Module) -> nn.Module:
        """An embedding that an output layer ties to starts as GPT-2's, N(0, 0.02²): nn.Embedding's
        N(0, 1) makes the first logits about √d wide and the first loss far above ln V (63 for a
        1,000-token vocabulary instead of 6.9)."""
        for node in self.graph:
            tie = getattr(self.graph.nodes[node].args, "tie", None)
            if getattr(tie, "node", None) in self.graph:
                target = module.get_submodule(self.module_path(tie.node))
                if isinstance(target, nn.Embedding):
                    # a new Parameter, not an in-place fill: a sharded build (train/sharding.py) sees
                    # it registered and keeps its own slice of the same draw
                    fresh = torch.empty(target.weight.shape, dtype=target.weight.dtype).normal_(0.0, 0.02)
                    target.weight = nn.Parameter(fresh, requires_grad=target.weight.requires_grad)
        return module


def _read(path_or_source: str | Path, path: str | None = None) -> tuple[str, str]:
    """(text, path): a Path, or a one-line string, is a file to read; anything else (or "") is source,
    read as the file `path` when given (an editor's unsaved buffer)."""
    if path is not None:
        return str(path_or_source), path
    if isinstance(path_or_source, Path) or (
        path_or_source.strip() and "\n" not in path_or_source and "{" not in path_or_source
    ):
        path = Path(path_or_source)
        errors: list[SpecError] = []
        text = read_source(path, errors)
        if text is None:
            raise SpecErrors(errors)
        return text, str(path)
    return path_or_source, "<spec>"


# the most parameters a spec may declare (E217): beyond any published model, so a slip like
# `dense(10**12)` is caught when checking; `check_spec(max_params=…)` and --max-params raise it
MAX_PARAMS = 10**13


def check_spec(
    path_or_source: str | Path,
    model: str | None = None,
    plugins: list[str] = (),
    files: Mapping[str, str] | None = None,
    *,
    path: str | None = None,
    max_nodes: int = MAX_NODES,
    max_params: int = MAX_PARAMS,
    choices: Mapping[str, object] | None = None,
) -> CheckedModel:
    """Parse, resolve, expand and shape-check a spec; raises `SpecErrors` listing every mistake.

    `files` (resolved path -> text) supplies the files the spec uses instead of the disk; with
    `path`, `path_or_source` is always source text, read as that file (its `use`s resolve from it).
    `max_nodes` and `max_params` bound the expanded model (docs/errors.md, E217).
    `choices` fixes a point of a search space (`{"act": "gelu", "width": 64}`, compiler/space.py)."""
    try:
        load_plugins(list(plugins))
    except PluginError as error:
        raise SpecErrors([SpecError(code="E220", message=str(error), hint=error.hint)]) from None
    text, path = _read(path_or_source, path)
    if choices is not None:
        from .space_reader import read_space

        text = read_space(text, path).fix(choices)
    program = load_program(text, path, files)
    lets = LetTable()
    errors: list[SpecError] = []
    for name in program.root.lets:  # report every broken let, used or not
        try:
            lets.lookup(program.root, name, program.root.lets[name].name_span)
        except EvalError as failure:
            errors.append(failure.error)
    definition, problem = select_model(program.root, model)
    if problem is not None:
        raise SpecErrors(errors + [problem], program.sources)
    expanded = build_graph(program.root, definition, lets, max_nodes)
    errors += expanded.errors
    assign_attributes(expanded)
    errors += infer_shapes(expanded)
    errors += check_shares(expanded.graph)
    if not errors:
        errors += _too_many_params(expanded, max_params)
    if errors:
        raise SpecErrors(_in_source_order(errors), program.sources)
    assign_layout(expanded)
    return CheckedModel(expanded, path, program.sources)


def _too_many_params(model: ModelGraph, max_params: int) -> list[SpecError]:
    params = {node: attrs.params for node, attrs in model.graph.nodes.items()}
    total = sum(params.values())
    if total <= max_params:
        return []
    largest = max(params, key=params.get)
    span = model.graph.nodes[largest].span
    return [
        SpecError(
            code="E217",
            message=f"model '{model.name}' has {total:,} parameters, more than the limit of {max_params:,}",
            span=model.span if span is None else span,
            hint=f"the largest, '{largest}' ({model.graph.nodes[largest].block}), has {params[largest]:,}: "
            "check its sizes; a model this large "
            "is allowed with --max-params (check_spec(max_params=…))",
        )
    ]


def _in_source_order(errors: list[SpecError]) -> list[SpecError]:
    first: dict[tuple, SpecError] = {}  # one mistake once: a block's body expanded for each call finds it
    for error in errors:  # again, its notes naming another call
        first.setdefault((error.code, error.message, error.span, error.hint), error)
    unique = list(first.values())
    return sorted(unique, key=lambda e: (e.span.file, e.span.line, e.span.col) if e.span else ("", 0, 0))


def compile_spec(
    path_or_source: str | Path,
    model: str | None = None,
    seed: int | None = None,
    plugins: list[str] = (),
    weights: str | Path | None = None,
) -> nn.Module:
    """Spec to runnable `nn.Module`. Call it with inputs in declared order (or by name); one output
    returns a Tensor, several a tuple in `output` order.

    `weights` loads a checkpoint — a Hugging Face model directory, a .safetensors file or a run
    directory (docs/weights.md) — strictly; what was loaded, new and unused is `module.weights_report`."""
    checked = check_spec(path_or_source, model, plugins)
    if weights is None:
        return checked.build(seed)
    from ..weights import build_with_weights  # weights/ sits above the compiler, beside train/

    module, report = build_with_weights(checked, weights, seed)
    module.weights_report = report
    return module
