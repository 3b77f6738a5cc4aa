// ChannelLayerNorm (SAM's LayerNorm2d: a LayerNorm over axis 1) against a
// double-precision evaluation of the same formula. The kernel sums in f32
// (16 strided partial sums, then those in order) and rounds each operation
// once; for C values of magnitude <= ~4 the f32 mean and variance are within
// ~C * 2^-24 relative of the double ones, so outputs of magnitude <= ~10
// agree within 2e-5 absolute (a wrong stride or channel gives errors of
// order 1).
#include <gtest/gtest.h>

#include <cmath>

#include "cuda_test_util.h"
#include "octet/cuda/float_kernels.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

TEST(ChannelLayerNorm, MatchesADoubleReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  struct Case {
    int64_t outer, channels, inner;
  };
  // SAM's neck (256 channels, 64 x 64), an inner size that is no multiple of
  // the block, one channel, one column.
  for (const Case c : {Case{2, 256, 4096}, Case{3, 7, 37}, Case{1, 1, 5}, Case{4, 33, 1}}) {
    for (bool in_place : {false, true}) {
      const uint32_t seed = testing::FreshSeed();
      SCOPED_TRACE(::testing::Message() << c.outer << " x " << c.channels << " x " << c.inner
                                        << (in_place ? " in place" : "") << ", seed " << seed);
      std::mt19937 rng(seed);
      const int64_t n = c.outer * c.channels * c.inner;
      std::vector<float> x = testing::RandomFloats(n, rng, -4.f, 4.f);
      LayerNormConfig config;
      config.k = c.channels;
      config.scale = testing::RandomFloats(c.channels, rng, 0.5f, 1.5f);
      config.bias = testing::RandomFloats(c.channels, rng, -0.5f, 0.5f);
      config.epsilon = 1e-6f;
      auto kernel = ChannelLayerNorm::Create(config);
      ASSERT_TRUE(kernel.ok()) << kernel.status().ToString();
      DeviceBuffer in = Upload(x), out = testing::Poisoned(n * 4);
      float* y = in_place ? in.as<float>() : out.as<float>();
      ASSERT_TRUE(kernel->Run(in.as<float>(), c.outer, c.inner, y, nullptr).ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> got = Download<float>(in_place ? in : out, n);
      for (int64_t o = 0; o < c.outer; ++o)
        for (int64_t i = 0; i < c.inner; ++i) {
          auto at = [&](int64_t ch) { return (o * c.channels + ch) * c.inner + i; };
          double mean = 0, var = 0;
          for (int64_t ch = 0; ch < c.channels; ++ch) mean += x[at(ch)];
          mean /= c.channels;
          for (int64_t ch = 0; ch < c.channels; ++ch)
            var += (x[at(ch)] - mean) * (x[at(ch)] - mean);
          const double den = std::sqrt(var / c.channels + config.epsilon);
          for (int64_t ch = 0; ch < c.channels; ++ch) {
            const double want = (x[at(ch)] - mean) / den * config.scale[ch] + config.bias[ch];
            ASSERT_NEAR(got[at(ch)], want, 2e-5)
                << "outer " << o << " channel " << ch << " inner " << i;
          }
        }
    }
  }
}

TEST(ChannelLayerNorm, RejectsBadConfigurations) {
  LayerNormConfig config;
  config.k = 4;
  config.scale.assign(3, 1.f);
  auto k = ChannelLayerNorm::Create(config);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("3 scale values, expected 4"), std::string::npos)
      << k.status().ToString();
  config.scale.assign(4, 1.f);
  config.epsilon = -1.f;
  k = ChannelLayerNorm::Create(config);
  ASSERT_FALSE(k.ok());
  EXPECT_NE(k.status().message().find("epsilon"), std::string::npos) << k.status().ToString();
}

}  // namespace
}  // namespace octet::cuda
