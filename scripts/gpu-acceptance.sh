#!/usr/bin/env bash
# One GPU acceptance run, for a machine with paddlepaddle-gpu (TensorRT build) and TensorRT:
#   doctor, pytest -m gpu, and for a classifier, a segmenter and a change detector in both
#   formats: verify and a short bench on trt-fp32, trt-fp16 and trt-int8 (random calibration:
#   timing and plumbing only). Everything lands in one results file, JSON and Markdown, meant to
#   be attached to an issue:  <out>/acceptance.json, <out>/acceptance.md
#
#   scripts/gpu-acceptance.sh [OUT_DIR]          (default gpu-acceptance-out)
#
# Uses $PYTHON, else .venv/bin/python, else python3 (a venv with paddlepaddle-gpu in it; see
# README "GPU and TensorRT"). Every step runs even when an earlier one failed; the exit code is 0
# only when all passed. QUICK=1 runs one model (the classifier) for a smoke test.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-gpu-acceptance-out}" && cd "${1:-gpu-acceptance-out}" && pwd)"
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x "$root/.venv/bin/python" ]; then py="$root/.venv/bin/python"; else py="$(command -v python3)"; fi
fi
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
cache="$out/trt-cache"
rm -f "$out/steps.tsv"
mkdir -p "$cache"

# step NAME KIND COMMAND...: run it, log it, record exit code and seconds.
step() {
  local name="$1" kind="$2"
  shift 2
  local start code
  start=$SECONDS
  echo "== $name: $*"
  "$@" >"$out/$name.log" 2>&1
  code=$?
  printf '%s\t%s\t%s\t%s\n' "$name" "$kind" "$code" "$((SECONDS - start))" >>"$out/steps.tsv"
  echo "   exit $code ($(tail -n 1 "$out/$name.log" 2>/dev/null))"
}

cd "$root" || exit 2
step doctor doctor bash -c "'$py' -m trt_export doctor --json > '$out/doctor.json'"
step pytest-gpu pytest "$py" -m pytest -q -m gpu tests/infer/test_gpu_backends.py --junitxml "$out/pytest-gpu.xml"

models=(
  "classifier|paddle.vision.models:resnet18|{}"
  "segmenter|trt_export.zoo:tiny_segnet|{\"num_classes\": 2}"
  "change_detector|trt_export.zoo:tiny_change_detector|{\"num_classes\": 2}"
)
[ "${QUICK:-0}" = "1" ] && models=("${models[0]}")
for entry in "${models[@]}"; do
  IFS='|' read -r label model kwargs <<<"$entry"
  for fmt in legacy pir; do
    for backend in trt-fp32 trt-fp16 trt-int8; do
      calib=()
      suffix=""
      # Random calibration: the INT8 numbers are timing only, so a parity failure (exit 1) is
      # recorded but does not fail the run; errors (exit 2), missing engines and crashes do.
      [ "$backend" = "trt-int8" ] && calib=(--allow-random-calibration) && suffix="-timing"
      name="$label-$fmt-$backend"
      step "verify-$name" "verify$suffix" "$py" -m trt_export verify --model "$model" --model-kwargs "$kwargs" \
        --fixed-input-shape '[256,256]' --format "$fmt" --backend "$backend" "${calib[@]}" \
        --trt-cache-dir "$cache" --report "$out/verify-$name.json"
      step "bench-$name" "bench$suffix" "$py" -m trt_export bench --model "$model" --model-kwargs "$kwargs" \
        --shapes '[256,256]' '[512,512]' --format "$fmt" --backend "$backend" "${calib[@]}" \
        --trt-cache-dir "$cache" --iters 20 --no-progress --out "$out/bench-$name"
    done
  done
done

"$py" -m trt_export.env.acceptance "$out"
