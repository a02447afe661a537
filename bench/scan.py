"""The selective scan's paths, timed in one process: the sequential loop (the reference), the
chunked PyTorch scan, and on a GPU the fused Triton kernel; forward only and forward+backward.

    python bench/scan.py                                  # CPU: B 2, E 256, N 16, L 1,024
    python bench/scan.py --device cuda --batch 4 --channels 1536 --length 4096   # the issue's size

Prints a Markdown table with the machine and date; each time is the median of --repeats runs.
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

from cramnet.blocks.mamba import Mamba  # noqa: E402


def inputs(batch, length, channels, state, device, grad):
    g = torch.Generator(device="cpu").manual_seed(0)
    u = torch.randn(batch, length, channels, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(batch, length, channels, generator=g) - 2)
    A = -torch.exp(torch.randn(channels, state, generator=g))
    B, C = torch.randn(batch, length, state, generator=g), torch.randn(batch, length, state, generator=g)
    D = torch.randn(channels, generator=g)
    return [t.to(device).requires_grad_(grad) for t in (u, delta, A, B, C, D)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--state", type=int, default=16)
    parser.add_argument("--length", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    device = args.device
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(
        f"{name}, torch {torch.__version__}, {datetime.date.today()}: B {args.batch}, E {args.channels}, "
        f"N {args.state}, L {args.length}, fp32\n"
    )
    chunk = max(8, int(args.length**0.5))
    paths = {
        "sequential": lambda *x: Mamba.scan_sequential(*x),
        f"chunked ({chunk})": lambda *x: Mamba.scan_chunked(*x, chunk=chunk),
    }
    if device == "cuda" and Mamba.fused_scan() is not None:
        paths["triton (fused forward)"] = Mamba.fused_scan()
    reference = None
    print("| scan | forward (ms) | forward+backward (ms) | max abs. diff vs sequential |")
    print("| --- | --- | --- | --- |")
    for label, scan in paths.items():
        x = inputs(args.batch, args.length, args.channels, args.state, device, grad=False)
        with torch.no_grad():
            out = scan(*x)
            forward = median_ms(lambda scan=scan, x=x: scan(*x), device, args.repeats)
        reference = out if reference is None else reference
        xg = inputs(args.batch, args.length, args.channels, args.state, device, grad=True)
        both = median_ms(lambda scan=scan, xg=xg: scan(*xg).sum().backward(), device, max(1, args.repeats // 2))
        print(f"| {label} | {forward:.2f} | {both:.2f} | {float((out - reference).abs().max()):.1e} |", flush=True)


if __name__ == "__main__":
    main()
