// Weight quantization, observer insertion and QDQ conversion, checked
// structurally and numerically against the reference interpreter.
#include "octet/quant/convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "octet/metrics.h"
#include "octet/onnx.h"
#include "octet/reference/interpreter.h"
#include "octet/verifier.h"
#include "quant_test_util.h"

namespace octet::quant {
namespace {

using testing::RandomTensor;
using testing::SmallCnn;
using testing::SmallMlp;

int CountOps(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op_type() == op;
  return n;
}

QuantScheme PerChannelI8(int axis) {
  QuantScheme s;
  s.dtype = DType::kI8;
  s.symmetric = true;
  s.narrow_range = true;
  s.granularity = Granularity::kPerChannel;
  s.axis = axis;
  return s;
}

TEST(QuantizeWeightTest, PerChannelSymmetricInt8) {
  std::mt19937 rng(11);
  Tensor w = RandomTensor({5, 3, 2, 2}, rng);
  for (int i = 12; i < 24; ++i) w.data<float>()[i] = 0.0f;  // channel 1 is all zero
  auto q = QuantizeWeight(w, PerChannelI8(0));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_FALSE(q->zero_point.defined());
  ASSERT_EQ(q->scale.dims(), std::vector<int64_t>{5});
  for (int c = 0; c < 5; ++c) {
    const float s = q->scale.data<float>()[c];
    int max_code = 0;
    for (int i = 0; i < 12; ++i) {
      const int code = q->q.data<int8_t>()[c * 12 + i];
      max_code = std::max(max_code, std::abs(code));
      // Round-to-nearest: the dequantized value is within half a step.
      EXPECT_LE(std::abs(code * s - w.data<float>()[c * 12 + i]), 0.5f * s * (1 + 1e-6f));
    }
    // The largest magnitude maps to the end of the narrow range (or all zero).
    EXPECT_EQ(max_code, c == 1 ? 0 : 127) << "channel " << c;
  }
}

TEST(QuantizeWeightTest, PerGroupAffineUint4) {
  std::mt19937 rng(12);
  Tensor w = RandomTensor({40, 6}, rng);  // K = 40: groups of 16 leave a partial one
  QuantScheme s;
  s.dtype = DType::kU4;
  s.granularity = Granularity::kPerGroup;
  s.group_size = 16;
  s.axis = 0;
  auto q = QuantizeWeight(w, s);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_EQ(q->scale.dims(), (std::vector<int64_t>{3, 6}));
  ASSERT_TRUE(q->zero_point.defined());
  EXPECT_EQ(q->zero_point.dtype(), DType::kU4);
  for (int k = 0; k < 40; ++k)
    for (int n = 0; n < 6; ++n) {
      const int64_t e = k * 6 + n, p = (k / 16) * 6 + n;
      const double code = q->q.GetAsDouble(e), zp = q->zero_point.GetAsDouble(p);
      const float scale = q->scale.data<float>()[p];
      ASSERT_GE(code, 0);
      ASSERT_LE(code, 15);
      EXPECT_LE(std::abs((code - zp) * scale - w.data<float>()[e]), 0.5 * scale * (1 + 1e-6));
    }
}

TEST(QuantizeWeightTest, NonFiniteWeightIsAnError) {
  Tensor w(DType::kF32, {2, 2});
  for (int i = 0; i < 4; ++i) w.data<float>()[i] = 1.0f;
  w.data<float>()[3] = NAN;
  auto q = QuantizeWeight(w, PerChannelI8(0));
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("non-finite"), std::string::npos);
}

// Calibrated parameters for the SmallCnn groups, from a MinMax over one run.
std::vector<ScaleZeroPoint> MinMaxParams(const Graph& g, const QuantPlan& plan, const Tensor& x) {
  reference::InterpreterOptions o;
  o.keep_intermediates = true;
  reference::Interpreter run(g, o);
  EXPECT_TRUE(run.Run({{"x", x}}).ok());
  std::vector<ScaleZeroPoint> params(plan.groups.size());
  for (const ActivationGroup& grp : plan.groups) {
    const Tensor& t = grp.observed_value == "x" ? x : run.intermediates().at(grp.observed_value);
    double lo = 0, hi = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      lo = std::min(lo, t.GetAsDouble(i));
      hi = std::max(hi, t.GetAsDouble(i));
    }
    params[grp.id] = ChooseScaleZeroPoint(lo, hi, grp.scheme);
  }
  return params;
}

