"""The version-2 example specs train from one command on built-in data: a U-Net on synthetic
shapes (segmentation), a Siamese network on digit pairs, an ALBERT-style shared-layer model."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cramnet.blocks.tensor_type import TensorType
from cramnet.compiler import check_spec
from cramnet.train import apply_sets, defaults, evaluate_run, train
from cramnet.train.data import default_data, load_data
from cramnet.train.data.pairs import draw_pairs
from cramnet.train.data.shapes import draw_shapes
from cramnet.train.errors import TrainError
from cramnet.train.tasks import overlap_metrics


def load(name, types, options=None):
    return load_data(name, types, "auto", 0, (None, None), options or {}, None)


def run(tmp_path, spec, *sets):
    return train(spec, apply_sets(defaults(), [f"out={tmp_path / 'run'}", "threads=1", *sets]))


def test_shapes_are_seeded_images_with_masks_of_circles_and_squares():
    images, masks = draw_shapes(50, 24, 24, 3, 0.1, seed=0)
    assert images.shape == (50, 1, 24, 24) and masks.shape == (50, 24, 24)
    assert set(masks.unique().tolist()) == {0, 1, 2}
    assert (masks > 0).flatten(1).any(1).all()  # every image has a shape
    inside = images[:, 0][masks > 0]
    assert inside.mean() > images[:, 0][masks == 0].mean() + 0.4  # shapes are brighter than the background
    again, same = draw_shapes(50, 24, 24, 3, 0.1, seed=0)
    assert torch.equal(again, images) and torch.equal(same, masks)


def test_shapes_take_the_input_size_and_refuse_other_inputs():
    data = load("shapes", {"image": TensorType((1, 16, 20), "float")}, {"count": 40})
    assert data.task == "segmentation" and data.classes == 3
    assert data.train.inputs["image"].shape[1:] == (1, 16, 20) and data.train.target.shape[1:] == (16, 20)
    with pytest.raises(TrainError, match=r"data 'shapes' is grey images \[1, H, W\]"):
        load("shapes", {"image": TensorType((3, 16, 16), "float")})
    unet = {"m": TensorType((3, 32, 32), "float")}
    assert default_data({"image": TensorType((1, 32, 32), "float")}, unet) == "shapes"


def test_iou_and_dice_follow_their_definitions():
    # class 1: predicted 4 pixels, 2 of them right, 3 true pixels -> IoU 2 / 5, Dice 4 / 7
    sums = {"seg_both_1": 2, "seg_pred_1": 4, "seg_true_1": 3, "seg_both_0": 5, "seg_pred_0": 6, "seg_true_0": 7}
    metrics = overlap_metrics(sums)
    assert metrics["iou"] == pytest.approx((2 / 5 + 5 / 8) / 2)
    assert metrics["dice"] == pytest.approx((4 / 7 + 10 / 13) / 2)


def test_digit_pairs_are_balanced_and_split_by_image():
    types = {"left": TensorType((1, 8, 8), "float"), "right": TensorType((1, 8, 8), "float")}
    data = load("digit_pairs", types, {"count": 400})
    assert data.task == "classification" and data.classes == 2
    for split in data.splits.values():
        assert abs(float(split.target.float().mean()) - 0.5) < 0.05
    train_images = {tuple(x.flatten().tolist()) for x in data.train.inputs["left"]}
    test_images = {tuple(x.flatten().tolist()) for x in data.test.inputs["left"]}
    assert len(train_images & test_images) < 5  # only digits drawn identically in two splits
    assert default_data(types, {"same": TensorType((2,), "float")}) == "digit_pairs"
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 2])
    first, second, same = draw_pairs(labels, 500, torch.Generator().manual_seed(0))
    assert torch.equal((labels[first] == labels[second]).long(), same) and same.sum() == 250
    with pytest.raises(TrainError, match="feeds two inputs"):
        load("digit_pairs", {"left": types["left"]})


def test_siamese_encoder_is_one_set_of_weights():
    checked = check_spec("specs/siamese_digits.cram")
    module = checked.build(seed=0)
    assert sum(p.numel() for p in module.parameters()) == checked.summary().params == 41_922
    x = torch.rand(3, 1, 8, 8)
    same = module(x, x)  # identical images: |a - b| = 0, whatever the encoder's weights
    assert torch.allclose(same, same[:1].expand(3, 2))


def test_albert_layer_is_counted_once():
    one = check_spec("specs/albert_tiny.cram").summary().params
    text = Path("specs/albert_tiny.cram").read_text().replace("let depth = 6", "let depth = 12")
    assert check_spec(text).summary().params == one == 239_776


@pytest.mark.slow
def test_siamese_digits_learns_same_or_different(tmp_path):
    result = run(tmp_path, "specs/siamese_digits.cram", "epochs=3")
    assert json.loads((result.out / "run.json").read_text())["data"] == "digit_pairs"
    assert result.final["test_accuracy"] > 0.8


@pytest.mark.slow
def test_unet_learns_to_segment_shapes(tmp_path):
    result = run(tmp_path, "specs/unet_shapes.cram", "epochs=3", "data.options.count=400")
    assert result.final["test_accuracy"] > 0.9 and result.final["test_iou"] > 0.5 and result.final["test_dice"] > 0.6
    again = evaluate_run(result.out)
    assert again["test_iou"] == pytest.approx(result.final["test_iou"])


def test_unet_trains_one_epoch_on_a_few_shapes(tmp_path):
    result = run(tmp_path, "specs/unet_shapes.cram", "epochs=1", "data.options.count=60")
    assert json.loads((result.out / "run.json").read_text())["task"] == "segmentation"
    assert {"test_accuracy", "test_iou", "test_dice"} <= set(result.final)


@pytest.mark.slow
def test_albert_tiny_trains_on_the_text(tmp_path):
    result = run(tmp_path, "specs/albert_tiny.cram", "epochs=2")
    assert json.loads((result.out / "run.json").read_text())["data"] == "text"
    assert result.final["test_perplexity"] < 256  # below a uniform guess over bytes


def test_a_file_of_masks_is_a_segmentation_set(tmp_path):
    images, masks = draw_shapes(40, 16, 16, 2, 0.1, seed=1)
    np.savez(tmp_path / "seg.npz", image=images.numpy(), y=masks.numpy())
    data = load(str(tmp_path / "seg.npz"), {"image": TensorType((1, 16, 16), "float")})
    assert data.task == "segmentation" and data.classes == 3 and data.train.target.shape[1:] == (16, 16)
