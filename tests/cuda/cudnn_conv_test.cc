// The cuDNN path of the float convolutions against the CPU reference in
// double, with fresh random inputs (the seed is printed on failure): x
// converted to bf16 NHWC (NchwF32ToNhwcBf16), CudnnConv, and back to f32
// NCHW with the bias, residual (separate or in y itself) and relu
// (NhwcBf16ToNchwF32), for plain, strided, dilated, 1x1 and grouped windows.
//
// Tolerance. The reference uses the bf16-rounded x and w, so that rounding
// is not error. cuDNN accumulates in f32 (each of K additions errs by at most
// 2^-24 of the running sum: K 2^-24 of the magnitude sum |x w|) and rounds
// the convolution to bf16 (8 significant bits: at most 2^-8 of it); the bias
// and residual additions are f32. So |err| <= 2^-8 |conv| + K 2^-24 sum |x w|
// + 2^-22 |y|. A wrong tap, pad or channel is off by a whole product, far
// above that.
#include "octet/cuda/cudnn_conv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "conv_reference.h"
#include "cuda_test_util.h"
#include "octet/cuda/conv_pool_kernels.h"
#include "octet/dtype.h"

namespace octet::cuda {
namespace {

using testing::ConvCase;
using testing::Download;
using testing::OutSize;
using testing::ReferenceConv;
using testing::RoundBf16;
using testing::Upload;

enum class Residual { kNone, kSeparate, kInY };

struct CudnnCase {
  ConvCase c;
  int64_t groups = 1;
  Residual residual = Residual::kNone;
};

std::vector<CudnnCase> Cases() {
  std::vector<CudnnCase> cases;
  auto add = [&](int64_t n, int64_t c, int64_t h, int64_t wd, int64_t o, int64_t k, int64_t s,
                 int64_t p, int64_t dil, int64_t groups, bool bias, Residual r, bool relu) {
    CudnnCase cc;
    Window2d& w = cc.c.w;
    w.kernel_h = w.kernel_w = k;
    w.stride_h = w.stride_w = s;
    w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = p;
    w.dilation_h = w.dilation_w = dil;
    cc.c.d = {n, c, h, wd, o, OutSize(h, k, s, p, p, dil), OutSize(wd, k, s, p, p, dil)};
    cc.c.bias = bias, cc.c.residual = r != Residual::kNone, cc.c.relu = relu;
    cc.groups = groups;
    cc.residual = r;
    cases.push_back(cc);
  };
  add(2, 16, 11, 13, 24, 3, 2, 1, 1, 1, true, Residual::kNone, true);       // odd sizes, stride 2
  add(1, 32, 9, 7, 40, 1, 1, 0, 1, 1, false, Residual::kInY, true);         // 1x1 + residual in y
  add(3, 16, 10, 10, 16, 3, 1, 2, 2, 1, true, Residual::kSeparate, false);  // dilation 2
  add(2, 64, 14, 14, 64, 3, 1, 1, 1, 1, false, Residual::kNone, false);     // resnet-like
  add(2, 40, 33, 35, 48, 1, 2, 0, 1, 1, true, Residual::kSeparate, true);   // 1x1 stride 2, not x32
  add(2, 32, 9, 10, 16, 5, 1, 2, 1, 2, false, Residual::kInY, false);       // 2 groups
  return cases;
}

TEST(CudnnConv, Bf16NhwcRoundTripMatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!CudnnConv::Built()) GTEST_SKIP() << "octet_cuda built without cuDNN";
  for (const CudnnCase& cc : Cases()) {
    const ConvCase& c = cc.c;
    const Conv2dDims& d = c.d;
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const int64_t cg = d.channels / cc.groups, kk = c.w.kernel_h * c.w.kernel_w;
    const int64_t pixels = d.out_height * d.out_width, y_size = d.batch * d.out_channels * pixels;
    std::vector<float> x =
        testing::RandomFloats(d.batch * d.channels * d.height * d.width, rng, -1, 1);
    std::vector<float> wt = testing::RandomFloats(d.out_channels * cg * kk, rng, -1, 1);
    for (float& v : x) v = RoundBf16(v);
    for (float& v : wt) v = RoundBf16(v);
    const std::vector<float> bias = testing::RandomFloats(d.out_channels, rng, -2, 2);
    const std::vector<float> residual = testing::RandomFloats(y_size, rng, -2, 2);
    // Weights [O, C/g, kh, kw] -> bf16 [O, kh, kw, C/g].
    std::vector<uint16_t> ohwi(wt.size());
    for (int64_t o = 0; o < d.out_channels; ++o)
      for (int64_t ci = 0; ci < cg; ++ci)
        for (int64_t r = 0; r < kk; ++r)
          ohwi[(o * kk + r) * cg + ci] = FloatToBFloat16(wt[(o * cg + ci) * kk + r]);
    DeviceBuffer dx = Upload(x), dw = Upload(ohwi), db = Upload(bias), dr = Upload(residual);
    DeviceBuffer xh = testing::Poisoned(x.size() * 2), yh = testing::Poisoned(y_size * 2);
    DeviceBuffer dy = testing::Poisoned(y_size * 4);
    DeviceBuffer ws = testing::Poisoned(CudnnConv::kWorkspaceBytes);
    const float* residual_ptr = nullptr;
    if (cc.residual == Residual::kSeparate) residual_ptr = dr.as<float>();
    if (cc.residual == Residual::kInY) {
      ASSERT_EQ(cudaMemcpy(dy.data(), dr.data(), y_size * 4, cudaMemcpyDefault), cudaSuccess);
      residual_ptr = dy.as<float>();
    }
    CudnnConvConfig config;
    config.window = c.w;
    config.groups = cc.groups;
    config.out_channels = d.out_channels;
    config.channels_per_group = cg;
    config.weights = dw.data();
    auto conv = CudnnConv::Create(config);
    ASSERT_TRUE(conv.ok()) << conv.status().ToString();
    auto algo = conv->AlgorithmFor(d, ws.bytes());
    ASSERT_TRUE(algo.ok()) << algo.status().ToString();
    SCOPED_TRACE(::testing::Message()
                 << "x [" << d.batch << "," << d.channels << "," << d.height << "," << d.width
                 << "] o " << d.out_channels << " k " << c.w.kernel_h << " groups " << cc.groups
                 << " residual " << static_cast<int>(cc.residual) << ", " << *algo << ", seed "
                 << seed);
    Status st = NchwF32ToNhwcBf16(dx.as<float>(), d.batch, d.channels, d.height * d.width,
                                  xh.data(), nullptr);
    if (st.ok()) st = conv->Run(d, xh.data(), yh.data(), ws.data(), ws.bytes(), nullptr);
    if (st.ok())
      st = NhwcBf16ToNchwF32(yh.data(), d.batch, d.out_channels, pixels,
                             c.bias ? db.as<float>() : nullptr, residual_ptr, c.relu,
                             dy.as<float>(), nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> y = Download<float>(dy, y_size);
    std::vector<double> ref, mag;
    ReferenceConv(x, wt, cc.groups, c, &ref, &mag);
    for (int64_t e = 0; e < y_size; ++e) {
      const int64_t o = (e / pixels) % d.out_channels;
      double want = ref[e] + (c.bias ? bias[o] : 0.0) + (c.residual ? residual[e] : 0.0);
      if (c.relu) want = std::max(want, 0.0);
      const double tol = std::ldexp(std::fabs(ref[e]), -8) + cg * kk * std::ldexp(mag[e], -24) +
                         std::ldexp(std::fabs(want) + 1, -22);
      ASSERT_NEAR(y[e], want, tol) << "y[" << e << "]";
    }
  }
}

// What the convolution cannot take is refused with the reason, before any
// kernel runs.
TEST(CudnnConv, RefusesAsymmetricPadsAndMismatchedDims) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!CudnnConv::Built()) GTEST_SKIP() << "octet_cuda built without cuDNN";
  DeviceBuffer dw = Upload(std::vector<uint16_t>(16 * 9 * 16, 0x3f00));
  CudnnConvConfig config;
  config.window.kernel_h = config.window.kernel_w = 3;
  config.window.pad_top = config.window.pad_left = config.window.pad_bottom = 1;
  config.window.pad_right = 2;
  config.out_channels = 16;
  config.channels_per_group = 16;
  config.weights = dw.data();
  auto asymmetric = CudnnConv::Create(config);
  ASSERT_FALSE(asymmetric.ok());
  EXPECT_NE(asymmetric.status().message().find("symmetric pads"), std::string::npos)
      << asymmetric.status().ToString();
  config.window.pad_right = 1;
  auto conv = CudnnConv::Create(config);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  const Conv2dDims wrong_channels{1, 8, 8, 8, 16, 8, 8};
  const Status st = conv->Run(wrong_channels, dw.data(), dw.data(), nullptr, 0, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not fit the weights"), std::string::npos) << st.ToString();
}

// Without cuDNN in the build, Create says what to do instead.
TEST(CudnnConv, UnbuiltSaysHowToCompileWithout) {
  if (CudnnConv::Built()) GTEST_SKIP() << "octet_cuda has cuDNN";
  auto conv = CudnnConv::Create(CudnnConvConfig{});
  ASSERT_FALSE(conv.ok());
  EXPECT_NE(conv.status().message().find("--cuda-conv im2col"), std::string::npos);
}

}  // namespace
}  // namespace octet::cuda
