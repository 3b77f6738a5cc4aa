// The quantization driver: deterministic calibration, statistics files keyed
// to the graph, non-finite values, empty data, and the per-layer fidelity
// numbers.
#include "octet/runtime/quantize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "memory_source.h"
#include "quant/quant_test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

// Samples held in memory (SmallCnn takes [3,8,8] per sample).
using VectorSource = testing::MemorySource;

VectorSource RandomSamples(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> v;
  for (int i = 0; i < n; ++i) v.push_back(testing::RandomTensor({3, 8, 8}, rng));
  return VectorSource(std::move(v));
}

PreparedModel Prepare(uint32_t model_seed) {
  auto p = PrepareForQuantization(testing::SmallCnn(model_seed), *quant::MakePreset("x86-int8"));
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class QuantizeDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("octet_quantize_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(QuantizeDriverTest, CalibrationIsBitForBitDeterministic) {
  PreparedModel p = Prepare(1);
  VectorSource data = RandomSamples(10, 5);
  auto a = Calibrate(p, data, CalibrationRun{});
  auto b = Calibrate(p, data, CalibrationRun{});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->summary.samples, 10);
  EXPECT_EQ(a->tensors.size(), 3u);
  ASSERT_TRUE(SaveCalibrationStats(*a, (dir_ / "a.json").string()).ok());
  ASSERT_TRUE(SaveCalibrationStats(*b, (dir_ / "b.json").string()).ok());
  EXPECT_EQ(ReadFile(dir_ / "a.json"), ReadFile(dir_ / "b.json"));
  // Reloaded statistics give the same parameters as the originals.
  auto loaded = LoadCalibrationStats((dir_ / "a.json").string(), p);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  for (const auto& [name, s] : a->tensors) EXPECT_TRUE(loaded->tensors.at(name) == s) << name;
}

TEST_F(QuantizeDriverTest, StatisticsOfAnotherGraphAreRefused) {
  PreparedModel p = Prepare(1);
  VectorSource data = RandomSamples(4, 5);
  auto stats = Calibrate(p, data, CalibrationRun{});
  ASSERT_TRUE(stats.ok());
  ASSERT_TRUE(SaveCalibrationStats(*stats, (dir_ / "s.json").string()).ok());
  PreparedModel other = Prepare(2);  // same structure, other weights
  auto loaded = LoadCalibrationStats((dir_ / "s.json").string(), other);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("another graph"), std::string::npos)
      << loaded.status().message();
  { std::ofstream(dir_ / "bad.json") << "{\"format\": \"something else\"}"; }
  loaded = LoadCalibrationStats((dir_ / "bad.json").string(), p);
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("bad.json"), std::string::npos);
}

TEST_F(QuantizeDriverTest, NonFiniteValuesAreCountedAndExcluded) {
  PreparedModel p = Prepare(1);
  std::mt19937 rng(3);
  std::vector<Tensor> samples;
  for (int i = 0; i < 4; ++i) samples.push_back(testing::RandomTensor({3, 8, 8}, rng));
  samples[2].data<float>()[7] = NAN;
  samples[3].data<float>()[9] = INFINITY;
  VectorSource data(std::move(samples));
  auto stats = Calibrate(p, data, CalibrationRun{});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  // The input holds one of each; they propagate into later tensors too.
  const std::vector<std::string>& nonfinite = stats->summary.nonfinite;
  EXPECT_NE(std::find(nonfinite.begin(), nonfinite.end(), "x: 1 NaN, 1 Inf"), nonfinite.end())
      << ::testing::PrintToString(nonfinite);
  // The input's range comes from the finite values only, so conversion gives
  // finite parameters.
  auto q = ConvertToQuantized(p, *stats);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  const Tensor& scale = q->graph->FindValue("x/scale")->constant();
  EXPECT_TRUE(std::isfinite(scale.data<float>()[0]));
  EXPECT_LT(scale.data<float>()[0], 1.0f);
}

TEST_F(QuantizeDriverTest, EmptyDataAndWrongShapesAreErrors) {
  PreparedModel p = Prepare(1);
  VectorSource empty({});
  auto stats = Calibrate(p, empty, CalibrationRun{});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("holds no samples"), std::string::npos);
  std::mt19937 rng(1);
  VectorSource wrong({testing::RandomTensor({3, 9, 9}, rng)});
  stats = Calibrate(p, wrong, CalibrationRun{});
  ASSERT_FALSE(stats.ok());
  EXPECT_NE(stats.status().message().find("sample0"), std::string::npos)
      << stats.status().message();
  EXPECT_NE(stats.status().message().find("[1,3,9,9]"), std::string::npos);
}

