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

namespace {

// u4: see weight_only_gemm_launch.h ("u4 packed layout").
PackedWeights PackU4(const QuantizedWeightView& w) {
  const int64_t chunk = kChunkU4, group = w.group_size(), run = group / 4;
  const int64_t gpc = chunk / group;  // groups per chunk
  PackedWeights out;
  out.n_pad = (w.n() + kNPad - 1) / kNPad * kNPad;
  out.chunks = (w.k() + chunk - 1) / chunk;
  const int64_t tiles = out.n_pad / 16;
  out.blocks.assign(static_cast<size_t>(tiles * out.chunks * 1024), 0);
  out.scales.assign(static_cast<size_t>(tiles * out.chunks * 8 * gpc * 2), 0.f);
  out.zeros.assign(static_cast<size_t>(tiles * out.chunks * 8 * gpc * 2), 0);
  auto code_or_zero = [&](int64_t n, int64_t k) {
    return (n < w.n() && k < w.k()) ? w.code(n, k) : 0;
  };
  for (int64_t tile = 0; tile < tiles; ++tile)
    for (int64_t c = 0; c < out.chunks; ++c) {
      const int64_t block = tile * out.chunks + c;
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t g = lane / 4, t = lane % 4;
        // The lane's K positions in the order of its values: run t of each group.
        int64_t kpos[32];
        for (int64_t i = 0; i < 32; ++i)
          kpos[i] = c * chunk + group * (i / run) + run * t + i % run;
        for (int s = 0; s < 8; ++s) {
          const int64_t col[2] = {tile * 16 + g, tile * 16 + g + 8};
          // v0..v7: (g, 4s), (g, 4s+1), (g+8, 4s), (g+8, 4s+1), (g, 4s+2), ...
          int v[8];
          for (int i = 0; i < 8; ++i)
            v[i] = code_or_zero(col[(i / 2) % 2], kpos[4 * s + 2 * (i / 4) + i % 2]);
          uint32_t packed = 0;
          for (int i = 0; i < 8; ++i)
            packed |= static_cast<uint32_t>(v[i] & 0xF) << (4 * ((i % 2) * 4 + i / 2));
          uint8_t* dst = out.blocks.data() + (block * 64 + (s / 4) * 32 + lane) * 16 + 4 * (s % 4);
          std::memcpy(dst, &packed, 4);
        }
      }
      for (int64_t g = 0; g < 8; ++g)
        for (int64_t gi = 0; gi < gpc; ++gi) {
          const int64_t k0 = c * chunk + gi * group;
          const size_t at = static_cast<size_t>(((block * 8 + g) * gpc + gi) * 2);
          for (int h = 0; h < 2; ++h) {
            const int64_t n = tile * 16 + g + 8 * h;
            if (n >= w.n() || k0 >= w.k()) continue;
            out.scales[at + h] = w.scale(n, k0);
            out.zeros[at + h] = static_cast<uint8_t>(w.zero_point(n, k0));
          }
        }
    }
  return out;
}

}  // namespace

PackedWeights Pack(const QuantizedWeightView& w) {
  if (w.bits() == 4) return PackU4(w);
  // i8: see weight_only_gemm_launch.h ("i8 packed layout").
  const int64_t chunk = kChunkK(8), run_group = 64;
  PackedWeights out;
  out.n_pad = (w.n() + kNPad - 1) / kNPad * kNPad;
  out.chunks = (w.k() + chunk - 1) / chunk;
  out.blocks.assign(static_cast<size_t>(out.n_pad / 8 * out.chunks * 32 * 16), 0);
  auto code_or_zero = [&](int64_t n, int64_t k) {
    return (n < w.n() && k < w.k()) ? w.code(n, k) : 0;
  };
  for (int64_t tile = 0; tile < out.n_pad / 8; ++tile)
    for (int64_t c = 0; c < out.chunks; ++c)
      for (int lane = 0; lane < 32; ++lane) {
        const int64_t n = tile * 8 + lane / 4, t = lane % 4;
        uint8_t* block = out.blocks.data() + ((tile * out.chunks + c) * 32 + lane) * 16;
        // The lane's 16 values, in the order of its 16-byte load.
        const int64_t values = chunk / 4, per_group = run_group / 4;
        int v[16];
        for (int64_t i = 0; i < values; ++i)
          v[i] = code_or_zero(
              n, c * chunk + run_group * (i / per_group) + per_group * t + i % per_group);
        for (int word = 0; word < 4; ++word) {
          uint32_t packed = 0;
          for (int i = 0; i < 4; ++i)
            packed |= static_cast<uint32_t>(static_cast<uint8_t>(v[4 * word + i])) << (8 * i);
          std::memcpy(block + 4 * word, &packed, 4);
        }
      }
  out.scales.assign(static_cast<size_t>(out.n_pad), 0.f);
  for (int64_t n = 0; n < w.n(); ++n) out.scales[n] = w.scale(n, 0);
  return out;
}

std::vector<uint16_t> DequantizedBf16(const QuantizedWeightView& w) {
  std::vector<uint16_t> out(static_cast<size_t>(w.n() * w.k()));
  for (int64_t n = 0; n < w.n(); ++n)
    for (int64_t k = 0; k < w.k(); ++k) out[n * w.k() + k] = FloatToBFloat16(w.Dequantized(n, k));
  return out;
}

}  // namespace octet::cuda::weight_only
