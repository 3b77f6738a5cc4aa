#!/usr/bin/env bash
# Packs binaries built here, with the shared libraries the GPU machine's image
# lacks (oneDNN, ONNX, protobuf, stb: whatever ldd resolves outside the system
# and CUDA directories), into DIR/bundle.tar.xz, for the device tool's `carry`.
# On the device:
#   mkdir -p /tmp/o && tar xJf DIR/bundle.tar.xz -C /tmp/o &&
#   export LD_LIBRARY_PATH=/tmp/o/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib
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
  ldd "$bin" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    case "$lib" in
      /lib/*|/usr/lib/*|/usr/local/cuda*) ;;  # on the device image already
      *) cp -L "$lib" "$stage/lib/" ;;
    esac
  done
done
for lib in /usr/lib/x86_64-linux-gnu/libonnx*.so.* /usr/lib/x86_64-linux-gnu/libprotobuf.so.32 \
  /usr/lib/x86_64-linux-gnu/libstb.so.0; do
  # Debian libraries the Ubuntu image lacks (linked by the octet CLI).
  if [ -e "$lib" ] && ldd "$@" 2>/dev/null | grep -q "$(basename "$lib")"; then cp -L "$lib" "$stage/lib/"; fi
done
tar cJf "$out/bundle.tar.xz" -C "$stage" .
du -h "$out/bundle.tar.xz"
