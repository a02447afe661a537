"""`cramnet generate SPEC --weights DIR`: a tiny GPT-2 and a byte-level BPE tokenizer trained here
(no hub), saved as save_pretrained saves them; greedy output equal to Hugging Face's `generate`.
Fine-tuning those weights on text reads it with their tokenizer, which the run and its export keep."""

import json

import pytest
import torch
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.train.generation import Sampling, generate

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

runner = CliRunner()
VOCAB = 300  # the 256 bytes and 44 merges

SPEC = f"""
use "std:transformer"
model small_gpt2 {{
    input ids: tokens[seq]
    ids -> embed({VOCAB}, 32) as tok -> pos_embed(16)
        -> pre_ln(32, 4, 128, causal = true, act = tanh) * 2
        -> layernorm -> dense({VOCAB}, bias = false, tie = tok) as logits
    output logits
}}
"""

CORPUS = [
    "the cat sat on the mat",
    "a dog ran in the park",
    "the net learns the rest",
    "seven quick brown foxes jumped over lazy dogs",
    "language models continue every prompt they read",
] * 20


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """A GPT-2 directory as from_pretrained(…).save_pretrained(…) leaves it: weights, config, tokenizer."""
    path = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=16, n_embd=32, n_layer=2, n_head=4, bos_token_id=None, eos_token_id=None
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(path)
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=VOCAB, min_frequency=1, show_progress=False)
    assert bpe.get_vocab_size() == VOCAB
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer).save_pretrained(path)
    return path, model, transformers.PreTrainedTokenizerFast(tokenizer_file=str(path / "tokenizer.json"))


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "small_gpt2.cram"
    path.write_text(SPEC)
    return path


def hugging_face_greedy(model, ids: list[int], tokens: int) -> list[int]:
    out = model.generate(torch.tensor([ids]), max_new_tokens=tokens, do_sample=False, pad_token_id=0)
    return out[0].tolist()


def test_greedy_continuation_equals_hugging_face_generate(published, spec):
    path, model, tokenizer = published
    prompt = "the cat sat"
    ids = tokenizer(prompt)["input_ids"]
    # Hugging Face's GPT-2 cannot go past its 16 positions: compare those; ours then slides its window
    expected = hugging_face_greedy(model, ids, 16 - len(ids))
    ours = generate(spec, prompt, Sampling(tokens=16 - len(ids), greedy=True), weights=path)
    assert ours.ids == expected and ours.prompt_length == len(ids)
    assert ours.text == tokenizer.decode(expected)
    longer = generate(spec, prompt, Sampling(tokens=24, greedy=True), weights=path)
    assert longer.ids[:16] == expected and len(longer.ids) == len(ids) + 24  # a sliding window of 16
    args = ["--weights", str(path), "--prompt", prompt, "--greedy", "--tokens", "24"]
    for cache in ([], ["--no-cache"]):  # the cache (16 positions), then the sliding window; or the window alone
        result = runner.invoke(app, ["generate", str(spec), *args, *cache])
        assert result.exit_code == 0, result.output
        assert result.stdout == longer.text + "\n"  # the weights' table goes to stderr


