#!/usr/bin/env bash
# Install the TensorRT that the installed paddlepaddle-gpu was compiled against, from PyPI's
# `tensorrt` wheels, and make it loadable the way Paddle loads it:
#   - the version: paddle.inference.get_trt_compile_version() -> pip install "tensorrt==MAJOR.MINOR.*"
#     (the PIR path's Python `tensorrt` must match Paddle's runtime libnvinfer: engines built by one
#     version do not deserialise in another);
#   - the names: Paddle dlopens "libnvinfer.so" and paddle.tensorrt "libnvinfer_plugin.so", while
#     pip's tensorrt_libs ships only libnvinfer.so.N / libnvinfer_plugin.so.N, so unversioned
#     symlinks go into a directory that is put on LD_LIBRARY_PATH.
#
#   scripts/install-tensorrt.sh [LINK_DIR]     (default: $RUNNER_TEMP/trt-lib or /tmp/trt-lib)
#
# Uses $PYTHON (default python). Prints the LD_LIBRARY_PATH entry; in GitHub Actions it is also
# appended to $GITHUB_ENV so later steps see it. TENSORRT_VERSION overrides the version spec.
set -euo pipefail
py="${PYTHON:-python}"
link_dir="${1:-${RUNNER_TEMP:-/tmp}/trt-lib}"
compiled="$("$py" -c 'import paddle; print(".".join(map(str, paddle.inference.get_trt_compile_version())))')"
if [ "$compiled" = "0.0.0" ]; then
  echo "error: this Paddle was compiled without TensorRT (get_trt_compile_version() is 0.0.0); install a TensorRT build of paddlepaddle-gpu" >&2
  exit 2
fi
spec="${TENSORRT_VERSION:-${compiled%.*}.*}"
echo "Paddle was compiled with TensorRT $compiled; installing tensorrt==$spec"
"$py" -m pip install --disable-pip-version-check -q "tensorrt==$spec"
libs="$("$py" -c 'import os, tensorrt_libs; print(os.path.dirname(tensorrt_libs.__file__))')"
mkdir -p "$link_dir"
for name in libnvinfer libnvinfer_plugin; do
  versioned="$(ls "$libs/$name.so."* 2>/dev/null | sort | tail -n 1 || true)"
  if [ -z "$versioned" ]; then
    echo "error: $name.so.* not found in $libs (tensorrt_libs); check the tensorrt wheel" >&2
    exit 2
  fi
  ln -sf "$versioned" "$link_dir/$name.so"
done
entry="$link_dir:$libs"
echo "LD_LIBRARY_PATH entry: $entry"
if [ -n "${GITHUB_ENV:-}" ]; then
  echo "LD_LIBRARY_PATH=$entry${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" >>"$GITHUB_ENV"
fi
