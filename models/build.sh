#!/usr/bin/env bash
# Build Octet's model zoo (ONNX models + inputs + golden outputs).
#
#   models/build.sh [--force] NAME [NAME...]
#
# NAME: calib           calibration/eval PNGs   -> $B/data/{calib,eval}_images/ (72 / 28)
#       calib300        larger sets, 512 px max -> $B/data/{calib300,eval100}_images/ (324 / 105)
#       resnet18        resnet18, resnet18_bnfolded AND resnet18_dynbatch
#       resnet18_bnfolded   (same job as resnet18)
#       resnet18_dynbatch   (same job; symbolic batch dim, for bench/)
#       sam_tiny sam_tiny32 sam_vit_b sam_vit_l sam_vit_h
#       fashion_resnet
#       all-ci          calib calib300 resnet18 resnet18_dynbatch sam_tiny sam_tiny32 fashion_resnet
#       all             all-ci + sam_vit_b sam_vit_l sam_vit_h (large!)
#       describe-sam    print params/FLOPs of every SAM config (no export)
#
# B = ${OCTET_BUILD_DIR:-<repo>/build} (a relative OCTET_BUILD_DIR is taken
# relative to the current directory).  Outputs go to $B/models/<name>/ and are
# skipped when they exist and a stamp (sha256 of the generating .py files and
# the torch/onnx versions) matches; --force rebuilds.
#
# Environment: OCTET_PYTHON (default /usr/bin/python3, Debian's python with
# python3-torch, python3-torchvision, python3-onnx, python3-skimage; Fashion-
# MNIST from dataset-fashion-mnist), OCTET_TORCH_THREADS (default 2),
# OCTET_REF_CHECK=1 (also run the slow numpy ONNX check for sam_vit_*).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${OCTET_PYTHON:-/usr/bin/python3}"
if [ -n "${OCTET_BUILD_DIR:-}" ]; then
  case "$OCTET_BUILD_DIR" in
    /*) ;;
    *) OCTET_BUILD_DIR="$(pwd)/$OCTET_BUILD_DIR" ;;
  esac
  export OCTET_BUILD_DIR
fi

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }

if [ $# -eq 0 ]; then usage; exit 2; fi

if ! "$PY" -c 'import torch, torchvision, onnx, numpy, PIL' 2>/dev/null; then
  echo "models/build.sh: $PY lacks torch/torchvision/onnx/numpy/PIL." >&2
  echo "  apt-get install -y python3-torch python3-torchvision python3-onnx python3-numpy python3-pil python3-skimage dataset-fashion-mnist" >&2
  exit 1
fi

# Linear/MatMul in torch (and numpy) go through the system BLAS. Debian's
# default is the netlib *reference* BLAS (~1 GFLOP/s): sam_vit_b then takes
# ~45 min instead of ~2.  `apt-get install libopenblas0-pthread` switches the
# libblas.so.3 alternative to OpenBLAS.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-${OCTET_TORCH_THREADS:-2}}"
case "$(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3 2>/dev/null)" in
  */blas/libblas.so.3*)
    echo "models/build.sh: warning: libblas.so.3 is the reference BLAS; 'apt-get install libopenblas0-pthread' makes the SAM builds ~30x faster" >&2 ;;
esac

FORCE=""
NAMES=()
for a in "$@"; do
  case "$a" in
    --force) FORCE="--force" ;;
    -h|--help) usage; exit 0 ;;
    all-ci) NAMES+=(calib calib300 resnet18 resnet18_dynbatch sam_tiny sam_tiny32 fashion_resnet) ;;
    all) NAMES+=(calib calib300 resnet18 resnet18_dynbatch sam_tiny sam_tiny32 fashion_resnet sam_vit_b sam_vit_l sam_vit_h) ;;
    *) NAMES+=("$a") ;;
  esac
done

run() { echo "+ $*" >&2; nice -n 10 "$PY" "$@"; }

declare -A DONE=()
for n in "${NAMES[@]}"; do
  [ -n "${DONE[$n]:-}" ] && continue
  DONE[$n]=1
  t0=$(date +%s)
  case "$n" in
    calib) run "$HERE/calib_images.py" generate $FORCE ;;
    calib300) run "$HERE/calib300_images.py" generate $FORCE ;;
    resnet18|resnet18_bnfolded|resnet18_dynbatch)
      [ -n "${DONE[resnet18_job]:-}" ] && continue
      DONE[resnet18_job]=1
      run "$HERE/resnet18.py" $FORCE ;;
    sam_tiny|sam_tiny32|sam_vit_b|sam_vit_l|sam_vit_h) run "$HERE/sam.py" "$n" $FORCE ;;
    fashion_resnet) run "$HERE/fashion_resnet.py" $FORCE ;;
    describe-sam) run "$HERE/sam.py" --describe sam_tiny sam_vit_b sam_vit_l sam_vit_h ;;
    *) echo "models/build.sh: unknown model '$n'" >&2; usage >&2; exit 2 ;;
  esac
  echo "models/build.sh: $n done in $(( $(date +%s) - t0 ))s" >&2
done
