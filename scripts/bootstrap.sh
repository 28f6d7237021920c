#!/usr/bin/env bash
# Creates .venv with Flotilla and its dev tools, from uv.lock (reproducible).
# Idempotent and quick when nothing changed. Called by `make demo` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "error: $PYTHON not found; Flotilla needs Python >= 3.11 (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "error: $("$PYTHON" --version 2>&1) is too old; Flotilla needs Python >= 3.11 (set PYTHON=...)" >&2
  exit 1
fi
if [ ! -x .venv/bin/uv ]; then
  echo "[bootstrap] creating .venv with $("$PYTHON" --version 2>&1)"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
fi
export UV_PYTHON="$PWD/.venv/bin/python"
echo "[bootstrap] syncing Python dependencies from uv.lock"
.venv/bin/uv sync --frozen --extra dev --quiet
