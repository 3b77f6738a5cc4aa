#!/usr/bin/env bash
# resnet18 on x86: Octet's compiled x86 module vs ONNX Runtime int8 (QDQ,
# per-channel) and ONNX Runtime fp32, timed in one run on one machine, plus
# the fidelity of each int8 model on the golden input.
#
#   bench/resnet18_x86.sh
#
# Steps (each skipped when its product is given, see below):
#   1. models/build.sh resnet18_dynbatch calib300 (needs Debian's torch)
#   2. octet quantize MODEL --preset x86-int8 --calib images:CALIB_DIR
#        --preprocess imagenet --samples S [--reduce-range] -o octet_int8.onnx
#      octet compile octet_int8.onnx --target x86 [--reduce-range] -o resnet18.octet
#   3. scripts/ort_quantize.py MODEL ort_int8.onnx --images CALIB_DIR --max-samples S
#   4. for every batch B and thread count T: octet bench on the module,
#      bench/ort_bench.py on the ORT int8 and the fp32 model
#   5. fidelity on the golden input: octet run (module and QDQ model on the
#      reference interpreter), scripts/ort_run.py (ORT int8), octet compare
#   6. a markdown table (machine, date, commit, numbers) on stdout and in
#      $OUT/table.md; every JSON and log in $OUT
#
# Environment (defaults in brackets):
#   OCTET          octet binary [<repo>/build/tools/octet]
#   ORT_PYTHON     python with onnxruntime [<repo>/.venv/bin/python if present, else python3]
#   OUT            output folder [${OCTET_BUILD_DIR:-<repo>/build}/bench/resnet18_x86]
#   BATCHES        batch sizes ["1 32"]
#   THREADS        thread counts [$(nproc)]
#   WARMUP ITERATIONS  untimed / timed runs per measurement [5 / 30]
#   SAMPLES        calibration images for both quantizers [32]
#   OCTET_METHOD   octet quantize --method [the preset's]
#   REDUCE_RANGE   1 / 0 / auto [auto: 1 when /proc/cpuinfo has neither
#                  avx512_vnni nor avx_vnni]
# Prebuilt inputs (skip steps 1-3; nothing then needs torch or the repo's build):
#   MODEL_FP32     fp32 ONNX with a symbolic batch [$B/models/resnet18_dynbatch/model.onnx]
#   CALIB_DIR      calibration images [$B/data/calib300_images]
#   MODULE_OCTET   compiled module (.octet); OCTET_QDQ: the QDQ model it came from
#   MODEL_ORT_INT8 ORT-quantized model
#   GOLDEN_INPUT   [dirname MODEL_FP32/inputs/input.npy]; GOLDEN_DIR [.../golden]
#   INPUT_NAME     the model's input [input]
#   GIT_COMMIT     the commit the binaries were built from (else git's HEAD)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "bench/resnet18_x86.sh: no arguments (settings are environment variables)" >&2
     usage >&2; exit 2 ;;
esac

die() { echo "bench/resnet18_x86.sh: $*" >&2; exit 1; }
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s/%s\n' "$(pwd)" "$1" ;; esac; }
step() { printf '\n== %s\n' "$*" >&2; }
# run LOG CMD...: echo the command, send its output to LOG, show LOG on failure.
run() {
  local log=$1; shift
  echo "+ $*" >&2
  if ! "$@" >"$log" 2>&1; then
    echo "FAILED (log $log):" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
}

B="$(abspath "${OCTET_BUILD_DIR:-$ROOT/build}")"
OCTET="$(abspath "${OCTET:-$ROOT/build/tools/octet}")"
if [ -z "${ORT_PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then ORT_PYTHON="$ROOT/.venv/bin/python"; else ORT_PYTHON=python3; fi
fi
OUT="$(abspath "${OUT:-$B/bench/resnet18_x86}")"
read -r -a BATCH_LIST <<<"${BATCHES:-1 32}"
read -r -a THREAD_LIST <<<"${THREADS:-$(nproc)}"
WARMUP=${WARMUP:-5}
ITERATIONS=${ITERATIONS:-30}
SAMPLES=${SAMPLES:-32}
INPUT_NAME=${INPUT_NAME:-input}

[ -x "$OCTET" ] || die "no octet binary at $OCTET (build it, or set OCTET)"
"$ORT_PYTHON" -c 'import json' 2>/dev/null || die "cannot run $ORT_PYTHON (set ORT_PYTHON)"
if [ "${#BATCH_LIST[@]}" -eq 0 ] || [ "${#THREAD_LIST[@]}" -eq 0 ]; then
  die "BATCHES and THREADS must not be empty"
fi

has_flag() { grep -qw -- "$1" /proc/cpuinfo 2>/dev/null; }
case "${REDUCE_RANGE:-auto}" in
  auto) if has_flag avx512_vnni || has_flag avx_vnni; then REDUCE_RANGE=0; else REDUCE_RANGE=1; fi ;;
  1|yes|true) REDUCE_RANGE=1 ;;
  0|no|false) REDUCE_RANGE=0 ;;
  *) die "REDUCE_RANGE must be 1, 0 or auto" ;;
