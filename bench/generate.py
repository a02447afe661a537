"""Generation speed: `cramnet generate` with its caches against recomputing every window, and against
Hugging Face's own cached `generate`, in one process.

GPT-2 small's shape (specs/gpt2.cram, 124M parameters) with random weights saved as `save_pretrained`
saves them (no hub), so cramnet and transformers run the same weights: greedy continuation of a
prompt, tokens per second of the new tokens, best of `--repeats`. The ids of the three must agree
(checked). T5-small's shape the same way, the prompt to its encoder; mamba_lm (specs/mamba_lm.cram)
with and without its state carried.

    python bench/generate.py                        # CPU: prompt 32, 64 new tokens
    python bench/generate.py --prompt 128 --tokens 128 --device cuda
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cramnet.compiler import check_spec  # noqa: E402
from cramnet.train.generation import Sampling, continue_ids, reading  # noqa: E402
from cramnet.train.inference import open_run  # noqa: E402


def best_seconds(run, repeats: int) -> tuple[float, object]:
    """The fastest of `repeats` runs (after one to warm up) and what the last returned."""
    result, times = run(), []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def against_hugging_face(name: str, reference, spec: Path, prompt: list[int], tokens: int, repeats: int, device: str):
    """Rows of `spec` loaded with `reference`'s weights, cached and recomputed, and of Hugging Face's
    own cached `generate`: a decoder-only model continues the prompt, an encoder–decoder reads it."""
    config = reference.config
    with tempfile.TemporaryDirectory() as folder:
        reference.save_pretrained(folder)
        trained = open_run(spec, folder, device)
    read = reading(trained.checked, config.vocab_size)
    start, source = ([config.decoder_start_token_id], prompt) if read.source else (prompt, None)
    context = getattr(config, "n_positions", None)
    rows, ids = [], {}
    for kind, cache in (("cached", True), ("recomputed", False)):
        sampling = Sampling(tokens=tokens, greedy=True, cache=cache)
        run = lambda s=sampling: continue_ids(trained, start, s, context, config.vocab_size, set(), read, source)  # noqa: E731
        seconds, ids[kind] = best_seconds(run, repeats)
        rows.append((f"{name}, cramnet, {kind}", tokens / seconds, seconds))
    given = torch.tensor([prompt], device=device)

    def hugging_face():
        with torch.no_grad():
            return reference.generate(  # the mask given: HF would mask the prompt's pad_token_id positions
                given, attention_mask=torch.ones_like(given), max_new_tokens=tokens, do_sample=False, use_cache=True
            )

    seconds, out = best_seconds(hugging_face, repeats)
    rows.append((f"{name}, Hugging Face generate (use_cache)", tokens / seconds, seconds))
    assert ids["cached"] == ids["recomputed"] == out[0].tolist(), f"{name}: the continuations differ"
    return rows


def gpt2_rows(prompt: list[int], tokens: int, repeats: int, device: str) -> list[tuple[str, float, float]]:
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(bos_token_id=None, eos_token_id=None)  # GPT-2 small
    reference = transformers.GPT2LMHeadModel(config).eval().to(device)
    return against_hugging_face("GPT-2 small", reference, ROOT / "specs" / "gpt2.cram", prompt, tokens, repeats, device)


def t5_rows(prompt: list[int], tokens: int, repeats: int, device: str) -> list[tuple[str, float, float]]:
    """T5-small's shape (specs/reference/t5_small.cram), the prompt to the encoder."""
    import transformers

    torch.manual_seed(0)
    config = transformers.T5Config(decoder_start_token_id=0, eos_token_id=None, dropout_rate=0.0)  # T5-small
    reference = transformers.T5ForConditionalGeneration(config).eval().to(device)
    spec = ROOT / "specs" / "reference" / "t5_small.cram"
    return against_hugging_face("T5-small", reference, spec, prompt, tokens, repeats, device)


def mamba_rows(prompt: list[int], tokens: int, repeats: int, device: str) -> list[tuple[str, float, float]]:
    checked = check_spec(ROOT / "specs" / "mamba_lm.cram")
    module = checked.build(seed=0).eval().to(device)
    trained = SimpleNamespace(module=module, device=torch.device(device), checked=checked)
    rows, ids = [], {}
    for name, cache in (("state carried", True), ("recomputed", False)):
        sampling = Sampling(tokens=tokens, greedy=True, cache=cache)
        run = lambda s=sampling: continue_ids(trained, prompt, s, None, 256, set())  # noqa: E731
        seconds, ids[name] = best_seconds(run, repeats)
        rows.append((f"mamba_lm (4 layers, d 128), {name}", tokens / seconds, seconds))
    assert ids["state carried"] == ids["recomputed"], "the continuations differ"
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt", type=int, default=32, help="prompt length in tokens")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    prompt = [int(i) for i in torch.randint(0, 250, (args.prompt,), generator=torch.Generator().manual_seed(1))]
    rows = gpt2_rows(prompt, args.tokens, args.repeats, args.device)
    rows += t5_rows(prompt, args.tokens, args.repeats, args.device)
    rows += mamba_rows(prompt, args.tokens, args.repeats, args.device)
    machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    print(f"{machine}, torch {torch.__version__}, {args.device}, {datetime.date.today()}; greedy, ", end="")
    print(f"prompt {args.prompt}, {args.tokens} new tokens\n")
    print("| model | tokens/s | seconds |\n| --- | --- | --- |")
    for name, rate, seconds in rows:
        print(f"| {name} | {rate:,.1f} | {seconds:.2f} |")


if __name__ == "__main__":
    main()
