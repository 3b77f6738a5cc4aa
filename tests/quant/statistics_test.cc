// TensorStatistics: exact histogram growth, NaN/Inf handling, moving average,
// JSON round trip and validation.
#include "octet/quant/statistics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <random>

namespace octet::quant {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// Batch b: normal values whose spread and centre grow with b, so the histogram
// range has to grow many times, on both sides.
std::vector<std::vector<float>> GrowingBatches(uint32_t seed, int batches, int size) {
  std::mt19937 rng(seed);
  std::vector<std::vector<float>> out;
  for (int b = 0; b < batches; ++b) {
    const float sigma = std::pow(1.4f, static_cast<float>(b)) * 1e-3f;
    std::normal_distribution<float> d(b % 3 == 0 ? -sigma : sigma / 2, sigma);
    std::vector<float> v(static_cast<size_t>(size));
    for (float& x : v) x = d(rng);
    out.push_back(std::move(v));
  }
  return out;
}

// A histogram built in one go on the final grid of `s`: bin of x is
// floor(x / width) - lo / width, both exact on the dyadic grid.
std::vector<double> Rebuild(const TensorStatistics& s, const std::vector<float>& all) {
  std::vector<double> h(s.histogram().size(), 0.0);
  const double k = s.histogram_lo() / s.bin_width();
  for (float x : all) {
    if (!std::isfinite(x)) continue;
    const double b = std::floor(x / s.bin_width()) - k;
    EXPECT_TRUE(b >= 0 && b < static_cast<double>(h.size())) << x;
    if (b >= 0 && b < static_cast<double>(h.size())) h[static_cast<size_t>(b)] += 1;
  }
  return h;
}

void ExpectDyadicGrid(const TensorStatistics& s) {
  int e = 0;
  EXPECT_EQ(std::frexp(s.bin_width(), &e), 0.5) << "bin width " << s.bin_width();
  const double k = s.histogram_lo() / s.bin_width();
  EXPECT_EQ(k, std::floor(k)) << "lo " << s.histogram_lo();
}

TEST(TensorStatisticsTest, GrowingRangesRebinExactly) {
  for (uint32_t seed : {1u, 2u, 3u}) {
    TensorStatistics s(2048);
    std::vector<float> all;
    // A constant first batch gives a degenerate range that must grow later.
    const std::vector<float> first(100, seed == 1 ? 0.0f : 0.25f);
    s.Observe(first.data(), static_cast<int64_t>(first.size()));
    all.insert(all.end(), first.begin(), first.end());
    for (const auto& batch : GrowingBatches(seed, 40, 5000)) {
      s.Observe(batch.data(), static_cast<int64_t>(batch.size()));
      all.insert(all.end(), batch.begin(), batch.end());
    }
    EXPECT_EQ(s.count(), static_cast<int64_t>(all.size()));
    EXPECT_EQ(s.batches(), 41);
    EXPECT_EQ(s.histogram().size(), 2048u);
    EXPECT_EQ(s.min(), *std::min_element(all.begin(), all.end()));
    EXPECT_EQ(s.max(), *std::max_element(all.begin(), all.end()));
    ExpectDyadicGrid(s);
    // Resolution is not wasted: the width is the finest power of two that fits,
    // so the data spans more than half of the bins.
    EXPECT_GT((s.max() - s.min()) / s.bin_width(), (2048 - 1) / 2.0);
    EXPECT_EQ(s.histogram(), Rebuild(s, all));
  }
}

TEST(TensorStatisticsTest, DeterministicBitForBit) {
  TensorStatistics a(1024), b(1024);
  for (const auto& batch : GrowingBatches(11, 25, 3000)) {
    a.Observe(batch.data(), static_cast<int64_t>(batch.size()));
    b.Observe(batch.data(), static_cast<int64_t>(batch.size()));
  }
  EXPECT_TRUE(a == b);
  EXPECT_EQ(a.ToJson(), b.ToJson());
}

TEST(TensorStatisticsTest, NanAndInfAreCountedAndExcluded) {
  TensorStatistics s(256);
  const std::vector<float> v = {1.0f, kNaN, -kInf, 2.0f, kInf, kNaN, -3.0f};
  s.Observe(v.data(), static_cast<int64_t>(v.size()));
  const std::vector<float> only_bad = {kNaN, kInf};
  s.Observe(only_bad.data(), 2);
  EXPECT_EQ(s.count(), 3);
  EXPECT_EQ(s.nan_count(), 3);
  EXPECT_EQ(s.inf_count(), 3);
  EXPECT_EQ(s.batches(), 2);
  EXPECT_EQ(s.min(), -3.0);
  EXPECT_EQ(s.max(), 2.0);
  EXPECT_EQ(s.moving_average_min(), -3.0);  // the all-bad batch did not move it
  EXPECT_EQ(s.moving_average_max(), 2.0);
  double sum = 0;
  for (double c : s.histogram()) sum += c;
  EXPECT_EQ(sum, 3.0);

  TensorStatistics bad_only(256);
  bad_only.Observe(only_bad.data(), 2);
  EXPECT_EQ(bad_only.count(), 0);
  EXPECT_EQ(bad_only.min(), 0.0);
  EXPECT_EQ(bad_only.max(), 0.0);
}

TEST(TensorStatisticsTest, MovingAverageFollowsPyTorch) {
  const double c = 0.1;
  TensorStatistics s(256, c);
  double ema_min = 0, ema_max = 0;
  const auto batches = GrowingBatches(5, 12, 100);
  for (size_t b = 0; b < batches.size(); ++b) {
    const auto& v = batches[b];
    s.Observe(v.data(), static_cast<int64_t>(v.size()));
    const double lo = *std::min_element(v.begin(), v.end());
    const double hi = *std::max_element(v.begin(), v.end());
    if (b == 0) {
      ema_min = lo, ema_max = hi;
    } else {
      ema_min += c * (lo - ema_min);
      ema_max += c * (hi - ema_max);
    }
  }
  EXPECT_EQ(s.moving_average_min(), ema_min);
  EXPECT_EQ(s.moving_average_max(), ema_max);
}

TEST(TensorStatisticsTest, ObserveTensorDtypes) {
  TensorStatistics s(256);
  const Tensor f64 = Tensor::FromVector<double>({1.5, -2.25, 1e300}, {3});
  ASSERT_TRUE(s.Observe(f64).ok());
  EXPECT_EQ(s.count(), 2);
  EXPECT_EQ(s.inf_count(), 1);  // beyond the float range
  EXPECT_EQ(s.min(), -2.25);
  Tensor half(DType::kF16, {2});
  half.data<uint16_t>()[0] = FloatToHalf(4.0f);
  half.data<uint16_t>()[1] = FloatToHalf(-8.0f);
  ASSERT_TRUE(s.Observe(half).ok());
  EXPECT_EQ(s.min(), -8.0);
  EXPECT_EQ(s.max(), 4.0);
  const Status st = s.Observe(Tensor::FromVector<int8_t>({1, 2}, {2}));
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("i8"), std::string::npos) << st.message();
}