TEST(ConvertTest, X86Int8SmallCnnStructureAndNumerics) {
  Model m = SmallCnn(5);
  auto plan = AnnotateForQuantization(*m.graph, *MakePreset("x86-int8"));
  ASSERT_TRUE(plan.ok());
  std::mt19937 rng(99);
  Tensor x = RandomTensor({1, 3, 8, 8}, rng);
  const std::vector<ScaleZeroPoint> params = MinMaxParams(*m.graph, *plan, x);
  Model q = m.Clone();
  ASSERT_TRUE(ConvertToQdq(q, *plan, params).ok());
  ASSERT_TRUE(VerifyGraph(*q.graph).ok());
  // One Q/DQ pair per group member (x; r1 and the pool output; r2 and the
  // flattened r2), one weight DQ per layer and one bias DQ per layer.
  EXPECT_EQ(CountOps(*q.graph, "QuantizeLinear"), 5);
  EXPECT_EQ(CountOps(*q.graph, "DequantizeLinear"), 5 + 3 + 3);
  EXPECT_EQ(q.onnx_opset(), 17);  // nothing needed opset 21
  // Float ops keep their names and outputs.
  const Node* conv2 = q.graph->FindNode("conv2");
  ASSERT_NE(conv2, nullptr);
  EXPECT_EQ(conv2->output(0)->name(), "c2");
  EXPECT_EQ(conv2->input(0)->name(), "p/dq");
  // The bias is int32 with scale = input scale x weight scale.
  const Value* bias_q = q.graph->FindValue("b2/q");
  ASSERT_NE(bias_q, nullptr);
  ASSERT_EQ(bias_q->constant().dtype(), DType::kI32);
  const Tensor& w_scale = q.graph->FindValue("w2/scale")->constant();
  const float s_in = params[plan->groups[1].id].scale;
  const Tensor& b2 = m.graph->FindValue("b2")->constant();
  for (int c = 0; c < 6; ++c)
    EXPECT_EQ(bias_q->constant().data<int32_t>()[c],
              static_cast<int32_t>(
                  std::nearbyint(b2.data<float>()[c] / (s_in * w_scale.data<float>()[c]))));
  // Quantized vs float on the calibration input: 8-bit noise through three
  // layers stays far above 25 dB.
  auto f = reference::Interpreter(*m.graph).Run({{"x", x}});
  auto r = reference::Interpreter(*q.graph).Run({{"x", x}});
  ASSERT_TRUE(f.ok() && r.ok());
  auto a = Compare(f->at("logits"), r->at("logits"), "logits");
  ASSERT_TRUE(a.ok());
  EXPECT_GT(a->sqnr_db, 25.0) << FormatAgreement(*a);
  // The QDQ model survives ONNX export and import unchanged in behaviour.
  auto bytes = ExportOnnxBytes(q);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = ImportOnnxBytes(*bytes, "qdq.onnx", {}, "");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  auto r2 = reference::Interpreter(*back->graph).Run({{"x", x}});
  ASSERT_TRUE(r2.ok());
  auto same = Compare(r->at("logits"), r2->at("logits"), "roundtrip");
  EXPECT_EQ(same->max_abs_error, 0.0);
}

TEST(ConvertTest, ReduceRangeClipsToSevenBits) {
  Model m = SmallCnn(6);
  QuantizerConfig c = *MakePreset("x86-int8");
  c.activation->reduce_range = true;
  auto plan = AnnotateForQuantization(*m.graph, c);
  ASSERT_TRUE(plan.ok());
  std::mt19937 rng(5);
  Tensor x = RandomTensor({1, 3, 8, 8}, rng);
  // Parameters from a narrower input, so the test input exceeds the range.
  std::vector<ScaleZeroPoint> params = MinMaxParams(*m.graph, *plan, x);
  for (ScaleZeroPoint& p : params) p.scale *= 0.5f;
  Model q = m.Clone();
  ASSERT_TRUE(ConvertToQdq(q, *plan, params).ok());
  EXPECT_EQ(CountOps(*q.graph, "Clip"), 5);
  reference::InterpreterOptions o;
  o.after_node = [](const Node& n, const std::vector<const Tensor*>&,
                    const std::vector<Tensor>& out) {
    if (n.op_type() == "QuantizeLinear") {
      for (int64_t i = 0; i < out[0].numel(); ++i) EXPECT_LE(out[0].GetAsDouble(i), 127.0);
    }
    return Status::Ok();
  };
  ASSERT_TRUE(reference::Interpreter(*q.graph, o).Run({{"x", x}}).ok());
}

