"""bench/gpu_train.py, dry-run on the CPU: it finds the specs, makes targets for each task and runs
full training steps (the lead runs it on CUDA)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_gpu_train_bench_runs_training_steps_on_the_cpu():
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "gpu_train.py"),
            "--device",
            "cpu",
            "--no-compile",
            "--steps",
            "1",
            "--batch",
            "2",
            "--size",
            "8",
            "--only",
            "mlp,karate_gcn,molecule_gin,vae,seq2seq_lstm",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and ".cram" in line]
    assert len(rows) == 5 and all("| yes |" in row for row in rows), done.stdout
    assert "0 spec(s) failed" in done.stdout