TEST(TensorStatisticsTest, JsonRoundTripIsExact) {
  TensorStatistics s(512, 0.03);
  for (const auto& batch : GrowingBatches(21, 15, 2000)) {
    s.Observe(batch.data(), static_cast<int64_t>(batch.size()));
  }
  const std::vector<float> bad = {kNaN, kInf, -kInf};
  s.Observe(bad.data(), 3);
  const std::string json = s.ToJson();
  Expected<TensorStatistics> back = TensorStatistics::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(*back == s);
  EXPECT_EQ(back->ToJson(), json);
  EXPECT_EQ(back->moving_average_min(), s.moving_average_min());

  TensorStatistics empty;
  Expected<TensorStatistics> empty_back = TensorStatistics::FromJson(empty.ToJson());
  ASSERT_TRUE(empty_back.ok()) << empty_back.status().ToString();
  EXPECT_TRUE(*empty_back == empty);
}

TEST(TensorStatisticsTest, FromJsonErrors) {
  TensorStatistics s(256);
  const std::vector<float> v = {-1.0f, 0.5f, 2.0f};
  s.Observe(v.data(), 3);
  const nlohmann::json good = nlohmann::json::parse(s.ToJson());
  ASSERT_TRUE(TensorStatistics::FromJson(good.dump()).ok());

  auto expect_error = [](const std::string& text, const std::string& fragment) {
    Expected<TensorStatistics> r = TensorStatistics::FromJson(text);
    ASSERT_FALSE(r.ok()) << text.substr(0, 200);
    EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
  };
  expect_error("{\"count\": ", "JSON");
  expect_error("[1, 2]", "expected an object");
  auto edited = [&](auto edit) {
    nlohmann::json j = good;
    edit(j);
    return j.dump();
  };
  expect_error(edited([](nlohmann::json& j) { j.erase("max"); }), "'max' is missing");
  expect_error(edited([](nlohmann::json& j) { j["colour"] = 1; }), "unknown field 'colour'");
  expect_error(edited([](nlohmann::json& j) { j["count"] = -3; }), "'count'");
  expect_error(edited([](nlohmann::json& j) { j["min"] = "low"; }), "'min'");
  expect_error(edited([](nlohmann::json& j) { j["version"] = 2; }), "version");
  expect_error(edited([](nlohmann::json& j) { j["histogram"].erase(0); }), "255 bins");
  expect_error(edited([](nlohmann::json& j) { j["count"] = 4; }), "sum to 3");
  expect_error(edited([](nlohmann::json& j) { j["bin_width"] = 0.3; }), "power of two");
  expect_error(edited([](nlohmann::json& j) { j["histogram"][0] = 1.5; }), "bin 0");
  expect_error(edited([](nlohmann::json& j) { j["moving_average_constant"] = 0; }), "(0, 1]");
  expect_error(edited([](nlohmann::json& j) { j["max"] = 1e30; }), "outside");
}

