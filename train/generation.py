"""Continuing a prompt with a language model: a run (its own tokenizer and context length), or a spec
with published weights (`--weights`: the model directory's tokenizer.json, stop tokens and context
length). Sampling with a temperature and top-k, or greedy; token ids in or out where no tokenizer is
at hand. A model whose every call has a step-by-step form (compiler/decoding.py) reads each token
once, its attention keeping keys and values (a KV cache), Mamba and recurrent layers their state; any
other recomputes its window for every new token. The final norm and head score the last position
alone."""

from __future__ import annotations

import math
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from ..blocks.decoding import Decoding, attach
from ..blocks.dims import symbol_name
from ..compiler.decoding import position_wise_tail, step_blocker, stepped_calls
from ..compiler.run_sizes import largest_size
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


@dataclass(frozen=True)
class Reading:
    """How generation calls a language model: the token input it continues (`decoded`), the output
    that scores the next token (its index among the outputs, its width) and, for an encoder–decoder
    model, the token input the encoder reads the prompt from (`source`)."""

    decoded: str
    output: int
    width: int
    source: str | None = None


def reading(checked, vocab: int | None = None) -> Reading | None:
    """The model's reading, if it has one: one or two inputs, all token sequences, and an output
    [s, width] where s is the length of one of them (the decoded input; the other is the source) —
    the first such output, or the first whose width is `vocab` when one is."""
    tokens = {name: t for name, t in checked.input_types.items() if t.kind == "tokens" and t.rank == 1}
    if len(tokens) != len(checked.input_types) or len(tokens) not in (1, 2):
        return None
    found = []
    for index, name in enumerate(checked.outputs):
        dims = checked.output_types[name].dims
        decoded = [n for n, t in tokens.items() if len(dims) == 2 and isinstance(dims[1], int) and t.dims == dims[:1]]
        if len(decoded) == 1:
            found.append(Reading(decoded[0], index, dims[1], next((n for n in tokens if n != decoded[0]), None)))
    return next((r for r in found if r.width == vocab), found[0] if found else None)


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
        trained, tokenizer, context, stop, read = _from_run(run, device)
    else:
        trained, tokenizer, context, stop, read = _from_weights(run, weights, prompt is not None, device)
    width = read.width
    context = _within_the_spec(trained.checked, read.decoded, context)
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
    if read.source is not None:  # the prompt goes to the encoder; the decoder starts from its start token
        longest = _within_the_spec(trained.checked, read.source, None)
        if longest is not None and len(ids) > longest:
            raise TrainError(
                f"the prompt is {len(ids)} tokens; model '{trained.checked.name}' reads at most {longest} "
                f"into its input '{read.source}'",
                "give a shorter prompt",
            )
        source, ids = ids, [_decoder_start(weights)]
        ids = continue_ids(trained, ids, sampling, context, vocab, stop, read, source)
        return Generated(ids, 1, tokenizer.decode(ids[1:]) if tokenizer is not None else None)
    start = len(ids)
    ids = continue_ids(trained, ids, sampling, context, vocab, stop, read)
    return Generated(ids, start, tokenizer.decode(ids) if tokenizer is not None else None)


def parse_ids(text: str) -> list[int]:
    """Token ids written as `464 2068 7586` or `464,2068,7586`."""
    parts = [p for p in re.split(r"[\s,]+", text.strip()) if p]
    if not parts or not all(p.isascii() and p.isdigit() for p in parts):  # "²" is a digit to isdigit, not to int
        raise TrainError(f"--prompt-ids {text!r}: give token ids as numbers, such as '464 2068 7586'")
    long = next((p for p in parts if len(p.lstrip("0")) > 18), None)  # int() of 4,300 digits is a ValueError
    if long is not None:
        raise TrainError(f"--prompt-ids: {long[:20]}… ({len(long)} digits) is no vocabulary's token id")
    return [int(p) for p in parts]


