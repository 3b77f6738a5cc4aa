#!/usr/bin/env bash
# Exports a model with PyTorch (cached), runs it through Octet's reference
# interpreter on the saved inputs and compares with PyTorch's golden outputs
# (relative L2 must be under 1e-4). Prints the run time.
# Usage: scripts/check_model.sh NAME [--threads T]    e.g. sam_vit_b
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/check_model.sh NAME [--threads T]}
shift
BUILD_DIR=${OCTET_BUILD_DIR:-build}
export OCTET_BUILD_DIR=$BUILD_DIR
[ -x "$BUILD_DIR/tools/octet" ] || scripts/setup.sh "$BUILD_DIR"
models/build.sh "$NAME"
M="$BUILD_DIR/models/$NAME"
OUT="$BUILD_DIR/check/$NAME"
rm -rf "$OUT"
args=()
for f in "$M"/inputs/*.npy; do args+=(--input "$(basename "$f" .npy)=$f"); done
"$BUILD_DIR/tools/octet" run "$M/model.onnx" "${args[@]}" --output-dir "$OUT" "$@"
for f in "$OUT"/*.npy; do
  "$BUILD_DIR/tools/octet" compare "$M/golden/$(basename "$f")" "$f" --max-rel-l2 1e-4
done
