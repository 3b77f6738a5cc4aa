// Quantizer configurations and annotation: presets, JSON configs, node
// filters, parameter sharing through pass-through ops and Concat.
#include "octet/quant/annotate.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

#include "octet/quant/quantizer_config.h"
#include "quant_test_util.h"

namespace octet::quant {
namespace {

using testing::SmallCnn;
using testing::SmallMlp;

QuantizerConfig Preset(const std::string& name) {
  auto c = MakePreset(name);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return *c;
}

const ActivationGroup* GroupObserving(const QuantPlan& p, const std::string& value) {
  for (const ActivationGroup& g : p.groups)
    if (g.observed_value == value) return &g;
  return nullptr;
}

TEST(QuantizerConfigTest, EveryPresetIsValid) {
  for (const std::string& name : PresetNames()) {
    QuantizerConfig c = Preset(name);
    EXPECT_TRUE(ValidateConfig(c, name).ok()) << name;
  }
  EXPECT_FALSE(Preset("x86-int8").weight_only());
  EXPECT_TRUE(Preset("int4-weight-only").weight_only());
  EXPECT_EQ(Preset("int4-weight-only").weight.group_size, 128);
  EXPECT_TRUE(Preset("int8-dynamic").activation->dynamic);
}

TEST(QuantizerConfigTest, UnknownPresetListsTheKnownOnes) {
  auto c = MakePreset("x86-int9");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("int8-dynamic"), std::string::npos);
}

TEST(QuantizerConfigTest, JsonOverridesFields) {
  QuantizerConfig c = Preset("x86-int8");
  ASSERT_TRUE(ApplyConfigJson(R"({"calibration": {"method": "percentile", "percentile": 99.9},
                                  "exclude": ["name:fc", "re:conv[0-9]"],
                                  "activation": {"reduce_range": true}})",
                              "test.json", &c)
                  .ok());
  EXPECT_EQ(c.calibration.method, CalibrationMethod::kPercentile);
  EXPECT_DOUBLE_EQ(c.calibration.percentile, 99.9);
  ASSERT_EQ(c.exclude.size(), 2u);
  EXPECT_EQ(c.exclude[1].kind(), NodeFilter::Kind::kRegex);
  EXPECT_TRUE(c.activation->reduce_range);
  EXPECT_EQ(c.activation->dtype, DType::kU8);  // untouched fields stay
}

TEST(QuantizerConfigTest, JsonRoundTrips) {
  QuantizerConfig c = Preset("int4-weight-only");
  c.weight.group_size = 64;
  c.exclude.push_back(*NodeFilter::Parse("op:Gemm"));
  QuantizerConfig back = Preset("x86-int8");
  ASSERT_TRUE(ApplyConfigJson(ConfigToJson(c), "roundtrip", &back).ok());
  EXPECT_EQ(ConfigToJson(back), ConfigToJson(c));
  EXPECT_FALSE(back.activation.has_value());
}

TEST(QuantizerConfigTest, JsonErrorsNameTheFileAndKey) {
  QuantizerConfig c = Preset("x86-int8");
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {R"({"calibraton": {}})", "unknown key 'calibraton'"},
      {R"({"int32_bias": "yes"})", "int32_bias: expected true or false"},
      {R"({"weight": {"dtype": "i3"}})", "dtype 'i3'"},
      {R"({"preset": "int4-weight-only", "weight": {"group_size": 48}})", "power of two"},
      {R"({"ops": ["Relu"]})", "op 'Relu' cannot be quantized"},
      {R"({"exclude": ["re:("]})", "invalid regular expression"},
      {R"({"activation": {"granularity": "per-token"}})", "dynamic"},
      {R"({"calibration": {"method": "kl"}})", "kl"},
      {R"({not json)", "not valid JSON"},
  };
  for (const Case& k : cases) {
    QuantizerConfig copy = c;
    Status s = ApplyConfigJson(k.json, "my.json", &copy);
    ASSERT_FALSE(s.ok()) << k.json;
    EXPECT_NE(s.message().find("my.json"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find(k.expect), std::string::npos) << s.message();
  }
}

TEST(NodeFilterTest, Forms) {
  Model m = SmallCnn(1);
  const Node& conv1 = *m.graph->FindNode("conv1");
  EXPECT_TRUE(NodeFilter::Parse("conv1")->Matches(conv1));
  EXPECT_TRUE(NodeFilter::Parse("name:conv1")->Matches(conv1));
  EXPECT_TRUE(NodeFilter::Parse("op:Conv")->Matches(conv1));
  EXPECT_TRUE(NodeFilter::Parse("re:conv[0-9]")->Matches(conv1));
  EXPECT_FALSE(NodeFilter::Parse("re:conv")->Matches(conv1));  // whole-name match
  EXPECT_FALSE(NodeFilter::Parse("op:").ok());
}

TEST(AnnotateTest, X86Int8SharesThroughPoolingAndFlatten) {
  Model m = SmallCnn(1);
  auto plan = AnnotateForQuantization(*m.graph, Preset("x86-int8"));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->nodes.size(), 3u);
  EXPECT_EQ(plan->nodes[0].node, "conv1");
  EXPECT_EQ(plan->nodes[2].node, "fc");
  ASSERT_EQ(plan->groups.size(), 3u);
  // conv2 reads MaxPool(relu1): one group observed at relu1's output, with the
  // pool's output as a second member read by conv2.
  const ActivationGroup* g = GroupObserving(*plan, "r1");
  ASSERT_NE(g, nullptr);
  ASSERT_EQ(g->members.size(), 2u);
  EXPECT_EQ(g->members[0].value, "r1");
  EXPECT_EQ(g->members[0].consumers, std::vector<std::string>{"pool"});
  EXPECT_EQ(g->members[1].value, "p");
  EXPECT_EQ(g->members[1].consumers, std::vector<std::string>{"conv2"});
  // fc reads Flatten(relu2): observed at relu2.
  EXPECT_NE(GroupObserving(*plan, "r2"), nullptr);
  // Weights: per-channel on the output channel (Conv axis 0, Gemm transB=1 axis 0).
  ASSERT_EQ(plan->weights.size(), 3u);
  for (const WeightQuant& w : plan->weights) {
    EXPECT_EQ(w.scheme.granularity, Granularity::kPerChannel);
    EXPECT_EQ(w.scheme.axis, 0) << w.node;
  }
  EXPECT_EQ(plan->biases.size(), 3u);
  EXPECT_EQ(plan->num_static_groups(), 3);
}

