"""export --format hf writes the tokenizer a run read its data with: cramnet's own numberings (bytes,
characters, sequence alphabets, gene names) as a Hugging Face fast tokenizer that gives the same ids,
read back by transformers' AutoTokenizer and by cramnet when the export is fine-tuned again."""

import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.export.hf_tokenizer import byte_characters, hf_tokenizer
from cramnet.train.data.alphabets import DNA, PROTEIN
from cramnet.train.data.gene_tokens import GeneTokenizer
from cramnet.train.data.text import ByteTokenizer, CharTokenizer

TEXT = "héllo, wörld\n\tdone ✓ 😀 end"


def test_bytes_are_numbered_by_value_and_decode_back():
    inner, _, _ = hf_tokenizer(ByteTokenizer(), None, 256)
    ids = inner.encode(TEXT).ids
    assert ids == ByteTokenizer().encode(TEXT) and inner.decode(ids) == TEXT
    assert len(set(byte_characters())) == 256 and byte_characters()[ord("A")] == "A"


def test_characters_outside_the_runs_are_dropped_as_cramnet_drops_them():
    chars = CharTokenizer("abdehlno ,\n")
    inner, _, _ = hf_tokenizer(chars, None, None)
    ids = inner.encode(TEXT).ids
    assert ids == chars.encode(TEXT) and inner.decode(ids) == chars.decode(ids)


@pytest.mark.parametrize("vocab, pad", [(26, "[PAD]"), (25, "X")])
def test_a_protein_alphabet_pads_as_training_did(vocab, pad):
    inner, padding, unknown = hf_tokenizer(None, "protein", vocab)
    assert (padding, unknown) == (pad, "X") and inner.get_vocab_size() == vocab
    sequence = "mkv-LL*X.wy"  # lower case, a gap, a stop and '.' as cramnet reads them
    assert inner.encode(sequence).ids == PROTEIN.encode("r", sequence, False, "").tolist()
    assert inner.encode("MKJ").ids[-1] == PROTEIN.letters.index("X")  # an unknown letter, as with unknown=map
    short, _ = inner.encode_batch(["MK", "MKV"])
    assert short.ids[-1] == (25 if vocab == 26 else PROTEIN.letters.index("X"))


def test_dna_and_gene_sentences():
    inner, _, _ = hf_tokenizer(None, "dna", None)
    assert inner.encode("acgtn").ids == DNA.encode("r", "ACGTN", False, "").tolist()
    genes = GeneTokenizer(["CD3E", "CD3D", "MS4A1"])
    inner, pad, unknown = hf_tokenizer(genes, None, None)
    assert inner.encode("CD3D MS4A1 FOXP3").ids == genes.encode("CD3D MS4A1 FOXP3")  # <cell> first, <unk>
    assert (pad, unknown) == ("<pad>", "<unk>")


def test_a_published_tokenizer_is_copied_not_rebuilt():
    class Published:
        kind = "published"

    assert hf_tokenizer(Published(), None, None) is None and hf_tokenizer(None, None, None) is None


def test_an_exported_fasta_run_reads_with_transformers_and_fine_tunes_again(tmp_path):
    # the export had no tokenizer: AutoTokenizer could not read it, and fine-tuning it was refused
    from transformers import AutoTokenizer

    runner = CliRunner()
    run, exported = tmp_path / "run", tmp_path / "enzbert-hf"
    sets = ["--set", "data.options.count=40", "--set", "data.options.length=24", "--set", "threads=1"]
    result = runner.invoke(
        app, ["train", "specs/bio/enzbert.cram", "--epochs", "1", "--quiet", "--out", str(run), *sets]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["export", str(run), "--format", "hf", "-o", str(exported)])
    assert result.exit_code == 0 and "tokenizer.json, tokenizer_config.json" in result.output, result.output
    tokenizer = AutoTokenizer.from_pretrained(exported)
    assert tokenizer("MKVX")["input_ids"] == PROTEIN.encode("r", "MKVX", False, "").tolist()
    assert tokenizer.pad_token == "X"  # enzbert's embed(25, …) has no row for a padding token
    fasta = tmp_path / "more.fasta"
    fasta.write_text("".join(f">q{i} ec={i % 7 + 1}\nMKV{'GHSX'[i % 4] * (i % 5 + 2)}LL\n" for i in range(28)))
    args = ["--init-from", str(exported), "--data", str(fasta), "--set", "data.options.label=ec", "--epochs", "1"]
    result = runner.invoke(app, ["train", "specs/bio/enzbert.cram", *args, "--quiet", "--out", str(tmp_path / "ft")])
    assert result.exit_code == 0, result.output  # X is a letter of the alphabet, not a residue left unread
