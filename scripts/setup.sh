#!/usr/bin/env bash
# Installs everything Octet needs on Debian 12 (apt packages, then the Python
# venv of scripts/venv.sh) and configures + builds it.
# Usage: scripts/setup.sh [BUILD_DIR]   (env: OCTET_SANITIZE=1 for ASan+UBSan)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-build}

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libprotobuf-dev protobuf-compiler libonnx-dev libcli11-dev libgtest-dev
  libonnx-testdata libstb-dev zlib1g-dev clang libclang-rt-14-dev nlohmann-json3-dev
  python3-torch python3-torchvision python3-onnx python3-numpy python3-venv python3-pip
  python3-skimage dataset-fashion-mnist libopenblas0-pthread time
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "== installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Python packages Debian does not have (ONNX Runtime, the peer the tests compare
# with) go into a virtual environment: ${OCTET_VENV:-.venv}. Without it the
# ORT peer tests skip, except in CI (OCTET_REQUIRE_ORT=1), so CI stops here.
if ! scripts/venv.sh; then
  [ "${CI:-}" = "true" ] && exit 1
  echo "== warning: no onnxruntime venv; the ONNX Runtime peer tests will be skipped" >&2
fi

# oneDNN v3 for the x86 backend (PyPI wheels into ${OCTET_DEPS:-.deps}/onednn;
# see scripts/onednn.sh). Required here: without it the x86 backend would
# silently not be built.
DNNL_DIR="$(scripts/onednn.sh --print-dir)"

# Share ccache entries between clones at different paths (CI uses fresh clones).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

CMAKE_ARGS=(-G Ninja -DCMAKE_BUILD_TYPE=Release -Ddnnl_DIR="$DNNL_DIR" -DOCTET_REQUIRE_ONEDNN=ON)
[ "${CI:-}" = "true" ] && CMAKE_ARGS+=(-DOCTET_WERROR=ON)
[ "${OCTET_SANITIZE:-0}" = "1" ] && CMAKE_ARGS+=(-DOCTET_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
cmake -S . -B "$BUILD_DIR" "${CMAKE_ARGS[@]}" >/dev/null
echo "== building in $BUILD_DIR ($(nproc) cores)"
cmake --build "$BUILD_DIR" -j "$(nproc)"