def _from_run(run: str | Path, device: str):
    from .inference import load_run

    trained = load_run(run, device=device)
    if trained.info["task"] != "language_model" or trained.tokenizer is None:
        hint = None
        if reading(trained.checked) is not None:  # scores a token per position: maybe trained on next ids
            spec = Path(run) / "spec.cram"
            hint = f"if it scores each next token, give its spec and weights: cramnet generate {spec} --weights {run} "
            hint += "--prompt-ids '…'"
        raise TrainError(f"{run} is a {trained.info['task']} run; generate needs a language model", hint)
    length = trained.config["data"]["options"].get("length", 64)
    read = reading(trained.checked) or Reading(trained.checked.inputs[0], 0, trained.tokenizer.vocab)
    if read.source is not None:
        raise TrainError(f"{run}: generate continues an encoder–decoder model from published weights (--weights)")
    return trained, trained.tokenizer, length, set(), read


def _from_weights(spec: str | Path, weights: str | Path, needs_tokenizer: bool, device: str):
    from ..weights.checkpoint import open_checkpoint
    from ..weights.tokenizer import open_tokenizer, stop_ids
    from .inference import open_run

    trained = open_run(spec, weights, device)
    checked = trained.checked
    config = open_checkpoint(weights).config or {}
    vocab = config.get("vocab_size") if isinstance(config.get("vocab_size"), int) else None
    read = reading(checked, vocab)
    if read is None:
        inputs = ", ".join(f"{n}: {t}" for n, t in checked.input_types.items())
        outputs = ", ".join(f"{n}: {t}" for n, t in checked.output_types.items())
        raise TrainError(
            f"{spec}: generate continues a language model: a `tokens[seq]` input (and, for an encoder–decoder, "
            f"one more for the encoder) and an output of [seq, vocab] (model '{checked.name}' reads {inputs} "
            f"and writes {outputs})",
            "give the spec of a language model (specs/gpt2.cram, specs/reference/llama2_7b.cram or t5_small.cram)",
        )
    if vocab is not None and vocab != read.width:
        output = checked.outputs[read.output]
        raise TrainError(
            f"{spec}: output '{output}' of model '{checked.name}' is {checked.output_types[output]}, not a score "
            f"for each token of the checkpoint's vocabulary of {vocab}",
            "end the spec with the language-model head (dense(vocab, bias = false, tie = …)) as an output",
        )
    tokenizer = None
    try:
        tokenizer = open_tokenizer(weights)
    except TrainError:
        if needs_tokenizer:
            raise
    context = next((config[k] for k in _CONTEXT_KEYS if isinstance(config.get(k), int)), None)
    return trained, tokenizer, context, stop_ids(weights), read


def _within_the_spec(checked, name: str, context: int | None) -> int | None:
    """`context`, or the longest sequence the spec's blocks take into the token input `name` (a
    learned position table's length) where that is shorter; None: any length."""
    (length,) = checked.input_types[name].dims
    longest = largest_size(checked.model, symbol_name(length)) if symbol_name(length) else None
    return min((c for c in (context, longest) if c is not None), default=None)


def _decoder_start(weights: str | Path) -> int:
    """The token an encoder–decoder model's decoder starts from, as its published config gives it."""
    from ..weights.tokenizer import decoder_start

    start = decoder_start(weights)
    if start is None:
        raise TrainError(
            f"{weights}: neither generation_config.json nor config.json gives a decoder_start_token_id, the token "
            "an encoder–decoder model's decoder starts from",
            "add it to config.json (T5 starts from its pad token, 0)",
        )
    return start


def continue_ids(
    trained,
    ids: list[int],
    sampling: Sampling,
    context: int | None,
    vocab: int,
    stop: set[int],
    read: Reading | None = None,
    source: list[int] | None = None,
) -> list[int]:
    """`ids` and up to `sampling.tokens` more from `trained` (its module, device and checked spec), which
    reads at most `context` ids at once and scores `vocab` tokens; a token of `stop` ends it. `read`
    says which input and output (default: the first of each); an encoder–decoder model reads `source`."""
    generator = torch.Generator().manual_seed(sampling.seed)
    ids = list(ids)
    read = read or Reading(trained.checked.inputs[0], 0, vocab)
    scores = _next_scores(trained, context, sampling.cache, read, source)
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


