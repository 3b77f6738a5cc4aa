// QuantizeRowsPerToken's row prologue (row_map: a ViT's window partition;
// add_rows: the residual add of its reverse) against the unfused kernels on
// rows gathered and summed here on the CPU. The prologue moves rows and adds
// them with one f32 rounding, as the graph's Add does, and its LayerNorm is
// the fused kernel's for the same k, so codes, scales and sums must match
// bit for bit.
#include <gtest/gtest.h>

#include <limits>

#include "cuda_test_util.h"
#include "octet/cuda/int8_kernels.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

// Row lengths of each vectorised shape: a warp per row (64, 768, 1280) and a
// block per row (5120).
constexpr int64_t kRowLengths[] = {64, 768, 1280, 5120};

std::vector<int32_t> RandomMap(int64_t rows, int64_t source_rows, std::mt19937& rng) {
  std::vector<int32_t> map(rows);
  for (int32_t& m : map)
    m = rng() % 5 == 0 ? -1 : static_cast<int32_t>(rng() % static_cast<uint32_t>(source_rows));
  return map;
}

QuantizeRowsPerTokenConfig Config(int64_t k, bool layer_norm, std::mt19937& rng) {
  QuantizeRowsPerTokenConfig q;
  q.k = k;
  if (layer_norm) {
    q.ln_scale = testing::RandomFloats(k, rng, 0.5f, 1.5f);
    q.ln_bias = testing::RandomFloats(k, rng, -0.1f, 0.1f);
    q.ln_epsilon = 1e-6f;
  }
  return q;
}

struct Quantized {
  std::vector<int8_t> codes;
  std::vector<float> scales;
};

Quantized RunQuant(const QuantizeRowsPerToken& quant, const DeviceBuffer& src, int64_t rows,
                   int64_t k, const void* add = nullptr, float* sum = nullptr) {
  DeviceBuffer codes = testing::Poisoned(rows * k), scales = testing::Poisoned(rows * 4);
  const Status s =
      quant.Run(src.data(), rows, codes.as<int8_t>(), scales.as<float>(), nullptr, add, sum);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  return {Download<int8_t>(codes, rows * k), Download<float>(scales, rows)};
}

TEST(RowPrologueQuant, RowMapGathersRowsAndZeroesPadding) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t k : kRowLengths) {
    for (bool layer_norm : {true, false}) {
      const uint32_t seed = testing::FreshSeed();
      SCOPED_TRACE(::testing::Message()
                   << "k " << k << ", LayerNorm " << layer_norm << ", seed " << seed);
      std::mt19937 rng(seed);
      const int64_t source_rows = 50, rows = 70;
      const std::vector<float> x = testing::RandomFloats(source_rows * k, rng, -3.f, 3.f);
      QuantizeRowsPerTokenConfig q = Config(k, layer_norm, rng);
      auto plain = QuantizeRowsPerToken::Create(q);
      q.row_map = RandomMap(rows, source_rows, rng);
      auto gather = QuantizeRowsPerToken::Create(q);
      ASSERT_TRUE(plain.ok() && gather.ok()) << gather.status().ToString();
      EXPECT_TRUE(gather->has_row_map());
      EXPECT_LE(gather->min_source_rows(), source_rows);
      // The rows gathered here (padding rows: anything; their result is zeros).
      std::vector<float> gathered(rows * k, 0.f);
      for (int64_t r = 0; r < rows; ++r)
        if (q.row_map[r] >= 0)
          std::copy_n(x.begin() + q.row_map[r] * k, k, gathered.begin() + r * k);
      const Quantized want = RunQuant(*plain, Upload(gathered), rows, k);
      const Quantized got = RunQuant(*gather, Upload(x), rows, k);
      for (int64_t r = 0; r < rows; ++r) {
        if (q.row_map[r] < 0) {
          EXPECT_EQ(got.scales[r], std::numeric_limits<float>::min()) << "padding row " << r;
          for (int64_t i = 0; i < k; ++i) ASSERT_EQ(got.codes[r * k + i], 0) << "row " << r;
        } else {
          EXPECT_EQ(got.scales[r], want.scales[r]) << "row " << r;
          for (int64_t i = 0; i < k; ++i)
            ASSERT_EQ(got.codes[r * k + i], want.codes[r * k + i]) << "row " << r << " col " << i;
        }
      }
    }
  }
}

