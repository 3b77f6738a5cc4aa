// Internal helpers for the element-wise, reduction and normalisation kernels:
// a broadcasting walker that visits an output in contiguous runs, half-float
// widening, wrap-around integer arithmetic and the float -> integer conversion
// that every kernel shares.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernel_util.h"

namespace octet::reference {

// Registration hooks of the files that split the element-wise kernels up;
// RegisterElementwiseKernels calls them.
void RegisterUnaryKernels(KernelRegistry& r);
void RegisterCastKernels(KernelRegistry& r);

// Visits an output of shape `out` together with N inputs broadcast to it. The
// shapes are first collapsed (size-1 dims dropped, dims that are contiguous in
// every operand merged), so the innermost loop usually runs over long
// stretches. Each run is reported as fn(out_offset, in_offsets, in_steps,
// length): element k of the run is out[out_offset + k] and, for input i,
// in_i[in_offsets[i] + k * in_steps[i]] (a step is 0 where input i is
// broadcast along the run, otherwise 1).
class BroadcastWalker {
 public:
  // Every input shape must broadcast to `out` (callers check with
  // BroadcastShapes first).
  BroadcastWalker(const std::vector<std::vector<int64_t>>& in_shapes,
                  const std::vector<int64_t>& out);

  int64_t numel() const { return numel_; }

  // Visits the flat output range [begin, end).
  template <typename Fn>
  void Walk(int64_t begin, int64_t end, Fn&& fn) const;

