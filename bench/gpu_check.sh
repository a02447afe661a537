#!/usr/bin/env bash
# The GPU check, run on a CUDA machine from the repository root (the device machine's image has
# torch, torchvision, transformers and torch_geometric but not lark: its wheel is carried in .whl/).
# Reference-library tests, then the benchmarks on CUDA, most important first; each step has a
# time limit (STEP_TIMEOUT, seconds) so a short lease still returns the early results. Logs go to
# $OUT (or ./gpu-logs).
set -uo pipefail
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
if ! python3 -c "import lark" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
fi
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/cramnet
export PYTHONPATH=/tmp/pkg:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
step() { local limit=$1 log=$2; shift 2; echo "### $*" | tee "$OUT/$log"; timeout "$limit" "$@" 2>&1 | tee -a "$OUT/$log"; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } | tee "$OUT/gpu.txt"
step 150 pytest.txt python3 -m pytest -q -p no:cacheprovider -o filterwarnings= tests/test_reference_libraries.py \
    tests/test_reference_libraries_graph.py tests/test_mamba.py tests/test_moe.py tests/test_moe_dispatch.py \
    tests/test_attention.py tests/test_recurrent.py
# issue 15's table: every row against its anchor in one process (about 5 minutes on an H100/H200)
step 330 side_by_side.md python3 bench/gpu_side_by_side.py --out "$OUT/side_by_side_table.md"
step 60 runtime_cuda.md python3 bench/runtime.py --device cuda --markdown
step 60 train_fp32_bf16.md python3 bench/gpu_train.py --no-compile --steps 5
exit 0
