"""bench/gpu_side_by_side.py in its smoke mode (tiny sizes on the CPU): every row builds cramnet's
module and its hand-written anchor with the same weights, checks they agree, and times them — so the
GPU benchmark cannot rot between the sessions that have a GPU."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_side_by_side_smoke_runs_every_row(tmp_path):
    table = tmp_path / "side_by_side.md"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "gpu_side_by_side.py"), "--smoke", "--out", str(table)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in table.read_text().splitlines() if line.startswith("| ") and not line.startswith("| row")]
    # gpt2 eager (compile is skipped in smoke), 2 scan, 2 moe, 3 lstm, 4 graph rows
    assert len(rows) == 12, table.read_text()
    pyg = importlib.util.find_spec("torch_geometric") is not None
    ran = [row for row in rows if "not run" not in row]
    assert len(ran) == (12 if pyg else 8), table.read_text()
    assert "SMOKE SIZES" in table.read_text()
    assert any("(path: vmap)" in row for row in rows)  # the CPU keeps the vmapped experts
