// WeightOnlyGemm's state, shared by its source files (weight_only_gemm.cc,
// weight_only_tune.cc).
#pragma once

#include <optional>
#include <string>

#include "octet/cuda/device_buffer.h"
#include "octet/cuda/weight_only_gemm.h"
#include "weight_only_bf16_fallback.h"
#include "weight_only_gemm_launch.h"

namespace octet::cuda {

struct WeightOnlyGemm::Impl {
  int64_t n = 0, k = 0, n_pad = 0, chunks = 0;
  int bits = 0, group_size = 0;
  bool gelu = false;
  bool pdl = false;
  int int4_shape = -1;
  int tuned_int4_shape = -1;  // for runs of tuned_rows rows
  int64_t tuned_rows = 0;
  WeightOnlyPath path = WeightOnlyPath::kAuto;
  int64_t cublaslt_min_rows = 0;
  DeviceBuffer blocks, scales, zeros, bias;
  // The cuBLASLt path: the bias in bf16, and with kResidentCopy the
  // dequantized weights [N, K] (else they go to the caller's scratch per Run).
  DeviceBuffer bf16_weights, bf16_bias;
  std::optional<weight_only::Bf16FallbackGemm> fallback;
  std::string description;
};

// The kernel variant a kernel path runs (u4: the family of GemvShapeFor).
inline weight_only::Variant VariantOf(WeightOnlyPath path) {
  switch (path) {
    case WeightOnlyPath::kStreaming8:
      return weight_only::Variant::kRows8Cols16;
    case WeightOnlyPath::kStreaming16x32:
      return weight_only::Variant::kRows16Cols32;
    case WeightOnlyPath::kTensorCore32:
      return weight_only::Variant::kRows32Cols16;
    default:
      return weight_only::Variant::kRows16Cols16;
  }
}

}  // namespace octet::cuda