esac
RR=()
[ "$REDUCE_RANGE" = 1 ] && RR=(--reduce-range)

mkdir -p "$OUT/logs"
rm -f "$OUT"/bench_*.json "$OUT/table.md"

# ---------------------------------------------------------------- 1. models
BUILD=()
[ -z "${MODEL_FP32:-}" ] && BUILD+=(resnet18_dynbatch)
if [ -z "${CALIB_DIR:-}" ] && { [ -z "${MODULE_OCTET:-}" ] || [ -z "${MODEL_ORT_INT8:-}" ]; }; then
  BUILD+=(calib300)
fi
if [ "${#BUILD[@]}" -gt 0 ]; then
  step "models: ${BUILD[*]}"
  OCTET_BUILD_DIR="$B" "$ROOT/models/build.sh" "${BUILD[@]}" >&2
fi
MODEL_FP32="$(abspath "${MODEL_FP32:-$B/models/resnet18_dynbatch/model.onnx}")"
CALIB_DIR="$(abspath "${CALIB_DIR:-$B/data/calib300_images}")"
[ -f "$MODEL_FP32" ] || die "no fp32 model at $MODEL_FP32"
MODEL_DIR="$(dirname "$MODEL_FP32")"
GOLDEN_INPUT="$(abspath "${GOLDEN_INPUT:-$MODEL_DIR/inputs/input.npy}")"
GOLDEN_DIR="$(abspath "${GOLDEN_DIR:-$MODEL_DIR/golden}")"

# ---------------------------------------------------------------- 2. Octet
if [ -z "${MODULE_OCTET:-}" ]; then
  [ -d "$CALIB_DIR" ] || die "no calibration images at $CALIB_DIR (set CALIB_DIR)"
  step "Octet: quantize ($SAMPLES samples, reduce-range $REDUCE_RANGE) and compile for x86"
  METHOD=()
  [ -n "${OCTET_METHOD:-}" ] && METHOD=(--method "$OCTET_METHOD")
  OCTET_QDQ="$OUT/octet_int8.onnx"
  MODULE_OCTET="$OUT/resnet18.octet"
  run "$OUT/logs/octet_quantize.log" nice "$OCTET" quantize "$MODEL_FP32" --preset x86-int8 \
    "${METHOD[@]}" --calib "images:$CALIB_DIR" --preprocess imagenet --samples "$SAMPLES" \
    --eval-samples 0 "${RR[@]}" -o "$OCTET_QDQ"
  { grep -E '^(quantizing|  calibration )' "$OUT/logs/octet_quantize.log" || true; } >&2
  run "$OUT/logs/octet_compile.log" "$OCTET" compile "$OCTET_QDQ" --target x86 "${RR[@]}" \
    -o "$MODULE_OCTET"
  cat "$OUT/logs/octet_compile.log" >&2
  OCTET_DESC="x86-int8 ${OCTET_METHOD:+--method $OCTET_METHOD }calibrated on $SAMPLES images, reduce-range $REDUCE_RANGE"
else
  MODULE_OCTET="$(abspath "$MODULE_OCTET")"
  OCTET_QDQ="${OCTET_QDQ:+$(abspath "$OCTET_QDQ")}"
  OCTET_DESC="prebuilt module $MODULE_OCTET"
fi
[ -f "$MODULE_OCTET" ] || die "no compiled module at $MODULE_OCTET"

