#!/usr/bin/env bash
# Runs the whole pytest suite, the CloneSet fault test and the soak included (the soak for
# SOAK_MINUTES, 3 unless set: what CI runs; `make soak` runs it for 30 on its own cluster).
# pytest's exit code 5 (no tests collected) is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
SOAK_MINUTES="${SOAK_MINUTES:-3}" .venv/bin/pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "error: pytest collected no tests" >&2
  exit 1
fi
exit "$rc"
