"""A published model's tokenizer and stop tokens: the `tokenizer.json` that Hugging Face's fast
tokenizers save beside the weights (read with the `tokenizers` package, which transformers
installs) — or, where a directory holds only a slow tokenizer's files (vocab.txt, vocab.json and
merges.txt), the fast tokenizer transformers converts them to — and the end-of-sequence and decoder
start ids of `generation_config.json` or `config.json`."""

from __future__ import annotations

import warnings
from pathlib import Path

from ..errors import TrainError
from .checkpoint import _json_object

_SLOW_FILES = (
    "vocab.json",
    "merges.txt",
    "vocab.txt",
    "spiece.model",
    "tokenizer.model",
)  # read by transformers' Python tokenizers
PROMPT_IDS_HINT = "or give the prompt as token ids: --prompt-ids '15496 11 995'"
MAX_TOKENIZER_BYTES = 256 << 20  # the largest published tokenizer.json files are tens of MiB


class PublishedTokenizer:
    """Text to token ids and back, as the published model's own tokenizer does it (special tokens
    such as a leading <s> added where the tokenizer adds them; skipped when decoding). A run trained
    with one keeps a copy as its own tokenizer.json (`save`), which run.json names (`to_json`)."""

    kind = "published"
    FILE = "tokenizer.json"

    def __init__(self, inner, path: Path):
        padding = inner.padding
        inner.no_padding()  # padding and truncation saved with a batch call's settings are not the vocabulary's:
        inner.no_truncation()  # a corpus encoded whole would stop at 512 tokens
        self.inner, self.path = inner, path
        self.vocab = inner.get_vocab_size(with_added_tokens=True)
        names = [padding["pad_token"]] if padding else ["[PAD]", "<pad>"]
        self.pad = next((inner.token_to_id(t) for t in names if inner.token_to_id(t) is not None), None)

    def encode(self, text: str) -> list[int]:
        return list(self.inner.encode(text).ids)

    def decode(self, ids: list[int]) -> str:
        return self.inner.decode(ids, skip_special_tokens=True)

    def fit(self, vocab: int | None, source: str) -> None:
        """Refuse a model whose embedding has fewer rows than the tokenizer has tokens."""
        if vocab is not None and self.vocab > vocab:
            raise TrainError(
                f"{source}: the published tokenizer needs {self.vocab} token ids but the model's embedding has {vocab}",
                f"make it embed({self.vocab}, …) to hold every token, or name the tokenizer these weights were "
                "trained with (data.options.tokenizer)",
            )

    def rows(self, texts: list[str], length: int, longest: int) -> list[list[int]]:
        """The ids of each of `texts`, cut as the tokenizer cuts (a closing [SEP] stays last) at `length`;
        length 0: at the longest text's, at most `longest`. Padding them is the reader's (`pad`)."""
        encoded = [e.ids for e in self.inner.encode_batch(texts)]
        length = length or min(max(map(len, encoded)), longest)
        if all(len(ids) <= length for ids in encoded):
            return encoded
        self.inner.enable_truncation(max_length=length)
        try:
            return [e.ids for e in self.inner.encode_batch(texts)]
        finally:
            self.inner.no_truncation()

    def to_json(self) -> dict:
        return {"kind": self.kind, "file": self.FILE, "from": str(self.path)}

    def save(self, folder: Path) -> None:
        (folder / self.FILE).write_text(self.inner.to_str(), encoding="utf-8")


def _directory(path: str | Path) -> Path:
    path = Path(path)
    return path if path.is_dir() else path.parent


def tokenizer_source(path: str | Path) -> Path | None:
    """The tokenizer.json beside the weights at `path`, else their directory where it holds a slow
    tokenizer's files; None where neither is there."""
    directory = _directory(path)
    if (directory / "tokenizer.json").is_file():
        return directory / "tokenizer.json"
    return directory if any((directory / name).exists() for name in _SLOW_FILES) else None


