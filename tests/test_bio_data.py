"""Biological data: the synthetic built-in sets of specs/bio, and the readers of FASTA, .h5ad, event
tables and alignments on small files written here — with each bad input's message."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from cramnet.blocks.tensor_type import TensorType
from cramnet.train import apply_sets, defaults
from cramnet.train.data import default_data, load_data
from cramnet.train.data.families import MSA_LETTERS
from cramnet.train.data.life_histories import EVENTS, simulate
from cramnet.train.errors import TrainError

PROTEIN = {"protein": TensorType(("length",), "tokens")}
EXPRESSION = {"expression": TensorType((6,), "float")}
SENTENCE = {"genes": TensorType(("rank",), "tokens")}
HISTORY = {"codes": TensorType(("visits",), "tokens"), "ages": TensorType(("visits", 1), "float")}
EVO = {
    "msa": TensorType(("sequences", "residues", 32), "float"),
    "pair": TensorType(("residues", "residues", 16), "float"),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Making data is many small tensor operations: on a shared 2-core machine, more threads stall."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load(name, types, options=None, task="auto", vocab=None, seed=0):
    return load_data(str(name), types, task, seed, (None, None), options or {}, vocab)


# --- built-in synthetic sets ---------------------------------------------------------------------


def test_each_bio_spec_gets_its_synthetic_set():
    scores = {"o": TensorType((7,), "float")}
    assert default_data(PROTEIN, scores) == "proteins"
    assert default_data({"x": TensorType((2000,), "float")}, {"o": TensorType((5,), "float")}) == "cells"
    assert default_data(SENTENCE, {"o": TensorType(("rank", 20004), "float")}) == "cell_sentences"
    assert default_data(HISTORY, {"o": TensorType(("visits", 1270), "float")}) == "life_histories"
    assert default_data(EVO, {"d": TensorType(("residues", "residues", 64), "float")}) == "families"
    # a language model on text keeps the text corpus; a small tabular model gets no cells
    assert default_data({"ids": TensorType(("seq",), "tokens")}, {"o": TensorType(("seq", 256), "float")}) == "text"
    assert default_data({"x": TensorType((5,), "float")}, {"o": TensorType((2,), "float")}) is None
    assert default_data(PROTEIN, {"o": TensorType((2,), "float")}) is None  # a text classifier: no proteins


def test_proteins_carry_their_class_motif_and_are_seeded():
    data = load("proteins", PROTEIN, {"count": 70, "length": 30})
    again = load("proteins", PROTEIN, {"count": 70, "length": 30})
    assert torch.equal(data.train.inputs["protein"], again.train.inputs["protein"])
    letters = "ACDEFGHIKLMNPQRSTVWYUOBZX"
    x, y = data.train.inputs["protein"], data.train.target
    kmsks = [i for i in range(len(y)) if y[i] == 5]  # the KMSKS class: the motif spelt out in full
    assert kmsks and all("KMSKS" in "".join(letters[t] for t in x[i]) for i in kmsks)
    assert data.classes == 7 and int(x.max()) < 20


def test_cells_are_marked_by_programmes_and_sentences_name_genes():
    data = load("cells", {"x": TensorType((300,), "float")}, {"count": 100, "types": 3, "programme": 20})
    x, y = data.train.inputs["x"], data.train.target
    means = torch.stack([x[y == c].mean(0) for c in range(3)])
    assert (means.max(0).values - means.min(0).values).topk(60).values.min() > 0.3  # 3 programmes stand out
    sentences = load("cell_sentences", SENTENCE, {"count": 50, "genes": 200, "programme": 20, "length": 10})
    assert sentences.task == "language_model" and sentences.train.inputs["genes"].shape[1] == 10
    assert (sentences.train.inputs["genes"][:, 0] == 1).all()  # every sentence starts with <cell>
    words = sentences.tokenizer.decode(sentences.train.inputs["genes"][0].tolist()).split()
    assert words[0] == "<cell>" and all(w.startswith("GENE") for w in words[1:])


def test_life_histories_depend_on_earlier_events():
    people = simulate(3000, seed=0)
    names = list(EVENTS)
    smoked = [names.index("smoking") + 1 in {c for _, c in p} for p in people]
    smokers = [p for p, s in zip(people, smoked) if s]
    others = [p for p, s in zip(people, smoked) if not s]

    def rate(group):
        return sum(names.index("lung_cancer") + 1 in {c for _, c in p} for p in group) / len(group)

    assert rate(smokers) > 3 * rate(others)
    assert all(ages == sorted(ages) for ages in ([a for a, _ in p] for p in people))
    data = load("life_histories", HISTORY, {"count": 200, "visits": 8})
    codes, target = data.train.inputs["codes"], data.train.target
    assert torch.equal(target[:, :-1][target[:, :-1] != -100], codes[:, 1:][target[:, :-1] != -100])


def test_families_couple_the_residues_of_contacts():
    data = load("families", EVO, {"count": 30, "depth": 32, "residues": 16})
    msa, distances = data.train.inputs["msa"], data.train.target
    assert msa.shape[1:] == (32, 16, 32) and data.train.inputs["pair"].shape[1:] == (16, 16, 16)
    assert torch.equal(msa[..., : len(MSA_LETTERS)].sum(-1), torch.ones(msa.shape[:3]))  # one letter each
    assert (msa[:, 0, :, len(MSA_LETTERS)] == 1).all() and (msa[:, 1:, :, len(MSA_LETTERS)] == 0).all()
    near = torch.diagonal(distances, offset=1, dim1=1, dim2=2)
    assert torch.allclose(near, torch.full_like(near, 3.8), atol=1e-3)  # consecutive residues 3.8 Å apart


# --- FASTA ---------------------------------------------------------------------------------------

FASTA = """>sp|P1 ec=1 an oxidoreductase
MKTGAGLLG
>sp|P2 ec=2
MHRDLKPEN
>sp|P3 ec=1
MGSGAGYY
>sp|P4 ec=3
MGASAGKKLLV
>sp|P5 ec=2
MHRDIKAAN
>sp|P6 ec=3
MGHSLG
"""


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "enzymes.fasta"
    path.write_text(FASTA)
    return path


def test_fasta_labels_from_a_header_field_crop_and_pad(fasta):
    data = load(fasta, PROTEIN, {"label": "ec", "length": 8}, vocab=25)
    assert data.task == "classification" and data.classes == 3 and data.labels == ["1", "2", "3"]
    x = torch.cat([data.train.inputs["protein"], data.val.inputs["protein"], data.test.inputs["protein"]])
    assert x.shape == (6, 8)
    assert sorted(sum(data.ids.values(), [])) == [f"sp|P{i}" for i in range(1, 7)]
    short = load(fasta, PROTEIN, {"label": "ec", "length": 12}, vocab=25)
    pads = torch.cat([s.inputs["protein"] for s in short.splits.values()])
    assert (pads == 24).sum() > 0  # no room for a padding token in embed(25): X pads
    masks = torch.cat([s.inputs["protein_mask"] for s in short.splits.values()])
    assert sorted(masks.sum(1).tolist()) == [6, 8, 9, 9, 9, 11]  # the model is told where padding is


def test_fasta_labels_from_a_regex_or_a_side_csv(fasta, tmp_path):
    by_regex = load(fasta, PROTEIN, {"label": r"ec=(\d)"}, vocab=26)
    assert by_regex.classes == 3
    pads = torch.cat([s.inputs["protein"] for s in by_regex.splits.values()])
    assert (pads == 25).any()  # embed(26) has room: a token of its own pads
    side = tmp_path / "labels.csv"
    side.write_text("id,label\n" + "".join(f"sp|P{i},{'ab'[i % 2]}\n" for i in range(1, 7)))
    by_table = load(fasta, PROTEIN, {"labels": str(side)})
    assert by_table.labels == ["a", "b"]


def test_fasta_errors_name_the_record(fasta, tmp_path):
    bad = tmp_path / "bad.fasta"
    bad.write_text(">ok\nMKV\n>odd one\nMK1V\n")
    with pytest.raises(TrainError, match=r"record 'odd' has '1' at position 3") as failure:
        load(bad, PROTEIN, {"label": "ec"})
    assert "unknown=map" in failure.value.hint
    with pytest.raises(TrainError, match="no labels, and the model classifies"):
        load(fasta, PROTEIN)
    with pytest.raises(TrainError, match=r"record 'sp\|P1' has no label: its header has no field organism=…"):
        load(fasta, PROTEIN, {"label": "organism"})
    with pytest.raises(TrainError) as failure:
        load(fasta, PROTEIN, {"label": "EC"})  # the headers write ec=
    assert "keys are case-sensitive: --set data.options.label=ec" in failure.value.hint
    with pytest.raises(TrainError, match="25 letters .* the model's embedding has 20"):
        load(fasta, PROTEIN, {"label": "ec"}, vocab=20)
    side = tmp_path / "few.csv"
    side.write_text("sp|P1,a\n")
    with pytest.raises(TrainError, match="no label for 5 record"):
        load(fasta, PROTEIN, {"labels": str(side)})
    with pytest.raises(TrainError, match="has no option 'lable'"):
        load(fasta, PROTEIN, {"lable": "ec"})


def test_fasta_mistakes_are_one_message_naming_the_record(tmp_path):
    """An empty record and a record ID used twice: each names where it is."""
    empty = tmp_path / "empty.fasta"
    empty.write_text(">P1 ec=1\nMKV\n>P2 ec=2\n*\n>P3 ec=1\nMV\n")
    with pytest.raises(TrainError, match=r"empty.fasta: record 'P2' \(record 2\) has no residues"):
        load(empty, PROTEIN, {"label": "ec"})
    twice = tmp_path / "twice.fasta"
    twice.write_text(">P1 ec=1\nMKV\n>P2 ec=2\nMKV\n>P1 ec=2\nMV\n")
    with pytest.raises(TrainError, match=r"twice.fasta: record ID 'P1' is used by records 1 and 3"):
        load(twice, PROTEIN, {"label": "ec"})


def test_labels_of_one_class_are_refused_for_training(fasta, tmp_path):
    """A regex that matches what every header shares (UniProt's 'EC=3.1.1.1' read as 'EC=(\\d)' on
    hydrolases) used to ask for `dense(1)`; an obs column with one value likewise."""
    from cramnet.train.setup import prepare

    def prepared(spec: str, data: Path, options: dict):
        config = apply_sets(defaults(), [f"data.name={data}"])
        return prepare(spec, config | {"data": config["data"] | {"options": options}})

    with pytest.raises(TrainError, match=r"enzymes.fasta: every example has the label 'sp'; a classifier needs"):
        prepared("specs/bio/enzbert.cram", fasta, {"label": r"(\w+)\|"})
    cells = write_h5ad(tmp_path / "cells.h5ad", genes=2000)
    with pytest.raises(TrainError, match=r"cells.h5ad: every example has the label 'b1'"):
        prepared("specs/bio/attomics.cram", cells, {"label": "batch"})


def test_other_data_is_numbered_as_the_run_numbers_its_classes(tmp_path):
    # evaluated by a run of seven classes, a file of three of them numbers them 0, 1, 2 by itself
    from cramnet.train.setup import prepare

    some = tmp_path / "some.fasta"
    some.write_text("".join(f">s{i} ec={(2, 4, 6)[i % 3]}\nMKV{'GHS'[i % 3] * (i % 5 + 2)}LL\n" for i in range(30)))
    config = apply_sets(defaults(), [f"data.name={some}", "data.options.label=ec"])
    run = [str(c) for c in range(1, 8)]
    data = prepare("specs/bio/enzbert.cram", config, labels=run).data
    assert data.classes == 7 and data.labels == run
    targets = torch.cat([split.target for split in data.splits.values()])
    assert set(targets.tolist()) == {1, 3, 5} and len(targets) == 30
    with pytest.raises(TrainError, match=r"some.fasta: label '6' is not one of the 5 classes the run was trained on"):
        prepare("specs/bio/enzbert.cram", config, labels=run[:5])


def test_a_file_that_is_not_fasta_is_told_in_one_line(tmp_path):
    # Biopython's advice on its own parsers ("Use SeqIO.parse with the 'fasta-pearson' format …",
    # 16 lines) was the message
    notes = tmp_path / "notes.fasta"
    notes.write_text("\nhello world\n>a ec=1\nMKV\n")
    with pytest.raises(TrainError) as failure:
        load(notes, PROTEIN, {"label": "ec"})
    assert str(failure.value) == f"{notes}, line 2: 'hello world' comes before the first record's '>' header"
    assert "SeqIO" not in str(failure.value) and "'>ID description'" in failure.value.hint
    notes.write_text("\n\n>a ec=1\nMKV\n>b ec=2\nMV\n>c ec=1\nKV\n>d ec=2\nMK\n")  # blank lines first: read
    assert load(notes, PROTEIN, {"label": "ec"}).classes == 2


def test_fasta_maps_unknown_letters_when_asked_and_reads_nucleotides(tmp_path):
    odd = tmp_path / "odd.fa"
    odd.write_text(">a c=x\nMKJV\n>b c=y\nMKV\n>c c=x\nMV\n>d c=y\nKV\n")
    data = load(odd, PROTEIN, {"label": "c", "unknown": "map"}, vocab=25)
    x = torch.cat([s.inputs["protein"] for s in data.splits.values()])
    assert (x == 24).any()  # J read as X
    dna = tmp_path / "reads.fna"
    dna.write_text(">r1 kind=a\nACGTN\n>r2 kind=b\nTTGCA\n>r3 kind=a\nGGNAC\n")
    data = load(dna, {"seq": TensorType(("n",), "tokens")}, {"label": "kind"}, vocab=8)
    assert int(torch.cat([s.inputs["seq"] for s in data.splits.values()]).max()) <= 5


def test_nucleotides_for_a_protein_sized_embedding_are_warned_of(tmp_path):
    # DNA given to EnzBERT (embed(25, …)) trained silently on a guessed nucleotide alphabet
    dna = tmp_path / "genes.fasta"
    dna.write_text("".join(f">g{i} ec={i % 2 + 1}\n{'ACGT'[i % 4] * 3}GATTACA\n" for i in range(12)))
    data = load(dna, PROTEIN, {"label": "ec"}, vocab=25)
    (warning,) = data.warnings
    assert "genes.fasta" in warning and "look like nucleotides" in warning and "amino-acid" in warning
    assert "data.options.alphabet=protein" in warning and "data.options.alphabet=dna" in warning
    assert not load(dna, PROTEIN, {"label": "ec", "alphabet": "dna"}, vocab=25).warnings  # said explicitly
    assert not load(dna, PROTEIN, {"label": "ec"}, vocab=6).warnings  # a nucleotide model
    proteins = tmp_path / "proteins.fasta"
    proteins.write_text("".join(f">p{i} ec={i % 2 + 1}\nMKV{'GHS'[i % 3] * 4}LL\n" for i in range(12)))
    assert not load(proteins, PROTEIN, {"label": "ec"}, vocab=25).warnings


# --- AnnData -------------------------------------------------------------------------------------


def write_h5ad(path, cells=30, genes=6, label="cell_type", silent=()):
    import anndata
    import pandas as pd

    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, (cells, genes)).astype(np.float32)
    kinds = np.array(["B", "T", "NK"])[np.arange(cells) % 3]
    counts[kinds == "T", 0] += 20  # each type marked by one gene
    counts[kinds == "NK", 1] += 20
    counts[list(silent)] = 0  # cells that express nothing
    obs = pd.DataFrame({label: kinds, "batch": "b1"}, index=[f"cell{i}" for i in range(cells)])
    var = pd.DataFrame(index=[f"G{i}" for i in range(genes)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        anndata.AnnData(X=counts, obs=obs, var=var).write_h5ad(path)
    return path


def test_h5ad_expression_with_normalisation_and_hvg(tmp_path):
    path = write_h5ad(tmp_path / "pbmc.h5ad")
    data = load(path, EXPRESSION, {"label": "cell_type", "normalize": True, "log1p": True})
    assert data.classes == 3 and data.labels == ["B", "NK", "T"]
    x = data.train.inputs["expression"]
    assert x.shape[1] == 6 and float(x.max()) < 10  # log1p of per-10,000 counts
    assert all(i.startswith("cell") for i in data.ids["test"])
    two = load(path, {"expression": TensorType((2,), "float")}, {"label": "cell_type", "log1p": True, "hvg": 2})
    assert two.train.inputs["expression"].shape[1] == 2


def test_h5ad_errors(tmp_path):
    path = write_h5ad(tmp_path / "pbmc.h5ad")
    with pytest.raises(TrainError, match=r"no obs column 'celltype' .*the columns are: cell_type, batch"):
        load(path, EXPRESSION, {"label": "celltype"})
    with pytest.raises(TrainError, match="6 genes per cell; input 'x' is declared \\[5\\]") as failure:
        load(path, {"x": TensorType((5,), "float")}, {"label": "cell_type"})
    assert "hvg=5" in failure.value.hint
    with pytest.raises(TrainError, match="need 10 token ids; the model's embedding has 8"):
        load(path, SENTENCE, vocab=8)
    broken = tmp_path / "broken.h5ad"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(TrainError, match="not a readable .h5ad file"):
        load(broken, EXPRESSION, {"label": "cell_type"})


def test_h5ad_with_fewer_genes_than_declared_is_not_told_to_keep_more(tmp_path):
    cells = write_h5ad(tmp_path / "cells.h5ad")  # 6 genes
    with pytest.raises(TrainError, match=r"6 genes per cell; input 'x' is declared \[10\]") as failure:
        load(cells, {"x": TensorType((10,), "float")}, {"label": "cell_type"})
    assert "hvg" not in failure.value.hint and "declare `input x: [6]`" in failure.value.hint
    with pytest.raises(TrainError, match=r"6 genes per cell; input 'x' is declared \[4\]") as failure:
        load(cells, {"x": TensorType((4,), "float")}, {"label": "cell_type"})
    assert "--set data.options.hvg=4" in failure.value.hint


def test_an_h5ad_file_without_cells_is_told_so(tmp_path):
    from typer.testing import CliRunner

    from cramnet.cli import app

    path = write_h5ad(tmp_path / "empty.h5ad", cells=0, genes=2000)  # stopped as an internal error (bincount)
    args = ["train", "specs/bio/attomics.cram", "--data", str(path), "--set", "data.options.label=cell_type"]
    result = CliRunner().invoke(app, [*args, "--quiet", "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and f"error: {path} holds no cells" in result.output, result.output


def test_an_h5ad_file_without_a_label_option_lists_its_obs_columns(tmp_path):
    # was "no label column named", hinted `--set data.options.label=cell_type` whatever the columns
    path = write_h5ad(tmp_path / "pbmc.h5ad", label="celltype_l1")
    with pytest.raises(TrainError, match="which obs column holds the labels") as failure:
        load(path, EXPRESSION)
    assert failure.value.hint == "name it with --set data.options.label=COLUMN (the columns are: celltype_l1, batch)"


def test_h5ad_cell_sentences_keep_the_gene_vocabulary(tmp_path):
    path = write_h5ad(tmp_path / "pbmc.h5ad")
    data = load(path, SENTENCE, {"length": 4}, vocab=20004)
    assert data.task == "language_model" and data.tokenizer.vocab == 10
    assert data.tokenizer.to_json() == {"kind": "genes", "genes": [f"G{i}" for i in range(6)]}
    t_cells = [i for i, b in enumerate(data.ids["train"]) if int(b[4:]) % 3 == 1]
    first_genes = data.train.inputs["genes"][t_cells, 1]
    assert (first_genes == 4).all()  # G0, raised in T cells, is their top gene (id 4: after 4 specials)


def test_a_cell_that_expresses_no_gene_has_no_sentence(tmp_path):
    # a published tokenizer read its empty sentence as padding alone: a row of masked keys, NaN attention
    path = write_h5ad(tmp_path / "pbmc.h5ad", silent=[7, 9])
    with pytest.raises(TrainError, match="2 cell\\(s\\) express none of the genes, first 'cell7'") as failure:
        load(path, SENTENCE, {"length": 4}, vocab=20004)
    assert "filter_cells(adata, min_genes=1)" in failure.value.hint
    assert (
        load(path, EXPRESSION, {"label": "cell_type", "normalize": True}).classes == 3
    )  # an expression vector is fine


# --- event tables --------------------------------------------------------------------------------


def test_event_tables_become_codes_ages_and_next_events(tmp_path):
    table = tmp_path / "events.csv"
    rows = ["person,age,code"]
    for p in range(12):
        rows += [f"p{p},{40 + p},E11", f"p{p},{30 + p},I10"] + ([f"p{p},{60 + p},N18"] if p % 2 else [])
    table.write_text("\n".join(rows) + "\n")
    data = load(table, HISTORY, {"visits": 4}, vocab=1270)
    assert data.task == "next_event" and data.labels == ["<pad>", "E11", "I10", "N18"]
    codes = torch.cat([s.inputs["codes"] for s in data.splits.values()])
    assert (codes[:, 0] == 2).all() and (codes[:, 1] == 1).all()  # ordered by age: I10 before E11
    ages = torch.cat([s.inputs["ages"] for s in data.splits.values()])
    assert (ages[:, 1, 0] - ages[:, 0, 0] == 10).all()


def test_event_table_errors(tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("person,age,code\np1,40,E11\np1,50\n")
    with pytest.raises(TrainError, match="line 3: 2 fields, the header has 3") as failure:
        load(ragged, HISTORY)
    assert "ragged" in failure.value.hint
    bad_age = tmp_path / "age.csv"
    bad_age.write_text("person,age,code\np1,forty,E11\np1,50,I10\n")
    with pytest.raises(TrainError, match=r"line 2, column 2 \('age'\): age 'forty' is not a number"):
        load(bad_age, HISTORY)
    # a negative age was taken, and trained on as a waiting time before birth
    negative = tmp_path / "negative.tsv"
    negative.write_text("person\tcode\tage\np1\tE11\t40\np1\tI10\t-3.5\n")
    with pytest.raises(
        TrainError, match=r"negative.tsv, line 3, column 3 \('age'\): age '-3.5' is negative"
    ) as failure:
        load(negative, HISTORY)
    assert "0 or more" in failure.value.hint
    renamed = tmp_path / "renamed.tsv"
    renamed.write_text("pid\tage\tcode\np1\t40\tE11\n")
    with pytest.raises(TrainError, match="no person column named 'person' \\(columns: pid, age, code\\)"):
        load(renamed, HISTORY)


def test_an_event_csv_with_its_own_column_names_reads_with_the_options(tmp_path):
    # read as a plain table ("no target column"), and the options that name the columns were refused
    # ("data.options are for built-in data sets"): only .tsv and .parquet could rename them
    renamed = tmp_path / "renamed.csv"
    renamed.write_text("id,years,event\n" + "".join(f"p{i},{40 + k},E{k}\n" for i in range(12) for k in range(3)))
    with pytest.raises(TrainError, match=r"no person column named 'person' \(columns: id, years, event\)"):
        load(renamed, HISTORY)
    data = load(renamed, HISTORY, {"person": "id", "age": "years", "code": "event"})
    assert data.task == "next_event" and data.labels[1:] == ["E0", "E1", "E2"]


def test_blank_lines_in_an_event_table_are_skipped_and_lines_keep_their_numbers(tmp_path):
    # a blank line was a ragged row ("line 2: 0 fields"), and after one the line numbers were off
    table = tmp_path / "events.csv"
    table.write_text("person,age,code\n\np1,40,E11\np1,50,I10\n\np2,30,E11\np2,35,I10\np3,1,E11\np3,2,I10\n\n")
    assert load(table, HISTORY).task == "next_event"
    table.write_text("person,age,code\n\np1,40,E11\np1,old,I10\n")
    with pytest.raises(TrainError, match=r"line 4, column 2 \('age'\): age 'old' is not a number"):
        load(table, HISTORY)


@pytest.mark.parametrize("age", ["nan", "inf", "-inf"])
def test_an_age_that_is_not_finite_is_told_at_its_line(tmp_path, age):
    table = tmp_path / "ages.csv"  # stopped as an internal error (bincount) for nan
    table.write_text(f"person,age,code\np1,40,E11\np1,{age},I10\np2,30,E11\np2,35,I10\n")
    with pytest.raises(TrainError, match=rf"line 3, column 2 \('age'\): age '{age}' is not a finite number"):
        load(table, HISTORY)


# --- alignments ----------------------------------------------------------------------------------


def write_family(folder, name, rows, residues):
    (folder / f"{name}.a3m").write_text("".join(f">{name}_{i}\n{r}\n" for i, r in enumerate(rows)))
    lines = []
    for k in range(residues):
        x, y = 3.8 * k, 2.0 * (k % 2)
        for atom, dz in (("CA", 0.0), ("CB", 1.5)):
            serial = len(lines) + 1
            lines.append(
                f"ATOM  {serial:5d}  {atom:<3s} ALA A{k + 1:4d}    {x:8.3f}{y:8.3f}{dz:8.3f}  1.00  0.00           C"
            )
    (folder / f"{name}.pdb").write_text("\n".join(lines) + "\nEND\n")


def test_alignments_with_structures_train_contact_maps(tmp_path):
    for f in range(3):
        write_family(tmp_path, f"fam{f}", ["MKVLAGHE", "MKaaVLSGHE", "MR-LAGHD", "MKVLTG.HE"], 8)
    data = load(tmp_path, EVO)
    assert data.task == "contact_map" and data.train.inputs["msa"].shape[1:] == (4, 8, 32)
    distances = torch.cat([s.target for s in data.splits.values()])
    assert torch.allclose(distances[0, 0, 2], torch.tensor(7.6), atol=1e-3)  # Cβ two residues apart
    msa = data.train.inputs["msa"][0]
    assert msa[2, 2, MSA_LETTERS.index("-")] == 1  # the gap of the third row
    assert sorted(sum(data.ids.values(), [])) == ["fam0", "fam1", "fam2"]


def test_alignment_errors(tmp_path):
    write_family(tmp_path, "fam0", ["MKVLAGHE", "MKVLAG"], 8)
    write_family(tmp_path, "fam1", ["MKVLAGHE", "MKVLAGHE"], 8)
    write_family(tmp_path, "fam2", ["MKVLAGHE", "MKVLAGHE"], 8)
    with pytest.raises(TrainError, match="rows of unequal length: 'fam0_1' has 6 columns, the query 'fam0_0' has 8"):
        load(tmp_path, EVO)
    write_family(tmp_path, "fam0", ["MKVLAGHE", "MKVLAGHE"], 8)
    (tmp_path / "fam1.pdb").write_text("HEADER    NOTHING HERE\nEND\n")  # no atoms: no chain
    with pytest.raises(TrainError, match=r"fam1.pdb: no chain could be read \(no ATOM records\)$") as failure:
        load(tmp_path, EVO)
    assert "query (the first record) of alignment fam1" in failure.value.hint
    write_family(tmp_path, "fam0", ["MKVLAGHE", "MKVLAGHE"], 7)
    with pytest.raises(TrainError, match="7 residues in its first chain, but the query has 8"):
        load(tmp_path, EVO)
    single = tmp_path / "fam1.a3m"
    with pytest.raises(TrainError, match="training needs at least 3 families"):
        load(single, EVO)