 private:
  int num_inputs_ = 0;
  int64_t numel_ = 0;
  std::vector<int64_t> dims_;     // collapsed output dims, at least one
  std::vector<int64_t> strides_;  // strides_[i * rank + d]: input i along dim d
};

// Calls fn(T{}) with T the C++ type of `dtype` for f32, f64 and the 8- to
// 64-bit integers: the types arithmetic is done in (bool, half floats, 4-bit
// and fp8 types need a conversion first). Returns false for other dtypes.
template <typename Fn>
bool DispatchArithmetic(DType dtype, Fn&& fn) {
  return dtype != DType::kBool && DispatchNumeric(dtype, std::forward<Fn>(fn));
}

// True for the dtypes ONNX calls "numeric" and Octet computes on: f16, bf16,
// f32, f64 and the 8- to 64-bit integers (not bool, 4-bit or fp8).
inline bool IsArithmeticDType(DType t) {
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64 ||
         (IsInteger(t) && DTypeBits(t) >= 8);
}
inline bool IsFloatDType(DType t) {  // the float types with kernels (no fp8)
  return t == DType::kF16 || t == DType::kBF16 || t == DType::kF32 || t == DType::kF64;
}

// Input i, or an error naming the node when the (required) input is absent.
Expected<const Tensor*> RequireInput(const KernelContext& ctx, int i, const char* name);

// Numpy broadcast of two shapes; the error names the node and both shapes.
Expected<std::vector<int64_t>> BroadcastOrFail(const KernelContext& ctx,
                                               const std::vector<int64_t>& a,
                                               const std::vector<int64_t>& b);

// Fails unless `t` has a dtype accepted by `ok`; the message names the input
// and lists `allowed` ("f16, bf16, f32 or f64").
Status CheckDType(const KernelContext& ctx, const Tensor& t, const char* name, bool ok,
                  const char* allowed);

// Elementwise work is split over threads only above this many elements: each
// ParallelFor call starts fresh threads, which costs tens of microseconds.
inline constexpr int64_t kParallelGrain = int64_t{1} << 16;

// Runs fn(begin, end) over [0, n), on several threads when n is large.
template <typename Fn>
void ForRange(int64_t n, int num_threads, const Fn& fn) {
  if (n < kParallelGrain || num_threads <= 1) {
    if (n > 0) fn(int64_t{0}, n);
    return;
  }
  const int threads = static_cast<int>(std::min<int64_t>(num_threads, n / (kParallelGrain / 4)));
  ParallelFor(n, std::max(threads, 1), fn);
}

// f16 and bf16 are computed in f32 (exact widening) and rounded back once, as
// numpy does for its float16 ufuncs.
inline bool IsHalfLike(DType t) { return t == DType::kF16 || t == DType::kBF16; }
// A f32 copy of an f16/bf16 tensor; other tensors are returned unchanged.
Tensor WidenHalf(const Tensor& t);
// Rounds an f32 tensor to f16/bf16 (round to nearest even); returns `t`
// unchanged when `to` is not half-like.
Tensor NarrowHalf(const Tensor& t, DType to);

// "[2,3]": a shape for error messages.
std::string DimsForMessage(const std::vector<int64_t>& dims);

// Integer arithmetic that wraps modulo 2^bits like the hardware does, without
// the undefined behaviour of signed overflow (and of uint16 * uint16, which C++
// promotes to a possibly overflowing int).
template <typename T>
T WrapAdd(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
T WrapSub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T>
T WrapMul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T>
T WrapNeg(T a) {
  return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
}

// Float to integer conversion: truncates toward zero like a C cast, but where
// C leaves the result undefined it is defined here: values beyond the target's
// range saturate to its min/max and NaN becomes 0.
template <typename T>
T FloatToInt(double v) {
  static_assert(std::is_integral_v<T>);
  if (std::isnan(v)) return T{0};
  v = std::trunc(v);
  constexpr double kMin = static_cast<double>(std::numeric_limits<T>::min());
  // max+1 is a power of two and exact in double; max itself may not be.
  constexpr double kMaxPlusOne = static_cast<double>(std::numeric_limits<T>::max() / 2 + 1) * 2.0;
  if (v <= kMin) return std::numeric_limits<T>::min();
  if (v >= kMaxPlusOne) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// Converts a computed double to element type T: rounding for float types, the
// saturating truncation above for integers.
template <typename T>
T FromDouble(double v) {
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<T>(v);
  } else {
    return FloatToInt<T>(v);
  }
}

// Rounds to the nearest integer, ties to even (ONNX Round, and the rounding
// of every narrowing conversion). Explicit rather than std::nearbyint, whose
// result depends on the thread's floating-point rounding mode.
inline double RoundHalfToEven(double v) {
  const double r = std::round(v);  // ties away from zero
  if (std::fabs(v - std::trunc(v)) != 0.5) return r;
  return 2.0 * std::round(v / 2.0);  // v/2 is exact; picks the even neighbour
}

// ---------------------------------------------------------------------------

template <typename Fn>
void BroadcastWalker::Walk(int64_t begin, int64_t end, Fn&& fn) const {
  if (begin >= end) return;
  const int rank = static_cast<int>(dims_.size());
  const int n = num_inputs_;
  const int64_t inner = dims_[rank - 1];
  // Odometer over the outer dims, positioned at the row that holds `begin`.
  std::vector<int64_t> idx(rank, 0), base(n, 0), off(n), step(n);
  int64_t row = begin / inner;
  int64_t col = begin % inner;
  for (int d = rank - 2; d >= 0; --d) {
    idx[d] = row % dims_[d];
    row /= dims_[d];
    for (int i = 0; i < n; ++i) base[i] += idx[d] * strides_[i * rank + d];
  }
  for (int i = 0; i < n; ++i) step[i] = strides_[i * rank + rank - 1];
  int64_t pos = begin;
  while (pos < end) {
    const int64_t len = std::min(inner - col, end - pos);
    for (int i = 0; i < n; ++i) off[i] = base[i] + col * step[i];
    fn(pos, off.data(), step.data(), len);
    pos += len;
    col = 0;
    for (int d = rank - 2; d >= 0; --d) {
      for (int i = 0; i < n; ++i) base[i] += strides_[i * rank + d];
      if (++idx[d] < dims_[d]) break;
      for (int i = 0; i < n; ++i) base[i] -= strides_[i * rank + d] * dims_[d];
      idx[d] = 0;
    }
  }
}

}  // namespace octet::reference
