#!/usr/bin/env bash
# The GPU run of issues 11 and 28 in one command, for a GPU node with Python and torch but without pydantic and
# without network access: installs pydantic and its four dependencies from a folder of wheels into
# .gpu-deps/ of this checkout, puts the checkout on PYTHONPATH, then runs
#   1. pytest -m gpu (the CUDA checks),
#   2. benchmarks/profile_step.py on cuda and on cpu (cost of one training step: microseconds, operators, syncs),
#   3. lies benchmark --set lies61 --trials 3 --ablations none --peers loglinear on cuda, then the same on cpu,
# and prints the wall seconds of every stage of both runs and their ratio (cpu / cuda).
#
#   bash benchmarks/gpu.sh --wheels /path/to/wheels                # the whole run (N_JOBS: nproc)
#   bash benchmarks/gpu.sh --cpu-only --set I.12.1 --trials 1       # the CPU parts only, e.g. a quick check here
#
# Options: --wheels DIR (needed when pydantic is missing), --cpu-only, --set SET, --trials N, --n-jobs N,
# --out DIR (default runs/gpu: DIR/cuda and DIR/cpu). PYTHON picks the interpreter (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
py=${PYTHON:-python3}
wheels="" cpu_only=0 set=lies61 trials=3 n_jobs=$(nproc) out=runs/gpu
while (($#)); do
    case $1 in
        --wheels) wheels=$2; shift 2 ;;
        --cpu-only) cpu_only=1; shift ;;
        --set) set=$2; shift 2 ;;
        --trials) trials=$2; shift 2 ;;
        --n-jobs) n_jobs=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "benchmarks/gpu.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

# 1. pydantic from the wheel folder, beside (not inside) the interpreter's site-packages
deps=$root/.gpu-deps
export PYTHONPATH=$root:$deps${PYTHONPATH:+:$PYTHONPATH}
if ! "$py" -c "import pydantic" 2>/dev/null; then
    if [[ -z $wheels ]]; then
        echo "benchmarks/gpu.sh: pydantic is missing; name a folder of wheels with --wheels DIR (pydantic," \
             "pydantic-core, annotated-types, typing-inspection, typing-extensions for this Python)" >&2
        exit 2
    fi
    "$py" -m pip install --quiet --no-index --find-links "$wheels" --target "$deps" \
        pydantic pydantic-core annotated-types typing-inspection typing-extensions
fi
"$py" - <<'PY'
import importlib, sys
missing = [m for m in ("torch", "pydantic", "numpy", "sympy", "scipy", "pandas", "joblib", "yaml", "safetensors",
                       "tqdm", "pytest") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"benchmarks/gpu.sh: missing modules {', '.join(missing)} (lies needs them; pytest runs the checks)")
PY

# TF32 in float32 matmuls makes CUDA's training drift from the CPU's (tests/test_gpu.py); NVIDIA's containers turn it
# on for cuBLAS through this variable, whatever torch's own flag says
if [[ -n ${TORCH_ALLOW_TF32_CUBLAS_OVERRIDE:-} ]]; then
    echo "benchmarks/gpu.sh: unsetting TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=$TORCH_ALLOW_TF32_CUBLAS_OVERRIDE (TF32 off)"
    unset TORCH_ALLOW_TF32_CUBLAS_OVERRIDE
fi

devices=(cpu)
if ((!cpu_only)); then
    "$py" -c "import sys, torch; torch.cuda.is_available() or sys.exit('benchmarks/gpu.sh: no CUDA device here (use --cpu-only for the CPU parts)'); print(f'device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}')"
    "$py" -m pytest -m gpu -q tests/test_gpu.py
    devices=(cuda cpu)
fi

# 2. one training step
for device in "${devices[@]}"; do
    "$py" -m benchmarks.profile_step --device "$device"
done

# 3. the benchmark on each device; the stages' wall seconds come from each report's "Wall seconds:" line
for device in "${devices[@]}"; do
    start=$(date +%s)
    "$py" -m lies.cli benchmark --set "$set" --trials "$trials" --ablations none --peers loglinear \
        --device "$device" --n-jobs "$n_jobs" --out "$out/$device" -q
    echo "benchmarks/gpu.sh: $device run in $(( $(date +%s) - start )) s of wall time"
done
"$py" - "$out" "${devices[@]}" <<'PY'
import sys
from pathlib import Path

out, devices = Path(sys.argv[1]), sys.argv[2:]
seconds = {}
for device in devices:
    line = next(l for l in (out / device / "report.md").read_text().splitlines() if l.startswith("Wall seconds: "))
    seconds[device] = {k: float(v) for k, v in (p.rsplit(" ", 1) for p in line[len("Wall seconds: "):].split(", "))}
stages = list(dict.fromkeys(k for d in devices for k in seconds[d]))
print(f"{'stage':<26}" + "".join(f"{d + ' s':>10}" for d in devices) + ("   cpu / cuda" if len(devices) == 2 else ""))
for stage in stages:
    row = [seconds[d].get(stage) for d in devices]
    cells = "".join(f"{v:>10.0f}" if v is not None else f"{'-':>10}" for v in row)
    ratio = f"{row[1] / row[0]:>13.2f}" if len(row) == 2 and row[0] and row[1] is not None else ""
    print(f"{stage:<26}{cells}{ratio}")
PY