def test_prompt_ids_without_a_tokenizer_give_ids(published, spec, tmp_path):
    path, model, _ = published
    bare = tmp_path / "bare"  # the weights alone: no tokenizer.json
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        (bare / name).write_bytes((path / name).read_bytes())
    expected = hugging_face_greedy(model, [5, 17, 42], 8)
    args = ["generate", str(spec), "--weights", str(bare), "--prompt-ids", "5, 17, 42", "--greedy", "--tokens", "8"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == [str(i) for i in expected]
    text = runner.invoke(app, ["generate", str(spec), "--weights", str(bare), "--prompt", "the"])
    assert text.exit_code == 1 and "has no tokenizer.json" in text.output and "--prompt-ids" in text.output
    for wrong, message in (
        ("5 x", "give token ids as numbers"),
        (f"5 {VOCAB}", f"token ids run from 0 to {VOCAB - 1}"),
    ):
        result = runner.invoke(app, ["generate", str(spec), "--weights", str(bare), "--prompt-ids", wrong])
        assert result.exit_code == 1 and message in result.output, result.output


def test_weights_without_a_config_slide_within_the_specs_positions(published, spec, tmp_path):
    # no config.json to give the context: the spec's pos_embed(16) bounds it (was an internal error)
    path, _, _ = published
    alone, configured = tmp_path / "alone", tmp_path / "configured"  # neither has a tokenizer: ids out
    for folder, names in ((alone, ["model.safetensors"]), (configured, ["model.safetensors", "config.json"])):
        folder.mkdir()
        for name in names:
            (folder / name).write_bytes((path / name).read_bytes())
    args = ["--prompt-ids", "5 17", "--greedy", "--tokens", "30"]
    expected = runner.invoke(app, ["generate", str(spec), "--weights", str(configured), *args])
    assert expected.exit_code == 0 and len(expected.stdout.split()) == 32, expected.output
    for cache in ([], ["--no-cache"]):
        weights = ["--weights", str(alone / "model.safetensors")]
        result = runner.invoke(app, ["generate", str(spec), *weights, *args, *cache])
        assert result.exit_code == 0, result.output
        assert result.stdout == expected.stdout


def test_a_stop_token_ends_the_continuation_as_in_hugging_face(published, spec, tmp_path):
    path, model, tokenizer = published
    ids = tokenizer("a dog")["input_ids"]
    free = hugging_face_greedy(model, ids, 10)
    stop = free[len(ids) + 3]  # the fourth new token
    copy = tmp_path / "stopping"
    copy.mkdir()
    for file in path.iterdir():
        (copy / file.name).write_bytes(file.read_bytes())
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "eos_token_id": stop}))
    (copy / "generation_config.json").unlink(missing_ok=True)
    model.generation_config.eos_token_id = stop
    expected = model.generate(torch.tensor([ids]), max_new_tokens=10, do_sample=False, pad_token_id=0)[0].tolist()
    ours = generate(spec, "a dog", Sampling(tokens=10, greedy=True), weights=copy)
    assert ours.ids == expected and ours.ids[-1] == stop and len(ours.ids) < len(ids) + 10


def test_sampling_is_seeded_and_the_spec_must_be_a_language_model(published, spec, tmp_path):
    path, _, _ = published
    first, second = (generate(spec, "the", Sampling(tokens=8, seed=3), weights=path) for _ in range(2))
    assert first.ids == second.ids and len(first.ids) > 8
    assert generate(spec, "the", Sampling(tokens=8, seed=3, cache=False), weights=path).ids == first.ids
    encoder = tmp_path / "encoder.cram"
    encoder.write_text(
        SPEC.replace("-> layernorm -> dense(300, bias = false, tie = tok)", "-> layernorm -> pool(mean)")
    )
    result = runner.invoke(app, ["generate", str(encoder), "--weights", str(path), "--prompt", "the"])
    assert result.exit_code == 1 and "an output of [seq, vocab]" in result.output, result.output
    assert "writes logits: [32]" in result.output
    encoder.write_text(SPEC.replace("-> layernorm -> dense(300, bias = false, tie = tok)", "-> layernorm"))
    result = runner.invoke(app, ["generate", str(encoder), "--weights", str(path), "--prompt", "the"])
    assert result.exit_code == 1 and "the checkpoint's vocabulary of 300" in result.output, result.output
    neither = runner.invoke(app, ["generate", str(spec), "--weights", str(path)])
    assert neither.exit_code == 2 and "needs --prompt TEXT (or --prompt-ids IDS)" in neither.output
    both = runner.invoke(app, ["generate", str(spec), "--weights", str(path), "--prompt", "a", "--prompt-ids", "1"])
    assert both.exit_code == 2 and "not both" in both.output


