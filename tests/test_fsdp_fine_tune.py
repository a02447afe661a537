"""Fine-tuning under `--strategy fsdp`: published weights go into each process's slices as the sharded
module is built, `--freeze` and `optimizer.new_lr` work as without sharding — one sharded process, and
two over gloo on the CPU, end with the weights of plain training."""

import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors import safe_open

from cramnet.train import apply_sets, defaults, train

transformers = pytest.importorskip("transformers")

SPEC = """
use "std:transformer"
model classifier {
    input ids: tokens[seq]
    ids -> embed(100, 32) as tok -> pos_embed(16)
        -> pre_ln(32, 4, 128, causal = true, act = tanh, p = 0.0) * 2
        -> layernorm -> pool(mean) -> dense(3) as label
    output label
}
"""


@pytest.fixture
def fine_tune(tmp_path):
    """A spec, a GPT-2 checkpoint of its trunk and data: what `train --init-from` needs."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=100, n_positions=16, n_embd=32, n_layer=2, n_head=4)
    reference = transformers.GPT2LMHeadModel(config)
    reference.save_pretrained(tmp_path / "gpt2")
    spec = tmp_path / "classifier.cram"
    spec.write_text(SPEC)
    ids = np.random.default_rng(0).integers(0, 100, (128, 12))
    np.savez(tmp_path / "data.npz", ids=ids, y=ids[:, 0] % 3)
    return spec, reference, tmp_path


def sets(tmp_path, name: str, *extra: str) -> list[str]:
    return [
        f"out={tmp_path / name}",
        f"data.name={tmp_path / 'data.npz'}",
        f"init_from={tmp_path / 'gpt2'}",
        "freeze=[tok]",
        "optimizer.new_lr=0.01",
        "epochs=2",
        "batch_size=32",
        "threads=1",
        "device=cpu",
        *extra,
    ]


def weights(path) -> dict[str, torch.Tensor]:
    with safe_open(str(path), framework="pt") as handle:
        return {k[len("model.") :]: handle.get_tensor(k) for k in handle.keys() if k.startswith("model.")}


def _leave():
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def test_one_sharded_process_fine_tunes_as_plain_training(fine_tune):
    spec, reference, tmp_path = fine_tune
    plain = weights(train(spec, apply_sets(defaults(), sets(tmp_path, "plain"))).out / "model.safetensors")
    try:
        run = train(spec, apply_sets(defaults(), sets(tmp_path, "fsdp", "distributed.strategy=fsdp")))
    finally:
        _leave()
    sharded = weights(run.out / "model.safetensors")
    assert torch.equal(sharded["tok.weight"], reference.transformer.wte.weight)  # loaded, then frozen
    assert not torch.equal(sharded["pre_ln.0.dense_1.bias"], reference.transformer.h[0].mlp.c_fc.bias)
    for key in plain:
        torch.testing.assert_close(sharded[key], plain[key], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_two_sharded_processes_fine_tune_as_one(fine_tune):
    spec, reference, tmp_path = fine_tune
    plain = weights(train(spec, apply_sets(defaults(), sets(tmp_path, "plain"))).out / "model.safetensors")
    out = tmp_path / "fsdp"
    command = [sys.executable, "-m", "cramnet.cli", "train", str(spec), "--nproc", "2", "--strategy", "fsdp"]
    command += [f"--set={s}" for s in sets(tmp_path, "fsdp")] + ["--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "new (initialised)" in done.stdout and "frozen: 1 tensor (tok)" in done.stdout
    sharded = weights(out / "model.safetensors")
    assert torch.equal(sharded["tok.weight"], reference.transformer.wte.weight)
    for key in plain:  # two processes add gradients in another order: equal up to rounding
        torch.testing.assert_close(sharded[key], plain[key], rtol=1e-4, atol=1e-5)
