"""The tokenizer a run read its data with, as a Hugging Face fast tokenizer (`tokenizers`), for
`export --format hf`: the exported model then reads text, sequences or cell sentences as it was
trained to — with transformers' AutoTokenizer, or with cramnet when it is fine-tuned again.

cramnet's own ways of numbering are written as a word-level vocabulary over what they number:
characters (char), UTF-8 bytes in GPT-2's byte-to-character mapping (byte), the letters of a
sequence alphabet with its padding (protein, DNA, RNA), gene names after four specials (genes)."""

from __future__ import annotations

import json
from pathlib import Path

ANY_CHARACTER = r"[\s\S]"  # one code point, newlines included, in every regex dialect tokenizers reads


def hf_tokenizer(tokenizer, alphabet: str | None, vocab: int | None):
    """(a `tokenizers.Tokenizer` numbering as the run's `tokenizer` or sequence `alphabet` does, its
    padding token, its unknown token); None where the run read no text (a published tokenizer is copied as it is).
    ImportError without the `tokenizers` package."""
    if tokenizer is None and alphabet is None or getattr(tokenizer, "kind", None) == "published":
        return None
    if alphabet is not None:
        return _letters(alphabet, vocab)
    return {"char": _characters, "byte": _bytes, "genes": _genes}[tokenizer.kind](tokenizer)


def save_hf_tokenizer(built, directory: Path) -> None:
    """tokenizer.json, and a tokenizer_config.json that has AutoTokenizer read it as it is."""
    inner, pad, unknown = built
    inner.save(str(directory / "tokenizer.json"))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "pad_token": pad, "unk_token": unknown}
    text = json.dumps({k: v for k, v in config.items() if v is not None}, indent=2)
    (directory / "tokenizer_config.json").write_text(text + "\n", encoding="utf-8")


def _word_level(vocab: dict[str, int], unknown: str | None, split, decoder):
    from tokenizers import Tokenizer, models

    inner = Tokenizer(models.WordLevel(vocab, unk_token=unknown))
    inner.pre_tokenizer, inner.decoder = split, decoder
    return inner


def _one_character_each():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Split(Regex(ANY_CHARACTER), "isolated")


def _characters(tokenizer):
    """Each character its id; a character outside the run's is dropped, as cramnet drops it."""
    from tokenizers import Regex, decoders, normalizers

    inner = _word_level(tokenizer.index, None, _one_character_each(), decoders.Fuse())
    known = "".join(f"\\x{{{ord(c):x}}}" for c in tokenizer.chars)
    inner.normalizer = normalizers.Replace(Regex(f"[^{known}]"), "")
    return inner, None, None


def byte_characters() -> list[str]:
    """GPT-2's printable stand-in for each byte value (Radford et al. 2019, its encoder.py): bytes
    that are visible Latin-1 characters stand for themselves, the rest for 256, 257, … in order."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return [chr(b) if b in visible else chr(next(extra)) for b in range(256)]


def _bytes(tokenizer):
    """Each UTF-8 byte its value."""
    from tokenizers import decoders, pre_tokenizers

    vocab = {c: b for b, c in enumerate(byte_characters())}
    split = pre_tokenizers.Sequence(
        [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False), _one_character_each()]
    )
    return _word_level(vocab, None, split, decoders.ByteLevel()), None, None


def _letters(option: str, vocab: int | None):
    """A sequence alphabet's letters (upper-cased; gaps, '.' and '*' dropped), and its padding: the
    token after the letters where the model has room for it, else the unknown letter, as in training."""
    from tokenizers import Regex, decoders, normalizers

    from ..train.data.alphabets import ALPHABETS

    alphabet = ALPHABETS[option]
    letters = {c: i for i, c in enumerate(alphabet.letters)}
    room = vocab is None or vocab > alphabet.size
    pad = "[PAD]" if room else alphabet.unknown
    inner = _word_level(
        letters | {pad: alphabet.size} if room else letters, alphabet.unknown, _one_character_each(), decoders.Fuse()
    )
    upper = [normalizers.Replace(c.lower(), c) for c in alphabet.letters]
    inner.normalizer = normalizers.Sequence([normalizers.Replace(Regex(r"[-.*\s]"), ""), *upper])
    if room:
        inner.add_special_tokens([pad])
    inner.enable_padding(pad_id=inner.token_to_id(pad), pad_token=pad)
    return inner, pad, alphabet.unknown


def _genes(tokenizer):
    """Gene names between spaces, after <cell> as cramnet's sentences begin."""
    from tokenizers import pre_tokenizers, processors

    from ..train.data.gene_tokens import CELL, PAD, SPECIALS, UNKNOWN

    inner = _word_level(tokenizer.index, UNKNOWN, pre_tokenizers.WhitespaceSplit(), None)  # decoded with spaces
    inner.add_special_tokens(list(SPECIALS))
    inner.post_processor = processors.TemplateProcessing(
        single=f"{CELL} $A", special_tokens=[(CELL, tokenizer.index[CELL])]
    )
    inner.enable_padding(pad_id=tokenizer.index[PAD], pad_token=PAD)
    return inner, PAD, UNKNOWN
