// QuantizeRowsPerToken against the int8-dynamic preset's arithmetic computed
// here on the CPU. The kernel does the same IEEE f32 operations (a division,
// a max, round-half-even), so codes and scales must match bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cuda_test_util.h"
#include "octet/cuda/float_kernels.h"
#include "octet/cuda/int8_kernels.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

// The QDQ graph of passes/quant/src/convert.cc (DynamicPerToken) and
// x86::QuantizeRowsPerToken: scale = max(absmax / qmax, min_scale),
// q = saturate(round_half_even(x / scale)).
void ReferenceQuantize(const std::vector<float>& x, int64_t rows, int64_t k, float qmax,
                       float min_scale, std::vector<int8_t>* codes, std::vector<float>* scales) {
  codes->resize(rows * k);
  scales->resize(rows);
  for (int64_t r = 0; r < rows; ++r) {
    float absmax = 0.f;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(x[r * k + i]));
    const float scale = std::max(absmax / qmax, min_scale);
    (*scales)[r] = scale;
    for (int64_t i = 0; i < k; ++i) {
      const float v = std::nearbyint(x[r * k + i] / scale);
      (*codes)[r * k + i] = static_cast<int8_t>(std::min(127.f, std::max(-128.f, v)));
    }
  }
}

struct QuantCase {
  int64_t rows, k;
  DType type;
};

class QuantizeRowsPerTokenTest : public ::testing::TestWithParam<QuantCase> {};