TEST_F(QuantizeDriverTest, FidelityPerLayer) {
  PreparedModel p = Prepare(1);
  VectorSource data = RandomSamples(8, 5);
  auto stats = Calibrate(p, data, CalibrationRun{});
  ASSERT_TRUE(stats.ok());
  auto q = ConvertToQuantized(p, *stats);
  ASSERT_TRUE(q.ok());
  VectorSource eval = RandomSamples(6, 77);
  auto r = MeasureFidelity(p, *q, eval, FidelityRun{});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->eval_samples, 6);
  ASSERT_EQ(r->layers.size(), 3u);
  for (size_t i = 1; i < r->layers.size(); ++i)
    EXPECT_LE(r->layers[i - 1].sqnr_in_model_db, r->layers[i].sqnr_in_model_db);
  for (const LayerFidelity& l : r->layers) {
    // The first layer sees exactly the float input in both measurements.
    if (l.node == "conv1") {
      EXPECT_DOUBLE_EQ(l.sqnr_alone_db, l.sqnr_in_model_db);
    }
    // Alone, a layer carries only its own error: no worse than in the model
    // (up to noise of a fraction of a dB on 6 samples).
    EXPECT_GE(l.sqnr_alone_db, l.sqnr_in_model_db - 0.5) << l.node;
    EXPECT_GT(l.sqnr_alone_db, 20.0) << l.node;
  }
  ASSERT_TRUE(r->classification.has_value());  // [1, 10] logits
  EXPECT_EQ(r->classification->samples, 6);
  EXPECT_EQ(r->classification->labelled, 0);
  EXPECT_LT(r->quantized_bytes, r->float_bytes);
}

// SmallMlp samples ([5, 32] each) with a mean of 0.5 per channel.
VectorSource ShiftedMlpSamples(int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<Tensor> v;
  for (int i = 0; i < n; ++i) {
    Tensor t = testing::RandomTensor({5, 32}, rng);
    for (int64_t e = 0; e < t.numel(); ++e) t.data<float>()[e] += 0.5f;
    v.push_back(std::move(t));
  }
  return VectorSource(std::move(v));
}

PreparedModel PrepareInt4Mlp(bool bias_correction) {
  quant::QuantizerConfig c = *quant::MakePreset("int4-weight-only");
  c.weight.group_size = 16;  // lin2 reduces over 16
  c.bias_correction = bias_correction;
  auto p = PrepareForQuantization(testing::SmallMlp(7), c);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

TEST_F(QuantizeDriverTest, BiasCorrectionSumsInputsAndCorrectsEveryLayer) {
  PreparedModel p = PrepareInt4Mlp(true);
  ASSERT_EQ(p.plan.num_static_groups(), 0);
  VectorSource data = ShiftedMlpSamples(8, 3);
  auto stats = Calibrate(p, data, CalibrationRun{});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->input_sums.size(), 2u);
  // lin1 reads the model input: its sums are the data's own.
  const quant::ChannelSums& lin1 = stats->input_sums.at("lin1");
  EXPECT_EQ(lin1.count, 8 * 5);
  double sum0 = 0;
  for (int i = 0; i < 8; ++i)
    for (int r = 0; r < 5; ++r) sum0 += data.Get(i)->data.data<float>()[r * 32];
  EXPECT_NEAR(lin1.sums[0], sum0, 1e-9);
  EXPECT_EQ(stats->input_sums.at("lin2").sums.size(), 16u);

  // The sums survive a statistics file.
  const std::string path = (dir_ / "s.json").string();
  ASSERT_TRUE(SaveCalibrationStats(*stats, path).ok());
  auto loaded = LoadCalibrationStats(path, p);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->input_sums.at("lin2").sums, stats->input_sums.at("lin2").sums);

  auto corrected = ConvertToQuantized(p, *stats);
  ASSERT_TRUE(corrected.ok()) << corrected.status().ToString();
  EXPECT_EQ(corrected->metadata.at("octet.quantization.bias_correction"), "2 of 2 nodes");
  auto plain = ConvertToQuantized(p, CalibrationStats{});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->metadata.at("octet.quantization.bias_correction"), "off: no calibration data");

  // Held-out data of the same distribution: the corrected model is closer to
  // the float one.
  VectorSource eval = ShiftedMlpSamples(8, 99);
  auto with = MeasureFidelity(p, *corrected, eval, FidelityRun{});
  auto without = MeasureFidelity(p, *plain, eval, FidelityRun{});
  ASSERT_TRUE(with.ok() && without.ok());
  EXPECT_GT(with->outputs[0].second.sqnr_db, without->outputs[0].second.sqnr_db + 1.0)
      << with->outputs[0].second.sqnr_db << " vs " << without->outputs[0].second.sqnr_db;
}

TEST_F(QuantizeDriverTest, StatisticsWithoutInputSumsAreRefusedForBiasCorrection) {
  PreparedModel off = PrepareInt4Mlp(false);
  VectorSource data = ShiftedMlpSamples(4, 3);
  auto stats = Calibrate(off, data, CalibrationRun{});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_TRUE(stats->input_sums.empty());
  const std::string path = (dir_ / "s.json").string();
  ASSERT_TRUE(SaveCalibrationStats(*stats, path).ok());
  auto loaded = LoadCalibrationStats(path, PrepareInt4Mlp(true));
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.status().message().find("no input sums for 'lin1'"), std::string::npos)
      << loaded.status().message();
}

}  // namespace
}  // namespace octet
