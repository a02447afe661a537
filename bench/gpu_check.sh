#!/usr/bin/env bash
# The GPU check, run on a CUDA machine from the repository root (the device machine's image has
# torch, torchvision and transformers but not lark: its wheel is carried in .whl/). It runs the
# reference-library tests on the GPU's image, the runtime benchmark on CUDA, and every laptop spec
# on the GPU; logs go to $OUT (or ./gpu-logs).
set -uo pipefail
OUT=${OUT:-gpu-logs}
mkdir -p "$OUT"
if ! python3 -c "import lark" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl || exit 1
fi
mkdir -p /tmp/pkg && ln -sfn "$PWD" /tmp/pkg/cramnet
export PYTHONPATH=/tmp/pkg:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import torch; print('torch', torch.__version__)" | tee -a "$OUT/gpu.txt"
python3 -m pytest -q -p no:cacheprovider -o filterwarnings= tests/test_reference_libraries.py \
    tests/test_attention.py tests/test_recurrent.py tests/test_equivalence.py tests/test_torch_compile.py \
    2>&1 | tail -15 | tee "$OUT/pytest.txt"
python3 bench/gpu_specs.py --compile 2>&1 | tee "$OUT/gpu_specs.md"
python3 bench/runtime.py --device cuda --markdown 2>&1 | tee "$OUT/runtime_cuda.md"
