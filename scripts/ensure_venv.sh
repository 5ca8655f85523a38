#!/usr/bin/env bash
# Makes sure the project's virtual environment exists and prints its path.
#
# The environment lives outside the clone, in the user's cache folder, keyed by the hash
# of requirements.lock: a fresh clone (CI) with the same lock reuses it, and a changed lock
# builds a new one beside it. uv's download cache is shared the same way.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${BRRR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/brain-go-brrr}
uv_version=0.13.8
python=${BRRR_PYTHON:-python3.11}
mkdir -p "$cache"

if ! command -v "$python" >/dev/null 2>&1; then
    echo "ensure_venv: $python not found; install Python 3.11 (or set BRRR_PYTHON)" >&2
    exit 1
fi

uv="$cache/bootstrap-uv-$uv_version/bin/uv"
if [ ! -x "$uv" ]; then
    echo "ensure_venv: installing uv $uv_version into $cache" >&2
    rm -rf "$cache/bootstrap-uv-$uv_version"
    "$python" -m venv "$cache/bootstrap-uv-$uv_version"
    "$cache/bootstrap-uv-$uv_version/bin/pip" install -q "uv==$uv_version"
fi

lock_hash=$(sha256sum "$here/requirements.lock" | cut -c1-12)
venv="$cache/venv-py311-$lock_hash"
stamp="$venv/.brrr-complete"
if [ ! -f "$stamp" ]; then
    echo "ensure_venv: building $venv (first run downloads torch and friends, a few minutes)" >&2
    rm -rf "$venv"
    "$uv" venv -q --python "$python" "$venv"
    "$uv" pip sync -q --python "$venv/bin/python" "$here/requirements.lock"
    touch "$stamp"
fi
# Byte-compile the environment once. uv installs no .pyc files, and where
# PYTHONDONTWRITEBYTECODE is set (as on these machines) Python never writes them either: every
# process (each worker, CLI call and test subprocess) then compiled torch, MNE and faust from
# source on import: 15.6 s for torch, MNE and faust here, 5.3 s once compiled. A file that
# does not compile (test data of some packages) is harmless.
compiled="$venv/.brrr-bytecode"
if [ ! -f "$compiled" ]; then
    echo "ensure_venv: byte-compiling $venv (once, about a minute)" >&2
    "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null 2>&1 || true
    touch "$compiled"
fi
# The project itself, editable, so every clone points the console script at its own code.
# A .pth file is per-venv, so re-point it at this clone each time (cheap, no network).
"$uv" pip install -q --no-deps --python "$venv/bin/python" -e "$here" >&2
echo "$venv"
