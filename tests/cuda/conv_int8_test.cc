// The int8 convolution's gathers (conv_int8_kernels.h) against a CPU
// reference of the preset's QDQ graph: per-image absolute maximum, scale =
// max(absmax / 127, FLT_MIN) in f32, codes = saturate(round_half_even(x /
// scale)) laid out as im2col rows (pixel-major, tap-major columns with the
// channel innermost, zero padding). Both sides do the same f32 operations
// (IEEE division, round-half-even), so codes and scales must be bit-identical:
// the tolerance is zero. Shapes cover NCHW and NHWC input, C a multiple of 16
// (the vector path, and for NHWC the two-pass Im2ColQuantizeInt8Nhwc16, whose
// intermediate codes of x are checked too) or not (1 to 5, 8, 24: the staged
// row and pixel paths),
// strides, asymmetric pads, dilation, row counts and K that are not
// multiples of any block or chunk size, and values next to the rounding
// boundaries (the product by 1 / scale must defer to the division there).
#include <gtest/gtest.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdio>
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
  int64_t extra_k = 0;  // zero columns past the taps' multiple of 16
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
  const int64_t taps = t.c * t.k * t.k, kp = (taps + 15) / 16 * 16 + t.extra_k;
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
  // The gather Im2ColQuantizeInt8 picks for the case, for at most 4
  // channels the two-pass pixel form, and for NHWC with C % 16 == 0 the
  // two-pass Im2ColQuantizeInt8Nhwc16: each against the reference.
  enum class Gather { kDirect, kPixels, kNhwc16 };
  for (Gather gather : {Gather::kDirect, Gather::kPixels, Gather::kNhwc16}) {
    if (gather == Gather::kPixels && (t.c > kMaxPixelChannels || kp > kMaxStagedRowBytes)) continue;
    if (gather == Gather::kNhwc16 && (t.layout != ActLayout::kNhwc || t.c % 16 != 0)) continue;
    SCOPED_TRACE(gather == Gather::kPixels   ? "Im2ColQuantizeInt8Pixels"
                 : gather == Gather::kNhwc16 ? "Im2ColQuantizeInt8Nhwc16"
                                             : "Im2ColQuantizeInt8");
    DeviceBuffer codes = testing::Poisoned(rows * kp + 64), scales = testing::Poisoned(rows * 4);
    DeviceBuffer words = testing::Poisoned(t.n * t.h * t.w * 4);
    DeviceBuffer x_codes = testing::Poisoned(x.size() + 64);
    // The direct and NHWC gathers also zero a buffer of one float per image
    // (the op's next per-image maximum), in their kernel or by a memset.
    DeviceBuffer zero_fill = testing::Poisoned(t.n * 4 + 64);
    Status st = Status::Ok();
    switch (gather) {
      case Gather::kDirect:
        st = Im2ColQuantizeInt8(dx.as<float>(), t.layout, d, win, kp, absmax.as<float>(), 127.f,
                                FLT_MIN, codes.as<int8_t>(), scales.as<float>(), nullptr,
                                zero_fill.as<float>(), t.n);
        break;
      case Gather::kPixels:
        st = Im2ColQuantizeInt8Pixels(dx.as<float>(), t.layout, d, win, kp, absmax.as<float>(),
                                      127.f, FLT_MIN, words.as<uint32_t>(), codes.as<int8_t>(),
                                      scales.as<float>(), nullptr);
        break;
      case Gather::kNhwc16:
        st = Im2ColQuantizeInt8Nhwc16(dx.as<float>(), d, win, kp, absmax.as<float>(), 127.f,
                                      FLT_MIN, x_codes.as<int8_t>(), codes.as<int8_t>(),
                                      scales.as<float>(), nullptr, zero_fill.as<float>(), t.n);
        break;
    }
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    CheckCodes(t, x, d, kp, rows, Download<int8_t>(codes, rows * kp + 64),
               Download<float>(scales, rows));
    if (gather != Gather::kPixels) {
      const std::vector<uint32_t> zeroed = Download<uint32_t>(zero_fill, t.n + 16);
      for (int64_t i = 0; i < t.n + 16; ++i)
        ASSERT_EQ(zeroed[i], i < t.n ? 0u : 0xFFFFFFFFu) << "zero_fill word " << i;
    }
    if (gather == Gather::kNhwc16) {
      // The intermediate codes: every value of x quantized with its image's
      // scale, in x's order, nothing written past them.
      const std::vector<int8_t> got = Download<int8_t>(x_codes, x.size() + 64);
      int64_t bad = 0;
      for (int64_t b = 0; b < t.n; ++b) {
        float amax = 0.f;
        for (int64_t i = 0; i < image; ++i) amax = std::max(amax, std::fabs(x[b * image + i]));
        const float scale = std::max(amax / 127.f, FLT_MIN);
        for (int64_t i = b * image; i < (b + 1) * image; ++i) {
          const auto want =
              static_cast<int8_t>(std::clamp(std::nearbyint(x[i] / scale), -128.f, 127.f));
          if (got[i] != want && ++bad <= 5)
            ADD_FAILURE() << "x_codes[" << i << "] = " << int{got[i]} << ", expected " << int{want};
        }
      }
      for (size_t i = x.size(); i < x.size() + 64; ++i)
        ASSERT_EQ(got[i], -1) << "byte " << i - x.size() << " past x_codes was written";
      EXPECT_EQ(bad, 0);
    }
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
      // NHWC, C % 16 == 0 (the two-pass gather): 32 channels 3x3 stride 2
      // with asymmetric pads on odd sizes, 16 channels with dilation 2 and a
      // 5x5 window, 128 channels, 1x1 stride 1 (the codes are the rows),
      // padding columns past the taps, and resnet18's layer1 at its size.
      {3, 32, 13, 11, 3, 2, 0, 1, 2, 1, 1, ActLayout::kNhwc},
      {2, 16, 9, 12, 3, 1, 2, 1, 0, 2, 2, ActLayout::kNhwc},
      {3, 16, 8, 7, 5, 1, 2, 2, 2, 2, 1, ActLayout::kNhwc},
      {5, 128, 5, 3, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNhwc},
      {3, 48, 7, 9, 1, 1, 0, 0, 0, 0, 1, ActLayout::kNhwc},
      {3, 32, 6, 5, 3, 2, 1, 1, 1, 1, 1, ActLayout::kNhwc, 32},
      {3, 64, 56, 56, 3, 1, 1, 1, 1, 1, 1, ActLayout::kNhwc},
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
  // The NHWC two-pass gather takes C % 16 == 0 and its scratch.
  Conv2dDims twenty_four = d;
  twenty_four.channels = 24;
  alignas(16) int8_t wide[16 * 24 * 9] = {};
  const Status c24 = Im2ColQuantizeInt8Nhwc16(&dummy, twenty_four, w, 224, &dummy, 127.f, FLT_MIN,
                                              wide, wide, &dummy, nullptr);
  EXPECT_FALSE(c24.ok());
  EXPECT_NE(c24.message().find("multiple of 16"), std::string::npos) << c24.ToString();
  Conv2dDims sixteen = d;
  sixteen.channels = 16;
  alignas(16) float aligned[4] = {};
  const Status no_scratch = Im2ColQuantizeInt8Nhwc16(aligned, sixteen, w, 16 * 9, aligned, 127.f,
                                                     FLT_MIN, nullptr, wide, aligned, nullptr);
  EXPECT_FALSE(no_scratch.ok());
  EXPECT_NE(no_scratch.message().find("null x_codes"), std::string::npos) << no_scratch.ToString();
  // Which gather the executor takes: overlapping windows on a large enough
  // input, C % 16 == 0.
  Window2d one = w;
  one.kernel_h = one.kernel_w = 1;
  one.pad_top = one.pad_left = one.pad_bottom = one.pad_right = 0;
  Window2d stride2 = w;
  stride2.stride_h = stride2.stride_w = 2;
  Conv2dDims layer1{64, 64, 56, 56, 64, 56, 56};
  EXPECT_TRUE(QuantizeOnceFirst(layer1, w));
  EXPECT_FALSE(QuantizeOnceFirst(layer1, one));
  EXPECT_FALSE(QuantizeOnceFirst(layer1, stride2));
  layer1.batch = 1;  // 200,704 values: the direct gather
  EXPECT_FALSE(QuantizeOnceFirst(layer1, w));
  layer1.batch = 64;
  layer1.channels = 24;
  EXPECT_FALSE(QuantizeOnceFirst(layer1, w));
  // Where the implicit GEMM runs instead: through TMA's im2col mode (C %
  // 128 == 0) wherever the windows cover the input, at any batch; with the
  // cp.async gather (C 64) only for layer1-like inputs with many output
  // pixels; never for windows of more than 32 taps.
  layer1.channels = 64;
  EXPECT_TRUE(ImplicitGemmFirst(layer1, w));
  EXPECT_FALSE(ImplicitGemmFirst(layer1, stride2));
  layer1.batch = 1;
  EXPECT_FALSE(ImplicitGemmFirst(layer1, w));
  Conv2dDims layer3{64, 256, 14, 14, 256, 14, 14}, layer4{1, 512, 7, 7, 512, 7, 7};
  EXPECT_TRUE(ImplicitGemmFirst(layer3, w));
  EXPECT_TRUE(ImplicitGemmFirst(layer3, stride2));
  EXPECT_TRUE(ImplicitGemmFirst(layer4, w));
  EXPECT_TRUE(ImplicitGemmFirst(layer4, one));
  Window2d one_stride2 = one;
  one_stride2.stride_h = one_stride2.stride_w = 2;
  EXPECT_FALSE(ImplicitGemmFirst(layer3, one_stride2));  // a quarter of the input read
  layer1.batch = 64;
  Window2d seven = w;
  seven.kernel_h = seven.kernel_w = 7;
  seven.pad_top = seven.pad_left = seven.pad_bottom = seven.pad_right = 3;
  EXPECT_TRUE(QuantizeOnceFirst(layer1, seven));
  EXPECT_FALSE(ImplicitGemmFirst(layer1, seven));
}

