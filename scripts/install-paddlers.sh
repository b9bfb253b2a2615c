#!/usr/bin/env bash
# Install the vendored PaddleRS (paddlers, develop f62b46f) into the venv, for the `paddlers` test tier.
#
# paddlers cannot come from PyPI for Paddle 3 (PyPI's 1.0b0 imports paddle.fluid), so the repo's CI
# lays shared/ beside the checkout with a `git archive` of PaddleRS in shared/vendor/ (see its
# README.md). Without that tarball this prints a note and does nothing: the tier then skips.
# Idempotent: a stamp in the venv records the tarball's sha256. Nothing already installed is
# upgraded or downgraded: every pip call runs under constraints pinning what the venv holds
# (numpy and paddlepaddle above all), and paddlers itself and paddleslim go in with --no-deps
# (their requirements pin git URLs and numpy-1-era opencv).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${TRT_EXPORT_VENV:-$root/.venv}"
shared="${TRT_EXPORT_SHARED:-$root/../shared}"
tarball="$shared/vendor/PaddleRS-f62b46f.tar.gz"
py="$venv/bin/python"
if [ ! -f "$tarball" ]; then
  echo "note: $tarball not found: real PaddleRS is not installed and the 'paddlers' test tier will skip" \
       "(set TRT_EXPORT_SHARED to the dir holding vendor/PaddleRS-f62b46f.tar.gz)"
  exit 0
fi
want="$(sha256sum "$tarball" | cut -d' ' -f1)"
stamp="$venv/.trt-export-paddlers"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('paddlers') is None)"; then
  exit 0
fi
pip=("$py" -m pip -q --disable-pip-version-check)
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
# Pin every distribution the venv already has (editable and direct-URL lines are not constraints).
"$py" -m pip --disable-pip-version-check list --format=freeze --exclude-editable | grep -E '^[A-Za-z0-9_.-]+==' > "$constraints"
# What PaddleRS needs to import and build its tasks (shared/vendor/README.md): the `paddlers`
# extra of pyproject.toml, read from there so the list has one owner.
mapfile -t needs < <("$py" -c 'import sys, tomllib
for r in tomllib.load(open(sys.argv[1], "rb"))["project"]["optional-dependencies"]["paddlers"]: print(r)' "$root/pyproject.toml")
"${pip[@]}" install -c "$constraints" "${needs[@]}"
# With its deps paddleslim pulls opencv-python 4.6, which fails to import with numpy 2.
"${pip[@]}" install -c "$constraints" --no-deps paddleslim==2.6.0 paddleseg==2.8.0
src="$venv/src/PaddleRS-f62b46f"
rm -rf "$src"
mkdir -p "$src"
tar xzf "$tarball" -C "$src" --strip-components=1
# Editable, as shared/vendor/README.md did: a regular install leaves out the package's data files
# (paddlers/.version, read on import). The tree also holds PaddleRS's deploy/export/export_model.py.
"${pip[@]}" install --no-deps -e "$src"
"$py" -c "import paddlers, paddlers.deploy" >/dev/null
echo "$want" > "$stamp"
echo "installed paddlers (PaddleRS f62b46f) into $venv"
