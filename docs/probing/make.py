"""Regenerate the pictures of docs/probing.md: short trainings of shipped specs, probed as the page
shows. Run from the repository root: python docs/probing/make.py (a few minutes on a laptop CPU)."""

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
KAN_TOY = """model kan_toy_small {
    input xy: [2]
    xy -> kan(1, grid = 5) -> kan(1, grid = 5, range = [-2, 2]) as f
    output f
}
"""
TINY_LM = """use "std:transformer"

model tiny_lm {
    input ids: tokens[seq]

    ids -> embed(256, 32) -> pos_embed(32)
        -> pre_ln(32, 2, 64, causal = true) * 2
        -> layernorm -> dense(256) as logits

    output logits
}
"""


def cramnet(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "cramnet.cli", *args], check=True)


def main() -> None:
    work = Path(tempfile.mkdtemp())
    (work / "kan_toy_small.cram").write_text(KAN_TOY)
    (work / "tiny_lm.cram").write_text(TINY_LM)
    runs = {
        "vae": ["specs/vae.cram", "--epochs", "60", "--set", "loss=bce"],
        "kan": [str(work / "kan_toy_small.cram"), "--data", "kan_toy", "--epochs", "30"],
        "gcn": ["specs/karate_gcn.cram", "--epochs", "100"],
        "lm": [str(work / "tiny_lm.cram"), "--epochs", "2", "--set", "data.options.length=24"],
    }
    for name, args in runs.items():
        cramnet("train", *args, "--seed", "0", "--out", str(work / name), "-q")
    probes = {
        "vae_z": ["vae", "--node", "z", "--decode"],
        "kan": ["kan", "--node", "kan_1", "--symbolic"],
        "kan_f": ["kan", "--node", "f", "--symbolic"],
        "gcn": ["gcn", "--node", "relu_1", "--clusters", "2"],
        "lm": ["lm", "--node", "pre_ln_2.attention_1"],
    }
    for name, (run, *args) in probes.items():
        cramnet("probe", str(work / run), *args, "-o", str(work / "probes" / name))
    pictures = {
        "vae_z/decoded.png": "decoded.png",
        "vae_z/interpolations.png": "interpolations.png",
        "kan/symbolic.png": "symbolic.png",
        "kan/formulas.txt": "formulas.txt",
        "kan_f/formulas.txt": "formulas_chain.txt",
        "gcn/clusters.png": "clusters.png",
        "lm/latent.png": "tokens.png",
        "lm/attention_pre_ln_2_attention_1_example.png": "attention_example.png",
    }
    for source, target in pictures.items():
        shutil.copy(work / "probes" / source, HERE / target)
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
