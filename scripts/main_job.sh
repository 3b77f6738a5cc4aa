#!/usr/bin/env bash
# The main job: set up, export resnet18 with PyTorch, run it through Octet,
# and print its agreement with PyTorch and its speed.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${OCTET_BUILD_DIR:-build}
export OCTET_BUILD_DIR=$BUILD_DIR
scripts/setup.sh "$BUILD_DIR"
models/build.sh resnet18
M="$BUILD_DIR/models/resnet18"
"$BUILD_DIR/tools/octet" inspect "$M/model.onnx"
"$BUILD_DIR/tools/octet" run "$M/model.onnx" --input "input=$M/inputs/input.npy" --output-dir "$BUILD_DIR/main_job"
"$BUILD_DIR/tools/octet" compare "$M/golden" "$BUILD_DIR/main_job" --max-rel-l2 1e-4
