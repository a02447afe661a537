"""Plain-text corpora for language models: a byte or character tokenizer, or a published model's
(`data.options.tokenizer` names its tokenizer.json or directory; fine-tuning from published weights
uses theirs), the text cut into windows of `length + 1` tokens (inputs and next-token targets)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import torch

from ...blocks.tensor_type import TensorType
from ..errors import TrainError
from .dataset import Dataset, split_tensors

TEXT_OPTIONS = {"length": 64, "tokenizer": "byte"}


class ByteTokenizer:
    kind = "byte"
    vocab = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def to_json(self) -> dict:
        return {"kind": "byte"}


class CharTokenizer:
    kind = "char"

    def __init__(self, chars: str):
        self.chars = chars
        self.index = {c: i for i, c in enumerate(chars)}
        self.vocab = len(chars)

    def encode(self, text: str) -> list[int]:
        return [self.index[c] for c in text if c in self.index]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] for i in ids if 0 <= i < self.vocab)

    def to_json(self) -> dict:
        return {"kind": "char", "chars": self.chars}


def tokenizer_from_json(data: dict, run: Path):
    """The tokenizer run.json describes; a published one is the copy kept in the run folder `run` —
    never the file run.json names, which could be any file — or, for a spec standing in for a run
    with published weights (`run` is the spec), the tokenizer beside the weights: a full path."""
    kind = data.get("kind") if isinstance(data, dict) else None
    texts = {"genes": "genes", "char": "chars"}.get(kind)
    if kind not in ("byte", "published") and not (texts and _texts(data.get(texts))):
        raise TrainError(
            f"{run / 'run.json'}: its tokenizer is not one cramnet writes (kind byte, char, genes or published)",
            "the run directory was edited or damaged: train the run again",
        )
    if kind == "genes":
        from .gene_tokens import GeneTokenizer

        return GeneTokenizer(data["genes"])
    if kind == "published":
        from ...weights.tokenizer import PublishedTokenizer

        kept = run / PublishedTokenizer.FILE
        if run.is_dir() and not kept.is_file():  # not the data's mistake: data.options cannot mend it
            raise TrainError(
                f"{run / 'run.json'} names the run's copy of its tokenizer, but {kept} is missing",
                "the run directory was edited or damaged: train the run again",
            )
        return open_tokenizer(kept if run.is_dir() else data.get("file", ""))
    return CharTokenizer(data["chars"]) if kind == "char" else ByteTokenizer()


def _texts(value) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def keep_tokenizer(tokenizer, run: Path) -> dict | None:
    """run.json's account of the data's tokenizer; a published one is copied into the run folder."""
    if tokenizer is None:
        return None
    if tokenizer.kind == "published":
        tokenizer.save(run)
    return tokenizer.to_json()


def open_tokenizer(path: str | Path):
    from ...weights.tokenizer import open_tokenizer as open_published

    return open_published(path, "or use data.options.tokenizer=byte or char (cramnet's own)")


def _tokenizer(options: dict, text: str):
    if options["tokenizer"] == "byte":
        return ByteTokenizer()
    if options["tokenizer"] == "char":
        return CharTokenizer("".join(sorted(set(text))))
    if not isinstance(options["tokenizer"], str) or not options["tokenizer"].strip():
        raise TrainError(
            f"data.options.tokenizer must be byte, char or a published tokenizer's file, not {options['tokenizer']!r}"
        )
    return open_tokenizer(options["tokenizer"])


def builtin_corpus() -> str:
    return resources.files("cramnet.train").joinpath("corpus/lectures.txt").read_text(encoding="utf-8")


def text_dataset(
    name: str,
    kind: TensorType,
    seed: int,
    val: float,
    test: float,
    options: dict,
    text: str,
    source: str,
    vocab_limit: int | None,
    tokenizer=None,
) -> Dataset:
    if kind.kind != "tokens":
        raise TrainError(
            f"{source} is text for a language model; input '{name}' is {kind.kind}{list(kind.dims)}",
            f"declare `input {name}: tokens[seq]`",
        )
    tokenizer = tokenizer or _tokenizer(options, text)
    if vocab_limit is not None and tokenizer.vocab > vocab_limit:
        raise TrainError(
            f"{source}: the {tokenizer.kind} tokenizer needs {tokenizer.vocab} token ids but the "
            f"model's embedding has {vocab_limit}",
            "use data.options.tokenizer=char, or a larger `embed` vocabulary"
            if tokenizer.kind == "byte"
            else f"make the model's vocabulary at least {tokenizer.vocab}",
        )
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.long)
    window = options["length"] + 1
    count = len(ids) // window
    if count < 10:
        raise TrainError(
            f"{source}: {len(ids)} tokens make only {count} windows of {window}",
            "use a longer text or a smaller data.options.length",
        )
    chunks = ids[: count * window].reshape(count, window)
    return split_tensors(
        source,
        "language_model",
        {name: chunks[:, :-1]},
        chunks[:, 1:],
        seed,
        val,
        test,
        tokenizer=tokenizer,
        classes=tokenizer.vocab,
        info=f"{source}: {len(ids):,} {tokenizer.kind} tokens in {count} windows of {window - 1}",
    )


MAX_CORPUS_BYTES = 1 << 30  # a corpus is tokenized in memory whole


def read_text(path: Path) -> str:
    if path.exists() and not path.is_file():
        raise TrainError(f"data file {path} is a directory or a device, not a text file")
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CORPUS_BYTES + 1)
        if len(data) > MAX_CORPUS_BYTES:
            raise TrainError(f"{path}: larger than {MAX_CORPUS_BYTES >> 30} GiB, more than a corpus read whole")
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as before
    except UnicodeDecodeError as error:
        raise TrainError(f"{path}: not UTF-8 text (byte {error.start})") from None
    except OSError as error:
        raise TrainError(f"cannot read {path}: {error.strerror or error}") from None
