#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "octet/ir_text.h"
#include "octet/verifier.h"

namespace octet {
namespace {

constexpr const char* kSample = R"(opset "" 17
opset "com.microsoft" 1
producer "pytorch" "1.13.1"
metadata "author" "octet tests"
graph main {
  input %x : f32[N,4]
  input %"weird name" : i64[*]
  const %w : f32[4,2] = [0.5, 1.0, -2.0, 3.25, 0.0, -0.0, 1e-30, 3.40282347e+38]
  const %q : i8[2]{per_axis axis=0 scale=[0.1, 0.0500000007] zp=[0, -3]} = [-128, 127]
  const %h : f16[2] = 0x003c00c0
  const %i4 : i4[3] = 0x7f08
  const %b : bool[2] = [1, 0]
  %y : f32[N,2] = MatMul(%x, %w) name="mm"
  %a : f32[N,1], %"b/c:d" : f32[?,1] = Split(%y, _) {axis = 1, num_outputs = 2} name="split"
  %z : undef[*] = Custom(%a) {alpha = 0.5, beta = -inf, gamma = nan, ints = ints[1, -2], floats = floats[], names = strings["a", "b\"c"], t = tensor<f32[2]>[1.0, 2.0]} domain="com.microsoft"
  output %z, %"b/c:d"
}
)";

TEST(IrText, RoundTripIsExact) {
  auto model = ParseModel(kSample);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const std::string printed = PrintModel(*model);
  auto again = ParseModel(printed);
  ASSERT_TRUE(again.ok()) << again.status().ToString() << "\n" << printed;
  EXPECT_EQ(PrintModel(*again), printed);
  EXPECT_TRUE(VerifyGraph(*model->graph).ok());
}

TEST(IrText, ParsesValuesExactly) {
  auto model = ParseModel(kSample);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const Graph& g = *model->graph;
  const Tensor& w = g.FindValue("w")->constant();
  EXPECT_EQ(w.data<float>()[2], -2.0f);
  EXPECT_TRUE(std::signbit(w.data<float>()[5]));
  EXPECT_EQ(w.data<float>()[7], std::numeric_limits<float>::max());
  EXPECT_EQ(HalfToFloat(g.FindValue("h")->constant().data<uint16_t>()[0]), 1.0f);
  EXPECT_EQ(HalfToFloat(g.FindValue("h")->constant().data<uint16_t>()[1]), -2.0f);
  const Tensor& i4 = g.FindValue("i4")->constant();
  EXPECT_EQ(i4.GetAsInt64(0), -1);
  EXPECT_EQ(i4.GetAsInt64(1), 7);
  EXPECT_EQ(i4.GetAsInt64(2), -8);
  const Value* q = g.FindValue("q");
  ASSERT_TRUE(q->type().quant.has_value());
  EXPECT_EQ(q->type().quant->granularity, QuantGranularity::kPerAxis);
  EXPECT_EQ(q->type().quant->zero_points, (std::vector<int32_t>{0, -3}));
  const Node* split = g.FindNode("split");
  ASSERT_NE(split, nullptr);
  EXPECT_EQ(split->input(1), nullptr);
  EXPECT_EQ(split->output(1)->name(), "b/c:d");
  EXPECT_TRUE(split->output(1)->type().shape[0].is_unknown());
  EXPECT_EQ(g.inputs()[0]->type().shape[0].symbol(), "N");
  EXPECT_FALSE(g.FindValue("weird name")->type().has_shape);
  const Node* custom = g.nodes().back();
  EXPECT_EQ(custom->domain(), "com.microsoft");
  EXPECT_TRUE(std::isinf(custom->FindAttr("beta")->f()));
  EXPECT_TRUE(std::isnan(custom->FindAttr("gamma")->f()));
  EXPECT_EQ(custom->FindAttr("names")->strings()[1], "b\"c");
  EXPECT_EQ(model->opset_imports.at(""), 17);
}

TEST(IrText, IntAndFloatAttributesStayDistinct) {
  auto model = ParseModel(
      "graph g {\n input %x : f32[1]\n %y : f32[1] = LeakyRelu(%x) {alpha = 1.0, k = 1}\n output "
      "%y\n}\n");
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const Node* n = model->graph->nodes()[0];
  EXPECT_EQ(n->FindAttr("alpha")->kind(), Attribute::Kind::kFloat);
  EXPECT_EQ(n->FindAttr("k")->kind(), Attribute::Kind::kInt);
}

struct BadText {
  const char* text;
  const char* expected_fragment;
};

class IrTextErrors : public ::testing::TestWithParam<BadText> {};

TEST_P(IrTextErrors, NameTheProblemAndPosition) {
  auto model = ParseModel(GetParam().text);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find(GetParam().expected_fragment), std::string::npos)
      << model.status().message();
  EXPECT_NE(model.status().message().find("IR text "), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    All, IrTextErrors,
    ::testing::Values(
        BadText{"graph g {\n %y : f32[1] = Relu(%x)\n}\n", "'%x' is used before it is defined"},
        BadText{"graph g {\n input %x : f33[1]\n}\n", "unknown dtype 'f33'"},
        BadText{"graph g {\n input %x : f32[1]\n input %x : f32[1]\n}\n", "defined twice"},
        BadText{"graph g {\n const %c : f32[2] = [1.0]\n}\n", "expected 2 values"},
        BadText{"graph g {\n const %c : f32[1] = [1.0, 2.0]\n}\n", "too many values"},
        BadText{"graph g {\n const %c : f16[1] = 0x00\n}\n", "expected 2 bytes"},
        BadText{"graph g {\n input %x : f32[1]\n", "missing '}'"},
        BadText{"graph g {\n input %x : f32[1]\n}\n trailing", "unexpected text"},
        BadText{"graph g {\n const %c : f32[N] = [1.0]\n}\n", "needs a static shape"},
        BadText{"graph g {\n const %c : f32[2] = <2 elements>\n}\n", "elided"}));

TEST(IrText, ElidedConstantsForHumans) {
  auto model = ParseModel("graph g {\n const %c : f32[3] = [1.0, 2.0, 3.0]\n output %c\n}\n");
  ASSERT_TRUE(model.ok());
  PrintOptions opts;
  opts.max_constant_elements = 2;
  EXPECT_NE(PrintModel(*model, opts).find("<3 elements>"), std::string::npos);
}

}  // namespace
}  // namespace octet
