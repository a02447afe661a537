"""What a training run shows (issue 16, training): the loss composition printed at the start,
curves.png without a repeated loss panel and with every metric and auxiliary term, a readable
gradient-norm heatmap, tied embeddings that start near ln V, and a VAE whose default loss keeps
its latent."""

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from typer.testing import CliRunner

from cramnet.cli import app
from cramnet.compiler import check_spec
from cramnet.train.config import apply_sets, defaults
from cramnet.train.run_dir import curve_panels, plot_grad_norms
from cramnet.train.setup import prepare

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def test_a_vae_run_says_its_loss_and_defaults_to_bce(tmp_path):
    out = tmp_path / "vae"
    result = runner.invoke(
        app, ["train", str(ROOT / "specs/vae.cram"), "--epochs", "2", "--out", str(out)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 0, result.output
    assert "loss = binary cross-entropy summed over each example's values" in result.output
    assert "1 × KL(q(z|x) ‖ N(0, I)) of 'z'" in result.output and "aux_weight" in result.output
    header = (out / "metrics.csv").read_text().splitlines()[0].split(",")
    assert {"train_loss", "val_mse", "val_aux_z"} <= set(header)
    assert (out / "curves.png").exists() and (out / "grad_norms.png").exists()
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_mse": 0.1, "val_aux_z": 2.0}]
    assert curve_panels(history, "loss") == ["loss", "aux_z", "mse"]  # the loss once; the KL and mse too
    classifying = [{"epoch": 1, "train_loss": 1.0, "val_accuracy": 0.5, "val_aux_mixed": 1.0}]
    assert curve_panels(classifying, "accuracy") == ["loss", "accuracy", "aux_mixed"]


def test_vae_default_loss_is_bce_and_mse_stays_available():
    assert prepare(ROOT / "specs/vae.cram", defaults()).task.loss == "bce"
    assert prepare(ROOT / "specs/vae.cram", apply_sets(defaults(), ["loss=mse"])).task.loss == "mse"


def test_grad_norm_heatmap_labels_every_block(tmp_path):
    import matplotlib.image

    rows = [{"epoch": e, **{f"stage_{i}": 10.0 ** (-i / 4) for i in range(22)}} for e in (1, 2, 3)]
    plot_grad_norms(tmp_path, rows)
    height, width, _ = matplotlib.image.imread(tmp_path / "grad_norms.png").shape
    assert height > 22 * 25  # a labelled row per block, not 22 unlabeled lines
    assert width < 1200


def test_tied_embeddings_start_near_ln_v():
    checked = check_spec(
        "model lm {\n    input ids: tokens[seq]\n"
        "    ids -> embed(1000, 64) as tok -> layernorm -> dense(1000, bias = false, tie = tok) as logits\n"
        "    output logits\n}\n"
    )
    ids = torch.randint(0, 1000, (4, 32), generator=torch.Generator().manual_seed(0))
    logits = checked.build(seed=0)(ids)
    targets = torch.randint(0, 1000, (4 * 32,), generator=torch.Generator().manual_seed(1))
    loss = F.cross_entropy(logits.reshape(-1, 1000), targets).item()
    assert abs(loss - math.log(1000)) < 0.5, loss
