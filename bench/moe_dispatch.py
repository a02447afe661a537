"""Mixture-of-experts dispatch, timed in one process: copies of one expert run as grouped GEMMs over
the sorted tokens, as one batched call (weights stacked, forward vmapped), and one by one over sorted
items, against the dense computation of every expert on every token (what dispatch avoids).
Forward+backward. (`bench/gpu_side_by_side.py` times the grouped GEMMs against a hand-written twin.)

    python bench/moe_dispatch.py                     # CPU
    python bench/moe_dispatch.py --device cuda --tokens 16384 --dim 1024 --experts 8
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import torch  # noqa: E402
from timing import median_ms  # noqa: E402

from cramnet.compiler import compile_spec  # noqa: E402

SPEC = """
use "std:ffn"
model m {{
    input x: [seq, {dim}]
    x -> moe(experts = {experts}, top_k = {k}) {{ swiglu({dim}, {hidden}) }} as y
    output y
}}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--experts", type=int, default=8)
    parser.add_argument("--top-k", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    spec = SPEC.format(dim=args.dim, experts=args.experts, k=args.top_k, hidden=2 * args.dim)
    model = compile_spec(spec, seed=0).to(args.device)
    moe = model.y
    x = torch.randn(1, args.tokens, args.dim, device=args.device)

    def step():
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    def dense():  # every expert on every token, weighted by the router: the cost dispatch avoids
        model.zero_grad(set_to_none=True)
        tokens = x.reshape(-1, args.dim)
        weights = moe.router(tokens).softmax(-1)
        sum(weights[:, e, None] * expert(tokens) for e, expert in enumerate(moe.experts)).square().mean().backward()

    name = torch.cuda.get_device_name() if args.device == "cuda" else "CPU"
    print(
        f"{name}, torch {torch.__version__}, {datetime.date.today()}: {args.tokens} tokens, d {args.dim}, "
        f"{args.experts} SwiGLU experts, top-{args.top_k}, forward+backward\n"
    )
    print("| dispatch | ms |\n| --- | --- |")
    labels = {
        "grouped_mm": "grouped GEMMs over sorted tokens (torch._grouped_mm)",
        "vmap": "stacked weights, vmap",
        "loop": "per-expert loop over sorted tokens",
    }
    for path in moe.paths:
        moe.dispatch = path
        print(f"| {labels[path]} | {median_ms(step, args.device, args.repeats):.2f} |")
    moe.dispatch = None
    print(f"| dense: every expert on every token | {median_ms(dense, args.device, args.repeats):.2f} |")


if __name__ == "__main__":
    main()
