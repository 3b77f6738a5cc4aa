#!/usr/bin/env bash
# Installs a build of Octet into a temporary prefix, builds examples/embed
# against it with find_package(Octet), compiles a small ONNX model to .octet
# with the build's `octet` CLI and checks that the example runs it.
#
#   tests/install/check_install.sh <build dir> [dnnl_DIR]
#
# Exit 77 (ctest: skipped) when a prerequisite is missing: python3 with onnx
# ($OCTET_PYTHON, python3 or /usr/bin/python3).
set -euo pipefail

build=$(cd "${1:?usage: check_install.sh <build dir> [dnnl_DIR]}" && pwd)
dnnl_dir=${2:-}
src=$(cd "$(dirname "$0")/../.." && pwd)

python=""
for p in "${OCTET_PYTHON:-}" python3 /usr/bin/python3; do
  if [[ -n "$p" ]] && "$p" -c 'import onnx, numpy' 2>/dev/null; then python=$p; break; fi
done
if [[ -z "$python" ]]; then
  echo "SKIP: a python3 with the onnx package is needed to write the test model" >&2
  exit 77
fi
if [[ ! -x "$build/tools/octet" ]]; then
  echo "FAIL: $build/tools/octet not built" >&2
  exit 1
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" ||
  { cat "$tmp/install.log"; exit 1; }
test -f "$tmp/prefix/lib/cmake/Octet/OctetConfig.cmake"
test -f "$tmp/prefix/include/octet/runtime/module.h"

# The example as a user builds it: only the installed prefix (and oneDNN,
# when the x86 backend is part of the install), never the source tree.
config_args=(-DCMAKE_PREFIX_PATH="$tmp/prefix" -DCMAKE_BUILD_TYPE=Release)
[[ -n "$dnnl_dir" ]] && config_args+=(-Ddnnl_DIR="$dnnl_dir")
command -v ccache >/dev/null && config_args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
command -v ninja >/dev/null && config_args+=(-G Ninja)
cp -r "$src/examples/embed" "$tmp/embed"
cmake -S "$tmp/embed" -B "$tmp/embed-build" "${config_args[@]}" >"$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/embed-build" -j2 >"$tmp/build.log" || { cat "$tmp/build.log"; exit 1; }

# Conv(3->4, 3x3, pad 1) + Relu on an [N,3,8,8] input.
"$python" - "$tmp/model.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32), "w")
graph = helper.make_graph(
    [helper.make_node("Conv", ["input", "w"], ["conv"], pads=[1, 1, 1, 1]),
     helper.make_node("Relu", ["conv"], ["output"])],
    "embed_check",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8])],
    [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["N", 4, 8, 8])],
    [w])
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), sys.argv[1])
PY
"$build/tools/octet" compile "$tmp/model.onnx" --target reference -o "$tmp/model.octet" >/dev/null

out=$("$tmp/embed-build/embed_example" "$tmp/model.octet")
echo "$out"
if [[ "$out" != "output f32[1,4,8,8]" ]]; then
  echo "FAIL: expected 'output f32[1,4,8,8]'" >&2
  exit 1
fi
echo "OK: installed Octet, built examples/embed against it and ran a module"
