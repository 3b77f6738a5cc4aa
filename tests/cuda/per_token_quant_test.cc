// QuantizeRowsPerToken against the int8-dynamic preset's arithmetic computed
// here on the CPU. The kernel does the same IEEE f32 operations (a division,
// a max, round-half-even), so codes and scales must match bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cuda_test_util.h"
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
                      QuantCase{300, 257, DType::kBF16}));

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
