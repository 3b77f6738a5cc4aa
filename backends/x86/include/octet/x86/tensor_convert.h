// Conversions at the edges of int8 regions: QuantizeLinear (f32 -> u8/i8),
// DequantizeLinear (u8/i8 -> f32) and layout changes between the graph's NCHW
// and the NHWC the int8 kernels use, each one oneDNN reorder (a quantizing one
// does both at once). Created once, run from many threads.
//
// Arithmetic (per-tensor parameters):
//   quantize:   q = saturate(round_half_even(x / scale) + zero_point), then
//               clamped to [clamp_lo, clamp_hi] (reduce_range's Clip, in codes)
//   dequantize: x = scale * (q - zero_point)
// oneDNN rounds x / scale + zero_point where ONNX rounds x / scale and then
// adds the zero point: with an odd zero point an exact half lands one code
// away from ONNX's result (tests/x86/tensor_convert_test.cc pins this). Never
// more than one code apart from the reference interpreter.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/dtype.h"
#include "octet/status.h"

namespace octet::x86 {

enum class BufferLayout {
  kPlain,  // row-major in the logical dims
  kNhwc,   // 4-D logical N, C, H, W stored as N, H, W, C
};

struct TensorConvertConfig {
  std::vector<int64_t> dims;  // logical (N, C, H, W for 4-D)
  DType src_type = DType::kF32;
  DType dst_type = DType::kU8;  // kF32, kU8 or kI8, as src
  BufferLayout src_layout = BufferLayout::kPlain;
  BufferLayout dst_layout = BufferLayout::kPlain;
  // Quantization of whichever side is int8 (both sides: must be equal, a
  // layout change only).
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t clamp_lo = -128, clamp_hi = 255;  // quantize only; default: no clamp
};

class TensorConvert {
 public:
  static Expected<TensorConvert> Create(const TensorConvertConfig& config);
  Status Run(const void* src, void* dst) const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::x86
