#!/usr/bin/env bash
# The GPU check, run on a CUDA machine from the repository root (the device machine's image has
# torch, torchvision, transformers and torch_geometric but not lark: its wheel is carried in .whl/).
# Reference-library tests, then every benchmark on CUDA; logs go to $OUT (or ./gpu-logs).
set -uo pipefail
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
if ! python3 -c "import lark" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
fi
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/cramnet
export PYTHONPATH=/tmp/pkg:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
run() { echo "### $*"; timeout "${STEP_TIMEOUT:-240}" "$@"; }
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"; } | tee "$OUT/gpu.txt"
run python3 -m pytest -q -p no:cacheprovider -o filterwarnings= -x tests/test_reference_libraries.py \
    tests/test_reference_libraries_graph.py tests/test_mamba.py tests/test_moe.py tests/test_attention.py \
    2>&1 | tail -15 | tee "$OUT/pytest.txt"
run python3 bench/scan.py --device cuda --batch 4 --channels 1536 --length 4096 --repeats 5 2>&1 | tee "$OUT/scan.md"
run python3 bench/moe_dispatch.py --device cuda --tokens 16384 --dim 1024 2>&1 | tee "$OUT/moe.md"
run python3 bench/gpu_specs.py --compile 2>&1 | tee "$OUT/gpu_specs.md"
run python3 bench/runtime.py --device cuda --markdown 2>&1 | tee "$OUT/runtime_cuda.md"
[ -f bench/gpu_train.py ] && run python3 bench/gpu_train.py 2>&1 | tee "$OUT/gpu_train.md"
exit 0
