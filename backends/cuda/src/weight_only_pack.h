// Host packing of weight-only quantized weights into the layout the kernels
// read (weight_only_gemm_launch.h), and the dequantized bf16 copy that the
// cuBLASLt path multiplies with.
#pragma once

#include <cstdint>
#include <vector>

#include "octet/cuda/weight_only_gemm.h"

namespace octet::cuda::weight_only {

// Read access to a validated WeightOnlyGemmConfig by (n, k), whatever the
// layout and code type.
class QuantizedWeightView {
 public:
  QuantizedWeightView(const WeightOnlyGemmConfig& config, int64_t n, int64_t k);
  int64_t n() const { return n_; }
  int64_t k() const { return k_; }
  int bits() const { return bits_; }
  int64_t group_size() const { return group_; }  // u4; K for i8 (one "group" per column)
  int code(int64_t n, int64_t k) const;          // i8: -128..127; u4: 0..15
  float scale(int64_t n, int64_t k) const;       // the scale that applies to (n, k)
  int zero_point(int64_t n, int64_t k) const;
  // (code - zero point) * scale in f32: what DequantizeLinear computes.
  float Dequantized(int64_t n, int64_t k) const;

 private:
  int64_t ParamIndex(int64_t n, int64_t k) const;  // into scales / zero points
  const WeightOnlyGemmConfig& config_;
  int64_t n_, k_, group_;
  int bits_;
  bool nk_;
};

struct PackedWeights {
  std::vector<uint8_t>
      blocks;  // i8: [n_pad / 8][chunks][32][16]; u4: [n_pad / 16][chunks][2][32][16]
  std::vector<float> scales;   // i8: [n_pad]; u4: [n_pad / 16][chunks][8][128 / G][2]
  std::vector<uint8_t> zeros;  // i8: empty; u4: [n_pad / 16][chunks][8][128 / G][2]
  int64_t n_pad = 0, chunks = 0;
};
PackedWeights Pack(const QuantizedWeightView& w);

// bf16 bits of Dequantized, [N, K] row-major (nn.Linear's layout, as cuBLASLt
// reads it).
std::vector<uint16_t> DequantizedBf16(const QuantizedWeightView& w);

}  // namespace octet::cuda::weight_only