# ---------------------------------------------------------------- 3. ORT int8
if [ -z "${MODEL_ORT_INT8:-}" ]; then
  [ -d "$CALIB_DIR" ] || die "no calibration images at $CALIB_DIR (set CALIB_DIR)"
  step "ONNX Runtime: quant_pre_process + quantize_static (QDQ, per-channel, MinMax, $SAMPLES samples)"
  MODEL_ORT_INT8="$OUT/ort_int8.onnx"
  run "$OUT/logs/ort_quantize.log" nice "$ORT_PYTHON" "$ROOT/scripts/ort_quantize.py" \
    "$MODEL_FP32" "$MODEL_ORT_INT8" --images "$CALIB_DIR" --max-samples "$SAMPLES"
  { grep '^{' "$OUT/logs/ort_quantize.log" || true; } | tail -n 1 | tee "$OUT/ort_quantize.json" >&2
  ORT_DESC="quant_pre_process + quantize_static QDQ per-channel u8/s8 MinMax on $SAMPLES images"
else
  MODEL_ORT_INT8="$(abspath "$MODEL_ORT_INT8")"
  ORT_DESC="prebuilt model $MODEL_ORT_INT8"
fi
[ -f "$MODEL_ORT_INT8" ] || die "no ORT int8 model at $MODEL_ORT_INT8"

# ---------------------------------------------------------------- 4. timing
FAILED=0
for t in "${THREAD_LIST[@]}"; do
  for b in "${BATCH_LIST[@]}"; do
    step "bench: batch $b, threads $t ($WARMUP warm-up + $ITERATIONS timed runs each)"
    tag="b${b}_t${t}"
    common=(--batch "$b" --threads "$t" --warmup "$WARMUP" --iterations "$ITERATIONS")
    run "$OUT/logs/bench_octet_$tag.log" "$OCTET" bench "$MODULE_OCTET" "${common[@]}" \
      --json "$OUT/bench_octet_$tag.json" || FAILED=1
    run "$OUT/logs/bench_ort_int8_$tag.log" "$ORT_PYTHON" "$ROOT/bench/ort_bench.py" \
      "$MODEL_ORT_INT8" "${common[@]}" --json "$OUT/bench_ort_int8_$tag.json" || FAILED=1
    run "$OUT/logs/bench_ort_fp32_$tag.log" "$ORT_PYTHON" "$ROOT/bench/ort_bench.py" \
      "$MODEL_FP32" "${common[@]}" --json "$OUT/bench_ort_fp32_$tag.json" || FAILED=1
    for e in octet ort_int8 ort_fp32; do
      if [ -f "$OUT/bench_${e}_$tag.json" ]; then
        { grep -h '^latency' "$OUT/logs/bench_${e}_$tag.log" || true; } | sed "s/^/  $e: /" >&2
      fi
    done
  done
done

# ---------------------------------------------------------------- 5. fidelity
FID="$OUT/fidelity"
rm -rf "$FID"
mkdir -p "$FID"
: >"$FID/compare.txt"
# compare NAME REF_DIR CAND_DIR: append "NAME<TAB>octet compare line" to compare.txt
compare() {
  local line
  if [ -d "$2" ] && [ -d "$3" ] && line="$("$OCTET" compare "$2" "$3" 2>&1 | head -n 1)"; then
    printf '%s\t%s\n' "$1" "$line" >>"$FID/compare.txt"
  else
    printf '%s\t(not available)\n' "$1" >>"$FID/compare.txt"
  fi
}
if [ -f "$GOLDEN_INPUT" ] && [ -d "$GOLDEN_DIR" ]; then
  step "fidelity on the golden input ($GOLDEN_INPUT)"
  feed="$INPUT_NAME=$GOLDEN_INPUT"
  run "$FID/octet_module.log" "$OCTET" run "$MODULE_OCTET" --input "$feed" \
    --output-dir "$FID/octet_module" || FAILED=1
  if [ -n "${OCTET_QDQ:-}" ]; then
    run "$FID/octet_qdq.log" "$OCTET" run "$OCTET_QDQ" --input "$feed" \
      --output-dir "$FID/octet_qdq" || FAILED=1
  fi
  run "$FID/ort_int8.log" "$ORT_PYTHON" "$ROOT/scripts/ort_run.py" "$MODEL_ORT_INT8" \
    --input "$feed" -o "$FID/ort_int8" || FAILED=1
  compare "Octet x86 module vs fp32 (PyTorch golden)" "$GOLDEN_DIR" "$FID/octet_module"
  compare "Octet QDQ, reference interpreter, vs fp32" "$GOLDEN_DIR" "$FID/octet_qdq"
  compare "Octet x86 module vs Octet QDQ (reference)" "$FID/octet_qdq" "$FID/octet_module"
  compare "ORT int8 vs fp32" "$GOLDEN_DIR" "$FID/ort_int8"
