"""Continuing a prompt with a language model: a run (its own tokenizer and context length), or a spec
with published weights (`--weights`: the model directory's tokenizer.json, stop tokens and context
length). Sampling with a temperature and top-k, or greedy; token ids in or out where no tokenizer is
at hand. A model whose every call has a step-by-step form (compiler/decoding.py) reads each token
once, its attention keeping keys and values (a KV cache), Mamba and recurrent layers their state; any
other recomputes its window for every new token."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from ..blocks.decoding import Decoding, attach
from ..compiler.decoding import step_blocker
from .errors import TrainError

# config.json keys of a published model's longest context (GPT-2's n_positions, BERT's and Llama's
# max_position_embeddings); a model without one (Mamba) takes any length
_CONTEXT_KEYS = ("n_positions", "max_position_embeddings", "n_ctx")


@dataclass
class Sampling:
    """How each next token is chosen: the likeliest (`greedy`), or drawn at `temperature` among the
    `top_k` likeliest (None: all) with a generator seeded by `seed`; `cache` off recomputes the
    whole window for every token (the same tokens, slower: a check of the cache)."""

    tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = 40
    seed: int = 0
    greedy: bool = False
    cache: bool = True


@dataclass
class Generated:
    """The prompt's ids followed by the new ones, and the text when a tokenizer can write it."""

    ids: list[int]
    prompt_length: int
    text: str | None

    def shown(self) -> str:
        return self.text if self.text is not None else " ".join(map(str, self.ids))


def generate(
    run: str | Path,
    prompt: str | None = None,
    sampling: Sampling | None = None,
    weights: str | Path | None = None,
    prompt_ids: list[int] | None = None,
    device: str = "cpu",
) -> Generated:
    """Continue `prompt` (text) or `prompt_ids` (token ids) with the language model of a run, or of
    a spec loaded with published `weights`; the model runs on `device`, the sampling on the CPU (so a
    seed draws the same tokens on any device's logits)."""
    sampling = sampling or Sampling()
    if not sampling.greedy and not (math.isfinite(sampling.temperature) and sampling.temperature > 0):
        raise TrainError(  # nan compares false with everything
            f"--temperature must be a number above 0, not {sampling.temperature}", "try --temperature 0.8, or --greedy"
        )
    if (prompt is None) == (prompt_ids is None):
        raise TrainError("give the prompt as text (--prompt) or as token ids (--prompt-ids), one of them")
    if weights is None:
        trained, tokenizer, context, stop, width = _from_run(run, device)
    else:
        trained, tokenizer, context, stop, width = _from_weights(run, weights, prompt is not None, device)
    # a head padded to a round width never picks a row no token has
    vocab = min(width, tokenizer.vocab) if tokenizer is not None else width
    if prompt is not None:
        ids = tokenizer.encode(prompt)
        if not ids:
            raise TrainError("the prompt has no characters the model's tokenizer knows")
        beyond = [i for i in ids if not 0 <= i < width]  # a tokenizer's added tokens past the head's rows
        if beyond:
            raise TrainError(
                f"the prompt's token {beyond[0]} is past the model's {width:,} token rows",
                "the tokenizer has tokens the model has no embedding for: use the tokenizer saved with these weights",
            )
    else:
        ids = list(prompt_ids)
        wrong = [i for i in ids if not 0 <= i < vocab]
        if wrong or not ids:
            raise TrainError(f"--prompt-ids: {wrong[0] if wrong else 'no ids'}; token ids run from 0 to {vocab - 1}")
    start = len(ids)
    ids = continue_ids(trained, ids, sampling, context, vocab, stop)
    return Generated(ids, start, tokenizer.decode(ids) if tokenizer is not None else None)


def parse_ids(text: str) -> list[int]:
    """Token ids written as `464 2068 7586` or `464,2068,7586`."""
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):  # "²" is a digit to isdigit, not to int
        raise TrainError(f"--prompt-ids {text!r}: give token ids as numbers, such as '464 2068 7586'")
    return [int(p) for p in parts]


