#!/usr/bin/env bash
# The README's main job: set up .venv if needed, then decide a tile size for a scene. A segmentation
# network (trt_export.zoo:tiny_segnet, seeded random weights: nothing is downloaded) is swept at
# 128, 256 and 512 px tiles on the best backend this machine has; each tile size is judged on the
# predicted time for a 10000 x 10000 scene with PaddleRS's default overlap (36 px) and on how well
# its stitched labels agree with the network run on a whole real photo (matplotlib's bundled
# grace_hopper.jpg). Extra arguments go to `trt-export bench` and override these (the last
# occurrence of a flag wins), e.g. `scripts/run-main.sh --min-agreement 0.999`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
python="${TRT_EXPORT_VENV:-$root/.venv}/bin/python"
photo="$("$python" -c 'import matplotlib, pathlib; print(pathlib.Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg")')"
exec "${TRT_EXPORT_VENV:-$root/.venv}/bin/trt-export" bench \
  --model trt_export.zoo:tiny_segnet --shapes '[128,128]' '[256,256]' '[512,512]' \
  --scene 10000x10000 --overlap 36 --merge keep_last --agreement-images "$photo" "$@"
