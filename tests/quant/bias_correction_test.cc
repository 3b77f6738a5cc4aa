// Bias correction for weight rounding: channel sums, the corrected bias of each
// bias form (MatMul + Add, bare MatMul, Gemm with and without C), and the
// property it exists for: after correction the rounded model's mean output
// over the calibration data equals the float model's, checked on the
// reference interpreter.
#include "octet/quant/bias_correction.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "octet/quant/convert.h"
#include "octet/quant/quantizer_config.h"
#include "octet/reference/interpreter.h"
#include "octet/verifier.h"
#include "quant_test_util.h"

namespace octet::quant {
namespace {

using testing::RandomTensor;

QuantizerConfig Int4(int64_t group) {
  QuantizerConfig c = *MakePreset("int4-weight-only");
  c.weight.group_size = group;
  return c;
}

// Activations with a per-channel mean of `offset` + N(0, 1) noise: the mean
// is what makes the rounding error's expectation non-zero.
Tensor ShiftedInput(std::vector<int64_t> dims, std::mt19937& rng, float offset) {
  Tensor t = RandomTensor(std::move(dims), rng);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] += offset;
  return t;
}

std::vector<double> MeansOf(const Tensor& x) {
  ChannelSums s;
  EXPECT_TRUE(s.Observe(x, x.rank() - 1).ok());
  return s.Means();
}

// Per-output-channel mean of y_a - y_b (rows: every leading dim).
std::vector<double> MeanDifference(const Tensor& a, const Tensor& b) {
  const int64_t n = a.dim(a.rank() - 1), rows = a.numel() / n;
  std::vector<double> d(n, 0.0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < n; ++j)
      d[j] += (static_cast<double>(a.data<float>()[r * n + j]) - b.data<float>()[r * n + j]) / rows;
  return d;
}

double MaxAbs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

Tensor RunOne(const Graph& g, const Tensor& x) {
  auto out = reference::Interpreter(g).Run({{"x", x}});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? out->begin()->second : Tensor();
}

// Quantizes `float_model` (weights only) with and without the correction from
// `calib`'s input means; returns the per-channel mean output error of each on
// `calib` and writes the corrected QDQ model.
struct MeanErrors {
  double uncorrected = 0, corrected = 0;
};
MeanErrors MeanOutputErrors(const Model& float_model, const Tensor& calib,
                            const std::map<std::string, std::vector<double>>& means,
                            Model* corrected_out = nullptr) {
  QuantizerConfig config = Int4(32);
  auto plan = AnnotateForQuantization(*float_model.graph, config);
  EXPECT_TRUE(plan.ok()) << plan.status().ToString();
  const Tensor ref = RunOne(*float_model.graph, calib);
  MeanErrors e;
  for (bool correct : {false, true}) {
    Model m = float_model.Clone();
    if (correct) {
      auto r = CorrectBiasForWeightRounding(*m.graph, *plan, means);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      EXPECT_TRUE(r->skipped.empty());
    }
    EXPECT_TRUE(ConvertToQdq(m, *plan, {}).ok());
    EXPECT_TRUE(VerifyGraph(*m.graph).ok());
    const double err = MaxAbs(MeanDifference(RunOne(*m.graph, calib), ref));
    (correct ? e.corrected : e.uncorrected) = err;
    if (correct && corrected_out != nullptr) *corrected_out = std::move(m);
  }
  return e;
}

TEST(ChannelSumsTest, SumsPerChannelOfAnyAxis) {
  Tensor x(DType::kF32, {2, 3, 2});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i);
  ChannelSums last;
  ASSERT_TRUE(last.Observe(x, 2).ok());
  ASSERT_TRUE(last.Observe(x, 2).ok());
  EXPECT_EQ(last.count, 12);
  EXPECT_EQ(last.Means(), (std::vector<double>{5.0, 6.0}));  // evens, odds of 0..11
  ChannelSums middle;
  ASSERT_TRUE(middle.Observe(x, 1).ok());
  EXPECT_EQ(middle.count, 4);
  // Channel c holds 2c, 2c+1, 6+2c, 7+2c.
  EXPECT_EQ(middle.Means(), (std::vector<double>{3.5, 5.5, 7.5}));
}

