#!/usr/bin/env bash
# The main job: set up, export resnet18 with PyTorch, quantize it with Octet
# (x86-int8, calibrated on 324 real images), and print the fidelity report on
# 105 other images plus the run time of the float and the quantized model.
# Until the oneDNN backend lands (issue 5) both run on the reference
# interpreter, so the speed printed is the reference's, not a deployment's.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${OCTET_BUILD_DIR:-build}
export OCTET_BUILD_DIR=$BUILD_DIR
scripts/setup.sh "$BUILD_DIR"
models/build.sh resnet18 calib calib300
M="$BUILD_DIR/models/resnet18"
OUT="$BUILD_DIR/main_job"
mkdir -p "$OUT"
OCTET="$BUILD_DIR/tools/octet"
"$OCTET" inspect "$M/model.onnx"
# fp32 agreement with PyTorch first: the ground truth must be right.
"$OCTET" run "$M/model.onnx" --input "input=$M/inputs/input.npy" --output-dir "$OUT/fp32"
"$OCTET" compare "$M/golden" "$OUT/fp32" --max-rel-l2 1e-4
# Quantize: calibration, QDQ model, fidelity report (table here, JSON + HTML in $OUT).
"$OCTET" quantize "$M/model.onnx" --preset x86-int8 --method mse \
  --calib "images:$BUILD_DIR/data/calib300_images" --preprocess imagenet \
  --eval "images:$BUILD_DIR/data/eval100_images" --eval-samples -1 \
  --report "$OUT/report.json" --html "$OUT/report.html" -o "$OUT/resnet18_int8.onnx"
# Speed of both on the same input (reference interpreter).
for m in "$M/model.onnx" "$OUT/resnet18_int8.onnx"; do
  /usr/bin/time -f "  $(basename "$m"): %e s wall (import + simplify + run)" \
    "$OCTET" run "$m" --input "input=$M/inputs/input.npy" --output-dir "$OUT/run" >/dev/null
done
echo "report: $OUT/report.html"