def _next_scores(trained, context: int | None, cache: bool, read: Reading, source: list[int] | None):
    """A function from the ids so far to the scores of the next token. With `cache` and a model that
    decodes step by step, each call runs the model on the ids the last call did not see, until the
    sequence outgrows `context`; from then on (and without the cache) on the last `context` ids. The
    encoder of an encoder–decoder model reads the source on the first call; later calls replay it."""
    checked, device = trained.checked, trained.device
    calls = _call_modules(trained)
    plan = _decoding_plan(trained, calls, read.decoded) if cache else None
    last_only = _last_position_only(trained, calls, read)
    decoding = Decoding() if plan is not None else None
    stepped, replayed = plan or ([], [])
    fixed = {read.source: torch.tensor([source], device=device)} if read.source is not None else {}

    def run(ids: list[int]):
        given = fixed | {read.decoded: torch.tensor([ids], device=device)}
        with last_only():
            outputs = trained.module(*(given[name] for name in checked.inputs))
        return (outputs[read.output] if isinstance(outputs, tuple) else outputs)[0, -1]

    def scores(ids: list[int]) -> torch.Tensor:
        nonlocal decoding
        if decoding is not None and (context is None or len(ids) <= context):
            new = ids[decoding.position :]
            with attach(stepped, decoding, replayed):
                result = run(new)
            decoding.advance(len(new))
            return result
        decoding = None  # past the context the window slides: every position moves, so the caches go
        return run(ids[-context:] if context else ids)

    return scores


def _call_modules(trained) -> dict[str, torch.nn.Module]:
    """Each call's module, by node (a call without one — add, relu — has none)."""
    checked, owners = trained.checked, {}
    for node in checked.graph.nodes:
        try:
            owners[node] = trained.module.get_submodule(checked.module_path(node))
        except AttributeError:
            continue
    return owners


def _decoding_plan(trained, calls: dict, decoded: str) -> tuple[list, list] | None:
    """The modules of the calls that read the decoded input, when every such call decodes step by step,
    and those of the other calls (an encoder's) that none of them calls, to replay; None when a
    stepped call has no step-by-step form or a caching module is called by the encoder too."""
    checked = trained.checked
    if step_blocker(checked.model, decoded) is not None:
        return None
    stepped = stepped_calls(checked.model, decoded)
    mine = {id(m): m for node, m in calls.items() if node in stepped}
    inside_mine = {id(m): m for owner in mine.values() for m in owner.modules()}
    theirs = {id(m): m for node, m in calls.items() if node not in stepped and id(m) not in inside_mine}
    inside_theirs = {id(m) for owner in theirs.values() for m in owner.modules()}
    if any(hasattr(m, "decoding") for key, m in inside_mine.items() if key in inside_theirs):
        return None
    return list(mine.values()), list(theirs.values())


def _last_position_only(trained, calls: dict, read: Reading):
    """A context in which the model's position-wise tail (compiler/decoding.py: its final norm and head)
    reads the last position alone — all the next token's scores need; a head over a large vocabulary
    costs as much per position as a layer. The first call of the tail with a module no other call
    uses is given the last position of its input; nothing is changed where there is none."""
    tail = position_wise_tail(trained.checked.model, trained.checked.outputs[read.output])
    looks_back = [i for i, node in enumerate(tail) if node in calls and _keeps_decoding(calls[node])]
    tail = tail[looks_back[-1] + 1 :] if looks_back else tail  # positions and the like read their place
    others = {id(m) for node, owner in calls.items() if node not in tail for m in owner.modules()}
    first = next((calls[n] for n in tail if n in calls and id(calls[n]) not in others), None)

    @contextmanager
    def last_only():
        if first is None:
            yield
            return
        handle = first.register_forward_pre_hook(lambda module, args: (args[0][:, -1:], *args[1:]))
        try:
            yield
        finally:
            handle.remove()

    return last_only


def _keeps_decoding(module: torch.nn.Module) -> bool:
    return any(hasattr(m, "decoding") for m in module.modules())
