#!/usr/bin/env bash
# Create .venv (once) and install trt-export (numpy, scipy for the gate's statistics, ...) with its test, dev (ruff, mypy,
# import-linter: the checks of .ci/run) and segmentation extras.
# Idempotent: re-installs only when pyproject.toml changed.
# On a GPU machine, create the venv with paddlepaddle-gpu already in it (or --system-site-packages)
# and set TRT_EXPORT_KEEP_PADDLE=1, so the CPU wheel is not installed over it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TRT_EXPORT_VENV:-$root/.venv}"
python="${PYTHON:-python3}"
stamp="$venv/.trt-export-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  # Real PaddleRS for the `paddlers` test tier (its own stamp; a note and nothing else without ../shared).
  TRT_EXPORT_VENV="$venv" "$root/scripts/install-paddlers.sh"
  exit 0
fi
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
extras="test,dev,seg,geo,ray"   # ray: tests/scale/test_ray_executor.py runs bench --ray on a local Ray instance
if [ "${TRT_EXPORT_KEEP_PADDLE:-0}" = "1" ]; then
  extras="$extras,gpu,onnx-gpu"   # NVML for per-process device memory; ONNX Runtime with CUDA/TensorRT
else
  extras="$extras,cpu,onnx"       # ONNX route: paddle2onnx, onnxruntime (CPU), polygraphy
fi
"${pip[@]}" install -e "$root[$extras]"
# paddleseg pins opencv-python<=4.6, whose wheels break on numpy 2; its other needs come with [seg].
"${pip[@]}" install --no-deps "paddleseg==2.8.0"
echo "$want" > "$stamp"
TRT_EXPORT_VENV="$venv" "$root/scripts/install-paddlers.sh"