TEST(AnnotateTest, ExcludeIncludeAndFiltersThatMatchNothing) {
  Model m = SmallCnn(1);
  QuantizerConfig c = Preset("x86-int8");
  c.exclude = {*NodeFilter::Parse("name:conv2")};
  auto plan = AnnotateForQuantization(*m.graph, c);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->nodes.size(), 2u);
  ASSERT_EQ(plan->skipped.size(), 1u);
  EXPECT_EQ(plan->skipped[0].first, "conv2");
  EXPECT_EQ(plan->skipped[0].second, "excluded by name:conv2");
  EXPECT_EQ(GroupObserving(*plan, "r1"), nullptr);

  c.exclude.clear();
  c.include = {*NodeFilter::Parse("op:Gemm")};
  plan = AnnotateForQuantization(*m.graph, c);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->nodes.size(), 1u);
  EXPECT_EQ(plan->nodes[0].node, "fc");

  for (const char* spec : {"name:conv9", "op:LSTM", "re:layer4.*"}) {
    c.include.clear();
    c.exclude = {*NodeFilter::Parse(spec)};
    auto bad = AnnotateForQuantization(*m.graph, c);
    ASSERT_FALSE(bad.ok()) << spec;
    EXPECT_NE(bad.status().message().find(spec), std::string::npos) << bad.status().message();
    EXPECT_NE(bad.status().message().find("'conv1'"), std::string::npos);  // shows real names
  }
}

TEST(AnnotateTest, ConcatSharesOneGroupOverInputsAndOutput) {
  std::mt19937 rng(3);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({1, 2, 4, 4})));
  Value* a = testing::Add(g, "Relu", {x}, "a", "ra")->output(0);
  Value* b = testing::Add(g, "Sigmoid", {x}, "b", "sb")->output(0);
  Node* cat = testing::Add(g, "Concat", {a, b}, "cat", "concat");
  cat->SetAttr("axis", int64_t{1});
  Value* w = g.AddConstant("w", testing::RandomTensor({3, 4, 1, 1}, rng));
  Value* y = testing::Add(g, "Conv", {cat->output(0), w}, "y", "conv")->output(0);
  g.AddOutput(y);
  ASSERT_TRUE(InferShapes(g).ok());
  auto plan = AnnotateForQuantization(g, Preset("x86-int8"));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->groups.size(), 1u);
  const ActivationGroup& grp = plan->groups[0];
  EXPECT_EQ(grp.observed_value, "cat");
  ASSERT_EQ(grp.members.size(), 3u);
  EXPECT_EQ(grp.members[1].value, "a");
  EXPECT_EQ(grp.members[1].consumers, std::vector<std::string>{"concat"});
  EXPECT_EQ(grp.members[2].value, "b");
}