TEST(ChannelSumsTest, RefusesAnotherChannelCountAndIntegers) {
  ChannelSums s;
  ASSERT_TRUE(s.Observe(Tensor(DType::kF32, {4, 8}), 1).ok());
  Status st = s.Observe(Tensor(DType::kF32, {4, 6}), 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("6 channels"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("had 8"), std::string::npos) << st.message();
  st = s.Observe(Tensor(DType::kI32, {4, 8}), 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("i32"), std::string::npos) << st.message();
}

TEST(DequantizeWeightTest, GivesScaleTimesCodeMinusZeroPoint) {
  std::mt19937 rng(4);
  const Tensor w = RandomTensor({64, 5}, rng);
  QuantScheme s = Int4(32).weight;
  s.axis = 0;  // MatMul weight [K, N]: groups along K
  auto q = QuantizeWeight(w, s);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  auto back = DequantizeWeight(*q, s);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  for (int64_t k = 0; k < 64; ++k)
    for (int64_t n = 0; n < 5; ++n) {
      const int64_t e = k * 5 + n, p = (k / 32) * 5 + n;
      const float expect = q->scale.data<float>()[p] *
                           static_cast<float>(q->q.GetAsDouble(e) - q->zero_point.GetAsDouble(p));
      EXPECT_EQ(back->data<float>()[e], expect) << k << "," << n;
      // Round to nearest: within half a step of the float weight.
      EXPECT_LE(std::fabs(back->data<float>()[e] - w.data<float>()[e]),
                0.5f * q->scale.data<float>()[p] * 1.0001f);
    }
}

// x[16,96] (mean 0.8) -> MatMul [96,32] -> Add b[32] -> Relu -> MatMul [32,10]
// -> y, the second MatMul without a bias.
Model TwoLayers(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({16, 96})));
  Value* w1 = g.AddConstant("w1", RandomTensor({96, 32}, rng, 0.2f));
  Value* b1 = g.AddConstant("b1", RandomTensor({32}, rng, 0.1f));
  Value* h = testing::Add(g, "MatMul", {x, w1}, "h", "lin1")->output(0);
  Value* hb = testing::Add(g, "Add", {h, b1}, "hb", "lin1_bias")->output(0);
  Value* a = testing::Add(g, "Relu", {hb}, "a", "act")->output(0);
  Value* w2 = g.AddConstant("w2", RandomTensor({32, 10}, rng, 0.3f));
  g.AddOutput(testing::Add(g, "MatMul", {a, w2}, "y", "lin2")->output(0));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

TEST(BiasCorrectionTest, MatMulBiasMovesByTheMeanRoundingError) {
  Model m = TwoLayers(1);
  std::mt19937 rng(2);
  const Tensor calib = ShiftedInput({16, 96}, rng, 0.8f);
  auto plan = AnnotateForQuantization(*m.graph, Int4(32));
  ASSERT_TRUE(plan.ok());
  std::map<std::string, std::vector<double>> means = {{"lin1", MeansOf(calib)},
                                                      {"lin2", std::vector<double>(32, 0.5)}};
  Model c = m.Clone();
  auto r = CorrectBiasForWeightRounding(*c.graph, *plan, means);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->corrected, (std::vector<std::string>{"lin1", "lin2"}));
  ASSERT_TRUE(VerifyGraph(*c.graph).ok());

  // lin1: the Add reads b1 - mean . (Wq - W), computed here by hand.
  QuantScheme s = plan->weights[0].scheme;
  const Tensor& w1 = m.graph->FindValue("w1")->constant();
  Tensor w1q = *DequantizeWeight(*QuantizeWeight(w1, s), s);
  const Tensor& b1 = m.graph->FindValue("b1")->constant();
  const Tensor& b1c = c.graph->FindNode("lin1_bias")->input(1)->constant();
  ASSERT_EQ(b1c.dims(), b1.dims());
  for (int64_t n = 0; n < 32; ++n) {
    double shift = 0;
    for (int64_t k = 0; k < 96; ++k)
      shift += means["lin1"][k] *
               (static_cast<double>(w1q.data<float>()[k * 32 + n]) - w1.data<float>()[k * 32 + n]);
    EXPECT_NEAR(b1c.data<float>()[n], b1.data<float>()[n] - shift, 1e-6) << n;
  }
  EXPECT_EQ(c.graph->FindValue("b1")->constant().data<float>()[0], b1.data<float>()[0])
      << "the original constant is left alone (other users may read it)";

  // lin2 had no bias: a new Add produces "y", still the graph output.
  Node* lin2 = c.graph->FindNode("lin2");
  ASSERT_EQ(lin2->output(0)->uses().size(), 1u);
  const Node* add = lin2->output(0)->uses()[0].node;
  EXPECT_EQ(add->op_type(), "Add");
  EXPECT_EQ(c.graph->outputs()[0]->name(), "y");
  EXPECT_EQ(c.graph->outputs()[0], add->output(0));
}