def _from_run(run: str | Path, device: str):
    from .inference import load_run

    trained = load_run(run, device=device)
    if trained.info["task"] != "language_model" or trained.tokenizer is None:
        raise TrainError(f"{run} is a {trained.info['task']} run; generate needs a language model")
    length = trained.config["data"]["options"].get("length", 64)
    return trained, trained.tokenizer, length, set(), _width(trained.checked) or trained.tokenizer.vocab


def _from_weights(spec: str | Path, weights: str | Path, needs_tokenizer: bool, device: str):
    from ..weights.checkpoint import open_checkpoint
    from ..weights.tokenizer import open_tokenizer, stop_ids
    from .inference import open_run

    trained = open_run(spec, weights, device)
    checked = trained.checked
    inputs, output = list(checked.input_types.values()), checked.output_types[checked.outputs[0]]
    if len(inputs) != 1 or inputs[0].kind != "tokens" or inputs[0].rank != 1 or _width(checked) is None:
        raise TrainError(
            f"{spec}: generate continues a decoder-only language model: one `tokens[seq]` input and a first "
            f"output of [seq, vocab] (model '{checked.name}' has {len(inputs)} input(s), its first output "
            f"{output})",
            "give the spec of a language model (specs/gpt2.cram, specs/reference/llama2_7b.cram)",
        )
    tokenizer = None
    try:
        tokenizer = open_tokenizer(weights)
    except TrainError:
        if needs_tokenizer:
            raise
    config = open_checkpoint(weights).config or {}
    if isinstance(config.get("vocab_size"), int) and config["vocab_size"] != _width(checked):
        raise TrainError(
            f"{spec}: the first output of model '{checked.name}' is {output}, not a score for each token of the "
            f"checkpoint's vocabulary of {config['vocab_size']}",
            "end the spec with the language-model head (dense(vocab, bias = false, tie = …)) as its first output",
        )
    context = next((config[k] for k in _CONTEXT_KEYS if isinstance(config.get(k), int)), None)
    return trained, tokenizer, context, stop_ids(weights), _width(checked)


def _width(checked) -> int | None:
    """The vocabulary of the model's first output, [seq, vocab] (None for any other shape)."""
    dims = checked.output_types[checked.outputs[0]].dims
    return dims[1] if len(dims) == 2 and isinstance(dims[1], int) else None


def continue_ids(
    trained, ids: list[int], sampling: Sampling, context: int | None, vocab: int, stop: set[int]
) -> list[int]:
    """`ids` and up to `sampling.tokens` more from `trained` (its module, device and checked spec), which
    reads at most `context` ids at once and scores `vocab` tokens; a token of `stop` ends it."""
    generator = torch.Generator().manual_seed(sampling.seed)
    ids = list(ids)
    scores = _next_scores(trained, context, sampling.cache)
    with torch.no_grad():
        for _ in range(sampling.tokens):
            logits = scores(ids)[:vocab].float().cpu()
            if sampling.greedy:
                ids.append(int(logits.argmax()))
            else:
                logits = logits / sampling.temperature
                if sampling.top_k:
                    kth = torch.topk(logits, min(sampling.top_k, len(logits))).values[-1]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                ids.append(int(torch.multinomial(logits.softmax(-1), 1, generator=generator)))
            if ids[-1] in stop:
                break
    return ids


def _next_scores(trained, context: int | None, cache: bool):
    """A function from the ids so far to the scores of the next token. With `cache` and a model that
    decodes step by step, each call runs the model on the ids the last call did not see, until the
    sequence outgrows `context`; from then on (and without the cache) on the last `context` ids."""
    decoding = Decoding() if cache and step_blocker(trained.checked.model) is None else None

    def scores(ids: list[int]) -> torch.Tensor:
        nonlocal decoding
        if decoding is not None and (context is None or len(ids) <= context):
            new = ids[decoding.position :]
            with attach(trained.module, decoding):
                outputs = trained.module(torch.tensor([new], device=trained.device))
            decoding.advance(len(new))
        else:  # past the context the window slides: every position moves, so the caches go
            decoding = None
            outputs = trained.module(torch.tensor([ids[-context:] if context else ids], device=trained.device))
        return (outputs[0] if isinstance(outputs, tuple) else outputs)[0, -1]

    return scores