TEST(RowPrologueQuant, AddRowsSumsInF32WritesTheSumAndQuantizesIt) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t k : kRowLengths) {
    for (DType add_type : {DType::kF32, DType::kBF16}) {
      for (bool mapped : {true, false}) {
        const uint32_t seed = testing::FreshSeed();
        SCOPED_TRACE(::testing::Message() << "k " << k << ", add " << DTypeName(add_type)
                                          << ", mapped " << mapped << ", seed " << seed);
        std::mt19937 rng(seed);
        const int64_t rows = 45, add_rows = mapped ? 60 : rows;
        const std::vector<float> x = testing::RandomFloats(rows * k, rng, -3.f, 3.f);
        std::vector<float> a = testing::RandomFloats(add_rows * k, rng, -1.f, 1.f);
        DeviceBuffer add;
        if (add_type == DType::kBF16) {
          const std::vector<uint16_t> bf16 = testing::ToBf16(a);
          for (size_t i = 0; i < a.size(); ++i) a[i] = BFloat16ToFloat(bf16[i]);
          add = Upload(bf16);
        } else {
          add = Upload(a);
        }
        QuantizeRowsPerTokenConfig q = Config(k, true, rng);
        auto plain = QuantizeRowsPerToken::Create(q);
        q.add_rows = true;
        q.add_type = add_type;
        if (mapped) q.add_map = RandomMap(rows, add_rows, rng);
        auto fused = QuantizeRowsPerToken::Create(q);
        ASSERT_TRUE(plain.ok() && fused.ok()) << fused.status().ToString();
        std::vector<float> want_sum = x;  // one f32 rounding per element, as an Add
        for (int64_t r = 0; r < rows; ++r) {
          const int64_t from = mapped ? q.add_map[r] : r;
          if (from < 0) continue;
          for (int64_t i = 0; i < k; ++i) want_sum[r * k + i] = x[r * k + i] + a[from * k + i];
        }
        DeviceBuffer sum = testing::Poisoned(rows * k * 4);
        const Quantized got = RunQuant(*fused, Upload(x), rows, k, add.data(), sum.as<float>());
        const std::vector<float> got_sum = Download<float>(sum, rows * k);
        for (int64_t i = 0; i < rows * k; ++i)
          ASSERT_EQ(got_sum[i], want_sum[i]) << "sum element " << i;
        const Quantized want = RunQuant(*plain, Upload(want_sum), rows, k);
        EXPECT_EQ(got.codes, want.codes);
        EXPECT_EQ(got.scales, want.scales);
      }
    }
  }
}

TEST(RowPrologueQuant, RunChecksRowsAndOperands) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  QuantizeRowsPerTokenConfig q;
  q.k = 64;
  q.row_map = {0, -1, 2};
  auto gather = QuantizeRowsPerToken::Create(q);
  ASSERT_TRUE(gather.ok()) << gather.status().ToString();
  DeviceBuffer x = Upload(std::vector<float>(3 * 64)), codes = Upload(std::vector<int8_t>(4 * 64)),
               scales = Upload(std::vector<float>(4));
  Status s = gather->Run(x.data(), 4, codes.as<int8_t>(), scales.as<float>(), nullptr);
  EXPECT_NE(s.message().find("rows = 4 but the row map has 3 rows"), std::string::npos)
      << s.ToString();
  s = gather->Run(x.data(), 3, codes.as<int8_t>(), scales.as<float>(), nullptr, x.data(),
                  x.as<float>());
  EXPECT_NE(s.message().find("add_rows is not configured"), std::string::npos) << s.ToString();
  q.row_map.clear();
  q.add_rows = true;
  auto adder = QuantizeRowsPerToken::Create(q);
  ASSERT_TRUE(adder.ok()) << adder.status().ToString();
  s = adder->Run(x.data(), 3, codes.as<int8_t>(), scales.as<float>(), nullptr);
  EXPECT_NE(s.message().find("needs both the added rows and the sums"), std::string::npos)
      << s.ToString();
}

// Checked before anything touches the device: runs without a GPU.
TEST(RowPrologueQuant, RejectsConfigurationsItCannotRun) {
  auto error = [](const QuantizeRowsPerTokenConfig& q) {
    auto k = QuantizeRowsPerToken::Create(q);
    return k.ok() ? std::string("ok") : k.status().ToString();
  };
  QuantizeRowsPerTokenConfig q;
  q.k = 64;
  q.row_map = {0, 1};
  q.src_type = DType::kBF16;
  EXPECT_NE(error(q).find("takes f32 rows"), std::string::npos) << error(q);
  q.src_type = DType::kF32;
  q.k = 30;
  EXPECT_NE(error(q).find("multiple of 4, at most 16384; k = 30"), std::string::npos) << error(q);
  q.k = 64;
  q.add_rows = true;
  EXPECT_NE(error(q).find("cannot be combined"), std::string::npos) << error(q);
  q.row_map.clear();
  q.add_type = DType::kI8;
  EXPECT_NE(error(q).find("must be f32 or bf16, got i8"), std::string::npos) << error(q);
  q.add_rows = false;
  q.add_type = DType::kF32;
  q.add_map = {0};
  EXPECT_NE(error(q).find("add_map without add_rows"), std::string::npos) << error(q);
}

}  // namespace
}  // namespace octet::cuda
