#!/usr/bin/env bash
# Creates or updates Octet's Python virtual environment for the few tools that
# are not Debian packages (ONNX Runtime; see scripts/requirements-venv.txt).
# Idempotent: a stamp in the venv (hash of the requirements file and the base
# Python) makes a second run a no-op; --force reinstalls.
#
# Usage: scripts/venv.sh [--force]
# Env:   OCTET_VENV   the venv folder (default <repo>/.venv; gitignored)
#
# Scripts that need it run "${OCTET_VENV:-<repo>/.venv}/bin/python", e.g.
#   .venv/bin/python scripts/ort_run.py MODEL.onnx --input input=x.npy -o out/
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${OCTET_VENV:-$ROOT/.venv}"
REQ="$ROOT/scripts/requirements-venv.txt"
BASE_PY=/usr/bin/python3   # Debian's python (python3-venv), not one from PATH
STAMP="$VENV/.octet-venv-stamp"
FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/venv.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done

die() { echo "scripts/venv.sh: $*" >&2; exit 1; }

[ -x "$BASE_PY" ] || die "$BASE_PY not found: apt-get install python3 python3-venv"
want="$(sha256sum "$REQ" | cut -d' ' -f1) $("$BASE_PY" -c 'import sys; print(sys.version.split()[0])')"

if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
   "$VENV/bin/python" -c 'import onnxruntime' 2>/dev/null; then
  echo "== venv $VENV is up to date"
  exit 0
fi

if ! "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  if [ -e "$VENV" ] && [ ! -f "$VENV/pyvenv.cfg" ] && [ -n "$(ls -A "$VENV" 2>/dev/null)" ]; then
    die "$VENV exists and is not a virtual environment; remove it or set OCTET_VENV"
  fi
  echo "== creating venv $VENV"
  # --clear: a broken venv (e.g. its python was upgraded away) is rebuilt.
  "$BASE_PY" -m venv --system-site-packages --clear "$VENV" ||
    die "could not create $VENV: apt-get install python3-venv"
fi

echo "== installing $(grep -v '^#' "$REQ" | grep . | tr '\n' ' ')into $VENV"
if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"; then
  die "pip could not install the packages of $REQ into $VENV.
  Is PyPI reachable (proxy, PIP_INDEX_URL)? Then run scripts/venv.sh again.
  Without onnxruntime the ONNX Runtime peer tests are skipped (they fail when
  OCTET_REQUIRE_ORT=1, as in CI)."
fi
"$VENV/bin/python" -c 'import onnxruntime, onnx; print("== venv ready: onnxruntime", onnxruntime.__version__, "onnx", onnx.__version__)' ||
  die "packages installed but 'import onnxruntime' fails in $VENV (see above)"
echo "$want" > "$STAMP"