// x -> conv_a -> Add(conv_a, r) with r = Relu(x): the residual r is quantized
// for the Add, conv_a's output is not (it is fused). An Add of two non-conv
// values and one whose conv output has a second user stay float.
TEST(AnnotateTest, ResidualAddQuantizesOnlyTheResidual) {
  std::mt19937 rng(5);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({1, 4, 4, 4})));
  Value* r = testing::Add(g, "Relu", {x}, "r", "relu")->output(0);
  Value* w = g.AddConstant("w", testing::RandomTensor({4, 4, 1, 1}, rng));
  Value* a = testing::Add(g, "Conv", {x, w}, "a", "conv_a")->output(0);
  Value* sum = testing::Add(g, "Add", {a, r}, "sum", "add")->output(0);
  Value* both = testing::Add(g, "Add", {r, x}, "both", "add_plain")->output(0);
  Value* b = testing::Add(g, "Conv", {x, w}, "b", "conv_b")->output(0);
  Value* twice = testing::Add(g, "Add", {b, r}, "twice", "add_shared")->output(0);
  g.AddOutput(sum);
  g.AddOutput(both);
  g.AddOutput(twice);
  g.AddOutput(b);  // conv_b's output has a second user: not fusable
  ASSERT_TRUE(InferShapes(g).ok());
  auto plan = AnnotateForQuantization(g, Preset("x86-int8"));
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  std::vector<std::string> quantized;
  for (const QuantizedNode& q : plan->nodes) quantized.push_back(q.node);
  EXPECT_EQ(quantized, (std::vector<std::string>{"conv_a", "add", "conv_b"}));
  const QuantizedNode& add = plan->nodes[1];
  ASSERT_EQ(add.activation_groups.size(), 1u);
  const ActivationGroup& grp = plan->groups[add.activation_groups[0]];
  EXPECT_EQ(grp.observed_value, "r");
  EXPECT_EQ(grp.members[0].consumers, std::vector<std::string>{"add"});
  std::map<std::string, std::string> why(plan->skipped.begin(), plan->skipped.end());
  EXPECT_NE(why["add_plain"].find("no quantized Conv"), std::string::npos) << why["add_plain"];
  EXPECT_NE(why["add_shared"].find("no quantized Conv"), std::string::npos) << why["add_shared"];
  // Weight-only and dynamic presets never quantize an Add.
  QuantizerConfig dyn = Preset("int8-dynamic");
  dyn.ops.push_back("Add");
  plan = AnnotateForQuantization(g, dyn);
  ASSERT_TRUE(plan.ok());
  for (const QuantizedNode& q : plan->nodes) EXPECT_NE(q.op_type, "Add");
}

TEST(AnnotateTest, Int8DynamicQuantizesLinearLayersPerToken) {
  Model m = SmallMlp(2);
  auto plan = AnnotateForQuantization(*m.graph, Preset("int8-dynamic"));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->nodes.size(), 2u);
  EXPECT_EQ(plan->num_static_groups(), 0);
  for (const ActivationGroup& g : plan->groups) {
    EXPECT_TRUE(g.scheme.dynamic);
    EXPECT_EQ(g.scheme.granularity, Granularity::kPerToken);
  }
  // MatMul weight [K, N]: per output column, axis 1.
  for (const WeightQuant& w : plan->weights) EXPECT_EQ(w.scheme.axis, 1);
  EXPECT_TRUE(plan->biases.empty());
}

TEST(AnnotateTest, Int4GroupsRunAlongTheReductionAxis) {
  Model m = SmallMlp(2);
  QuantizerConfig c = Preset("int4-weight-only");
  auto plan = AnnotateForQuantization(*m.graph, c);
  ASSERT_TRUE(plan.ok());
  // K = 32 and 16 are shorter than the default group of 128.
  EXPECT_TRUE(plan->nodes.empty());
  ASSERT_EQ(plan->skipped.size(), 2u);
  EXPECT_NE(plan->skipped[0].second.find("shorter than the group size"), std::string::npos);
  c.weight.group_size = 16;
  plan = AnnotateForQuantization(*m.graph, c);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->weights.size(), 2u);
  EXPECT_EQ(plan->weights[0].scheme.axis, 0);  // K of [K, N]
  EXPECT_TRUE(plan->groups.empty());
}

TEST(AnnotateTest, ActivationMatMulOnlyWhenAsked) {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* q = g.AddInput("q", TensorType(DType::kF32, Shape::FromStatic({2, 4, 8})));
  Value* k = g.AddInput("k", TensorType(DType::kF32, Shape::FromStatic({2, 8, 4})));
  g.AddOutput(testing::Add(g, "MatMul", {q, k}, "s", "scores")->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  QuantizerConfig c = Preset("x86-int8");
  auto plan = AnnotateForQuantization(g, c);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->nodes.empty());
  c.quantize_activation_matmul = true;
  plan = AnnotateForQuantization(g, c);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->nodes.size(), 1u);
  EXPECT_EQ(plan->nodes[0].activation_groups.size(), 2u);
  EXPECT_TRUE(plan->weights.empty());
}

}  // namespace
}  // namespace octet::quant
