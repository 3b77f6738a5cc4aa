// The one matrix-multiply routine behind every reference kernel that multiplies
// matrices: MatMul, Gemm, Einsum, Conv, ConvTranspose and the integer/quantized
// variants. Keeping a single routine means one place to make fast and one place
// to get right.
//
// It is a blocked GEMM in the style of Goto/BLIS: the operands are copied into
// small contiguous panels sized for the caches, and a register-tiled micro-kernel
// multiplies panels with a vectorisable inner loop. On x86 CPUs with AVX and FMA
// the float/double micro-kernels use them (chosen at run time, so the binary still
// runs on older CPUs); everything else is portable C++ that the compiler
// vectorises.
//
// Integer products use unsigned arithmetic so that overflow wraps (two's
// complement) instead of being undefined: int32 callers pass uint32_t data, the
// bit patterns of the results are the same.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace octet::reference {

// A read-only strided matrix: element (r, c) is data[r * row_stride + c * col_stride].
// A transposed operand is the same data with the strides swapped.
template <typename T>
struct MatrixView {
  const T* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
};

template <typename T>
MatrixView<T> RowMajorView(const T* data, int64_t ld) {
  return {data, ld, 1};
}
template <typename T>
MatrixView<T> TransposedView(const T* data, int64_t ld) {
  return {data, 1, ld};
}

// Rows of A per cache block. A GemmBlockFn is called once per block of this
// many rows (and per KC x NC block of B), so callers whose B is expensive to
// generate may prefer to materialise it when m exceeds this.
inline constexpr int64_t kGemmRowBlock = 96;

// Writes rows [k0, k0 + kc) and columns [n0, n0 + nc) of a virtual K x N matrix
// into `dst` (row-major, leading dimension nc). Convolution uses this to produce
// im2col blocks on demand instead of materialising the whole column matrix. Must
// be safe to call from several threads at once.
template <typename T>
using GemmBlockFn = std::function<void(int64_t k0, int64_t kc, int64_t n0, int64_t nc, T* dst)>;

// C (m x n, row-major with leading dimension ldc) = alpha * A (m x k) * B (k x n),
// plus the old C when `accumulate` is set.
template <typename T>
struct GemmProblem {
  int64_t m = 0;
  int64_t n = 0;
  int64_t k = 0;
  MatrixView<T> a;
  MatrixView<T> b;                          // ignored when b_block is set
  const GemmBlockFn<T>* b_block = nullptr;  // not owned; outlives the call
  T* c = nullptr;
  int64_t ldc = 0;
  T alpha = T(1);
  bool accumulate = false;
};

// Runs independent problems (a batch, the groups of a convolution, ...) with all
// their tiles shared out over `num_threads` threads. Outputs must not overlap.
// Instantiated for float, double, uint32_t and uint64_t.
template <typename T>
void RunGemms(const std::vector<GemmProblem<T>>& problems, int num_threads);

template <typename T>
void RunGemm(const GemmProblem<T>& problem, int num_threads) {
  RunGemms<T>(std::vector<GemmProblem<T>>{problem}, num_threads);
}

}  // namespace octet::reference
