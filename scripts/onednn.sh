#!/usr/bin/env bash
# Installs oneDNN v3 (headers, CMake config, libdnnl.so) for the x86 backend
# into ${OCTET_DEPS:-<repo>/.deps}/onednn, from two pinned, hash-checked PyPI
# wheels. Idempotent: a stamp (version + wheel hashes) makes a second run a
# no-op; --force reinstalls. Progress goes to stderr; stdout carries only the
# --print-dir answer, so setup.sh can capture it.
#
# Why these wheels (docs/x86-backend.md has the details): `onednn-cpu-gomp` +
# `onednn-devel-cpu-gomp` 2023.2.0 are oneDNN 3.2.0 built for the CPU only with
# GNU OpenMP: one 52 MiB libdnnl.so whose only non-libc dependency is libgomp.
# The newer `onednn`/`onednn-devel` wheels are the SYCL (DPC++) build: no CMake
# config, a CPU engine that needs a SYCL CPU device, and ~1 GiB of Intel
# runtimes (libsycl, TBB, OpenCL) beside it.
#
# Usage: scripts/onednn.sh [--force] [--print-dir]
#   --print-dir   print the CMake hint (dnnl_DIR) after installing
# Layout: .deps/onednn/{include,lib/cmake/dnnl,lib/libdnnl.so*}. To run Octet's
# binaries on another machine copy lib/ (cp -a keeps the symlinks); binaries
# find it through their RPATH (see CMakeLists.txt).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${OCTET_DEPS:-$ROOT/.deps}/onednn"
VERSION=2023.2.0  # PyPI version; oneDNN 3.2.0
# sha256 of the manylinux1_x86_64 wheels (pip --require-hashes checks them).
HASH_LIB=2f22a54d6a890ed14bfa185d42a4be65d8b5b1df85dc1f0f3a9abe31620416fb
HASH_DEVEL=9763c69e8c907e119056bd52ad918ca84ac9ba939d130a99dfa95ccca3e5e284
STAMP="$PREFIX/.octet-onednn-stamp"
FORCE=0 PRINT_DIR=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    --print-dir) PRINT_DIR=1 ;;
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "scripts/onednn.sh: unknown argument '$a'" >&2; exit 2 ;;
  esac
done
die() { echo "scripts/onednn.sh: $*" >&2; exit 1; }

want="onednn-cpu-gomp $VERSION $HASH_LIB $HASH_DEVEL"
done_msg() {
  [ "$PRINT_DIR" = 1 ] && echo "$PREFIX/lib/cmake/dnnl"
  return 0
}
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] &&
   [ -f "$PREFIX/lib/cmake/dnnl/dnnl-config.cmake" ] && [ -e "$PREFIX/lib/libdnnl.so.3" ]; then
  echo "== oneDNN in $PREFIX is up to date" >&2
  done_msg
  exit 0
fi

# Any pip will do for a download (it installs nothing): the venv's, else Debian's.
PIP=()
for py in "${OCTET_VENV:-$ROOT/.venv}/bin/python" /usr/bin/python3 python3; do
  if "$py" -m pip --version >/dev/null 2>&1; then PIP=("$py" -m pip); break; fi
done
[ ${#PIP[@]} -gt 0 ] || die "no pip found: apt-get install python3-pip"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/req.txt" <<EOF
onednn-cpu-gomp==$VERSION --hash=sha256:$HASH_LIB
onednn-devel-cpu-gomp==$VERSION --hash=sha256:$HASH_DEVEL
EOF
echo "== downloading oneDNN (PyPI onednn-cpu-gomp $VERSION, ~40 MB)" >&2
"${PIP[@]}" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
  --platform manylinux1_x86_64 --python-version 3.11 --require-hashes -r "$tmp/req.txt" \
  -d "$tmp/wheels" >&2 ||
  die "pip could not download onednn-cpu-gomp==$VERSION. Is PyPI reachable (proxy,
  PIP_INDEX_URL)? Then run scripts/onednn.sh again. Without oneDNN the x86
  backend is not built."

# A wheel is a zip; its *.data/data/ folder is an install prefix. Extract into
# a fresh folder and swap it in, so an interrupted run leaves no half install.
new="$PREFIX.new"
rm -rf "$new"
"${PIP[0]}" - "$tmp/wheels" "$new" <<'EOF'
import pathlib, sys, zipfile
wheels, dest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for whl in sorted(wheels.glob("*.whl")):
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            parts = pathlib.PurePosixPath(info.filename).parts
            if len(parts) > 2 and parts[0].endswith(".data") and parts[1] == "data":
                out = dest.joinpath(*parts[2:])
                if info.is_dir():
                    continue
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(z.read(info))
EOF
# The wheel holds libdnnl.so, .so.3 and .so.3.2 as three full copies (zip has
# no symlinks): keep one file and link the other two names to it.
lib="$new/lib"
real="$(cd "$lib" && ls libdnnl.so.3.* | head -1)"
[ -n "$real" ] || die "libdnnl.so.3.* missing from the wheel"
ln -sf "$real" "$lib/libdnnl.so.3"
ln -sf "libdnnl.so.3" "$lib/libdnnl.so"
[ -f "$new/lib/cmake/dnnl/dnnl-config.cmake" ] || die "dnnl-config.cmake missing from the wheel"
rm -rf "$PREFIX"
mv "$new" "$PREFIX"
echo "$want" > "$STAMP"
echo "== oneDNN $(sed -n 's/^#define DNNL_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' \
  "$PREFIX/include/oneapi/dnnl/dnnl_version.h" | paste -sd.) installed in $PREFIX" >&2
done_msg
