#!/usr/bin/env bash
# The regression models on an NVIDIA GPU: Octet modules compiled for cuda
# (int8-dynamic, and the other presets asked for) beside PyTorch bf16 eager
# and bf16 torch.compile (resnet18 channels-last), on the same weights and
# input, in one run on one machine; each engine's output against PyTorch
# fp32 (TF32 off). bench/torch_cuda_peer.py makes the models (seeded random
# weights) and runs PyTorch.
#
#   bench/models_cuda.sh        # RUNS="vit_b:1 vit_b:8 vit_h:8 resnet18:1 resnet18:64"
#   RUNS="vit_b:8" PRESETS="int8-dynamic bf16" bench/models_cuda.sh
#
# Environment (defaults in brackets):
#   RUNS        CONFIG:BATCH pairs, CONFIG one of tiny, vit_b, vit_l, vit_h,
#               resnet18 [vit_b:1 vit_b:8 vit_h:8 resnet18:1 resnet18:64]
#   PRESETS     Octet presets to compile with [int8-dynamic bf16 int4-weight-only]
#   OCTET       octet binary [build/tools/octet]
#   PYTHON      python with torch (CUDA) [python3]
#   OUT         output folder [build/bench/models_cuda]
#   WARMUP ITERATIONS  [3 / 10]
#   COMPILE     0: skip torch.compile [1]
#   PROFILE     1: also print each Octet module's per-op device times [0]
#   PROFILE_ROWS  ops listed by PROFILE=1 [25]
#   TUNE        1: compile with --tune (each int8 GEMM's tile measured on this GPU) [0]
#   COMPILE_FLAGS  more `octet compile` flags, e.g. "--cuda-conv im2col"; they
#               are added to the engine's name in the table []
#   CALIB       calibration samples for the presets that use them
#               (int4-weight-only: bias correction), at least BATCH; 0: none [4]
# Octet's time is the device time of the module's ops (CUDA events, input and
# output copies excluded), like PyTorch's (CUDA events around the forward on
# a device-resident input). device_mib: the device memory `octet bench` saw
# the module take (cudaMemGetInfo after its runs minus before loading:
# weights, arena, kernel libraries). Results: OUT/results.tsv and a table on
# stdout.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
B="${OCTET_BUILD_DIR:-$ROOT/build}"
OCTET="${OCTET:-$B/tools/octet}"
PYTHON="${PYTHON:-python3}"
OUT="${OUT:-$B/bench/models_cuda}"
RUNS="${RUNS:-vit_b:1 vit_b:8 vit_h:8 resnet18:1 resnet18:64}"
PRESETS="${PRESETS:-int8-dynamic bf16 int4-weight-only}"
WARMUP="${WARMUP:-3}"
ITERATIONS="${ITERATIONS:-10}"
mkdir -p "$OUT"
TSV="$OUT/results.tsv"
[ -f "$TSV" ] || printf "config\tbatch\tengine\tms_per_batch\tms_per_image\tcosine_vs_fp32\tcommit\tdevice_mib\n" >"$TSV"
COMMIT="${GIT_COMMIT:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}"
cos() {  # cosine of two .npy files
  "$PYTHON" -c 'import numpy as np,sys; a=np.load(sys.argv[1]).astype(np.float64).ravel(); b=np.load(sys.argv[2]).astype(np.float64).ravel(); print("%.6f" % (a@b/np.linalg.norm(a)/np.linalg.norm(b)))' "$1" "$2"
}
div() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a / b }'; }
jget() { "$PYTHON" -c 'import json,sys; d=json.load(open(sys.argv[1])); v=d
for k in sys.argv[2].split("."): v=v.get(k) if isinstance(v,dict) else None
print("" if v is None else v)' "$1" "$2"; }
for run in $RUNS; do
  config=${run%%:*}; batch=${run##*:}
  dir="$OUT/${config}_b${batch}"
  mkdir -p "$dir"
  echo "== $config batch $batch: PyTorch (export, fp32 reference, bf16 eager, bf16 torch.compile)" >&2
  flags=(--warmup "$WARMUP" --iterations "$ITERATIONS")
  [ "${COMPILE:-1}" = "1" ] || flags+=(--no-compile)
  calib_n=${CALIB:-4}
  if [ "$calib_n" != 0 ] && [ "$calib_n" -lt "$batch" ]; then calib_n=$batch; fi
  flags+=(--calib "$calib_n")
  "$PYTHON" "$ROOT/bench/torch_cuda_peer.py" "$config" "$batch" "$dir" "${flags[@]}" >&2
  eager=$(jget "$dir/torch.json" bf16_eager_ms)
  printf "%s\t%s\tPyTorch bf16 eager\t%.2f\t%.2f\t%s\t%s\n" "$config" "$batch" "$eager" \
    "$(div "$eager" "$batch")" "$(jget "$dir/torch.json" bf16_eager_cosine)" "$COMMIT" >>"$TSV"
  compiled=$(jget "$dir/torch.json" bf16_compiled_ms)
  if [ -n "$compiled" ]; then
    printf "%s\t%s\tPyTorch bf16 torch.compile\t%.2f\t%.2f\t%s\t%s\n" "$config" "$batch" "$compiled" \
      "$(div "$compiled" "$batch")" "$(jget "$dir/torch.json" bf16_compiled_cosine)" "$COMMIT" >>"$TSV"
  fi
  for preset in $PRESETS; do
    echo "== $config batch $batch: Octet $preset, compiled for cuda" >&2
    module="$dir/$preset.octet"
    tune=(); engine="Octet $preset"
    if [ "${TUNE:-0}" = "1" ]; then tune=(--tune); engine="$engine --tune"; fi
    read -r -a extra <<<"${COMPILE_FLAGS:-}"
    if [ ${#extra[@]} -gt 0 ]; then engine="$engine ${extra[*]}"; fi
    # Calibration data where the preset uses it (the fidelity report is
    # skipped: the cosine below is against PyTorch fp32).
    calib=()
    if [ "$preset" = "int4-weight-only" ] && [ "$calib_n" != 0 ]; then
      calib=(--calib "npy:$dir/calib" --eval-samples 0)
    fi
    if ! "$OCTET" compile "$dir/model.onnx" --preset "$preset" --target cuda "${tune[@]}" \
        "${extra[@]}" "${calib[@]}" --quiet -o "$module" >&2; then
      printf "%s\t%s\t%s\tfailed to compile\t\t\t%s\n" "$config" "$batch" "$engine" "$COMMIT" >>"$TSV"
      continue
    fi
    "$OCTET" bench "$module" --warmup "$WARMUP" --iterations "$ITERATIONS" --json "$dir/$preset.json" >&2
    if [ "${PROFILE:-0}" = "1" ]; then
      "$OCTET" bench "$module" --warmup 1 --iterations 3 --profile --profile-rows "${PROFILE_ROWS:-25}" >&2
    fi
    rm -rf "$dir/${preset}_out"
    "$OCTET" run "$module" -i "input=$dir/input.npy" -o "$dir/${preset}_out" >&2
    ms=$(jget "$dir/$preset.json" device_ms.median)
    printf "%s\t%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\n" "$config" "$batch" "$engine" "$ms" \
      "$(div "$ms" "$batch")" "$(cos "$dir/${preset}_out/output.npy" "$dir/ref_fp32.npy")" \
      "$COMMIT" "$(jget "$dir/$preset.json" device_memory_mib)" >>"$TSV"
    rm -f "$module"
  done
  rm -rf "$dir"/model.onnx* "$dir/input.npy" "$dir/calib"
done
if command -v column >/dev/null; then column -t -s $'\t' "$TSV"; else cat "$TSV"; fi
