// Packing for the weight-only GEMM kernels (weight_only_gemm_launch.h has
// the layout and why).
#include "weight_only_pack.h"

#include <cstring>

#include "octet/dtype.h"
#include "weight_only_gemm_launch.h"

namespace octet::cuda::weight_only {
namespace {

// Element e of a tensor of i8, u8 or packed 4-bit (low nibble first) codes.
int CodeAt(const Tensor& t, int64_t e) {
  switch (t.dtype()) {
    case DType::kI8:
      return t.data<int8_t>()[e];
    case DType::kU8:
      return t.data<uint8_t>()[e];
    case DType::kU4: {
      const uint8_t byte = static_cast<const uint8_t*>(t.raw())[e / 2];
      return (e % 2 == 0) ? (byte & 0xF) : (byte >> 4);
    }
    default:
      return 0;  // validated away
  }
}

}  // namespace

QuantizedWeightView::QuantizedWeightView(const WeightOnlyGemmConfig& config, int64_t n, int64_t k)
    : config_(config),
      n_(n),
      k_(k),
      group_(config.codes.dtype() == DType::kU4 ? config.group_size : k),
      bits_(config.codes.dtype() == DType::kU4 ? 4 : 8),
      nk_(config.weight_layout == WeightLayout::kNK) {}

int QuantizedWeightView::code(int64_t n, int64_t k) const {
  return CodeAt(config_.codes, nk_ ? n * k_ + k : k * n_ + n);
}

int64_t QuantizedWeightView::ParamIndex(int64_t n, int64_t k) const {
  if (bits_ == 8) return config_.scales.numel() == 1 ? 0 : n;
  const int64_t groups = k_ / group_, gi = k / group_;
  return nk_ ? n * groups + gi : gi * n_ + n;
}

float QuantizedWeightView::scale(int64_t n, int64_t k) const {
  return config_.scales.data<float>()[ParamIndex(n, k)];
}

int QuantizedWeightView::zero_point(int64_t n, int64_t k) const {
  return config_.zero_points.defined() ? CodeAt(config_.zero_points, ParamIndex(n, k)) : 0;
}

float QuantizedWeightView::Dequantized(int64_t n, int64_t k) const {
  return static_cast<float>(code(n, k) - zero_point(n, k)) * scale(n, k);
}

PackedWeights Pack(const QuantizedWeightView& w) {
  const int bits = w.bits();
  const int64_t chunk = kChunkK(bits);
  // The K run a lane holds per group (the layout's G): the group for u4, 64 for i8.
  const int64_t run_group = bits == 4 ? w.group_size() : 64;
  PackedWeights out;
  out.n_pad = (w.n() + kNPad - 1) / kNPad * kNPad;
  out.chunks = (w.k() + chunk - 1) / chunk;
  const int64_t k_pad = out.chunks * chunk;
  out.blocks.assign(static_cast<size_t>(out.n_pad / 8 * out.chunks * 32 * 16), 0);
  auto code_or_zero = [&](int64_t n, int64_t k) {
    return (n < w.n() && k < w.k()) ? w.code(n, k) : 0;
  };
  for (int64_t tile = 0; tile < out.n_pad / 8; ++tile)
    for (int64_t c = 0; c < out.chunks; ++c)
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t n = tile * 8 + lane / 4, t = lane % 4;
        uint8_t* block = out.blocks.data() + ((tile * out.chunks + c) * 32 + lane) * 16;
        // The lane's 32 (u4) or 16 (i8) values, in the order of its 16-byte load.
        const int64_t values = chunk / 4, per_group = run_group / 4;
        int v[32];
        for (int64_t i = 0; i < values; ++i)
          v[i] = code_or_zero(
              n, c * chunk + run_group * (i / per_group) + per_group * t + i % per_group);
        for (int word = 0; word < 4; ++word) {
          uint32_t packed = 0;
          if (bits == 4) {
            // Nibbles [v0 v2 v4 v6 v1 v3 v5 v7] of the word's 8 values.
            for (int i = 0; i < 8; ++i)
              packed |= static_cast<uint32_t>(v[8 * word + i] & 0xF) << (4 * ((i % 2) * 4 + i / 2));
          } else {
            for (int i = 0; i < 4; ++i)
              packed |= static_cast<uint32_t>(static_cast<uint8_t>(v[4 * word + i])) << (8 * i);
          }
          std::memcpy(block + 4 * word, &packed, 4);
        }
      }
  if (bits == 4) {
    const int64_t groups = k_pad / w.group_size();
    out.scales.assign(static_cast<size_t>(groups * out.n_pad), 0.f);
    out.zeros.assign(static_cast<size_t>(groups * out.n_pad), 0);
    for (int64_t gi = 0; gi < w.k() / w.group_size(); ++gi)
      for (int64_t n = 0; n < w.n(); ++n) {
        out.scales[gi * out.n_pad + n] = w.scale(n, gi * w.group_size());
        out.zeros[gi * out.n_pad + n] = static_cast<uint8_t>(w.zero_point(n, gi * w.group_size()));
      }
  } else {
    out.scales.assign(static_cast<size_t>(out.n_pad), 0.f);
    for (int64_t n = 0; n < w.n(); ++n) out.scales[n] = w.scale(n, 0);
  }
  return out;
}

std::vector<uint16_t> DequantizedBf16(const QuantizedWeightView& w) {
  std::vector<uint16_t> out(static_cast<size_t>(w.n() * w.k()));
  for (int64_t n = 0; n < w.n(); ++n)
    for (int64_t k = 0; k < w.k(); ++k) out[n * w.k() + k] = FloatToBFloat16(w.Dequantized(n, k));
  return out;
}

}  // namespace octet::cuda::weight_only
