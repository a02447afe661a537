"""The specs of specs/bio train from the command line: each on its built-in synthetic set with no
--data, and EnzBERT, AttOmics and Cell2Sentence on small FASTA and .h5ad files written here; predict
writes record IDs, generate writes gene names, and a bad file is a message, not a traceback."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.train.data.files import read_arrays
from cramnet.train.errors import TrainError

from .test_bio_data import FASTA, write_family, write_h5ad

runner = CliRunner()
SMALL = {  # a couple of epochs on a few examples: that the command trains, not how well
    "enzbert": ["data.options.count=70", "data.options.length=24"],
    "attomics": ["data.options.count=60"],
    "delphi": ["data.options.count=100"],
    "mini_evoformer": ["data.options.count=12", "data.options.residues=12", "data.options.depth=4"],
    "cell2sentence": ["data.options.count=40", "data.options.genes=200", "data.options.length=8"],
}
MAIN = {"enzbert": "accuracy", "attomics": "accuracy", "delphi": "auroc", "mini_evoformer": "top_l_precision"}


def train(*args):
    result = runner.invoke(app, ["train", *args, "--set", "threads=1", "--quiet"])
    assert "Traceback" not in result.output
    return result


@pytest.mark.slow
@pytest.mark.parametrize("spec", list(SMALL))
def test_each_bio_spec_trains_on_its_built_in_set(spec, tmp_path):
    sets = [a for s in SMALL[spec] for a in ("--set", s)]
    result = train(f"specs/bio/{spec}.cram", "--epochs", "2", "--batch-size", "8", "--out", str(tmp_path), *sets)
    assert result.exit_code == 0, result.output
    final = json.loads((tmp_path / "final.json").read_text())
    metric = MAIN.get(spec, "perplexity")
    assert np.isfinite(final[f"test_{metric}"]) and np.isfinite(final["test_loss"])
    if spec == "enzbert":
        assert "test_macro_f1" in final and (tmp_path / "confusion.png").exists()


def tiny_protein(folder, vocab: int):
    spec = folder / "tiny_protein.cram"
    spec.write_text(
        "model tiny_protein {\n    input protein: tokens[length]\n"
        f"    protein -> embed({vocab}, 8) -> pool(mean) -> dense(2) as ec\n    output ec\n}}\n"
    )
    return spec


def test_training_a_protein_model_on_dna_prints_a_warning(tmp_path):
    spec = tiny_protein(tmp_path, vocab=25)
    dna = tmp_path / "genes.fasta"
    dna.write_text("".join(f">g{i} ec={i % 2 + 1}\n{'ACGT'[i % 4] * 3}GATTACA\n" for i in range(20)))
    args = [str(spec), "--data", str(dna), "--set", "data.options.label=ec", "--epochs", "1", "--out"]
    result = runner.invoke(app, ["train", *args, str(tmp_path / "run"), "--set", "threads=1"])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "look like nucleotides" in result.output
    assert "data.options.alphabet=protein" in result.output
    result = runner.invoke(app, ["train", *args, str(tmp_path / "dna"), "--set", "data.options.alphabet=dna"])
    assert result.exit_code == 0 and "warning" not in result.output, result.output


def test_predict_reads_sequences_in_the_alphabet_the_run_guessed(tmp_path):
    # peptides of the letters A, C, G and T alone were guessed to be DNA at predict time: other ids
    from cramnet.train.bio_predict import bio_inputs
    from cramnet.train.data.alphabets import PROTEIN
    from cramnet.train.inference import load_run

    spec = tiny_protein(tmp_path, vocab=26)
    proteins = tmp_path / "proteins.fasta"
    proteins.write_text("".join(f">p{i} ec={i % 2 + 1}\nMKV{'GHS'[i % 3] * 3}LL\n" for i in range(20)))
    args = [str(spec), "--data", str(proteins), "--set", "data.options.label=ec", "--epochs", "1"]
    assert train(*args, "--out", str(tmp_path / "run")).exit_code == 0
    peptides = tmp_path / "peptides.fasta"
    peptides.write_text(">a\nGATTACA\n>b\nCAT\n")
    inputs, ids = bio_inputs(load_run(tmp_path / "run"), peptides)
    assert ids == ["a", "b"]
    assert inputs["protein"][0].tolist() == PROTEIN.encode("a", "GATTACA", False, "").tolist()
    assert inputs["protein"][1, :3].tolist() == PROTEIN.encode("b", "CAT", False, "").tolist()
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps(info | {"alphabet": "klingon"}))
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "python", "-o", str(tmp_path / "m.py")])
    assert result.exit_code == 1 and "alphabet 'klingon' is not one cramnet writes" in result.output, result.output


@pytest.mark.slow
def test_enzbert_from_fasta_and_predict_writes_record_ids(tmp_path):
    fasta = tmp_path / "enzymes.fasta"
    fasta.write_text("".join(FASTA.replace(">sp|P", f">sp|{k}P") for k in range(3)))  # enough for three splits
    run = tmp_path / "run"
    result = train(
        "specs/bio/enzbert.cram",
        "--data", str(fasta), "--set", "data.options.label=ec", "--epochs", "1", "--out", str(run),
    )  # fmt: skip
    assert result.exit_code == 1 and "end the model in `dense(3)`" in result.output  # 3 classes, 7 outputs
    seven = tmp_path / "seven.fasta"
    seven.write_text("".join(f">q{i} ec={i % 7 + 1}\nMKV{'GHS'[i % 3] * (i % 5 + 2)}LL\n" for i in range(28)))
    result = train("specs/bio/enzbert.cram", "--data", str(seven), "--set", "data.options.label=ec",
                   "--epochs", "1", "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    predicted = runner.invoke(app, ["predict", str(run), str(seven)])
    assert predicted.exit_code == 0, predicted.output
    lines = (tmp_path / "seven.fasta.predictions.csv").read_text().splitlines()
    assert lines[0].startswith("id,class,p_1,p_2") and lines[1].startswith("q0,") and len(lines) == 29
    some = tmp_path / "some.fasta"  # three of the seven classes, numbered as the run numbers them
    some.write_text("".join(f">s{i} ec={(2, 4, 6)[i % 3]}\nMKV{'GHS'[i % 3] * (i % 5 + 2)}LL\n" for i in range(30)))
    evaluated = runner.invoke(app, ["evaluate", str(run), "--data", str(some)])
    assert evaluated.exit_code == 0 and "test_accuracy" in evaluated.output, evaluated.output


@pytest.mark.slow
def test_attomics_and_cell2sentence_from_h5ad(tmp_path):
    cells = write_h5ad(tmp_path / "cells.h5ad", cells=45, genes=2000)
    run = tmp_path / "attomics"
    result = train("specs/bio/attomics.cram", "--data", str(cells), "--set", "data.options.label=cell_type",
                   "--set", "data.options.log1p=true", "--epochs", "1", "--out", str(run))  # fmt: skip
    assert result.exit_code == 1 and "end the model in `dense(3)`" in result.output  # the spec has 5 types
    five = write_h5ad(tmp_path / "five.h5ad", cells=45, genes=2000, label="batch")
    import anndata

    adata = anndata.read_h5ad(five)
    adata.obs["type"] = [f"t{i % 5}" for i in range(45)]
    adata.write_h5ad(five)
    result = train("specs/bio/attomics.cram", "--data", str(five), "--set", "data.options.label=type",
                   "--set", "data.options.log1p=true", "--epochs", "1", "--out", str(run))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["predict", str(run), str(five)]).exit_code == 0
    assert (tmp_path / "five.h5ad.predictions.csv").read_text().splitlines()[1].startswith("cell0,t")
    sentences = tmp_path / "c2s"
    result = train("specs/bio/cell2sentence.cram", "--data", str(cells), "--set", "data.options.length=6",
                   "--epochs", "1", "--out", str(sentences))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads((sentences / "run.json").read_text())["tokenizer"]["genes"][:2] == ["G0", "G1"]
    sampled = runner.invoke(app, ["generate", str(sentences), "--prompt", "G0", "--tokens", "3"])
    assert sampled.exit_code == 0 and sampled.output.startswith("<cell> G0 ")


def test_a_bad_bio_file_is_a_message_not_a_traceback(tmp_path):
    cells = write_h5ad(tmp_path / "cells.h5ad", cells=12, genes=2000)
    result = train("specs/bio/attomics.cram", "--data", str(cells), "--set", "data.options.label=celltype")
    assert result.exit_code == 1
    assert "no obs column 'celltype'" in result.output and "cell_type, batch" in result.output


def test_a_compressed_file_is_named_as_such_for_train_and_predict(tmp_path):
    import gzip

    packed = tmp_path / "enzymes.fa.gz"
    with gzip.open(packed, "wt") as handle:
        handle.write(FASTA)
    for args in (
        ["specs/bio/enzbert.cram", "--data", str(packed), "--set", "data.options.label=ec"],
        ["specs/bio/enzbert.cram", "--data", str(packed)],
    ):
        result = train(*args)
        assert result.exit_code == 1 and "enzymes.fa.gz is gzip-compressed" in result.output, result.output
        assert "gunzip -k" in result.output and "enzymes.fa" in result.output
    with pytest.raises(TrainError, match="enzymes.fa.gz is gzip-compressed"):  # what predict reads
        read_arrays(packed, targets=False)


@pytest.mark.slow
def test_delphi_from_an_event_table_and_evoformer_from_alignments(tmp_path):
    table = tmp_path / "events.csv"
    events = [f"p{p},{30 + p % 7 + k * 5},{'ABCD'[(p + k) % 4]}" for p in range(30) for k in range(4)]
    rows = ["person,age,code", *events]
    table.write_text("\n".join(rows) + "\n")
    run = tmp_path / "delphi"
    result = train("specs/bio/delphi.cram", "--data", str(table), "--epochs", "1", "--out", str(run))
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["predict", str(run), str(table)]).exit_code == 0
    with np.load(tmp_path / "events.csv.predictions.npz") as saved:
        assert saved["prediction"].shape == (30, 16, 1270) and saved["id"][0] == "p0"
    families = tmp_path / "families"
    families.mkdir()
    for f in range(4):
        write_family(families, f"fam{f}", ["MKVLAGHEKL", "MRVLSGHEKL", "MK-LAGHDKL", "MKVLTGHERL"], 10)
    run = tmp_path / "evo"
    result = train("specs/bio/mini_evoformer.cram", "--data", str(families), "--epochs", "1", "--out", str(run))
    assert result.exit_code == 0, result.output
    assert "test_top_l_precision" in json.loads((run / "final.json").read_text())
