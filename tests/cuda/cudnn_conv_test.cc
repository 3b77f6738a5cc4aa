// CudnnConv (cudnn_conv.h) against the CPU reference in double, with fresh
// random inputs (the seed is printed on failure): plain, grouped and
// depthwise windows, strides, dilation, SAM's patch embedding, each epilogue
// (bias, residual in a separate buffer or in y itself, relu).
//
// Tolerance. cuDNN runs f32 data in TF32 on the tensor cores: each input is
// rounded to 10 mantissa bits (2^-11 relative), so a product errs by at most
// about 2^-10 of itself and a sum of products by 2^-10 of the magnitude sum
// |x w| (the bound when every error has the same sign). Algorithms with
// transforms (Winograd, FFT) add rounding of the transformed values of the
// same order; 2^-9 of the magnitude sum covers both, plus f32 rounding of the
// bias and residual additions. A wrong tap, pad or channel is off by a whole
// product (far above 2^-9 of the sum).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "conv_reference.h"
#include "cuda_test_util.h"
#include "octet/cuda/cudnn_conv.h"

namespace octet::cuda {
namespace {

using testing::ConvCase;
using testing::Download;
using testing::OutSize;
using testing::ReferenceConv;
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
  add(2, 3, 11, 13, 5, 3, 2, 1, 1, 1, true, Residual::kNone, true);     // odd sizes, stride 2
  add(1, 16, 9, 7, 24, 1, 1, 0, 1, 1, false, Residual::kInY, true);     // 1x1 + residual in y
  add(3, 8, 10, 10, 8, 3, 1, 2, 2, 1, true, Residual::kSeparate, false);  // dilation 2
  add(2, 3, 32, 48, 40, 16, 16, 0, 1, 1, true, Residual::kNone, false);   // SAM's patch embedding
  add(2, 64, 14, 14, 64, 3, 1, 1, 1, 1, false, Residual::kNone, false);   // resnet-like, no epilogue
  add(2, 6, 9, 10, 6, 3, 2, 1, 1, 6, true, Residual::kSeparate, true);    // depthwise
  add(2, 8, 9, 10, 4, 5, 1, 2, 1, 2, false, Residual::kInY, false);       // 2 groups
  return cases;
}

TEST(CudnnConv, MatchesReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!CudnnConv::Built()) GTEST_SKIP() << "octet_cuda built without cuDNN";
  for (const CudnnCase& cc : Cases()) {
    const ConvCase& c = cc.c;
    const Conv2dDims& d = c.d;
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const int64_t cg = d.channels / cc.groups, taps = cg * c.w.kernel_h * c.w.kernel_w;
    const int64_t pixels = d.out_height * d.out_width, y_size = d.batch * d.out_channels * pixels;
    const std::vector<float> x =
        testing::RandomFloats(d.batch * d.channels * d.height * d.width, rng, -1, 1);
    const std::vector<float> wt = testing::RandomFloats(d.out_channels * taps, rng, -1, 1);
    const std::vector<float> bias = testing::RandomFloats(d.out_channels, rng, -2, 2);
    const std::vector<float> residual = testing::RandomFloats(y_size, rng, -2, 2);
    DeviceBuffer dx = Upload(x), dw = Upload(wt), db = Upload(bias), dr = Upload(residual);
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
    config.weights = dw.as<float>();
    config.bias = c.bias ? db.as<float>() : nullptr;
    config.relu = c.relu;
    auto conv = CudnnConv::Create(config);
    ASSERT_TRUE(conv.ok()) << conv.status().ToString();
    auto algo = conv->AlgorithmFor(d, ws.bytes());
    ASSERT_TRUE(algo.ok()) << algo.status().ToString();
    SCOPED_TRACE(::testing::Message()
                 << "x [" << d.batch << "," << d.channels << "," << d.height << "," << d.width
                 << "] o " << d.out_channels << " k " << c.w.kernel_h << " groups " << cc.groups
                 << " residual " << static_cast<int>(cc.residual) << ", " << *algo << ", seed "
                 << seed);
    const Status st =
        conv->Run(d, dx.as<float>(), residual_ptr, dy.as<float>(), ws.data(), ws.bytes(), nullptr);
    ASSERT_TRUE(st.ok()) << st.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> y = Download<float>(dy, y_size);
    std::vector<double> ref, mag;
    ReferenceConv(x, wt, cc.groups, c, &ref, &mag);
    for (int64_t e = 0; e < y_size; ++e) {
      const int64_t o = (e / pixels) % d.out_channels;
      double want = ref[e] + (c.bias ? bias[o] : 0.0) + (c.residual ? residual[e] : 0.0);
      if (c.relu) want = std::max(want, 0.0);
      const double tol = std::ldexp(1.0, -9) * mag[e] + std::ldexp(1.0, -21) * (std::fabs(want) + 4);
      ASSERT_NEAR(y[e], want, tol) << "y[" << e << "]";
    }
  }
}

// What the convolution cannot take is refused with the reason, before any
// kernel runs.
TEST(CudnnConv, RefusesAsymmetricPadsAndMismatchedDims) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  if (!CudnnConv::Built()) GTEST_SKIP() << "octet_cuda built without cuDNN";
  DeviceBuffer dw = Upload(std::vector<float>(4 * 2 * 9, 0.5f));
  CudnnConvConfig config;
  config.window.kernel_h = config.window.kernel_w = 3;
  config.window.pad_top = config.window.pad_left = config.window.pad_bottom = 1;
  config.window.pad_right = 2;
  config.out_channels = 4;
  config.channels_per_group = 2;
  config.weights = dw.as<float>();
  auto asymmetric = CudnnConv::Create(config);
  ASSERT_FALSE(asymmetric.ok());
  EXPECT_NE(asymmetric.status().message().find("symmetric pads"), std::string::npos)
      << asymmetric.status().ToString();
  config.window.pad_right = 1;
  auto conv = CudnnConv::Create(config);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  const Conv2dDims wrong_channels{1, 3, 8, 8, 4, 8, 8};
  const Status st = conv->Run(wrong_channels, dw.as<float>(), nullptr, nullptr, nullptr, 0, nullptr);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("does not fit the weights [4, 2, 3, 3]"), std::string::npos)
      << st.ToString();
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
