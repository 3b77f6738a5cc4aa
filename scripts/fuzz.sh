#!/usr/bin/env bash
# Builds the fuzzers with clang (libFuzzer + ASan + UBSan) and runs each for a
# bounded time: the ONNX importer (seeded with small ONNX models) and the
# compiled-module loader (seeded with modules the fuzzer writes itself).
# Usage: scripts/fuzz.sh [SECONDS]   (default 60, per fuzzer)
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
BUILD_DIR=${OCTET_FUZZ_BUILD_DIR:-build-fuzz}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DOCTET_FUZZ=ON -DOCTET_BUILD_TESTS=OFF >/dev/null
cmake --build "$BUILD_DIR" --target octet_onnx_fuzzer octet_module_fuzzer -j "$(nproc)"

CORPUS="$BUILD_DIR/fuzz-corpus"
mkdir -p "$CORPUS"
# Seeds: the small models of the ONNX node tests (one per op family).
for d in /usr/share/libonnx-testdata/data/node/test_{conv_with_strides_padding,matmul_2d,gemm_default_matrix_bias,reshape_reduced_dims,split_equal_parts_1d,slice,gather_0,softmax_axis_1,layer_normalization_2d_axis0,quantizelinear,cast_FLOAT_to_FLOAT16,constant,concat_2d_axis_0,batchnorm_example}; do
  [ -f "$d/model.onnx" ] && cp "$d/model.onnx" "$CORPUS/$(basename "$d").onnx"
done
echo "== fuzzing the ONNX importer for ${SECONDS_TO_RUN}s"
"$BUILD_DIR/octet_onnx_fuzzer" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=4096 \
  -timeout=10 -print_final_stats=1 2>&1 | tail -n 15

MODULE_CORPUS="$BUILD_DIR/module-fuzz-corpus"
mkdir -p "$MODULE_CORPUS"
# The fuzzer writes three valid seed modules into this folder when asked.
OCTET_MODULE_FUZZ_SEEDS="$MODULE_CORPUS" "$BUILD_DIR/octet_module_fuzzer" -runs=0 \
  "$MODULE_CORPUS" >/dev/null 2>&1 || true
echo "== fuzzing the module loader for ${SECONDS_TO_RUN}s"
"$BUILD_DIR/octet_module_fuzzer" "$MODULE_CORPUS" -max_total_time="$SECONDS_TO_RUN" \
  -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 2>&1 | tail -n 15
