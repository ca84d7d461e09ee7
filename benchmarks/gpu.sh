#!/usr/bin/env bash
# The GPU run of issue 11: LIES-61 x 3 on one CUDA device, every task of the same size trained as one batched
# network (runtime.device cuda: one chunk per network size), the formula stages and the symbolic checks fanned out
# over the CPU cores. Prints the CUDA checks, then the benchmark's report with its wall seconds per stage.
#
#   bash benchmarks/gpu.sh                     # LIES-61 x 3, no ablations, into runs/gpu
#   bash benchmarks/gpu.sh --ablations oversampling,gradient_pruning,rounding_to_zero,coefficient_optimization
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("benchmarks/gpu.sh: no CUDA device here (torch.cuda.is_available() is False)")
print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
PY
python -m pytest -m gpu -q tests/test_gpu.py
start=$(date +%s)
python -m lies.cli benchmark --set lies61 --trials 3 --ablations none --device cuda --n-jobs "$(nproc)" \
    --out runs/gpu "$@"
echo "benchmarks/gpu.sh: LIES-61 x 3 in $(( $(date +%s) - start )) s of wall time"
