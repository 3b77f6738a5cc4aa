// Helpers shared by the quantization kernels: integer ranges, saturation and
// typed stores of quantized values, zero-point subtraction with the broadcast
// forms the spec allows, and the layouts of per-tensor / per-axis / per-block
// quantization parameters.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "octet/reference/kernel.h"

namespace octet::reference {

// [lo, hi] of an integer quantized type (u8, i8, u16, i16, u4, i4, i32, u32).
// Fails, naming the node, for any other dtype.
Status QuantRange(const KernelContext& ctx, DType t, double* lo, double* hi);

// Clamps an integral-valued double to [lo, hi]. NaN has no integer value; it
// becomes 0, which is what the ONNX reference's float-to-int cast gives on x86.
inline double Saturate(double v, double lo, double hi) {
  if (std::isnan(v)) return 0.0;
  return v < lo ? lo : (v > hi ? hi : v);
}

// Calls fn(store) where store(i, v) writes the already-saturated integral value
// v to element i of `y`. The store is typed for 8/16/32-bit outputs; 4-bit
// outputs share bytes between neighbours, so callers must not write them from
// several threads (see IsPacked).
template <typename Fn>
void WithQuantStore(Tensor& y, Fn&& fn) {
  switch (y.dtype()) {
    case DType::kU8:
      fn([p = y.data<uint8_t>()](int64_t i, double v) { p[i] = static_cast<uint8_t>(v); });
      return;
    case DType::kI8:
      fn([p = y.data<int8_t>()](int64_t i, double v) { p[i] = static_cast<int8_t>(v); });
      return;
    case DType::kU16:
      fn([p = y.data<uint16_t>()](int64_t i, double v) { p[i] = static_cast<uint16_t>(v); });
      return;
    case DType::kI16:
      fn([p = y.data<int16_t>()](int64_t i, double v) { p[i] = static_cast<int16_t>(v); });
      return;
    case DType::kI32:
      fn([p = y.data<int32_t>()](int64_t i, double v) { p[i] = static_cast<int32_t>(v); });
      return;
    case DType::kU32:
      fn([p = y.data<uint32_t>()](int64_t i, double v) { p[i] = static_cast<uint32_t>(v); });
      return;
    default:
      fn([&y](int64_t i, double v) { y.SetFromDouble(i, v); });
      return;
  }
}

inline bool IsPacked(DType t) { return t == DType::kI4 || t == DType::kU4; }

// x - zero_point as doubles (exact for every integer type used here). The zero
// point may be absent, a scalar (or any one-element tensor), or broadcast
// against x; with `per_row_vector` a 1-D zero point of length M applies per
// row of an [..., M, K] x (MatMulInteger's a_zero_point) instead of per column.
// `what` names x in errors ("A", "x", ...).
Expected<std::vector<double>> SubtractZeroPoint(const KernelContext& ctx, const Tensor& x,
                                                const Tensor* zero_point, bool per_row_vector,
                                                const char* what);

// Where each element's scale and zero point live: for element
// (outer o, axis index a, inner i) the parameter index is
// o * outer_stride + (a / block) * axis_stride + i * inner_stride.
// Per-tensor: one parameter; per-axis: one per index of `axis`; per-block: one
// per `block` consecutive indices of `axis` (opset 21 block_size).
struct QuantLayout {
  int64_t outer = 1, axis_dim = 1, inner = 1;
  int64_t outer_stride = 0, axis_stride = 0, inner_stride = 0;
  int64_t block = 1;
};

// Validates scale (and zero point, when present, which must have the same shape)
// against x for the node's axis / block_size attributes.
Expected<QuantLayout> ResolveQuantLayout(const KernelContext& ctx, const Tensor& x,
                                         const Tensor& scale, const Tensor* zero_point);

// Calls fn(begin_row, end_row) over rows of `inner` elements, in parallel unless
// `serial`; row r is (o = r / axis_dim, a = r % axis_dim).
void ForEachQuantRow(const QuantLayout& q, int threads, bool serial,
                     const std::function<void(int64_t, int64_t)>& fn);

}  // namespace octet::reference