TEST_P(QuantizeRowsPerTokenTest, MatchesThePresetBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const QuantCase c = GetParam();
  const uint32_t seed = testing::FreshSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed << ", rows " << c.rows << ", k " << c.k
                                    << ", " << DTypeName(c.type));
  std::mt19937 rng(seed);
  // Rows of different magnitudes, one all-zero row (scale = min_scale, codes
  // 0) and one with a single spike (everything else rounds towards 0).
  std::vector<float> x;
  for (int64_t r = 0; r < c.rows; ++r) {
    const float magnitude = std::ldexp(1.f, static_cast<int>(rng() % 20) - 10);
    std::vector<float> row = testing::RandomFloats(c.k, rng, -magnitude, magnitude);
    if (r == 1) std::fill(row.begin(), row.end(), 0.f);
    if (r == 2) row[rng() % c.k] = 1000.f * magnitude;
    x.insert(x.end(), row.begin(), row.end());
  }
  DeviceBuffer src;
  if (c.type == DType::kBF16) {
    const std::vector<uint16_t> bf16 = testing::ToBf16(x);
    for (size_t i = 0; i < x.size(); ++i) x[i] = BFloat16ToFloat(bf16[i]);  // what the GPU sees
    src = Upload(bf16);
  } else {
    src = Upload(x);
  }
  QuantizeRowsPerTokenConfig config;
  config.k = c.k;
  config.src_type = c.type;
  auto quant = QuantizeRowsPerToken::Create(config);
  ASSERT_TRUE(quant.ok()) << quant.status().ToString();
  DeviceBuffer codes = testing::Poisoned(c.rows * c.k);
  DeviceBuffer scales = testing::Poisoned(c.rows * sizeof(float));
  ASSERT_TRUE(quant->Run(src.data(), c.rows, codes.as<int8_t>(), scales.as<float>(), nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  std::vector<int8_t> want_codes;
  std::vector<float> want_scales;
  ReferenceQuantize(x, c.rows, c.k, config.qmax, config.min_scale, &want_codes, &want_scales);
  const std::vector<int8_t> got_codes = Download<int8_t>(codes, c.rows * c.k);
  const std::vector<float> got_scales = Download<float>(scales, c.rows);
  for (int64_t r = 0; r < c.rows; ++r)
    ASSERT_EQ(got_scales[r], want_scales[r]) << "scale of row " << r;
  for (int64_t i = 0; i < c.rows * c.k; ++i)
    ASSERT_EQ(got_codes[i], want_codes[i])
        << "code " << i << " (row " << i / c.k << ", x = " << x[i] << ")";
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, QuantizeRowsPerTokenTest,
    ::testing::Values(QuantCase{3, 16, DType::kF32}, QuantCase{1, 768, DType::kBF16},
                      QuantCase{5, 100, DType::kF32}, QuantCase{77, 768, DType::kBF16},
                      QuantCase{33, 1280, DType::kF32}, QuantCase{9, 5120, DType::kBF16},
                      QuantCase{300, 257, DType::kBF16}, QuantCase{20, 3072, DType::kF32},
                      QuantCase{13, 20480, DType::kF32}));

TEST(QuantizeRowsPerToken, RejectsBadConfigurations) {
  QuantizeRowsPerTokenConfig config;
  config.k = 0;
  EXPECT_EQ(QuantizeRowsPerToken::Create(config).status().code(), StatusCode::kInvalidArgument);
  config.k = 64;
  config.src_type = DType::kI8;
  auto bad_type = QuantizeRowsPerToken::Create(config);
  EXPECT_EQ(bad_type.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_type.status().message().find("f32 or bf16, got i8"), std::string::npos)
      << bad_type.status().message();
  config.src_type = DType::kF32;
  config.qmax = 255.f;
  EXPECT_EQ(QuantizeRowsPerToken::Create(config).status().code(), StatusCode::kInvalidArgument);
  config.qmax = 127.f;
  config.min_scale = 0.f;
  EXPECT_EQ(QuantizeRowsPerToken::Create(config).status().code(), StatusCode::kInvalidArgument);
}

TEST(QuantizeRowsPerToken, ZeroRowsIsANoOpAndNullBuffersAreRejected) {
  QuantizeRowsPerTokenConfig config;
  config.k = 64;
  auto quant = QuantizeRowsPerToken::Create(config);
  ASSERT_TRUE(quant.ok());
  EXPECT_TRUE(quant->Run(nullptr, 0, nullptr, nullptr, nullptr).ok());
  EXPECT_EQ(quant->Run(nullptr, 4, nullptr, nullptr, nullptr).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace octet::cuda

namespace octet::cuda {
namespace {

// The fused LayerNorm + quantization against the unfused pair on the device
// (LayerNorm writes f32 rows, QuantizeRowsPerToken reads them): the same
// normalised values (one shared device function, no contraction), so codes
// and scales must be identical, bit for bit. Row lengths below, at and above
// the block's 256 threads, odd ones; a warp per row (K <= 2048), a block per
// row (3072, 5120) and the scalar kernels (K % 4 != 0); rows with a large
// mean.
TEST(LayerNormQuantizeRows, MatchesLayerNormThenQuantizeBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t k : {24, 255, 768, 1280, 1031, 3072, 5120}) {
    for (bool with_bias : {true, false}) {
      const uint32_t seed = testing::FreshSeed();
      SCOPED_TRACE(::testing::Message()
                   << "k " << k << ", bias " << with_bias << ", seed " << seed);
      std::mt19937 rng(seed);
      const int64_t rows = 37;
      std::vector<float> x = testing::RandomFloats(rows * k, rng, -2.f, 2.f);
      for (int64_t i = 0; i < k; ++i) x[3 * k + i] += 100.f;  // a row far from zero
      LayerNormConfig ln;
      ln.k = k;
      ln.scale = testing::RandomFloats(k, rng, 0.5f, 1.5f);
      if (with_bias) ln.bias = testing::RandomFloats(k, rng, -0.1f, 0.1f);
      ln.epsilon = 1e-6f;
      auto layer_norm = LayerNorm::Create(ln);
      ASSERT_TRUE(layer_norm.ok()) << layer_norm.status().ToString();
      QuantizeRowsPerTokenConfig q;
      q.k = k;
      auto quantize = QuantizeRowsPerToken::Create(q);
      ASSERT_TRUE(quantize.ok());
      q.ln_scale = ln.scale;
      q.ln_bias = ln.bias;
      q.ln_epsilon = ln.epsilon;
      auto fused = QuantizeRowsPerToken::Create(q);
      ASSERT_TRUE(fused.ok()) << fused.status().ToString();
      EXPECT_TRUE(fused->has_layer_norm());

      DeviceBuffer src = Upload(x), normed = Upload(std::vector<float>(rows * k));
      DeviceBuffer codes_a = Upload(std::vector<int8_t>(rows * k)),
                   codes_b = Upload(std::vector<int8_t>(rows * k));
      DeviceBuffer scales_a = Upload(std::vector<float>(rows)),
                   scales_b = Upload(std::vector<float>(rows));
      ASSERT_TRUE(layer_norm->Run(src.as<float>(), rows, normed.as<float>(), nullptr).ok());
      ASSERT_TRUE(
          quantize->Run(normed.data(), rows, codes_a.as<int8_t>(), scales_a.as<float>(), nullptr)
              .ok());
      ASSERT_TRUE(
          fused->Run(src.data(), rows, codes_b.as<int8_t>(), scales_b.as<float>(), nullptr).ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      EXPECT_EQ(Download<int8_t>(codes_a, rows * k), Download<int8_t>(codes_b, rows * k));
      const std::vector<float> sa = Download<float>(scales_a, rows),
                               sb = Download<float>(scales_b, rows);
      for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(sa[r], sb[r]) << "row " << r;
    }
  }
}

// The LayerNorm kernel against a double-precision reference, at the shapes
// of each of its kernels (a warp per row, a block per row, scalar); with
// rows starting off a 16-byte boundary (the vectorised kernels' element loads).
TEST(LayerNorm, MatchesADoubleReference) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t k : {24, 255, 768, 1280, 1031, 3072, 5120}) {
    for (int64_t offset : {0, 1}) {
      const uint32_t seed = testing::FreshSeed();
      SCOPED_TRACE(::testing::Message() << "k " << k << ", offset " << offset << ", seed " << seed);
      std::mt19937 rng(seed);
      const int64_t rows = 19;
      std::vector<float> x = testing::RandomFloats(rows * k + offset, rng, -2.f, 2.f);
      for (int64_t i = 0; i < k; ++i) x[offset + 5 * k + i] += 50.f;
      LayerNormConfig ln;
      ln.k = k;
      ln.scale = testing::RandomFloats(k, rng, 0.5f, 1.5f);
      ln.bias = testing::RandomFloats(k, rng, -0.1f, 0.1f);
      ln.epsilon = 1e-6f;
      auto layer_norm = LayerNorm::Create(ln);
      ASSERT_TRUE(layer_norm.ok()) << layer_norm.status().ToString();
      DeviceBuffer src = Upload(x), dst = Upload(std::vector<float>(rows * k + offset));
      ASSERT_TRUE(
          layer_norm->Run(src.as<float>() + offset, rows, dst.as<float>() + offset, nullptr).ok());
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::vector<float> got = Download<float>(dst, rows * k + offset);
      for (int64_t r = 0; r < rows; ++r) {
        const float* row = x.data() + offset + r * k;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < k; ++i) mean += row[i];
        mean /= k;
        for (int64_t i = 0; i < k; ++i) var += (row[i] - mean) * (row[i] - mean);
        var /= k;
        for (int64_t i = 0; i < k; ++i) {
          const double want =
              (row[i] - mean) / std::sqrt(var + ln.epsilon) * ln.scale[i] + ln.bias[i];
          ASSERT_NEAR(got[offset + r * k + i], want, 1e-4 * (1 + std::fabs(want)))
              << "row " << r << ", element " << i;
        }
      }
    }
  }
}

TEST(LayerNormQuantizeRows, RejectsBf16RowsAndWrongParameterCounts) {
  QuantizeRowsPerTokenConfig q;
  q.k = 8;
  q.ln_scale.assign(7, 1.f);
  auto wrong = QuantizeRowsPerToken::Create(q);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.status().message().find("need 8 values, got 7"), std::string::npos)
      << wrong.status().ToString();
  q.ln_scale.assign(8, 1.f);
  q.src_type = DType::kBF16;
  auto bf16 = QuantizeRowsPerToken::Create(q);
  ASSERT_FALSE(bf16.ok());
  EXPECT_NE(bf16.status().message().find("takes f32 rows"), std::string::npos);
}

}  // namespace
}  // namespace octet::cuda
