#!/usr/bin/env bash
# The main job: set up, export resnet18 with PyTorch, quantize it and compile
# it for x86 in one command (x86-int8, calibrated on 324 real images, fidelity
# report on 105 other images), check the compiled module against PyTorch's
# float output, then time it beside ONNX Runtime fp32 and int8 on this machine
# (bench/resnet18_x86.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${OCTET_BUILD_DIR:-build}
export OCTET_BUILD_DIR=$BUILD_DIR
scripts/setup.sh "$BUILD_DIR"
models/build.sh resnet18_dynbatch calib calib300
M="$BUILD_DIR/models/resnet18_dynbatch"
OUT="$BUILD_DIR/main_job"
mkdir -p "$OUT"
OCTET="$BUILD_DIR/tools/octet"
# Without VNNI (AVX2 only) u8 x s8 products saturate unless activations are
# 7-bit: quantize and compile with --reduce-range there.
RR=()
grep -qE 'avx512_vnni|avx_vnni' /proc/cpuinfo || RR=(--reduce-range)
"$OCTET" inspect "$M/model.onnx"
# Quantize + compile: calibration, QDQ graph, fidelity report (table here,
# JSON + HTML in $OUT), x86 lowering, module.
"$OCTET" compile "$M/model.onnx" --target x86 "${RR[@]}" \
  --calib "images:$BUILD_DIR/data/calib300_images" --preprocess imagenet \
  --eval "images:$BUILD_DIR/data/eval100_images" --eval-samples -1 \
  --report "$OUT/report.json" --html "$OUT/report.html" \
  --qdq-out "$OUT/resnet18_int8.onnx" -o "$OUT/resnet18.octet"
# The compiled module against PyTorch's float output on the golden images.
"$OCTET" run "$OUT/resnet18.octet" --input "input=$M/inputs/input.npy" --output-dir "$OUT/int8"
"$OCTET" compare "$M/golden" "$OUT/int8"
# Speed beside ONNX Runtime fp32 and int8, measured now on this machine.
MODULE_OCTET="$OUT/resnet18.octet" OCTET_QDQ="$OUT/resnet18_int8.onnx" \
  OUT="$OUT/bench" BATCHES="${BATCHES:-1 32}" ITERATIONS="${ITERATIONS:-20}" \
  bench/resnet18_x86.sh
echo "report: $OUT/report.html"
