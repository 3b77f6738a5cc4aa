#!/usr/bin/env bash
# Runs `octet` ($OCTET_BIN) as given; around `octet bench` it samples the
# GPU's used memory with nvidia-smi every 50 ms and appends
# "<module> peak_mib <max>" to $PEAK_LOG (CUDA context included, whole GPU:
# run nothing else on it). Works with any octet binary, so two builds compare
# in one run:
#   OCTET=bench/octet_peak_memory.sh OCTET_BIN=build/tools/octet PEAK_LOG=peak.txt \
#     RUNS=vit_h:1 PRESETS="int4-weight-only bf16" COMPILE=0 bench/models_cuda.sh
set -uo pipefail
bin="${OCTET_BIN:?OCTET_BIN: the octet binary to run}"
log="${PEAK_LOG:?PEAK_LOG: where to append the peaks}"
if [ "${1:-}" != bench ]; then exec "$bin" "$@"; fi
samples=$(mktemp)
nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 50 >"$samples" &
sampler=$!
"$bin" "$@"
rc=$?
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
echo "${2:-?} peak_mib $(sort -n "$samples" | tail -1)" >>"$log"
rm -f "$samples"
exit $rc
