"""Probes and predictions of a language model as a user meets them: per-token rows coloured by token
and position, attention maps with the tokens on their axes, and `predict` reading prompts from a .txt."""

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.train import apply_sets, defaults, train

runner = CliRunner()
TINY_LM = """
use "std:transformer"

model tiny_lm {
    input ids: tokens[seq]

    ids -> embed(256, 32) -> pos_embed(32)
        -> pre_ln(32, 2, 64, causal = true) * 2
        -> layernorm -> dense(256) as logits

    output logits
}
"""


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("lm")
    spec = folder / "tiny_lm.cram"
    spec.write_text(TINY_LM)
    sets = [f"out={folder / 'run'}", "epochs=1", "data.options.length=24", "threads=1", "device=cpu"]
    return train(spec, apply_sets(defaults(), sets)).out


@pytest.mark.slow
def test_a_language_model_probe_has_a_row_per_token_and_labels_attention_by_token(lm_run, tmp_path):
    result = runner.invoke(app, ["probe", str(lm_run), "--node", "pre_ln_2.attention_1", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    values = np.load(tmp_path / "activations.npy")
    assert values.ndim == 3 and values.shape[1:] == (24, 32)  # windows × positions × features
    for name in ("latent", "latent_positions", "attention_pre_ln_2_attention_1_example", "attention_rollout"):
        assert (tmp_path / f"{name}.png").stat().st_size > 0, name
    assert "coloured by the token" in result.output and "its tokens on the axes" in result.output
    assert not (tmp_path / "attention_pre_ln_1_attention_1.png").exists()


@pytest.mark.slow
def test_predict_reads_one_prompt_per_line_of_a_txt_file(lm_run, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text('the quick brown fox\n\nsay "hi"\n')
    result = runner.invoke(app, ["predict", str(lm_run), str(prompts)])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "prompts.txt.predictions.csv").read_text().splitlines()
    assert lines[0] == "prompt,next,p_next,perplexity" and len(lines) == 3  # the empty line is no prompt
    assert lines[1].startswith('"the quick brown fox",') and lines[2].startswith('"say ""hi""",')
    np.savez(tmp_path / "inputs.npz", ids=np.zeros((2, 24), dtype=np.int64))
    result = runner.invoke(app, ["predict", str(lm_run), str(tmp_path / "inputs.npz")])
    assert result.exit_code == 1 and "predicts from a .txt file, one prompt per line" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_predict_runs_lines_of_one_length_together_with_the_logits_of_each_alone(lm_run):
    import torch

    from cramnet.train.inference import load_run
    from cramnet.train.predictions import _line_logits

    trained = load_run(lm_run)
    encoded = [trained.tokenizer.encode(text) for text in ("abc", "the fox", "xyz", "a", "the dog")]
    together = _line_logits(trained, encoded, batch=2)  # two lengths of two lines, one of one; batches of two
    for ids, logits in zip(encoded, together):
        with torch.no_grad():
            alone = trained.module(torch.tensor([ids]))
        alone = (alone[0] if isinstance(alone, tuple) else alone)[0, :, : trained.tokenizer.vocab]
        torch.testing.assert_close(logits, alone, rtol=1e-5, atol=1e-5)