TEST(BiasCorrectionTest, RoundedModelKeepsTheFloatMeanOnTheCalibrationData) {
  Model m = TwoLayers(3);
  std::mt19937 rng(4);
  const Tensor calib = ShiftedInput({16, 96}, rng, 0.8f);
  // lin2's input mean from the float model's own activations.
  Model probe = m.Clone();
  probe.graph->AddOutput(probe.graph->FindValue("a"));
  auto acts = reference::Interpreter(*probe.graph).Run({{"x", calib}});
  ASSERT_TRUE(acts.ok());
  std::map<std::string, std::vector<double>> means = {{"lin1", MeansOf(calib)},
                                                      {"lin2", MeansOf(acts->at("a"))}};
  MeanErrors e = MeanOutputErrors(m, calib, means);
  // The second layer's input moves with the first layer's remaining error
  // (through the Relu), so the output mean is not exact: a few percent of the
  // uncorrected shift is left.
  EXPECT_LT(e.corrected, 0.1 * e.uncorrected) << e.corrected << " vs " << e.uncorrected;
}

// One Gemm y = alpha x W^T + beta C, each C form; the mean output error over
// the calibration data is gone up to float rounding (one layer: exact).
TEST(BiasCorrectionTest, GemmEveryFormOfC) {
  struct Case {
    const char* what;
    std::vector<int64_t> c_dims;  // empty: no C
    float alpha, beta;
  };
  for (const Case& cs : {Case{"C[N]", {12}, 1.0f, 1.0f}, Case{"C[1,N]", {1, 12}, 2.0f, 0.5f},
                         Case{"scalar C", {}, 1.0f, 1.0f}, Case{"no C", {0}, 0.5f, 1.0f},
                         Case{"beta 0", {12}, 1.0f, 0.0f}}) {
    SCOPED_TRACE(cs.what);
    std::mt19937 rng(9);
    Model m;
    m.opset_imports[""] = 17;
    Graph& g = *m.graph;
    Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({32, 64})));
    std::vector<Value*> in = {x, g.AddConstant("w", RandomTensor({12, 64}, rng, 0.3f))};
    if (cs.c_dims != std::vector<int64_t>{0})
      in.push_back(g.AddConstant("c", RandomTensor(cs.c_dims, rng)));
    Node* gemm = testing::Add(g, "Gemm", in, "y", "fc");
    gemm->SetAttr("transB", int64_t{1});
    gemm->SetAttr("alpha", cs.alpha);
    gemm->SetAttr("beta", cs.beta);
    g.AddOutput(gemm->output(0));
    ASSERT_TRUE(InferShapes(g).ok());
    const Tensor calib = ShiftedInput({32, 64}, rng, 1.0f);
    MeanErrors e = MeanOutputErrors(m, calib, {{"fc", MeansOf(calib)}});
    // Uncorrected: 64 rounding errors of about 0.035 each times a mean of 1.
    // Corrected: float rounding of outputs of about 5 (sums of 64 products).
    EXPECT_GT(e.uncorrected, 0.02);
    EXPECT_LT(e.corrected, 1e-4) << "uncorrected " << e.uncorrected;
  }
}

TEST(BiasCorrectionTest, UncoveredNodesAreSkippedWithTheReason) {
  Model m = testing::SmallCnn(1);  // conv1, conv2 (Conv) and fc (Gemm)
  QuantizerConfig config = *MakePreset("int8-dynamic");
  auto plan = AnnotateForQuantization(*m.graph, config);
  ASSERT_TRUE(plan.ok());
  auto r = CorrectBiasForWeightRounding(*m.graph, *plan, {{"fc", std::vector<double>(96, 0.1)}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->corrected, std::vector<std::string>{"fc"});
  ASSERT_EQ(r->skipped.size(), 2u);
  EXPECT_EQ(r->skipped[0].first, "conv1");
  EXPECT_NE(r->skipped[0].second.find("covers MatMul and Gemm"), std::string::npos);
}

TEST(BiasCorrectionTest, MissingOrWrongMeansAreErrorsNamingTheNode) {
  Model m = TwoLayers(1);
  auto plan = AnnotateForQuantization(*m.graph, Int4(32));
  ASSERT_TRUE(plan.ok());
  auto r = CorrectBiasForWeightRounding(*m.graph, *plan, {{"lin1", std::vector<double>(96, 0)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("'lin2'"), std::string::npos) << r.status().message();
  Model m2 = TwoLayers(1);
  r = CorrectBiasForWeightRounding(
      *m2.graph, *plan,
      {{"lin1", std::vector<double>(95, 0)}, {"lin2", std::vector<double>(32, 0)}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("lin1"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("95 channels"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace octet::quant
