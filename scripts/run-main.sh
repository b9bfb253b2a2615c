#!/usr/bin/env bash
# The README's main job: set up .venv if needed, then sweep the built-in default model over the
# default candidate sizes on the best backend this machine has. Extra arguments go to `bench`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"
exec "${TRT_EXPORT_VENV:-$root/.venv}/bin/trt-export" bench "$@"