def open_tokenizer(path: str | Path, other: str = PROMPT_IDS_HINT) -> PublishedTokenizer:
    """The tokenizer saved with the weights at `path` (a model directory, or a file in one, or a
    tokenizer.json itself); `other` ends a hint with what the user can do without one."""
    path = Path(path)
    if path.suffix == ".json" and path.name != "config.json":
        file, directory = path, path.parent
    else:
        directory = _directory(path)
        file = directory / "tokenizer.json"
    if not path.exists():  # not its parent's: a mistyped name would read the working directory's tokenizer.json
        raise TrainError(
            f"no tokenizer file or directory {path}",
            "give the tokenizer.json saved with the weights, or their directory, " + other,
        )
    if not file.is_file() and (directory / "run.json").is_file():  # a cramnet run keeps its own tokenizer
        raise TrainError(
            f"{directory} is a cramnet run, which keeps its tokenizer in run.json, not a tokenizer.json",
            f"generate from the run itself: cramnet generate {directory} --prompt …",
        )
    if not file.is_file():
        slow = [name for name in _SLOW_FILES if (directory / name).exists()]
        if slow:
            return PublishedTokenizer(_converted(directory, slow, other), directory)
        raise TrainError(
            f"{directory} has no tokenizer.json (nor a slow tokenizer's {', '.join(_SLOW_FILES)})",
            "save it with AutoTokenizer.from_pretrained(NAME).save_pretrained(DIR), " + other,
        )
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise TrainError(
            f"reading {file} needs the `tokenizers` package, which is not installed",
            "pip install tokenizers (transformers installs it), " + other,
        ) from None
    size = file.stat().st_size
    if size > MAX_TOKENIZER_BYTES:  # read whole: a sparse or stray file must not fill memory
        raise TrainError(
            f"{file}: {size / 2**20:,.0f} MiB, larger than any tokenizer.json "
            f"({MAX_TOKENIZER_BYTES >> 20} MiB at most)",
            "give the tokenizer.json saved with the weights, " + other,
        )
    try:
        return PublishedTokenizer(Tokenizer.from_file(str(file)), file)
    except Exception as error:  # the Rust library raises its own exception type
        raise TrainError(f"{file}: not a tokenizer the `tokenizers` package can read ({error})") from None


def _converted(directory: Path, slow: list[str], other: str):
    """The fast tokenizer transformers makes of a slow one's files (ProtBERT's vocab.txt, GPT-2's
    vocab.json and merges.txt, a SentencePiece model where sentencepiece is installed): the exact
    conversion Hugging Face's own AutoTokenizer makes, which a run then keeps as its tokenizer.json."""
    files = ", ".join(slow)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from transformers import AutoTokenizer
    except ImportError:
        raise TrainError(
            f"{directory} holds a slow tokenizer's {files} and no tokenizer.json; reading those needs transformers",
            "pip install transformers, or save a tokenizer.json with "
            "AutoTokenizer.from_pretrained(NAME).save_pretrained(DIR), " + other,
        ) from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            made = AutoTokenizer.from_pretrained(directory, local_files_only=True)
    except Exception as error:  # transformers raises many kinds for files it cannot read
        raise TrainError(
            f"{directory}: transformers could not make a tokenizer of its {files} ({type(error).__name__}: {error})",
            "save a tokenizer.json with AutoTokenizer.from_pretrained(NAME).save_pretrained(DIR), " + other,
        ) from None
    backend = getattr(made, "backend_tokenizer", None)
    if backend is None:
        raise TrainError(
            f"{directory}: transformers reads its {files} with a Python tokenizer, which has no tokenizer.json form",
            other,
        )
    return backend


def stop_ids(path: str | Path) -> set[int]:
    """The end-of-sequence ids a published model stops at (generation_config.json, else config.json)."""
    value = _generation_value(path, "eos_token_id")
    values = value if isinstance(value, list) else [] if value is None else [value]
    return {v for v in values if _is_id(v)}


def decoder_start(path: str | Path) -> int | None:
    """The token an encoder–decoder model's decoder starts from (generation_config.json, else config.json)."""
    value = _generation_value(path, "decoder_start_token_id")
    return value if _is_id(value) else None


def _generation_value(path: str | Path, key: str):
    directory = _directory(path)
    for name in ("generation_config.json", "config.json"):
        file = directory / name
        if file.is_file():
            value = _json_object(file, "a model config").get(key)
            if value is not None:
                return value
    return None


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