// Not a check: the direct NHWC gather against the two-pass one on
// resnet18's 3x3 convolutions after the stem, at batch 1 and 64 (the
// measurements behind QuantizeOnceFirst). Run with
// --gtest_also_run_disabled_tests --gtest_filter='*GatherTimes*'. Each time
// is the mean of 50 back-to-back calls on one stream between two events
// (launch gaps included, as in the module's graph), after 5 warm-up calls.
TEST(ConvInt8Gather, DISABLED_GatherTimes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  struct Layer {
    const char* name;
    int64_t c, hw, stride;
  };
  const Layer layers[] = {{"layer1", 64, 56, 1},  {"layer2.0.conv1", 64, 56, 2},
                          {"layer2", 128, 28, 1}, {"layer3.0.conv1", 128, 28, 2},
                          {"layer3", 256, 14, 1}, {"layer4.0.conv1", 256, 14, 2},
                          {"layer4", 512, 7, 1}};
  std::mt19937 rng(1);
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  for (int64_t batch : {1, 64}) {
    for (const Layer& s : layers) {
      Conv2dDims d;
      d.batch = batch, d.channels = s.c, d.height = d.width = s.hw, d.out_channels = s.c;
      d.out_height = d.out_width = (s.hw + 2 - 3) / s.stride + 1;
      Window2d win;
      win.kernel_h = win.kernel_w = 3;
      win.stride_h = win.stride_w = s.stride;
      win.pad_top = win.pad_left = win.pad_bottom = win.pad_right = 1;
      const int64_t values = batch * s.c * s.hw * s.hw, kp = s.c * 9;
      const int64_t rows = batch * d.out_height * d.out_width;
      DeviceBuffer dx = Upload(testing::RandomFloats(values, rng, -2.f, 2.f));
      DeviceBuffer absmax = Upload(std::vector<float>(batch, 2.f));
      DeviceBuffer codes = testing::Poisoned(rows * kp), scales = testing::Poisoned(rows * 4);
      DeviceBuffer x_codes = testing::Poisoned(values);
      double ms[2] = {};
      for (int two_pass = 0; two_pass < 2; ++two_pass) {
        auto call = [&] {
          return two_pass != 0
                     ? Im2ColQuantizeInt8Nhwc16(dx.as<float>(), d, win, kp, absmax.as<float>(),
                                                127.f, FLT_MIN, x_codes.as<int8_t>(),
                                                codes.as<int8_t>(), scales.as<float>(), nullptr)
                     : Im2ColQuantizeInt8(dx.as<float>(), ActLayout::kNhwc, d, win, kp,
                                          absmax.as<float>(), 127.f, FLT_MIN, codes.as<int8_t>(),
                                          scales.as<float>(), nullptr);
        };
        for (int i = 0; i < 5; ++i) ASSERT_TRUE(call().ok());
        ASSERT_EQ(cudaEventRecord(start, nullptr), cudaSuccess);
        constexpr int kCalls = 50;
        for (int i = 0; i < kCalls; ++i) ASSERT_TRUE(call().ok());
        ASSERT_EQ(cudaEventRecord(stop, nullptr), cudaSuccess);
        ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
        float total = 0.f;
        ASSERT_EQ(cudaEventElapsedTime(&total, start, stop), cudaSuccess);
        ms[two_pass] = total / kCalls;
      }
      std::printf(
          "gather batch %3lld %-15s C %3lld %2lldx%-2lld s%lld  direct %8.2f us  "
          "two-pass %8.2f us  (%.2fx)  QuantizeOnceFirst %d\n",
          static_cast<long long>(batch), s.name, static_cast<long long>(s.c),
          static_cast<long long>(s.hw), static_cast<long long>(s.hw),
          static_cast<long long>(s.stride), 1e3 * ms[0], 1e3 * ms[1], ms[0] / ms[1],
          QuantizeOnceFirst(d, win) ? 1 : 0);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
}  // namespace octet::cuda