def test_fine_tuning_on_text_reads_it_with_the_published_tokenizer(published, spec, tmp_path):
    path, _, tokenizer = published
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    out = tmp_path / "run"
    args = ["train", str(spec), "--init-from", str(path), "--data", str(corpus), "--out", str(out), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--set", "data.options.length=15"])
    assert result.exit_code == 0, result.output
    assert f"tokenizer: {path / 'tokenizer.json'} (the published weights' own" in result.output
    info = json.loads((out / "run.json").read_text())
    assert info["tokenizer"]["kind"] == "published" and (out / "tokenizer.json").is_file()
    assert f"{len(tokenizer(chr(10).join(CORPUS))['input_ids']):,} published tokens" in result.output

    from cramnet.train import load_run

    run = load_run(out)  # the run's copy of the tokenizer: the same ids as Hugging Face's
    assert run.tokenizer.encode("the cat sat") == tokenizer("the cat sat")["input_ids"]
    generated = runner.invoke(app, ["generate", str(out), "--prompt", "the cat", "--tokens", "4", "--greedy"])
    assert generated.exit_code == 0 and generated.stdout.startswith("the cat"), generated.output

    exported = tmp_path / "exported"
    result = runner.invoke(app, ["export", str(out), "--format", "hf", "-o", str(exported)])
    assert result.exit_code == 0 and "tokenizer.json" in result.output, result.output
    again = transformers.AutoTokenizer.from_pretrained(exported)
    assert again("a dog ran")["input_ids"] == tokenizer("a dog ran")["input_ids"]


def test_a_tokenizer_named_in_the_options_and_one_that_does_not_fit(published, spec, tmp_path):
    path, _, tokenizer = published
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    base = ["train", str(spec), "--data", str(corpus), "--epochs", "1", "-q", "--set", "data.options.length=15"]
    own = [*base, "--set", f"data.options.tokenizer={path / 'tokenizer.json'}", "--out", str(tmp_path / "a")]
    result = runner.invoke(app, own)  # from scratch, with a published tokenizer
    assert result.exit_code == 0, result.output
    byte = [*base, "--init-from", str(path), "--set", "data.options.tokenizer=byte", "--out", str(tmp_path / "b")]
    result = runner.invoke(app, byte)
    assert result.exit_code == 1 and "with its own byte tokenizer" in result.output, result.output
    assert "leave data.options.tokenizer out" in result.output
    missing = [*base, "--set", f"data.options.tokenizer={tmp_path / 'nothing.json'}", "--out", str(tmp_path / "c")]
    result = runner.invoke(app, missing)
    assert result.exit_code == 1 and "no tokenizer file" in result.output, result.output
    narrow = tmp_path / "narrow.cram"
    narrow.write_text(SPEC.replace(str(VOCAB), "200"))
    result = runner.invoke(app, [*own[:1], str(narrow), *own[2:-1], str(tmp_path / "d")])
    assert result.exit_code == 1 and f"the published tokenizer needs {VOCAB} token ids" in result.output


def test_cell_sentences_fine_tune_a_published_language_model_as_text(published, spec, tmp_path):
    # Cell2Sentence fine-tuned GPT-2 on cells written as gene names, read with GPT-2's own tokenizer
    from cramnet.train.data.gene_tokens import published_sentences
    from cramnet.train.data.h5ad import expression_matrix, read_h5ad
    from cramnet.weights.tokenizer import open_tokenizer

    from .test_bio_data import write_h5ad

    path, _, tokenizer = published
    cells = write_h5ad(tmp_path / "cells.h5ad", cells=45, genes=6)
    expression = expression_matrix(cells, read_h5ad(cells))
    genes = [f"G{i}" for i in range(6)]
    ids, mask = published_sentences(expression, genes, 3, open_tokenizer(path))
    for row in range(len(expression)):  # the three most expressed genes, as text, as GPT-2's tokenizer reads it
        top = expression[row].topk(3).indices.tolist()
        assert ids[row][mask[row]].tolist() == tokenizer(" ".join(genes[g] for g in top))["input_ids"]

    out = tmp_path / "run"
    args = ["train", str(spec), "--init-from", str(path), "--data", str(cells), "--out", str(out), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--set", "data.options.length=3"])
    assert result.exit_code == 0, result.output
    assert "published tokens long" in result.output and (out / "tokenizer.json").is_file()
    generated = runner.invoke(app, ["generate", str(out), "--prompt", "G0 G1", "--tokens", "3", "--greedy"])
    assert generated.exit_code == 0 and generated.stdout.startswith("G0 G1"), generated.output

    classifier = tmp_path / "cell_types.cram"  # the same trunk, its cell sentences classified by type
    classifier.write_text(
        SPEC.replace(f"-> layernorm -> dense({VOCAB}, bias = false, tie = tok)", "-> pool(mean) -> dense(3)")
    )
    typed = ["train", str(classifier), "--init-from", str(path), "--data", str(cells), "--out", str(tmp_path / "typed")]
    sets = ["--set", "data.options.length=3", "--set", "data.options.label=cell_type", "--epochs", "1"]
    result = runner.invoke(app, [*typed, *sets])
    assert result.exit_code == 0 and "task: classification" in result.output, result.output
    predicted = runner.invoke(app, ["predict", str(tmp_path / "typed"), str(cells), "-o", str(tmp_path / "p.csv")])
    assert predicted.exit_code == 0, predicted.output
    assert len((tmp_path / "p.csv").read_text().splitlines()) == 46  # a header and a row per cell


def test_a_slow_tokenizers_files_are_read_as_hugging_face_converts_them(published, spec, tmp_path):
    # GPT-2 as some repositories still hold it: vocab.json and merges.txt, no tokenizer.json
    path, _, _ = published
    slow = tmp_path / "slow"
    slow.mkdir()
    for name in ("config.json", "model.safetensors"):
        (slow / name).write_bytes((path / name).read_bytes())
    bpe = tokenizers.ByteLevelBPETokenizer()
    bpe.train_from_iterator(CORPUS, vocab_size=VOCAB, min_frequency=1, show_progress=False)
    bpe.save_model(str(slow))  # vocab.json, merges.txt
    args = ["--prompt", "the cat sat", "--greedy", "--tokens", "8"]
    fast = runner.invoke(app, ["generate", str(spec), "--weights", str(path), *args])
    converted = runner.invoke(app, ["generate", str(spec), "--weights", str(slow), *args])
    assert fast.exit_code == 0 and converted.exit_code == 0, converted.output
    assert converted.stdout == fast.stdout


def test_a_tokenizer_option_that_names_nothing_is_refused_not_read_from_the_working_directory(
    published, spec, tmp_path, monkeypatch
):
    # 'bytes' (for byte) named no file: the tokenizer.json of the directory it was run from was read instead
    path, _, _ = published
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    monkeypatch.chdir(path)  # a directory holding a tokenizer.json
    args = ["train", str(spec), "--data", str(corpus), "--epochs", "1", "-q", "--out", str(tmp_path / "run")]
    result = runner.invoke(app, [*args, "--set", "data.options.tokenizer=bytes", "--set", "data.options.length=15"])
    assert result.exit_code == 1 and "no tokenizer file or directory bytes" in result.output, result.output
    assert "data.options.tokenizer=byte or char" in result.output and "Traceback" not in result.output


def test_a_fine_tuned_run_resumes_and_evaluates_with_its_own_tokenizer(published, spec, tmp_path, monkeypatch):
    # the run keeps a copy: resuming or evaluating it needs neither the published directory nor the
    # working directory the run was started from (data.options.tokenizer is recorded as it was given)
    import shutil

    path, _, _ = published
    checkpoint = tmp_path / "start" / "gpt2"
    shutil.copytree(path, checkpoint)
    corpus = tmp_path / "start" / "corpus.txt"
    corpus.write_text("\n".join(CORPUS))
    monkeypatch.chdir(tmp_path / "start")
    args = ["train", str(spec), "--init-from", "gpt2", "--data", str(corpus), "--epochs", "1", "-q"]
    result = runner.invoke(app, [*args, "--out", str(tmp_path / "run"), "--set", "data.options.length=15"])
    assert result.exit_code == 0, result.output
    shutil.rmtree(checkpoint)
    resumed = runner.invoke(app, ["train", "--resume", str(tmp_path / "run"), "--epochs", "2", "-q"])
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((tmp_path / "run" / "final.json").read_text())["epochs"] == 2
    evaluated = runner.invoke(app, ["evaluate", str(tmp_path / "run")])
    assert evaluated.exit_code == 0 and "test_perplexity" in evaluated.output, evaluated.output


def test_cell_sentences_longer_than_the_spec_takes_are_cut_at_its_positions(published, spec, tmp_path):
    # the sentences were cut only at 1,024 tokens when training: a pos_embed(16) spec stopped with an internal error
    from .test_bio_data import write_h5ad

    path, _, _ = published
    cells = write_h5ad(tmp_path / "cells.h5ad", cells=45, genes=30)
    args = ["train", str(spec), "--init-from", str(path), "--data", str(cells), "--out", str(tmp_path / "run")]
    result = runner.invoke(app, [*args, "--epochs", "1", "--set", "data.options.length=30"])
    assert result.exit_code == 0, result.output
    assert "16 published tokens long" in result.output
