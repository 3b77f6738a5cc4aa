#!/usr/bin/env bash
# Reproduces the numbers in docs/quantization.md with the `octet` CLI:
#   fashion_resnet x86-int8, every calibration method (one calibration run,
#     statistics reused), accuracy on the full Fashion-MNIST test set;
#   resnet18 x86-int8 calibrated on 324 real images, evaluated on 105 others;
#   sam_tiny x86-int8 and int8-dynamic (sam_vit_b too with --vit-b).
# Usage: scripts/quantization_report.sh [--vit-b]   (after scripts/setup.sh and
# models/build.sh all-ci; sam_vit_b needs models/build.sh sam_vit_b)
set -euo pipefail
cd "$(dirname "$0")/.."
B=${OCTET_BUILD_DIR:-build}
OCTET="$B/tools/octet"
OUT=${OCTET_REPORT_DIR:-$B/quant_report}
FM=${OCTET_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
mkdir -p "$OUT"
VIT_B=0
[ "${1:-}" = "--vit-b" ] && VIT_B=1

summary() {  # report.json -> one line: SQNR, cosine, top-1 agreement
  /usr/bin/python3 - "$1" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
o = r["outputs"][0]
line = f"SQNR {o['sqnr_db']:6.2f} dB  cosine {o['cosine']:.5f}"
c = r.get("classification")
if c:
    line += f"  top-1 agreement {c['top1_agreement']}/{c['samples']}"
w = r["layers"][0] if r["layers"] else None
if w:
    line += f"  worst layer {w['node']} {w['sqnr_in_model_db']:.1f} dB"
print(line)
EOF
}

echo "== fashion_resnet x86-int8 (calibration: 1024 training images; accuracy: 10000 test images)"
TRAIN="idx:$FM/train-images-idx3-ubyte.gz:$FM/train-labels-idx1-ubyte.gz"
TEST="idx:$FM/t10k-images-idx3-ubyte.gz:$FM/t10k-labels-idx1-ubyte.gz"
M=$B/models/fashion_resnet/model.onnx
"$OCTET" quantize "$M" --calib "$TRAIN" --samples 1024 --batch 64 --eval-samples 0 -q \
  --stats-out "$OUT/fashion_stats.json" -o "$OUT/fashion_minmax.onnx" --method minmax >/dev/null
fp32=$("$OCTET" eval "$M" --data "$TEST" | awk '/^top-1/ {print $2}')
printf "  %-15s top-1 %s\n" fp32 "$fp32"
for method in minmax moving-average percentile entropy mse; do
  "$OCTET" quantize "$M" --stats-in "$OUT/fashion_stats.json" --method "$method" -q \
    --eval-samples 0 -o "$OUT/fashion_$method.onnx" >/dev/null
  acc=$("$OCTET" eval "$OUT/fashion_$method.onnx" --data "$TEST" | awk '/^top-1/ {print $2}')
  printf "  %-15s top-1 %s\n" "$method" "$acc"
done

echo "== resnet18 x86-int8 (324 calibration images, 105 evaluation images)"
for method in mse entropy percentile minmax; do
  /usr/bin/time -f "%M" -o "$OUT/rss_$method" "$OCTET" quantize "$B/models/resnet18/model.onnx" \
    --calib "images:$B/data/calib300_images" --preprocess imagenet \
    --eval "images:$B/data/eval100_images" --eval-samples -1 --method "$method" -q \
    --report "$OUT/resnet18_$method.json" --html "$OUT/resnet18_$method.html" \
    -o "$OUT/resnet18_$method.onnx" >/dev/null
  printf "  %-11s %s  peak RSS %d MB\n" "$method" "$(summary "$OUT/resnet18_$method.json")" \
    $(( $(cat "$OUT/rss_$method") / 1024 ))
done

sam() {  # name size preset [samples]
  local name=$1 size=$2 preset=$3 n=${4:-12}
  "$OCTET" quantize "$B/models/$name/model.onnx" --preset "$preset" \
    --calib "images:$B/data/calib_images" --samples 32 --preprocess "sam:$size" \
    --eval "images:$B/data/eval_images" --eval-samples "$n" --batch 1 -q \
    --report "$OUT/${name}_$preset.json" -o "$OUT/${name}_$preset.onnx" >/dev/null
  printf "  %-13s %s\n" "$preset" "$(summary "$OUT/${name}_$preset.json")"
}
echo "== sam_tiny (256x256; 32 calibration images, 12 evaluation images)"
sam sam_tiny 256 x86-int8
sam sam_tiny 256 int8-dynamic
if [ "$VIT_B" = 1 ]; then
  echo "== sam_vit_b (1024x1024; 32 calibration images, 4 evaluation images)"
  sam sam_vit_b 1024 int8-dynamic 4
  sam sam_vit_b 1024 x86-int8 4
fi
echo "reports and models in $OUT"