// The whole float range, denormals, signed zeros, and a constant far from 0
// that then moves by one ulp: still exact, round-trippable, and every method
// gives a finite range.
TEST(TensorStatisticsTest, ExtremeValues) {
  const float big = std::numeric_limits<float>::max();
  const std::vector<std::vector<float>> cases = {
      {1e30f, 1e30f, std::nextafter(1e30f, 2e30f)},
      {1e-45f, 0.0f, -0.0f, 1e-40f},
      {big, -big, std::numeric_limits<float>::min(), 1e-45f, 0.0f, -0.0f, 1.0f},
  };
  for (const auto& values : cases) {
    TensorStatistics s(256);
    for (float v : values) s.Observe(&v, 1);  // one value per batch: many regrids
    EXPECT_EQ(s.count(), static_cast<int64_t>(values.size()));
    EXPECT_EQ(s.min(), *std::min_element(values.begin(), values.end()));
    EXPECT_EQ(s.max(), *std::max_element(values.begin(), values.end()));
    ExpectDyadicGrid(s);
    EXPECT_EQ(s.histogram(), Rebuild(s, values));
    Expected<TensorStatistics> back = TensorStatistics::FromJson(s.ToJson());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_TRUE(*back == s);
    for (CalibrationMethod m : {CalibrationMethod::kMinMax, CalibrationMethod::kPercentile,
                                CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
      for (bool symmetric : {false, true}) {
        CalibrationOptions o;
        o.method = m;
        QuantScheme scheme;
        scheme.symmetric = symmetric;
        Expected<Range> r = ChooseRange(s, o, scheme);
        ASSERT_TRUE(r.ok());
        EXPECT_TRUE(std::isfinite(r->lo) && std::isfinite(r->hi) && r->lo <= r->hi)
            << CalibrationMethodName(m) << " [" << r->lo << ", " << r->hi << "]";
      }
    }
  }
}

// Observing many large batches keeps memory fixed: the histogram never grows.
TEST(TensorStatisticsTest, ManyLargeBatchesKeepBoundedMemory) {
  std::mt19937 rng(3);
  std::normal_distribution<float> d(0, 1);
  std::vector<float> base(1 << 20), batch(base.size());
  for (float& x : base) x = d(rng);
  TensorStatistics s(2048);
  for (int b = 0; b < 100; ++b) {
    const float scale = 1.0f + 0.05f * static_cast<float>(b);
    for (size_t i = 0; i < base.size(); ++i) batch[i] = base[i] * scale;
    s.Observe(batch.data(), static_cast<int64_t>(batch.size()));
    ASSERT_EQ(s.histogram().size(), 2048u);
  }
  EXPECT_EQ(s.count(), 100 * static_cast<int64_t>(base.size()));
}

TEST(CalibrationOptionsTest, Validate) {
  EXPECT_TRUE(ValidateCalibrationOptions(CalibrationOptions{}).ok());
  auto bad = [](auto edit, const std::string& fragment) {
    CalibrationOptions o;
    edit(o);
    Status st = ValidateCalibrationOptions(o);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
  };
  bad([](CalibrationOptions& o) { o.percentile = 50; }, "percentile");
  bad([](CalibrationOptions& o) { o.percentile = 100.5; }, "percentile");
  bad([](CalibrationOptions& o) { o.percentile = std::nan(""); }, "percentile");
  bad([](CalibrationOptions& o) { o.histogram_bins = 1000; }, "bins");
  bad([](CalibrationOptions& o) { o.histogram_bins = 128; }, "bins");
  bad([](CalibrationOptions& o) { o.histogram_bins = 1 << 17; }, "bins");
  bad([](CalibrationOptions& o) { o.moving_average_constant = 0; }, "moving average");
  bad([](CalibrationOptions& o) { o.moving_average_constant = 1.5; }, "moving average");
  CalibrationOptions ok;
  ok.percentile = 100;
  EXPECT_TRUE(ValidateCalibrationOptions(ok).ok());
}

TEST(CalibrationOptionsTest, MethodNames) {
  for (CalibrationMethod m :
       {CalibrationMethod::kMinMax, CalibrationMethod::kMovingAverage,
        CalibrationMethod::kPercentile, CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    Expected<CalibrationMethod> parsed = ParseCalibrationMethod(CalibrationMethodName(m));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, m);
  }
  EXPECT_FALSE(ParseCalibrationMethod("kl").ok());
}

}  // namespace
}  // namespace octet::quant
