"""cramnet against hand-written anchors, row by row, in one process on one GPU (issue 15's table).

Each row builds cramnet's module and its anchor with the same weights, checks that they compute the
same thing, warms both up, then times them in interleaved pairs (cramnet, anchor; anchor, cramnet; …)
with CUDA events, each sample lasting at least `--sample-ms`. Reported: the median time of each,
the ratio cramnet/anchor as the median of the per-pair ratios with its interquartile range, the
goal, and whether it is met or missed by how much.

    python bench/gpu_side_by_side.py                       # CUDA, the issue's sizes (≈ 5 min on an H100)
    python bench/gpu_side_by_side.py --only moe,lstm --out side_by_side.md
    python bench/gpu_side_by_side.py --smoke               # CPU, tiny sizes, seconds: the script runs

Rows (`--only` takes the group names before the colon):
  gpt2: GPT-2 small training step (bf16 autocast, fused AdamW), eager and torch.compile, against a
        nanoGPT-style twin;
  scan: the selective scan as a Mamba block runs it (fused Triton kernel on a GPU) — forward against
        the sequential loop, forward+backward against the chunked PyTorch scan;
  moe:  8 SwiGLU experts top-2 (d 1024, h 4096) and 64 experts top-8 (h 512), 4,096 tokens, bf16,
        forward+backward, against sorted tokens + torch._grouped_mm written by hand;
  lstm: lstm(512) -> lstm(512), LSTMBlock.chain of the same stages, and lstm(512, layers = 2), B 64,
        T 256, forward+backward, against nn.LSTM(512, 512, num_layers = 2);
  graph: gat(32, heads = 4), gcn, gin and cheb on 100k nodes, 1M edges, 128 features,
        forward+backward, against PyTorch Geometric's layers (rows skipped where it is missing).
"""

from __future__ import annotations

import argparse
import datetime
import math
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from anchors import NanoGPT, SortedGroupedMoE, copy_into_moe, copy_into_nanogpt  # noqa: E402
from scan import inputs as scan_inputs  # noqa: E402
from timing import Bench, Row, same  # noqa: E402
from torch import nn  # noqa: E402

from cramnet.blocks.mamba import Mamba  # noqa: E402
from cramnet.compiler import compile_spec  # noqa: E402

GROUPS = ("gpt2", "scan", "moe", "lstm", "graph")

FULL = {
    "gpt2": {"vocab": 50257, "context": 1024, "d": 768, "heads": 12, "layers": 12, "batch": 8, "seq": 1024},
    "scan": {"batch": 4, "channels": 1536, "state": 16, "length": 4096},
    "moe": [
        {"tokens": 4096, "dim": 1024, "hidden": 4096, "experts": 8, "top_k": 2},
        {"tokens": 4096, "dim": 1024, "hidden": 512, "experts": 64, "top_k": 8},
    ],
    "lstm": {"hidden": 512, "batch": 64, "seq": 256},
    "graph": {"nodes": 100_000, "edges": 1_000_000, "features": 128, "out": 32, "heads": 4},
}
SMOKE = {
    "gpt2": {"vocab": 64, "context": 16, "d": 32, "heads": 2, "layers": 2, "batch": 2, "seq": 16},
    "scan": {"batch": 1, "channels": 8, "state": 4, "length": 32},
    "moe": [
        {"tokens": 64, "dim": 16, "hidden": 32, "experts": 8, "top_k": 2},
        {"tokens": 64, "dim": 16, "hidden": 8, "experts": 16, "top_k": 4},
    ],
    "lstm": {"hidden": 16, "batch": 2, "seq": 8},
    "graph": {"nodes": 200, "edges": 1_000, "features": 16, "out": 8, "heads": 2},
}


def spec_model(text: str, device) -> nn.Module:
    return compile_spec(text, seed=0).to(device)


# -- rows -------------------------------------------------------------------------------------------


