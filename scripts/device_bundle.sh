#!/usr/bin/env bash
# Packs binaries built here, with the shared libraries the GPU machine's image
# lacks (oneDNN, ONNX, protobuf, stb: whatever ldd resolves outside the system
# and CUDA directories), into DIR/bundle.tar.xz, for the device tool's `carry`.
# On the device:
#   mkdir -p /tmp/o && tar xJf DIR/bundle.tar.xz -C /tmp/o &&
#   export LD_LIBRARY_PATH=/tmp/o/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib
# and, for binaries built with cuDNN (not packed: the toolkit folder's 500 MB),
# the machine's PyTorch copy of it, e.g.
#   $(python3 -c 'import nvidia.cudnn; print(list(nvidia.cudnn.__path__)[0])')/lib
# Usage: scripts/device_bundle.sh DIR BINARY...
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR BINARY..." >&2; exit 2; }
out=$1; shift
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/lib" "$out"
for bin in "$@"; do
  [ -x "$bin" ] || { echo "$0: $bin is not an executable" >&2; exit 1; }
  cp "$bin" "$stage/"
  # Outside the system and CUDA directories, and the Debian libraries the
  # Ubuntu image lacks (ONNX, protobuf 3.21, stb).
  ldd "$bin" | awk '$3 ~ /^\// {print $1, $3}' | while read -r name lib; do
    case "$lib" in
      /usr/local/cuda*) ;;
      /lib/*|/usr/lib/*)
        case "$name" in libonnx*|libprotobuf*|libstb*) cp -L "$lib" "$stage/lib/" ;; esac ;;
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
done
tar cJf "$out/bundle.tar.xz" -C "$stage" .
du -h "$out/bundle.tar.xz"
