// Element-type conversions between tensors and the plain arrays the reference
// kernels compute on. Kernels that accept f16/bf16 compute in float; integer
// kernels that need exact sums of 8-bit products compute in double (exact up to
// 2^53) because the double GEMM is several times faster than an int32 one on
// CPUs without 256-bit integer vectors.
#pragma once

#include <cstdint>
#include <vector>

#include "kernel_util.h"
#include "octet/tensor.h"

namespace octet::reference {

// Every element of `t` converted to T (f16/bf16 decoded, 4-bit unpacked).
template <typename T>
std::vector<T> ReadAs(const Tensor& t) {
  std::vector<T> out(t.numel());
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(HalfToFloat(t.data<uint16_t>()[i]));
      return out;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        out[i] = static_cast<T>(BFloat16ToFloat(t.data<uint16_t>()[i]));
      return out;
    default:
      break;
  }
  const bool handled = DispatchNumeric(t.dtype(), [&](auto tag) {
    using S = decltype(tag);
    const S* src = t.data<S>();
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(src[i]);
  });
  if (!handled)
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.GetAsDouble(i));
  return out;
}

// Stores `src` (t.numel() values) into `t`, converting to t's dtype. Integer
// targets take integer sources modulo 2^bits (wrapping), as ONNX's int32
// accumulators do; float sources must already be in range.
template <typename T>
void WriteFrom(const T* src, Tensor& t) {
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i)
        t.data<uint16_t>()[i] = FloatToHalf(static_cast<float>(src[i]));
      return;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i)
        t.data<uint16_t>()[i] = FloatToBFloat16(static_cast<float>(src[i]));
      return;
    default:
      break;
  }
  const bool handled = DispatchNumeric(t.dtype(), [&](auto tag) {
    using D = decltype(tag);
    D* dst = t.data<D>();
    for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<D>(src[i]);
  });
  if (!handled)
    for (int64_t i = 0; i < n; ++i) t.SetFromDouble(i, static_cast<double>(src[i]));
}

}  // namespace octet::reference