def gpt2_rows(bench: Bench, size: dict, compile_mode: str | None) -> list[Row]:
    d, device = size["d"], bench.device
    spec = (
        'use "std:transformer"\nmodel gpt2 {\n    input ids: tokens[seq]\n'
        f"    ids -> embed({size['vocab']}, {d}) as tok -> pos_embed({size['context']}) -> dropout(0.1)\n"
        f"        -> pre_ln({d}, {size['heads']}, {4 * d}, causal = true, p = 0.1, act = tanh) * {size['layers']}\n"
        f"        -> layernorm -> dense({size['vocab']}, bias = false, tie = tok) as logits\n    output logits\n}}\n"
    )
    ours = spec_model(spec, device)
    twin = NanoGPT(size["vocab"], size["context"], d, size["heads"], size["layers"]).to(device)
    copy_into_nanogpt(ours, twin)
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, size["vocab"], (size["batch"], size["seq"]), generator=g).to(device)
    targets = torch.randint(0, size["vocab"], (size["batch"], size["seq"]), generator=g).to(device)
    with torch.no_grad():
        same(ours.eval()(ids[:1]), twin.eval()(ids[:1]), "GPT-2")
    ours.train()
    twin.train()
    rows = []
    variants = [("eager", None)] + ([("torch.compile", compile_mode)] if compile_mode else [])
    for label, backend in variants:
        models = {"ours": ours, "anchor": twin}
        if backend is not None:
            models = {k: torch.compile(m, backend=backend) for k, m in models.items()}
        steps = {}
        for key, model in models.items():
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda")

            def step(model=model, optimizer=optimizer):
                with torch.autocast(device.type, dtype=torch.bfloat16):
                    logits = model(ids)
                loss = F.cross_entropy(logits.float().view(-1, logits.shape[-1]), targets.view(-1))
                loss.backward()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)

            steps[key] = step
        name = f"GPT-2 small train step, {label} (B {size['batch']}, T {size['seq']}, bf16 autocast, fused AdamW)"
        rows.append(bench.compare(Row(name, "nanoGPT-style twin", 1.02), steps["ours"], steps["anchor"]))
    return rows


def scan_rows(bench: Bench, size: dict) -> list[Row]:
    device = bench.device
    block = Mamba(8, state=size["state"])  # only its scan choice is used: auto (Triton on a GPU)
    shape = (size["batch"], size["length"], size["channels"], size["state"], device)
    x, xg = scan_inputs(*shape, grad=False), scan_inputs(*shape, grad=True)
    with torch.no_grad():
        same(block.selective_scan(*x), Mamba.scan_sequential(*x), "selective scan", 1e-3)
    chunk = max(8, math.isqrt(size["length"]))
    path = "fused Triton" if device.type == "cuda" and Mamba.fused_scan() is not None else "chunked"
    dims = f"B {size['batch']}, E {size['channels']}, N {size['state']}, L {size['length']}, fp32"
    forward = Row(f"selective scan forward ({path}; {dims})", "sequential loop", 0.02, note="DESIGN: ≥ 50× the loop")
    with torch.no_grad():
        bench.compare(forward, lambda: block.selective_scan(*x), lambda: Mamba.scan_sequential(*x))
    both = Row(f"selective scan forward+backward ({path}; {dims})", f"chunked scan ({chunk})", 1.0)
    bench.compare(
        both,
        lambda: block.selective_scan(*xg).sum().backward(),
        lambda: Mamba.scan_chunked(*xg, chunk=chunk).sum().backward(),
    )
    return [forward, both]


def moe_rows(bench: Bench, sizes: list[dict]) -> list[Row]:
    return [moe_row(bench, size) for size in sizes]