TEST(ConvertTest, DynamicPerTokenMatchesAHandComputedQuantization) {
  Model m = SmallMlp(7);
  auto plan = AnnotateForQuantization(*m.graph, *MakePreset("int8-dynamic"));
  ASSERT_TRUE(plan.ok());
  Model q = m.Clone();
  ASSERT_TRUE(ConvertToQdq(q, *plan, {}).ok());
  EXPECT_EQ(q.onnx_opset(), 21);
  EXPECT_GE(q.ir_version, 10);
  const Node* quant = q.graph->FindNode("x/q");
  ASSERT_NE(quant, nullptr);
  EXPECT_EQ(*quant->GetInt("block_size", 0), 32);
  EXPECT_EQ(*quant->GetInt("axis", 0), 2);
  std::mt19937 rng(8);
  Tensor x = RandomTensor({2, 5, 32}, rng);
  reference::InterpreterOptions o;
  o.keep_intermediates = true;
  reference::Interpreter run(*q.graph, o);
  ASSERT_TRUE(run.Run({{"x", x}}).ok());
  const Tensor& dq = run.intermediates().at("x/dq");
  for (int t = 0; t < 10; ++t) {
    float absmax = 0;
    for (int k = 0; k < 32; ++k) absmax = std::max(absmax, std::abs(x.data<float>()[t * 32 + k]));
    const float s = absmax / 127.0f;
    for (int k = 0; k < 32; ++k) {
      const float v = x.data<float>()[t * 32 + k];
      EXPECT_FLOAT_EQ(dq.data<float>()[t * 32 + k], std::nearbyint(v / s) * s);
    }
  }
  // And the whole model stays close to float.
  auto f = reference::Interpreter(*m.graph).Run({{"x", x}});
  auto r = reference::Interpreter(*q.graph).Run({{"x", x}});
  ASSERT_TRUE(f.ok() && r.ok());
  EXPECT_GT(Compare(f->at("y"), r->at("y"), "y")->sqnr_db, 30.0);
}

TEST(ObserverTest, InsertedAfterTheProducerAndRemovedAgain) {
  Model m = SmallCnn(5);
  auto plan = AnnotateForQuantization(*m.graph, *MakePreset("x86-int8"));
  ASSERT_TRUE(plan.ok());
  const int before = m.graph->num_nodes();
  ASSERT_TRUE(InsertObservers(*m.graph, *plan).ok());
  EXPECT_EQ(m.graph->num_nodes(), before + plan->num_static_groups());
  ASSERT_TRUE(VerifyGraph(*m.graph).ok());
  // Each observer directly follows its value's producer (or leads for inputs).
  const std::vector<Node*> nodes = m.graph->nodes();
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (nodes[i]->op_type() != kObserverOp) continue;
    const Node* producer = nodes[i]->input(0)->producer();
    if (producer == nullptr) {
      EXPECT_EQ(i, 0u);
    } else {
      EXPECT_EQ(nodes[i - 1], producer);
    }
  }
  std::vector<std::string> seen;
  reference::InterpreterOptions o;
  o.after_node = [&](const Node& n, const std::vector<const Tensor*>& in,
                     const std::vector<Tensor>&) {
    if (n.op_type() == kObserverOp) seen.push_back(n.input(0)->name());
    return Status::Ok();
  };
  std::mt19937 rng(1);
  ASSERT_TRUE(
      reference::Interpreter(*m.graph, o).Run({{"x", RandomTensor({1, 3, 8, 8}, rng)}}).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"x", "r1", "r2"}));
  EXPECT_EQ(RemoveObservers(*m.graph), 3);
  EXPECT_EQ(m.graph->num_nodes(), before);
}

}  // namespace
}  // namespace octet::quant
