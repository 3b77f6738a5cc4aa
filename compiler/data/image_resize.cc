// PIL-compatible bilinear resampling (Pillow's libImaging/Resample.c): for
// each output pixel, a triangle filter centred on it in input coordinates,
// widened by the downscale factor when antialiasing, truncated at the image
// border and renormalised. Separable: width first, then height, as PIL does.
// With rounding on, the arithmetic is PIL's 8-bit path exactly (22-bit
// fixed-point weights, round half up, clip to 0..255), so PNG inputs give
// bit-identical pixels to PIL's Image.resize(BILINEAR).
#include <algorithm>
#include <cmath>

#include "octet/data/image_preprocess.h"

namespace octet::data {
namespace {

struct Taps {
  std::vector<int64_t> first;   // first input index per output index
  std::vector<int64_t> count;   // number of taps per output index
  std::vector<double> weights;  // count[i] weights, at offset i * stride
  int64_t stride = 0;
};

Taps ComputeTaps(int64_t in_size, int64_t out_size, bool antialias) {
  const double scale = static_cast<double>(in_size) / static_cast<double>(out_size);
  const double filter_scale = antialias ? std::max(scale, 1.0) : 1.0;
  const double support = 1.0 * filter_scale;  // the triangle filter's support is 1
  const double inv_scale = 1.0 / filter_scale;
  Taps t;
  t.stride = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(out_size * t.stride, 0.0);
  for (int64_t o = 0; o < out_size; ++o) {
    const double center = (static_cast<double>(o) + 0.5) * scale;
    // Truncation toward zero, as in PIL's C code.
    const int64_t lo = std::max<int64_t>(static_cast<int64_t>(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(static_cast<int64_t>(center + support + 0.5), in_size);
    const int64_t n = std::min(hi - lo, t.stride);
    double* w = &t.weights[o * t.stride];
    double sum = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double x = std::fabs((static_cast<double>(k + lo) - center + 0.5) * inv_scale);
      w[k] = x < 1.0 ? 1.0 - x : 0.0;
      sum += w[k];
    }
    if (sum != 0)
      for (int64_t k = 0; k < n; ++k) w[k] /= sum;
    t.first[o] = lo;
    t.count[o] = n;
  }
  return t;
}

constexpr int kPrecisionBits = 32 - 8 - 2;  // PIL's PRECISION_BITS for 8-bit images

// PIL's normalize_coeffs_8bpc.
int32_t FixedPoint(double w) {
  const double v = w * (1 << kPrecisionBits);
  return static_cast<int32_t>(v < 0 ? v - 0.5 : v + 0.5);
}

// PIL's clip8 on an accumulator that started at 1 << (kPrecisionBits - 1).
float Clip8(int64_t acc) {
  if (acc >= (int64_t{1} << kPrecisionBits << 8)) return 255.0f;
  if (acc <= 0) return 0.0f;
  return static_cast<float>(acc >> kPrecisionBits);
}

// in: [outer][in_size][inner] -> out: [outer][out_size][inner].
std::vector<float> ResampleAxis(const std::vector<float>& in, int64_t outer, int64_t in_size,
                                int64_t inner, int64_t out_size, bool antialias, bool round_to_u8) {
  const Taps t = ComputeTaps(in_size, out_size, antialias);
  std::vector<float> out(outer * out_size * inner);
  if (round_to_u8) {
    // Inputs are whole numbers 0..255 here (decoded bytes or a rounded pass).
    std::vector<int32_t> fixed(t.weights.size());
    for (size_t i = 0; i < fixed.size(); ++i) fixed[i] = FixedPoint(t.weights[i]);
    std::vector<int64_t> acc(inner);
    for (int64_t a = 0; a < outer; ++a) {
      const float* src = in.data() + a * in_size * inner;
      float* dst = out.data() + a * out_size * inner;
      for (int64_t o = 0; o < out_size; ++o) {
        std::fill(acc.begin(), acc.end(), int64_t{1} << (kPrecisionBits - 1));
        const int32_t* w = &fixed[o * t.stride];
        for (int64_t k = 0; k < t.count[o]; ++k) {
          const float* row = src + (t.first[o] + k) * inner;
          for (int64_t c = 0; c < inner; ++c) acc[c] += w[k] * static_cast<int64_t>(row[c]);
        }
        for (int64_t c = 0; c < inner; ++c) dst[o * inner + c] = Clip8(acc[c]);
      }
    }
    return out;
  }
  std::vector<double> acc(inner);
  for (int64_t a = 0; a < outer; ++a) {
    const float* src = in.data() + a * in_size * inner;
    float* dst = out.data() + a * out_size * inner;
    for (int64_t o = 0; o < out_size; ++o) {
      std::fill(acc.begin(), acc.end(), 0.0);
      const double* w = &t.weights[o * t.stride];
      for (int64_t k = 0; k < t.count[o]; ++k) {
        const float* row = src + (t.first[o] + k) * inner;
        for (int64_t c = 0; c < inner; ++c) acc[c] += w[k] * row[c];
      }
      for (int64_t c = 0; c < inner; ++c) dst[o * inner + c] = static_cast<float>(acc[c]);
    }
  }
  return out;
}

}  // namespace

std::vector<float> ResizeBilinear(const std::vector<float>& hwc, int64_t height, int64_t width,
                                  int64_t channels, int64_t out_height, int64_t out_width,
                                  bool antialias, bool round_to_u8) {
  std::vector<float> img = hwc;
  // PIL skips a pass whose size does not change; so do we (it would round).
  if (out_width != width)
    img = ResampleAxis(img, height, width, channels, out_width, antialias, round_to_u8);
  if (out_height != height)
    img = ResampleAxis(img, 1, height, out_width * channels, out_height, antialias, round_to_u8);
  return img;
}

}  // namespace octet::data