def moe_row(bench: Bench, size: dict) -> Row:
    device, d, h, experts, k = bench.device, size["dim"], size["hidden"], size["experts"], size["top_k"]
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    spec = (
        f'use "std:ffn"\nmodel m {{\n    input x: [seq, {d}]\n'
        f"    x -> moe(experts = {experts}, top_k = {k}) {{ swiglu({d}, {h}) }} as y\n    output y\n}}\n"
    )
    ours = compile_spec(spec, seed=0)
    twin = SortedGroupedMoE(d, h, experts, k)
    copy_into_moe(ours.y, twin)
    probe = torch.randn(1, 64, d, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():  # checked on the CPU in float32, where both are exact
        same(ours(probe), twin(probe), f"moe {experts} experts")
    ours, twin = ours.to(device, dtype), twin.to(device, dtype)
    x = torch.randn(1, size["tokens"], d, generator=torch.Generator().manual_seed(0)).to(device, dtype)
    x.requires_grad_()

    def step(model, stage):
        out = model(x)
        (out.float().square().mean() + 0.01 * stage.aux_loss).backward()  # the balance loss, as in training

    path = ours.y.choose_path(x.reshape(-1, d))
    name = (
        f"moe {experts} SwiGLU experts top-{k}, d {d}, h {h}, {size['tokens']} tokens, {str(dtype)[6:]}, "
        f"fwd+bwd (path: {path})"
    )
    row = Row(name, "sorted tokens + torch._grouped_mm", 1.05)
    return bench.compare(row, lambda: step(ours, ours.y), lambda: step(twin, twin))


def lstm_rows(bench: Bench, size: dict) -> list[Row]:
    device, H = bench.device, size["hidden"]
    x = torch.randn(size["batch"], size["seq"], H, generator=torch.Generator().manual_seed(0)).to(device)
    twin = nn.LSTM(H, H, num_layers=2, batch_first=True).to(device)
    chain = spec_model(f"model m {{\n input x: [seq, {H}]\n x -> lstm({H}) -> lstm({H}) as y\n output y\n}}\n", device)
    stacked = spec_model(f"model m {{\n input x: [seq, {H}]\n x -> lstm({H}, layers = 2) as y\n output y\n}}\n", device)
    with torch.no_grad():
        for layer, stage in enumerate((chain.lstm_1, chain.y)):
            for name, value in stage.named_parameters():
                getattr(twin, name.replace("_l0", f"_l{layer}")).copy_(value)
        stacked.y.load_state_dict(twin.state_dict())
        expected = twin(x)[0]
        same(chain(x), expected, "lstm -> lstm")
        same(stacked(x), expected, "lstm(layers = 2)")
        same(type(chain.y).chain([chain.lstm_1, chain.y], x)[0], expected, "LSTMBlock.chain")

    def fwd_bwd(run):
        return lambda: run().square().mean().backward()

    rows = []
    shape = f"B {size['batch']}, T {size['seq']}, fp32, fwd+bwd"
    cases = [
        (f"lstm({H}) -> lstm({H}), {shape}", lambda: chain(x)),
        (
            f"LSTMBlock.chain of the same two stages (not generated yet), {shape}",
            lambda: type(chain.y).chain([chain.lstm_1, chain.y], x)[0],
        ),
        (f"lstm({H}, layers = 2), {shape}", lambda: stacked(x)),
    ]
    for name, run in cases:
        rows.append(
            bench.compare(
                Row(name, f"nn.LSTM({H}, {H}, num_layers = 2)", 1.02), fwd_bwd(run), fwd_bwd(lambda: twin(x)[0])
            )
        )
    return rows


def graph_rows(bench: Bench, size: dict) -> list[Row]:
    try:
        from torch_geometric import nn as gnn
    except ImportError:
        return [
            Row(f"{kind} vs PyG", "PyTorch Geometric", goal, note="torch_geometric missing")
            for kind, goal in GRAPH_GOALS.items()
        ]
    device, F_in, out, heads = bench.device, size["features"], size["out"], size["heads"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(size["nodes"], F_in, generator=g).to(device)
    edge_index = torch.randint(0, size["nodes"], (2, size["edges"]), generator=g)
    edge_index = edge_index[:, edge_index[0] != edge_index[1]].to(device)  # loops: PyG and cramnet agree, but no need
    graph = SimpleNamespace(edge_index=edge_index)  # what cramnet's graph layers read
    width = out * heads
    layers = {
        "gat": (f"gat({out}, heads = {heads})", lambda: gnn.GATConv(F_in, out, heads=heads)),
        "gcn": (f"gcn({width})", lambda: gnn.GCNConv(F_in, width)),
        "gin": (
            f"gin({width}, hidden = {width})",
            lambda: gnn.GINConv(
                nn.Sequential(nn.Linear(F_in, width), nn.ReLU(), nn.Linear(width, width)), train_eps=False
            ),
        ),
        "cheb": (f"cheb({width}, 3)", lambda: gnn.ChebConv(F_in, width, K=3)),
    }
    rows = []
    for kind, (call, make) in layers.items():
        ours = spec_model(f"model m {{\n input g: graph[n, {F_in}]\n g -> {call} as y\n output y\n}}\n", device).y
        theirs = make().to(device)
        mine = dict(ours.named_parameters())
        with torch.no_grad():
            for name, value in theirs.named_parameters():
                value.copy_(mine[name.replace("nn.", "mlp.")])
            same(ours(x, graph), theirs(x, edge_index), kind)

        def step(run):
            return lambda: run().square().mean().backward()

        name = f"{call}, {size['nodes']:,} nodes, {size['edges']:,} edges, {F_in} features, fp32, fwd+bwd"
        anchor = f"PyG {type(theirs).__name__}"
        row = Row(name, anchor, GRAPH_GOALS[kind], note="was 0.87" if kind == "gcn" else "")
        rows.append(
            bench.compare(
                row, step(lambda ours=ours: ours(x, graph)), step(lambda theirs=theirs: theirs(x, edge_index))
            )
        )
    return rows


GRAPH_GOALS = {"gat": 0.95, "gcn": 0.90, "gin": 0.95, "cheb": 0.95}


# -- report -----------------------------------------------------------------------------------------


def table(rows: list[Row], bench: Bench, args: argparse.Namespace) -> str:
    device = bench.device
    name = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU ({platform.processor() or platform.machine()})"
    )
    lines = [
        f"- {name}; torch {torch.__version__}, Python {platform.python_version()}; {datetime.date.today().isoformat()}",
        f"- {args.repeats} interleaved pairs per row after {args.warmup} warm-up steps each, "
        f"samples ≥ {args.sample_ms:g} ms"
        + (", CUDA events" if device.type == "cuda" else ", wall clock")
        + ("; SMOKE SIZES — not a measurement" if args.smoke else ""),
        "",
        "| row | cramnet ms | anchor | anchor ms | ratio (median) | IQR of ratios | goal | verdict |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        note = f" ({r.note})" if r.note else ""
        cells = [r.name, f"{r.ours_ms:.3f}", r.anchor + note, f"{r.anchor_ms:.3f}", f"{r.ratio:.3f}", f"{r.iqr:.3f}"]
        lines.append("| " + " | ".join([*cells, f"≤ {r.goal:g}", r.verdict]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--smoke", action="store_true", help="tiny sizes on the CPU, a few repeats: checks the script runs"
    )
    parser.add_argument("--device", choices=["cpu", "cuda"], default=None, help="default: cuda, or cpu with --smoke")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"comma-separated groups of {', '.join(GROUPS)}")
    parser.add_argument("--repeats", type=int, default=None, help="interleaved pairs per row (default 15; smoke 2)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="untimed steps of each side first (default 5; smoke 1)"
    )
    parser.add_argument(
        "--sample-ms", type=float, default=None, help="each sample lasts at least this (default 25; smoke 0)"
    )
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile GPT-2 row (so does --smoke)")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cpu" if args.smoke else "cuda"))
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("no CUDA device: use --smoke (CPU, tiny sizes) or a GPU machine")
    args.repeats = args.repeats or (2 if args.smoke else 15)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.smoke else 5)
    args.sample_ms = args.sample_ms if args.sample_ms is not None else (0.0 if args.smoke else 25.0)
    sizes = SMOKE if args.smoke else FULL
    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = set(groups) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {', '.join(sorted(unknown))}: choose from {', '.join(GROUPS)}")
    if device.type == "cpu":
        torch.set_num_threads(1)  # as bench/runtime.py: steadier on a shared machine, and both sides alike
    bench = Bench(device, args.warmup, args.repeats, args.sample_ms)
    compile_mode = None if args.no_compile or args.smoke else "inductor"  # inductor on a CPU: minutes, a C compiler
    runners = {
        "gpt2": lambda: gpt2_rows(bench, sizes["gpt2"], compile_mode),
        "scan": lambda: scan_rows(bench, sizes["scan"]),
        "moe": lambda: moe_rows(bench, sizes["moe"]),
        "lstm": lambda: lstm_rows(bench, sizes["lstm"]),
        "graph": lambda: graph_rows(bench, sizes["graph"]),
    }
    rows = []
    for group in groups:
        started = time.perf_counter()
        rows += runners[group]()
        print(f"  {group}: {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    report = table(rows, bench, args)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
