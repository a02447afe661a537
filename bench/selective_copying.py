"""The selective copying comparison of the Mamba paper (Gu & Dao 2023, Table 1) at laptop scale:
the same two-layer Mamba spec with selective (input-dependent) Δ, B, C and without (time-invariant,
S4D-style), and an LSTM of similar size beside them, each trained by `cramnet train` on the built-in
`selective_copy` data with the same seed, sizes and budget. Prints a Markdown table of test accuracy
(answer tokens only), parameters and training time.

    python bench/selective_copying.py                       # length 64, 8 tokens, vocabulary 10
    python bench/selective_copying.py --length 256 --epochs 30 --count 8000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cramnet.train import apply_sets, defaults, train  # noqa: E402

MAMBA = """
model mamba_copier {{
    input ids: tokens[seq]
    ids -> embed({vocab}, {d})
        -> residual {{ rmsnorm -> mamba(16, 2, 4, selective = {selective}) }} * 2
        -> rmsnorm -> dense({vocab}) as logits
    output logits
}}
"""
LSTM = """
model lstm_copier {{
    input ids: tokens[seq]
    ids -> embed({vocab}, {d}) -> lstm({hidden}, layers = 2) -> dense({vocab}) as logits
    output logits
}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=64)
    parser.add_argument("--tokens", type=int, default=8)
    parser.add_argument("--vocab", type=int, default=10)
    parser.add_argument("--count", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--d", type=int, default=32, help="model width")
    parser.add_argument("--lstm-hidden", type=int, default=48, help="LSTM width (≈ the Mamba's parameters)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    specs = {
        "mamba (selective)": MAMBA.format(vocab=args.vocab, d=args.d, selective="true"),
        "mamba (selective = false)": MAMBA.format(vocab=args.vocab, d=args.d, selective="false"),
        "lstm": LSTM.format(vocab=args.vocab, d=args.d, hidden=args.lstm_hidden),
    }
    print(
        f"selective copying: {args.tokens} tokens among {args.length} positions, vocabulary {args.vocab}, "
        f"{args.count} sequences, {args.epochs} epochs\n"
    )
    print("| model | parameters | test accuracy | seconds |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in specs.items():
            spec = Path(scratch) / f"{name.split()[0]}_{len(text)}.cram"
            spec.write_text(text)
            config = apply_sets(
                defaults(),
                [
                    f"out={Path(scratch) / spec.stem}",
                    "data.name=selective_copy",
                    f"epochs={args.epochs}",
                    f"data.options.count={args.count}",
                    f"data.options.length={args.length}",
                    f"data.options.tokens={args.tokens}",
                    f"data.options.vocab={args.vocab}",
                    "optimizer.lr=0.01",
                    f"device={args.device}",
                    f"threads={args.threads}",
                ],
            )
            started = time.perf_counter()
            result = train(spec, config)
            from cramnet.train import load_run

            params = sum(p.numel() for p in load_run(result.out).module.parameters())
            print(
                f"| {name} | {params:,} | {result.final['test_accuracy']:.3f} | {time.perf_counter() - started:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
