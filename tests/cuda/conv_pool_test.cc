// The convolution / pooling kernels and the run-time-sized bf16 GEMM
// (conv_pool_kernels.h, bf16_gemm.h) against CPU references in double, with
// fresh random inputs (the seed is printed on failure).
//
// Tolerances. The GEMM paths round x and w to bf16 (the references use the
// same rounded values, so that rounding is not error) and accumulate in f32:
// each of the K + 2 additions errs by at most 2^-24 of the running sum, so
// |err| <= (K + 2) 2^-24 sum |x w| (a loose bound; blocked summation does
// better), plus the bias split into two bf16 (hi + lo: 2^-17 |b|). The f32
// kernels (direct conv, pooling, GELU) differ from the references only by f32
// rounding: 2^-20 of the magnitudes summed (a few ulps each) covers them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "conv_reference.h"
#include "cuda_test_util.h"
#include "octet/cuda/bf16_gemm.h"
#include "octet/cuda/conv_pool_kernels.h"

namespace octet::cuda {
namespace {

using testing::ConvCase;
using testing::Download;
using testing::OutSize;
using testing::ReferenceConv;
using testing::RoundBf16;
using testing::Upload;

std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> cases;
  auto add = [&](int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o, int64_t k, int64_t s,
                 int64_t p, int64_t dil, bool bias, bool residual, bool relu) {
    ConvCase cc;
    cc.w.kernel_h = cc.w.kernel_w = k;
    cc.w.stride_h = cc.w.stride_w = s;
    cc.w.pad_top = cc.w.pad_left = p;
    cc.w.pad_bottom = p;
    cc.w.pad_right = p + (p > 0 ? 1 : 0);  // asymmetric
    cc.w.dilation_h = cc.w.dilation_w = dil;
    cc.d = {n, c, h, wd, o, OutSize(h, k, s, p, p, dil), OutSize(wd, k, s, p, cc.w.pad_right, dil)};
    cc.bias = bias, cc.residual = residual, cc.relu = relu;
    cases.push_back(cc);
  };
  add(2, 3, 11, 13, 5, 3, 2, 1, 1, true, false, true);      // odd sizes, stride 2
  add(1, 16, 9, 7, 24, 1, 1, 0, 1, false, true, true);      // 1x1 with the residual
  add(3, 8, 10, 10, 8, 3, 1, 2, 2, true, true, false);      // dilation 2
  add(2, 3, 32, 48, 40, 16, 16, 0, 1, true, false, false);  // SAM's patch embedding
  // Pixel counts that are multiples of 8 (the 16-byte gather): resnet's stem
  // (7x7 s2, 16 x 17 outputs, so groups of 8 span output rows), and 8 x 8.
  add(2, 3, 32, 32, 16, 7, 2, 3, 1, true, true, true);
  add(1, 4, 10, 10, 8, 3, 1, 0, 1, false, false, false);
  return cases;
}

TEST(ConvBf16, Im2ColThenGemmMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const ConvCase& c : ConvCases()) {
    const uint32_t seed = testing::FreshSeed();
    const Conv2dDims& d = c.d;
    SCOPED_TRACE(::testing::Message()
                 << "x [" << d.batch << "," << d.channels << "," << d.height << "," << d.width
                 << "] o " << d.out_channels << " k " << c.w.kernel_h << ", seed " << seed);
    std::mt19937 rng(seed);
    const int64_t k = d.channels * c.w.kernel_h * c.w.kernel_w, ones = c.bias ? 2 : 0;
    const int64_t rows = (k + ones + 7) / 8 * 8, pixels = d.out_height * d.out_width;
    std::vector<float> x =
        testing::RandomFloats(d.batch * d.channels * d.height * d.width, rng, -1, 1);
    std::vector<float> wt = testing::RandomFloats(d.out_channels * k, rng, -1, 1);
    const std::vector<float> bias = testing::RandomFloats(d.out_channels, rng, -2, 2);
    const int64_t y_size = d.batch * d.out_channels * pixels;
    const std::vector<float> residual = testing::RandomFloats(y_size, rng, -2, 2);
    for (float& v : x) v = RoundBf16(v);
    for (float& v : wt) v = RoundBf16(v);
    // The lowering's packing: taps, bias hi, bias lo, zeros.
    std::vector<uint16_t> packed(d.out_channels * rows, 0);
    for (int64_t o = 0; o < d.out_channels; ++o) {
      for (int64_t r = 0; r < k; ++r) packed[o * rows + r] = FloatToBFloat16(wt[o * k + r]);
      if (c.bias) {
        packed[o * rows + k] = FloatToBFloat16(bias[o]);
        packed[o * rows + k + 1] = FloatToBFloat16(bias[o] - RoundBf16(bias[o]));
      }
    }
    DeviceBuffer dx = Upload(x), dw = Upload(packed), dr = Upload(residual);
    DeviceBuffer cols = testing::Poisoned(d.batch * rows * pixels * 2);
    DeviceBuffer dy = testing::Poisoned(y_size * 4);
    DeviceBuffer ws = testing::Poisoned(Bf16Gemm::kWorkspaceBytes);
    if (c.residual) {  // in place: C is D
      ASSERT_EQ(cudaMemcpy(dy.data(), dr.data(), y_size * 4, cudaMemcpyDefault), cudaSuccess);
    }
    Bf16GemmConfig config;
    config.relu = c.relu;
    config.accumulate = c.residual;
    auto gemm = Bf16Gemm::Create(config);
    ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
    ASSERT_TRUE(Im2ColBf16(dx.as<float>(), d, c.w, rows, ones, cols.data(), nullptr).ok());
    Bf16GemmShape s;
    s.m = pixels, s.n = d.out_channels, s.k = rows, s.lda = pixels, s.ldb = rows, s.ldc = pixels;
    s.batch = d.batch, s.stride_a = rows * pixels, s.stride_c = d.out_channels * pixels;
    const Status st = gemm->Run(s, cols.data(), dw.data(), dy.as<float>(), dy.as<float>(),
                                ws.data(), ws.bytes(), nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> y = Download<float>(dy, y_size);
    std::vector<double> ref, mag;
    ReferenceConv(x, wt, 1, c, &ref, &mag);
    for (int64_t e = 0; e < y_size; ++e) {
      const int64_t o = (e / pixels) % d.out_channels;
      double want = ref[e] + (c.bias ? bias[o] : 0.0) + (c.residual ? residual[e] : 0.0);
      if (c.relu) want = std::max(want, 0.0);
      const double tol = (k + 2) * std::ldexp(1.0, -24) * (mag[e] + std::fabs(want)) +
                         std::ldexp(1.0, -17) * std::fabs(bias[o]) + 1e-6;
      ASSERT_NEAR(y[e], want, tol) << "y[" << e << "]";
    }
  }
}

TEST(GroupedConv, DepthwiseAndGroupsMatchReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t groups : {int64_t{6}, int64_t{2}}) {
    const uint32_t seed = testing::FreshSeed();
    SCOPED_TRACE(::testing::Message() << "groups " << groups << ", seed " << seed);
    std::mt19937 rng(seed);
    ConvCase c;
    c.w.kernel_h = 3, c.w.kernel_w = 5, c.w.stride_h = 2, c.w.stride_w = 1;
    c.w.pad_top = 1, c.w.pad_left = 2, c.w.pad_bottom = 1, c.w.pad_right = 2;
    c.d = {2, 6, 9, 10, groups == 6 ? 6 : 4, OutSize(9, 3, 2, 1, 1, 1), OutSize(10, 5, 1, 2, 2, 1)};
    const Conv2dDims& d = c.d;
    const int64_t cg = d.channels / groups;
    const std::vector<float> x =
        testing::RandomFloats(d.batch * d.channels * d.height * d.width, rng, -1, 1);
    const std::vector<float> wt = testing::RandomFloats(d.out_channels * cg * 15, rng, -1, 1);
    const std::vector<float> bias = testing::RandomFloats(d.out_channels, rng, -1, 1);
    const int64_t y_size = d.batch * d.out_channels * d.out_height * d.out_width;
    const std::vector<float> residual = testing::RandomFloats(y_size, rng, -1, 1);
    DeviceBuffer dx = Upload(x), dw = Upload(wt), db = Upload(bias), dr = Upload(residual);
    DeviceBuffer dy = testing::Poisoned(y_size * 4);
    ASSERT_TRUE(GroupedConv2dF32(dx.as<float>(), dw.as<float>(), db.as<float>(), dr.as<float>(), d,
                                 c.w, groups, true, dy.as<float>(), nullptr)
                    .ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> y = Download<float>(dy, y_size);
    std::vector<double> ref, mag;
    ReferenceConv(x, wt, groups, c, &ref, &mag);
    const int64_t pixels = d.out_height * d.out_width;
    for (int64_t e = 0; e < y_size; ++e) {
      const double want = std::max(0.0, ref[e] + bias[(e / pixels) % d.out_channels] + residual[e]);
      ASSERT_NEAR(y[e], want, std::ldexp(1.0, -20) * (mag[e] + 4)) << "y[" << e << "]";
    }
  }
}

// ceil_mode is the output's extra row / column: windows hanging off the end.
// resnet's 3x3 stride 2 pad 1 window (the unrolled kernel) and a 2x3 window
// with strides (1, 2), asymmetric pads and dilation (2, 1) (the general one).
TEST(Pool2d, MaxAndAverageMatchReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int window = 0; window < 2; ++window)
    for (PoolKind kind :
         {PoolKind::kMax, PoolKind::kAverageIncludePad, PoolKind::kAverageExcludePad})
      for (bool ceil_mode : {false, true}) {
        const uint32_t seed = testing::FreshSeed();
        SCOPED_TRACE(::testing::Message()
                     << "window " << window << " kind " << static_cast<int>(kind) << " ceil "
                     << ceil_mode << ", seed " << seed);
        std::mt19937 rng(seed);
        Window2d w;
        if (window == 0) {
          w.kernel_h = w.kernel_w = 3, w.stride_h = w.stride_w = 2;
          w.pad_top = w.pad_left = 1, w.pad_bottom = w.pad_right = 1;
        } else {
          w.kernel_h = 2, w.kernel_w = 3, w.stride_h = 1, w.stride_w = 2;
          w.pad_top = 0, w.pad_left = 1, w.pad_bottom = 1, w.pad_right = 0;
          w.dilation_h = 2, w.dilation_w = 1;
        }
        const int64_t n = 2, c = 3, h = 12, wd = 9;  // 3x3: (12 + 2 - 3) / 2 = 5.5: ceil 7 rows
        const int64_t oh =
            OutSize(h, w.kernel_h, w.stride_h, w.pad_top, w.pad_bottom, w.dilation_h) + ceil_mode;
        const int64_t ow =
            OutSize(wd, w.kernel_w, w.stride_w, w.pad_left, w.pad_right, w.dilation_w);
        Conv2dDims d{n, c, h, wd, c, oh, ow};
        const std::vector<float> x = testing::RandomFloats(n * c * h * wd, rng, -3, 3);
        const int64_t y_size = n * c * oh * ow;
        DeviceBuffer dx = Upload(x), dy = testing::Poisoned(y_size * 4);
        ASSERT_TRUE(Pool2dF32(dx.as<float>(), d, w, kind, dy.as<float>(), nullptr).ok());
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
        const std::vector<float> y = Download<float>(dy, y_size);
        for (int64_t e = 0; e < y_size; ++e) {
          const int64_t ox = e % ow, oy = (e / ow) % oh, plane = e / (ow * oh);
          double best = -std::numeric_limits<double>::infinity(), sum = 0;
          int64_t count = 0;
          for (int64_t i = 0; i < w.kernel_h; ++i)
            for (int64_t j = 0; j < w.kernel_w; ++j) {
              const int64_t ih = oy * w.stride_h - w.pad_top + i * w.dilation_h;
              const int64_t iw = ox * w.stride_w - w.pad_left + j * w.dilation_w;
              if (ih >= 0 && ih < h && iw >= 0 && iw < wd) {
                const double v = x[(plane * h + ih) * wd + iw];
                best = std::max(best, v), sum += v, ++count;
              } else if (kind == PoolKind::kAverageIncludePad && ih >= -w.pad_top &&
                         ih < h + w.pad_bottom && iw >= -w.pad_left && iw < wd + w.pad_right) {
                ++count;
              }
            }
          const double want = kind == PoolKind::kMax ? best : sum / count;
          ASSERT_NEAR(y[e], want, 1e-5) << "y[" << e << "]";
        }
      }
}

