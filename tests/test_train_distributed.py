"""`--nproc 2` runs DistributedDataParallel through torchrun (gloo on the CPU); two processes on
halves of each global batch reach the weights one process reaches on the whole batch."""

import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from cramnet.train.distributed import World, launch_command

SPEC = """
model plain {
    input image: [1, 8, 8]
    image -> flatten -> dense(32) -> tanh -> dense(10) as logits
    output logits
}
"""


def test_a_global_batch_is_shared_out_in_slices():
    index = torch.arange(10)
    parts = [World(rank, 3).shard(index) for rank in range(3)]
    assert torch.equal(torch.cat(parts), index) and [len(p) for p in parts] == [4, 3, 3]


def test_the_launcher_passes_rendezvous_flags_through():
    command = launch_command(["train", "a.cram"], 4, {"nnodes": "2", "node_rank": 1, "rdzv_endpoint": "h:29500"})
    assert command[1:3] == ["-m", "torch.distributed.run"]
    assert "--nproc_per_node=4" in command and "--nnodes=2" in command and "--rdzv_endpoint=h:29500" in command
    assert "--standalone" not in command and command[-3:] == ["cramnet.cli", "train", "a.cram"]
    assert "--standalone" in launch_command(["train"], 2, {})


def test_only_the_first_process_reports_the_run(tmp_path, monkeypatch):
    """Every process of a distributed run returns from training; the one that writes the files reports."""
    import io

    from rich.console import Console

    from cramnet.train import loop
    from cramnet.train.commands import TrainFlags, run_train

    spec = tmp_path / "plain.cram"
    spec.write_text(SPEC)
    for writer, printed in ((False, 0), (True, 1)):
        result = loop.RunResult(tmp_path / "run", {"test_loss": 1.0}, [], writer=writer)
        monkeypatch.setattr(loop, "train", lambda *args, **kwargs: result)  # noqa: B023
        text = io.StringIO()
        run_train(TrainFlags(spec=spec), Console(file=text, width=100))
        assert text.getvalue().count("run directory:") == printed and text.getvalue().count("test_loss") == printed


def weights(path):
    with safe_open(str(path), framework="pt") as handle:
        return {k: handle.get_tensor(k) for k in handle.keys() if k.startswith("model.")}


@pytest.mark.slow
def test_two_processes_reach_the_weights_of_one(tmp_path):
    spec = tmp_path / "plain.cram"
    spec.write_text(SPEC)
    common = [str(spec), "--epochs", "1", "--batch-size", "64", "--quiet", "--device", "cpu"]
    for name, extra in (("one", []), ("two", ["--nproc", "2"])):
        done = subprocess.run(
            [sys.executable, "-m", "cramnet.cli", "train", *common, "--out", str(tmp_path / name), *extra],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        # each process printed the run directory (and without --quiet the metrics table): two of each
        assert done.stdout.count("run directory:") == 1, done.stdout
        assert "OMP_NUM_THREADS" not in done.stdout + done.stderr  # torchrun's banner, in a --quiet run
    one = weights(tmp_path / "one" / "checkpoints" / "last.safetensors")
    two = weights(tmp_path / "two" / "checkpoints" / "last.safetensors")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-5)