else
  echo "bench/resnet18_x86.sh: no golden input/output next to $MODEL_FP32: fidelity skipped" >&2
fi

# ---------------------------------------------------------------- 6. table
cpu_model="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
[ -n "$cpu_model" ] || cpu_model="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
sockets="$(lscpu 2>/dev/null | sed -n 's/^Socket(s): *//p' | head -n 1)"
cores="$(lscpu 2>/dev/null | sed -n 's/^Core(s) per socket: *//p' | head -n 1)"
tpc="$(lscpu 2>/dev/null | sed -n 's/^Thread(s) per core: *//p' | head -n 1)"
isa=""
for f in avx2 avx512f avx512_vnni avx_vnni amx_int8; do
  if has_flag "$f"; then isa="$isa, $f yes"; else isa="$isa, $f no"; fi
done
isa="${isa#, }"
if [ -n "${GIT_COMMIT:-}" ]; then
  commit="$GIT_COMMIT"
elif git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
  commit="$(git -C "$ROOT" rev-parse --short=12 HEAD)"
  git -C "$ROOT" diff-index --quiet HEAD -- 2>/dev/null || commit="$commit (+ uncommitted changes)"
else
  commit="${GIT_COMMIT:-unknown}"
fi
{
  echo "### resnet18, x86: Octet vs ONNX Runtime"
  echo
  echo "- machine: ${cpu_model:-unknown CPU}; $(nproc) logical CPUs (${sockets:-?} socket(s) x ${cores:-?} cores x ${tpc:-?} threads)"
  echo "- ISA: $isa"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $commit"
  echo "- Octet int8: $OCTET_DESC"
  echo "- ORT int8: $ORT_DESC"
  echo "- $WARMUP warm-up + $ITERATIONS timed runs per row, random inputs; speedup = the peer's median latency / this row's"
  echo
} >"$OUT/table.md"
"$ORT_PYTHON" - "$OUT" "${BATCH_LIST[*]}" "${THREAD_LIST[*]}" >>"$OUT/table.md" <<'EOF'
import json, os, sys
out, batches, threads = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
rows = [("octet", "resnet18 int8 (Octet x86 module)"),
        ("ort_int8", "resnet18 int8 (ORT QDQ)"),
        ("ort_fp32", "resnet18 fp32")]
print("| model | engine | batch | threads | median ms | p90 ms | images/s "
      "| speedup vs ORT int8 | speedup vs ORT fp32 |")
print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
def load(e, tag):
    p = os.path.join(out, "bench_%s_%s.json" % (e, tag))
    if not os.path.isfile(p):
        return None
    with open(p) as fh:
        return json.load(fh)
for t in threads:
    for b in batches:
        tag = "b%s_t%s" % (b, t)
        res = {e: load(e, tag) for e, _ in rows}
        def speedup(r, peer):
            p = res[peer]
            if r is None or p is None:
                return "-"
            return "%.2fx" % (p["latency_ms"]["median"] / r["latency_ms"]["median"])
        for e, label in rows:
            r = res[e]
            if r is None:
                print("| %s | (failed, see logs/) | %s | %s | - | - | - | - | - |" % (label, b, t))
                continue
            lat = r["latency_ms"]
            print("| %s | %s | %s | %s | %.2f | %.2f | %.1f | %s | %s |"
                  % (label, r["engine"], r["batch"], r["threads"], lat["median"], lat["p90"],
                     r["throughput_per_s"], speedup(r, "ort_int8"), speedup(r, "ort_fp32")))
fid = os.path.join(out, "fidelity", "compare.txt")
if os.path.isfile(fid) and os.path.getsize(fid):
    print()
    print("Fidelity on the golden input (batch 2, real images):")
    print()
    print("| comparison | rel L2 | cosine | SQNR |")
    print("|---|--:|--:|--:|")
    with open(fid) as fh:
        for line in fh:
            name, _, text = line.rstrip("\n").partition("\t")
            f = text.split()
            try:
                vals = (f[f.index("rel_l2") + 1], f[f.index("cosine") + 1],
                        " ".join(f[f.index("sqnr") + 1:f.index("sqnr") + 3]))
            except (ValueError, IndexError):
                vals = (text, "", "")
            print("| %s | %s | %s | %s |" % ((name,) + vals))
EOF
echo >&2
cat "$OUT/table.md"
echo
echo "(table: $OUT/table.md; JSON and logs: $OUT)"
[ "$FAILED" = 0 ] || die "some steps failed (see above and $OUT/logs)"
