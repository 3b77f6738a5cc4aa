// The int8 convolution's gathers (conv_int8_kernels.h) against a CPU
// reference of the preset's QDQ graph: per-image absolute maximum, scale =
// max(absmax / 127, FLT_MIN) in f32, codes = saturate(round_half_even(x /
// scale)) laid out as im2col rows (pixel-major, tap-major columns with the
// channel innermost, zero padding). Both sides do the same f32 operations
// (IEEE division, round-half-even), so codes and scales must be bit-identical:
// the tolerance is zero. Shapes cover NCHW and NHWC input, C a multiple of 16
// (the vector path) or not (1 to 5, 8, 24: the staged row and pixel paths),
// strides, asymmetric pads, dilation, row counts and K that are not
// multiples of any block or chunk size, and values next to the rounding
// boundaries (the product by 1 / scale must defer to the division there).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "octet/cuda/conv_int8_kernels.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

struct Case {
  int64_t n, c, h, w, k, stride, pad_top, pad_left, pad_bottom, pad_right, dilation;
  ActLayout layout;
};

void CheckCodes(const Case& t, const std::vector<float>& x, const Conv2dDims& d, int64_t kp,
                int64_t rows, const std::vector<int8_t>& got, const std::vector<float>& got_scales);

void RunCase(const Case& t) {
  const uint32_t seed = testing::FreshSeed();
  std::mt19937 rng(seed);
  SCOPED_TRACE(::testing::Message()
               << "n " << t.n << " c " << t.c << " " << t.h << "x" << t.w << " k " << t.k
               << " stride " << t.stride << " dilation " << t.dilation << " "
               << (t.layout == ActLayout::kNhwc ? "nhwc" : "nchw") << " seed " << seed);
  Conv2dDims d;
  d.batch = t.n, d.channels = t.c, d.height = t.h, d.width = t.w, d.out_channels = 1;
  Window2d win;
  win.kernel_h = win.kernel_w = t.k;
  win.stride_h = win.stride_w = t.stride;
  win.pad_top = t.pad_top, win.pad_left = t.pad_left;
  win.pad_bottom = t.pad_bottom, win.pad_right = t.pad_right;
  win.dilation_h = win.dilation_w = t.dilation;
  d.out_height = (t.h + t.pad_top + t.pad_bottom - t.dilation * (t.k - 1) - 1) / t.stride + 1;
  d.out_width = (t.w + t.pad_left + t.pad_right - t.dilation * (t.k - 1) - 1) / t.stride + 1;
  const int64_t taps = t.c * t.k * t.k, kp = (taps + 15) / 16 * 16;
  const int64_t rows = t.n * d.out_height * d.out_width;
  // Images of different ranges (one all zeros: scale FLT_MIN, codes 0), and
  // one (image 2) of values at and next to the rounding boundaries
  // (n + 1/2) x scale, where the gather's product by 1 / scale must give way
  // to the division (conv_int8_kernels.cu, Quantize).
  std::vector<float> x(t.n * t.c * t.h * t.w);
  const int64_t image = t.c * t.h * t.w;
  for (int64_t b = 0; b < t.n; ++b) {
    const float range = b == 1 ? 0.f : std::ldexp(1.f, static_cast<int>(b % 7) - 3);
    std::vector<float> v = testing::RandomFloats(image, rng, -range, range);
    if (b == 2) {
      const float absmax = 1.7f, scale = absmax / 127.f;
      std::uniform_int_distribution<int> half(-128, 127), side(-1, 1);
      for (float& e : v) {
        e = (static_cast<float>(half(rng)) + 0.5f) * scale;
        const int s = side(rng);
        if (s != 0) e = std::nextafter(e, s * INFINITY);
        e = std::clamp(e, -absmax, absmax);
      }
      v[0] = absmax;
    }
    std::copy(v.begin(), v.end(), x.begin() + b * image);
  }
  DeviceBuffer dx = Upload(x);
  DeviceBuffer absmax = testing::Poisoned(t.n * 4);
  ASSERT_TRUE(ImageAbsMax(dx.as<float>(), t.n, image, absmax.as<float>(), nullptr).ok());
  // The gather Im2ColQuantizeInt8 picks for the case, and for at most 4
  // channels the two-pass pixel form too: each against the reference.
  for (bool pixels : {false, true}) {
    if (pixels && (t.c > kMaxPixelChannels || kp > kMaxStagedRowBytes)) continue;
    SCOPED_TRACE(pixels ? "Im2ColQuantizeInt8Pixels" : "Im2ColQuantizeInt8");
    DeviceBuffer codes = testing::Poisoned(rows * kp + 64), scales = testing::Poisoned(rows * 4);
    DeviceBuffer words = testing::Poisoned(t.n * t.h * t.w * 4);
    const Status st =
        pixels ? Im2ColQuantizeInt8Pixels(dx.as<float>(), t.layout, d, win, kp, absmax.as<float>(),
                                          127.f, FLT_MIN, words.as<uint32_t>(), codes.as<int8_t>(),
                                          scales.as<float>(), nullptr)
               : Im2ColQuantizeInt8(dx.as<float>(), t.layout, d, win, kp, absmax.as<float>(), 127.f,
                                    FLT_MIN, codes.as<int8_t>(), scales.as<float>(), nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    CheckCodes(t, x, d, kp, rows, Download<int8_t>(codes, rows * kp + 64),
               Download<float>(scales, rows));
  }
}

void CheckCodes(const Case& t, const std::vector<float>& x, const Conv2dDims& d, int64_t kp,
                int64_t rows, const std::vector<int8_t>& got,
                const std::vector<float>& got_scales) {
  const int64_t taps = t.c * t.k * t.k, image = t.c * t.h * t.w;
  auto at = [&](int64_t b, int64_t c, int64_t i, int64_t j) {
    return t.layout == ActLayout::kNchw ? x[((b * t.c + c) * t.h + i) * t.w + j]
                                        : x[((b * t.h + i) * t.w + j) * t.c + c];
  };
  for (int64_t i = rows * kp; i < rows * kp + 64; ++i)
    ASSERT_EQ(got[i], -1) << "byte " << i - rows * kp << " past the codes was written";
  int64_t bad = 0;
  for (int64_t b = 0; b < t.n; ++b) {
    float amax = 0.f;
    for (int64_t i = 0; i < image; ++i) amax = std::max(amax, std::fabs(x[b * image + i]));
    const float scale = std::max(amax / 127.f, FLT_MIN);
    for (int64_t oh = 0; oh < d.out_height; ++oh)
      for (int64_t ow = 0; ow < d.out_width; ++ow) {
        const int64_t m = (b * d.out_height + oh) * d.out_width + ow;
        if (got_scales[m] != scale && ++bad <= 5)
          ADD_FAILURE() << "row " << m << " scale " << got_scales[m] << ", expected " << scale;
        for (int64_t k = 0; k < kp; ++k) {
          int8_t want = 0;
          if (k < taps) {
            const int64_t tap = k / t.c, c = k % t.c, i = tap / t.k, j = tap % t.k;
            const int64_t ih = oh * t.stride - t.pad_top + i * t.dilation;
            const int64_t iw = ow * t.stride - t.pad_left + j * t.dilation;
            const float v = ih >= 0 && ih < t.h && iw >= 0 && iw < t.w ? at(b, c, ih, iw) : 0.f;
            want = static_cast<int8_t>(std::clamp(std::nearbyint(v / scale), -128.f, 127.f));
          }
          if (got[m * kp + k] != want && ++bad <= 5)
            ADD_FAILURE() << "codes[" << m << ", " << k << "] = " << int{got[m * kp + k]}
                          << ", expected " << int{want};
        }
      }
  }
  EXPECT_EQ(bad, 0);
}

TEST(ConvInt8Gather, CodesAndScalesMatchTheQdqGraphBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const Case cases[] = {
      // resnet's conv1 in small: 3 channels, 7x7 stride 2 pad 3, NCHW.
      {2, 3, 23, 19, 7, 2, 3, 3, 3, 3, 1, ActLayout::kNchw},
      // layer1-like 3x3 with 16 and 64 channels, NHWC (the vector path).
      {3, 16, 9, 7, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNhwc},
      {2, 64, 14, 14, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNhwc},
      // Downsample 1x1 stride 2 and 3x3 stride 2, NHWC and NCHW.
      {2, 48, 11, 9, 1, 2, 0, 0, 0, 0, 1, ActLayout::kNhwc},
      {3, 32, 10, 13, 3, 2, 1, 1, 1, 1, 1, ActLayout::kNchw},
      // C not a multiple of 16 in NHWC, asymmetric pads, dilation 2.
      {2, 8, 12, 10, 3, 1, 2, 0, 1, 2, 2, ActLayout::kNhwc},
      {4, 24, 6, 5, 3, 1, 0, 1, 1, 0, 1, ActLayout::kNhwc},
      // The staged one-row-per-thread path (rows up to 512 bytes) for 3 and 5
      // channels in both layouts and NCHW with 16 channels; a row of 576
      // bytes from NCHW takes the per-column path.
      {3, 3, 17, 21, 7, 2, 3, 3, 3, 3, 1, ActLayout::kNhwc},
      {3, 5, 9, 8, 3, 1, 1, 0, 0, 1, 1, ActLayout::kNchw},
      {3, 16, 9, 11, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNchw},
      {3, 64, 7, 6, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNchw},
      // 1, 2 and 4 channels (the pixel form packs 8, 16 and 32 bits a tap).
      {3, 1, 12, 9, 5, 1, 2, 2, 2, 2, 1, ActLayout::kNhwc},
      {3, 2, 10, 11, 3, 2, 1, 0, 1, 1, 2, ActLayout::kNchw},
      {3, 4, 9, 13, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNhwc},
      // resnet18's conv1 at its size (224 x 224, 12,544 rows per image).
      {3, 3, 224, 224, 7, 2, 3, 3, 3, 3, 1, ActLayout::kNchw},
  };
  for (const Case& c : cases) RunCase(c);
}

TEST(ConvInt8Gather, RefusesBadArguments) {
  Conv2dDims d{1, 3, 8, 8, 4, 8, 8};
  Window2d w;
  w.kernel_h = w.kernel_w = 3;
  w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = 1;
  float dummy = 0.f;
  int8_t codes[16] = {};
  // K = 27 needs k_padded 32, not 16 or 30.
  for (int64_t kp : {16, 30}) {
    const Status s = Im2ColQuantizeInt8(&dummy, ActLayout::kNchw, d, w, kp, &dummy, 127.f, FLT_MIN,
                                        codes, &dummy, nullptr);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("multiple of 16 holding the 27 taps"), std::string::npos)
        << s.ToString();
  }
  EXPECT_FALSE(ImageAbsMax(&dummy, 70000, 10, &dummy, nullptr).ok());
  // The pixel form takes at most 4 channels.
  Conv2dDims five = d;
  five.channels = 5;
  uint32_t words[64] = {};
  const Status s = Im2ColQuantizeInt8Pixels(&dummy, ActLayout::kNchw, five, w, 48, &dummy, 127.f,
                                            FLT_MIN, words, codes, &dummy, nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("at most 4 channels"), std::string::npos) << s.ToString();
}

}  // namespace
}  // namespace octet::cuda