// The NHWC max pool (between int8 convolutions) against a CPU maximum over
// the same taps: a maximum of f32 values is exact, so the tolerance is zero.
// C = 16 and 64 take the float4 path, C = 3 and 6 the scalar one; the
// windows: resnet's 3x3 s2 p1 (with ceil_mode's extra row and column), an
// asymmetric pad with dilation 2, and 2x2 s2 without pads.
TEST(MaxPoolNhwc, MatchesReferenceBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  struct Case {
    int64_t n, c, h, w, k, stride, pt, pl, pb, pr, dilation, extra;
    bool absmax;  // also the per-image maximum of y
  };
  // With the maximum: block steps that straddle two images (the first: 168
  // items an image, fewer than a block's 256), C = 3 (one channel a
  // thread), resnet's stem pool in small, and an output of 3.3 million
  // float4 items (two grid-stride steps; 1,658,944 items an image, not a
  // multiple of a block's).
  const Case cases[] = {{2, 16, 13, 11, 3, 2, 1, 1, 1, 1, 1, 0, true},
                        {3, 64, 8, 9, 3, 2, 1, 1, 1, 1, 1, 1, false},
                        {2, 3, 10, 7, 3, 1, 2, 0, 1, 2, 2, 0, true},
                        {1, 6, 9, 9, 2, 2, 0, 0, 0, 0, 1, 0, false},
                        {2, 16, 224 / 4, 224 / 4, 3, 2, 1, 1, 1, 1, 1, 0, true},
                        {2, 256, 322, 322, 3, 2, 1, 1, 1, 1, 1, 0, true}};
  for (const Case& t : cases) {
    const uint32_t seed = testing::FreshSeed();
    SCOPED_TRACE(::testing::Message()
                 << "c " << t.c << " " << t.h << "x" << t.w << " k " << t.k << " seed " << seed);
    std::mt19937 rng(seed);
    Window2d w;
    w.kernel_h = w.kernel_w = t.k;
    w.stride_h = w.stride_w = t.stride;
    w.pad_top = t.pt, w.pad_left = t.pl, w.pad_bottom = t.pb, w.pad_right = t.pr;
    w.dilation_h = w.dilation_w = t.dilation;
    Conv2dDims d{t.n,
                 t.c,
                 t.h,
                 t.w,
                 t.c,
                 (t.h + t.pt + t.pb - t.dilation * (t.k - 1) - 1) / t.stride + 1 + t.extra,
                 (t.w + t.pl + t.pr - t.dilation * (t.k - 1) - 1) / t.stride + 1 + t.extra};
    // Each image in its own range, so that a maximum raised into the wrong
    // image shows.
    std::vector<float> x = testing::RandomFloats(t.n * t.h * t.w * t.c, rng, -3, 3);
    for (int64_t e = 0; e < static_cast<int64_t>(x.size()); ++e)
      x[e] *= static_cast<float>(1 + e / (t.h * t.w * t.c));
    const int64_t y_size = t.n * d.out_height * d.out_width * t.c;
    DeviceBuffer dx = Upload(x), dy = testing::Poisoned(y_size * 4 + 64);
    const bool absmax = t.absmax;  // poisoned first: the call zeroes it
    DeviceBuffer dm = testing::Poisoned(t.n * 4);
    ASSERT_TRUE(MaxPool2dNhwcF32(dx.as<float>(), d, w, dy.as<float>(), nullptr,
                                 absmax ? dm.as<float>() : nullptr)
                    .ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> y = Download<float>(dy, y_size + 16);
    if (absmax) {
      // Exact: the maximum of the same f32 values.
      const std::vector<float> got = Download<float>(dm, t.n);
      const int64_t image = y_size / t.n;
      for (int64_t b = 0; b < t.n; ++b) {
        float want = 0.f;
        for (int64_t e = b * image; e < (b + 1) * image; ++e)
          want = std::max(want, std::fabs(y[e]));
        EXPECT_EQ(got[b], want) << "image " << b << " max |y|";
      }
    }
    for (int64_t e = y_size; e < y_size + 16; ++e) {
      uint32_t bits;
      std::memcpy(&bits, &y[e], 4);
      ASSERT_EQ(bits, 0xFFFFFFFFu) << "float " << e - y_size << " past the output was written";
    }
    for (int64_t e = 0; e < y_size; ++e) {
      const int64_t c = e % t.c, ow = (e / t.c) % d.out_width;
      const int64_t oh = (e / (t.c * d.out_width)) % d.out_height;
      const int64_t b = e / (t.c * d.out_width * d.out_height);
      float best = -std::numeric_limits<float>::infinity();
      for (int64_t i = 0; i < t.k; ++i)
        for (int64_t j = 0; j < t.k; ++j) {
          const int64_t ih = oh * t.stride - t.pt + i * t.dilation;
          const int64_t iw = ow * t.stride - t.pl + j * t.dilation;
          if (ih >= 0 && ih < t.h && iw >= 0 && iw < t.w)
            best = std::max(best, x[((b * t.h + ih) * t.w + iw) * t.c + c]);
        }
      ASSERT_EQ(y[e], best) << "y[" << e << "]";
    }
  }
}

// The epilogues of a cuDNN convolution (NhwcBf16EpilogueInPlace: y stays
// bf16 NHWC; NhwcBf16ToNchwF32: y f32 NCHW) with the residual in either
// layout. Each value is the same f32 additions in the same order and at
// most one rounding, so the host's same steps give the same bits. 16
// channels take the 8-wide kernel, 6 channels (and a 16-byte misaligned
// pointer) the scalar one; NaN stays NaN through the relu.
TEST(NhwcBf16Epilogue, MatchesHostBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  enum class Res { kNone, kNhwc, kNchw };
  struct Case {
    int64_t batch, pixels, channels, offset;
    bool bias, relu;
    Res residual;
  };
  for (const Case& c :
       {Case{2, 35, 16, 0, true, true, Res::kNone}, Case{1, 33, 16, 0, true, false, Res::kNhwc},
        Case{3, 11, 6, 0, true, true, Res::kNhwc}, Case{2, 9, 16, 1, false, true, Res::kNone},
        Case{2, 45, 40, 0, true, true, Res::kNchw}, Case{1, 7, 6, 0, false, false, Res::kNchw}}) {
    const uint32_t seed = testing::FreshSeed();
    SCOPED_TRACE(::testing::Message()
                 << "batch " << c.batch << " pixels " << c.pixels << " channels " << c.channels
                 << " offset " << c.offset << " residual " << static_cast<int>(c.residual)
                 << ", seed " << seed);
    std::mt19937 rng(seed);
    const int64_t n = c.batch * c.pixels * c.channels;
    std::vector<float> values = testing::RandomFloats(n + c.offset, rng, -3, 3);
    values[c.offset] = std::numeric_limits<float>::quiet_NaN();
    std::vector<uint16_t> y(values.size()), res_nhwc(n);
    for (size_t i = 0; i < y.size(); ++i) y[i] = FloatToBFloat16(values[i]);
    const std::vector<float> r = testing::RandomFloats(n, rng, -2, 2);
    for (int64_t i = 0; i < n; ++i) res_nhwc[i] = FloatToBFloat16(r[i]);
    const std::vector<float>& res_nchw = r;  // [N, C, HW]
    const std::vector<float> bias = testing::RandomFloats(c.channels, rng, -1, 1);
    DeviceBuffer dy = Upload(y), db = Upload(bias), drh = Upload(res_nhwc), drc = Upload(res_nchw);
    DeviceBuffer conv = Upload(y), out = testing::Poisoned(n * 4);  // for NhwcBf16ToNchwF32
    // The residual of NHWC element i = (b, p, ch).
    auto residual_at = [&](int64_t i) -> float {
      const int64_t ch = i % c.channels, p = (i / c.channels) % c.pixels,
                    b = i / (c.channels * c.pixels);
      return c.residual == Res::kNhwc   ? BFloat16ToFloat(res_nhwc[i])
             : c.residual == Res::kNchw ? res_nchw[(b * c.channels + ch) * c.pixels + p]
                                        : 0.f;
    };
    uint16_t* at = dy.as<uint16_t>() + c.offset;
    ASSERT_TRUE(NhwcBf16EpilogueInPlace(
                    at, c.batch, c.channels, c.pixels, c.bias ? db.as<float>() : nullptr,
                    c.residual == Res::kNhwc ? drh.data() : nullptr,
                    c.residual == Res::kNchw ? drc.as<float>() : nullptr, c.relu, nullptr)
                    .ok());
    // NhwcBf16ToNchwF32 adds an NHWC residual as it reads conv, then the bias.
    if (c.residual != Res::kNchw && c.offset == 0) {
      ASSERT_TRUE(NhwcBf16ToNchwF32(conv.data(), c.batch, c.channels, c.pixels,
                                    c.bias ? db.as<float>() : nullptr, nullptr, c.relu,
                                    out.as<float>(), nullptr,
                                    c.residual == Res::kNhwc ? drh.data() : nullptr)
                      .ok());
    }
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<uint16_t> got = Download<uint16_t>(dy, y.size());
    const std::vector<float> got_nchw = Download<float>(out, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t ch = i % c.channels, p = (i / c.channels) % c.pixels,
                    b = i / (c.channels * c.pixels);
      float f = BFloat16ToFloat(y[c.offset + i]);
      if (c.bias) f += bias[ch];
      if (c.residual != Res::kNone) f += residual_at(i);
      if (c.relu && f <= 0.f) f = 0.f;
      if (std::isnan(f)) {
        ASSERT_TRUE(std::isnan(BFloat16ToFloat(got[c.offset + i]))) << "y[" << i << "]";
      } else {
        ASSERT_EQ(got[c.offset + i], FloatToBFloat16(f)) << "y[" << i << "]";
      }
      if (c.residual == Res::kNchw || c.offset != 0) continue;
      float g = BFloat16ToFloat(y[i]);
      if (c.residual == Res::kNhwc) g += residual_at(i);
      if (c.bias) g += bias[ch];
      if (c.relu && g <= 0.f) g = 0.f;
      const float o = got_nchw[(b * c.channels + ch) * c.pixels + p];
      if (std::isnan(g)) {
        ASSERT_TRUE(std::isnan(o)) << "nchw of y[" << i << "]";
      } else {
        ASSERT_EQ(o, g) << "nchw of y[" << i << "]";
      }
    }
  }
  DeviceBuffer one = Upload(std::vector<uint16_t>(8));
  EXPECT_FALSE(
      NhwcBf16EpilogueInPlace(nullptr, 1, 4, 2, nullptr, nullptr, nullptr, true, nullptr).ok());
  EXPECT_FALSE(NhwcBf16EpilogueInPlace(one.data(), 1, 4, 2, nullptr, one.data(),
                                       reinterpret_cast<const float*>(one.data()), true, nullptr)
                   .ok());
}

TEST(GlobalAveragePool, MatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t plane : {int64_t{1}, int64_t{49}, int64_t{3136}}) {
    const uint32_t seed = testing::FreshSeed();
    SCOPED_TRACE(::testing::Message() << "plane " << plane << ", seed " << seed);
    std::mt19937 rng(seed);
    const int64_t planes = 37;
    const std::vector<float> x = testing::RandomFloats(planes * plane, rng, -2, 2);
    DeviceBuffer dx = Upload(x), dy = testing::Poisoned(planes * 4);
    ASSERT_TRUE(GlobalAveragePoolF32(dx.as<float>(), planes, plane, dy.as<float>(), nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> y = Download<float>(dy, planes);
    for (int64_t p = 0; p < planes; ++p) {
      double sum = 0, mag = 0;
      for (int64_t i = 0; i < plane; ++i)
        sum += x[p * plane + i], mag += std::fabs(x[p * plane + i]);
      ASSERT_NEAR(y[p], sum / plane, std::ldexp(1.0, -20) * mag / plane + 1e-7) << p;
    }
  }
}

// The float linear layer's form: y[M, N] = act(x W^T + bias) with W bf16
// [N, K] (transposed A in column-major terms), several M at one GEMM object.
TEST(Bf16Gemm, LinearWithBiasReluAndGelu) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const char* act : {"relu", "gelu"}) {
    Bf16GemmConfig config;
    const int64_t n = 72, k = 100;
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const std::vector<uint16_t> w = testing::ToBf16(testing::RandomFloats(n * k, rng, -1, 1));
    const std::vector<float> bias = testing::RandomFloats(n, rng, -1, 1);
    DeviceBuffer dw = Upload(w), db = Upload(bias),
                 ws = testing::Poisoned(Bf16Gemm::kWorkspaceBytes);
    config.bias = db.as<float>();
    config.relu = std::string(act) == "relu";
    auto gemm = Bf16Gemm::Create(config);
    ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
    for (int64_t m : {int64_t{1}, int64_t{37}, int64_t{300}}) {
      SCOPED_TRACE(::testing::Message() << act << " m " << m << ", seed " << seed);
      const std::vector<uint16_t> x = testing::ToBf16(testing::RandomFloats(m * k, rng, -1, 1));
      DeviceBuffer dx = Upload(x), dy = testing::Poisoned(m * n * 4);
      Bf16GemmShape s;
      s.m = n, s.n = m, s.k = k, s.trans_a = true, s.lda = k, s.ldb = k, s.ldc = n;
      Status st = gemm->Run(s, dw.data(), dx.data(), nullptr, dy.as<float>(), ws.data(), ws.bytes(),
                            nullptr);
      if (st.ok() && !config.relu) st = GeluErfF32InPlace(dy.as<float>(), m * n, nullptr);
      ASSERT_TRUE(st.ok()) << st.ToString();
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> y = Download<float>(dy, m * n);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          double dot = bias[j], mag = std::fabs(bias[j]);
          for (int64_t kk = 0; kk < k; ++kk) {
            const double p =
                double{BFloat16ToFloat(x[i * k + kk])} * BFloat16ToFloat(w[j * k + kk]);
            dot += p, mag += std::fabs(p);
          }
          const double want =
              config.relu ? std::max(dot, 0.0) : 0.5 * dot * (1 + std::erf(dot / std::sqrt(2.0)));
          // GELU's slope is at most 1.13; erff is within 2 ulps.
          ASSERT_NEAR(y[i * n + j], want, 1.13 * (k + 1) * std::ldexp(1.0, -24) * mag + 1e-6)
              << "y[" << i << "," << j << "]";
        }
    }
  }
}

}  // namespace
}  // namespace octet::cuda
