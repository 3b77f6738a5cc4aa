#!/usr/bin/env bash
# SAM ViT image encoder on x86: Octet's int8-dynamic module (compiled for x86)
# beside ONNX Runtime fp32 and ONNX Runtime int8 (quantize_dynamic, per-channel
# s8 weights: the same scheme as Octet's int8-dynamic), timed in one run on one
# machine, plus each int8 model's agreement with ONNX Runtime fp32 on one
# random input.
#
#   bench/sam_x86.sh
#
# Environment (defaults in brackets):
#   MODEL_FP32   fp32 encoder ONNX [build/models/sam_vit_b/model.onnx]; when
#                missing and EXPORT=NAME is set, bench/export_sam.py NAME makes it
#   OCTET        octet binary [build/tools/octet]
#   ORT_PYTHON   python with onnxruntime (+ onnx for quantize_dynamic) [.venv/bin/python or python3]
#   OUT          output folder [build/bench/sam_x86]
#   THREADS      thread counts [$(nproc)]
#   WARMUP ITERATIONS  [2 / 10]
#   SIZE         input height and width [1024; sam_tiny: 256]
#   ORT_STATIC   1: also ONNX Runtime int8 static (quant_pre_process +
#                quantize_static, QDQ per-channel, MinMax) [1]
#   SAMPLES      its calibration samples (seeded random inputs; its MinMax
#                calibrator keeps every intermediate of every sample) [2]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${OCTET_BUILD_DIR:-$ROOT/build}"
OCTET="${OCTET:-$B/tools/octet}"
if [ -z "${ORT_PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then ORT_PYTHON="$ROOT/.venv/bin/python"; else ORT_PYTHON=python3; fi
fi
OUT="${OUT:-$B/bench/sam_x86}"
THREADS="${THREADS:-$(nproc)}"
WARMUP="${WARMUP:-2}"
ITERATIONS="${ITERATIONS:-10}"
MODEL_FP32="${MODEL_FP32:-$B/models/sam_vit_b/model.onnx}"
SIZE="${SIZE:-1024}"
mkdir -p "$OUT"
if [ ! -f "$MODEL_FP32" ]; then
  [ -n "${EXPORT:-}" ] || { echo "bench/sam_x86.sh: no $MODEL_FP32 (set MODEL_FP32 or EXPORT=vit_b)" >&2; exit 1; }
  MODEL_FP32="$OUT/sam_${EXPORT}_fp32.onnx"
  python3 "$ROOT/bench/export_sam.py" "$EXPORT" "$MODEL_FP32"
fi
echo "== Octet: int8-dynamic, compiled for x86" >&2
"$OCTET" compile "$MODEL_FP32" --preset int8-dynamic --target x86 --quiet -o "$OUT/sam.octet" >&2
echo "== ONNX Runtime: quantize_dynamic (per-channel s8 weights)" >&2
"$ORT_PYTHON" - "$MODEL_FP32" "$OUT/sam_ort_int8.onnx" <<'PY' >&2
import sys
from onnxruntime.quantization import QuantType, quantize_dynamic
quantize_dynamic(sys.argv[1], sys.argv[2], per_channel=True, weight_type=QuantType.QInt8)
print("wrote", sys.argv[2])
PY
MODELS="fp32 ort_int8"
if [ "${ORT_STATIC:-1}" = "1" ]; then
  echo "== ONNX Runtime: quant_pre_process + quantize_static (QDQ per-channel, ${SAMPLES:-2} samples)" >&2
  mkdir -p "$OUT/calib_npy"
  "$ORT_PYTHON" - "$OUT/calib_npy" "$SIZE" "${SAMPLES:-2}" <<'PY'
import numpy as np, sys
rng = np.random.default_rng(1)
for i in range(int(sys.argv[3])):
    np.save("%s/%03d.npy" % (sys.argv[1], i),
            rng.standard_normal((1, 3, int(sys.argv[2]), int(sys.argv[2]))).astype(np.float32))
PY
  "$ORT_PYTHON" "$ROOT/scripts/ort_quantize.py" "$MODEL_FP32" "$OUT/sam_ort_static.onnx" \
    --npy "$OUT/calib_npy" > "$OUT/ort_static_quantize.log" 2>&1 ||
    { tail -5 "$OUT/ort_static_quantize.log" >&2; exit 1; }
  MODELS="$MODELS ort_static"
fi
ROWS=()
for t in $THREADS; do
  "$OCTET" bench "$OUT/sam.octet" --threads "$t" --warmup "$WARMUP" --iterations "$ITERATIONS" \
    --json "$OUT/octet_t$t.json" --profile --profile-rows 12 > "$OUT/octet_t$t.log"
  for m in $MODELS; do
    f="$MODEL_FP32"; [ "$m" != fp32 ] && f="$OUT/sam_$m.onnx"
    "$ORT_PYTHON" "$ROOT/bench/ort_bench.py" "$f" --threads "$t" --warmup "$WARMUP" \
      --iterations "$ITERATIONS" --json "$OUT/${m}_t$t.json" > "$OUT/${m}_t$t.log"
  done
  ROWS+=("$t")
done
# Agreement on one random input (seeded), ONNX Runtime fp32 as the reference.
"$ORT_PYTHON" - "$OUT" "$SIZE" <<'PY'
import numpy as np, sys
np.random.seed(0)
size = int(sys.argv[2])
np.save(sys.argv[1] + "/input.npy", np.random.randn(1, 3, size, size).astype(np.float32))
PY
"$OCTET" run "$OUT/sam.octet" --input "input=$OUT/input.npy" --output-dir "$OUT/run_octet" >/dev/null
for m in $MODELS; do
  f="$MODEL_FP32"; [ "$m" != fp32 ] && f="$OUT/sam_$m.onnx"
  "$ORT_PYTHON" "$ROOT/scripts/ort_run.py" "$f" --input "input=$OUT/input.npy" -o "$OUT/run_$m" >/dev/null
done
echo "### SAM encoder ($(basename "$MODEL_FP32")), x86, batch 1"
echo
echo "- machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1); $(nproc) CPUs; $(grep -o -w -E 'avx512_vnni|amx_int8' /proc/cpuinfo | sort -u | tr '\n' ' ')"
# GIT_COMMIT, when set, names the commit the binaries were built from (a copy
# of the tree elsewhere may carry a stale .git).
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: ${GIT_COMMIT:-$(git -C "$ROOT" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)}"
echo
echo "| engine | threads | median ms | p90 ms | vs ORT fp32 | vs ORT int8 |"
echo "|---|--:|--:|--:|--:|--:|"
for t in "${ROWS[@]}"; do
  "$ORT_PYTHON" - "$OUT" "$t" <<'PY'
import json, sys
out, t = sys.argv[1], sys.argv[2]
import os
rows = [("Octet int8-dynamic (x86 module)", "octet"), ("ONNX Runtime int8 (quantize_dynamic)", "ort_int8"),
        ("ONNX Runtime int8 (quantize_static QDQ)", "ort_static"), ("ONNX Runtime fp32", "fp32")]
rows = [r for r in rows if os.path.exists("%s/%s_t%s.json" % (out, r[1], t))]
med = {k: json.load(open("%s/%s_t%s.json" % (out, k, t)))["latency_ms"] for _, k in rows}
for label, k in rows:
    print("| %s | %s | %.1f | %.1f | %.2fx | %.2fx |" % (label, t, med[k]["median"], med[k]["p90"],
          med["fp32"]["median"] / med[k]["median"], med["ort_int8"]["median"] / med[k]["median"]))
PY
done
echo
echo "Agreement with ONNX Runtime fp32 on one random input:"
"$OCTET" compare "$OUT/run_fp32" "$OUT/run_octet" | sed 's/^/- Octet int8-dynamic: /'
"$OCTET" compare "$OUT/run_fp32" "$OUT/run_ort_int8" | sed 's/^/- ORT int8 dynamic: /'
if [ -d "$OUT/run_ort_static" ]; then
  "$OCTET" compare "$OUT/run_fp32" "$OUT/run_ort_static" | sed 's/^/- ORT int8 static QDQ: /'
fi
echo
echo "Octet profile (slowest ops, threads ${ROWS[0]}):"
sed -n '/^profile:/,$p' "$OUT/octet_t${ROWS[0]}.log"
