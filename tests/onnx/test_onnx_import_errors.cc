// Every kind of bad ONNX input must give an error that names the culprit.
#include <gtest/gtest.h>

#include "onnx_test_util.h"

namespace octet {
namespace {

using namespace onnx_test;  // NOLINT: test builders

::testing::AssertionResult FailsWith(const Expected<Model>& m, StatusCode code,
                                     const std::vector<std::string>& fragments) {
  if (m.ok()) return ::testing::AssertionFailure() << "import succeeded";
  if (m.status().code() != code)
    return ::testing::AssertionFailure()
           << "expected code " << StatusCodeName(code) << ", got " << m.status().ToString();
  for (const auto& f : fragments)
    if (m.status().message().find(f) == std::string::npos)
      return ::testing::AssertionFailure()
             << "message lacks '" << f << "': " << m.status().message();
  return ::testing::AssertionSuccess();
}

// x -> Relu -> y, plus the initializer w used by an Add.
onnx::ModelProto SmallModel() {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddFloatInitializer(m, "w", {2}, {1.0f, 2.0f});
  AddNode(m, "Add", {"x", "w"}, {"s"}, "add");
  AddNode(m, "Relu", {"s"}, {"y"}, "relu");
  AddOutput(m, "y");
  return m;
}

TEST(OnnxImportErrors, SmallModelImports) {
  auto m = Import(SmallModel());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
}

TEST(OnnxImportErrors, GarbageBytesNameTheFile) {
  TempDir dir;
  dir.Write("garbage.onnx", std::string("\xff\xff\xff\xff not a protobuf \x01\x02", 22));
  auto m = ImportOnnxFile(dir.File("garbage.onnx"));
  EXPECT_TRUE(FailsWith(m, StatusCode::kDataLoss, {"garbage.onnx", "truncated or corrupt"}));
}

TEST(OnnxImportErrors, TruncatedFile) {
  const std::string bytes = Serialize(SmallModel());
  // Every cut either fails to parse or loses the graph's pieces; none may crash
  // or import a model silently missing its outputs.
  for (size_t cut = 1; cut < bytes.size(); cut += 7) {
    auto m = ImportOnnxBytes(bytes.substr(0, cut), "", {}, "cut.onnx");
    if (m.ok()) {
      EXPECT_EQ(m->graph->outputs().size(), 1u) << "cut at " << cut;
      continue;
    }
    EXPECT_NE(m.status().message().find("cut.onnx"), std::string::npos) << m.status().ToString();
  }
  auto m = ImportOnnxBytes(bytes.substr(0, bytes.size() - 3), "", {}, "cut.onnx");
  EXPECT_TRUE(FailsWith(m, StatusCode::kDataLoss, {"cut.onnx"}));
}

TEST(OnnxImportErrors, EmptyBytesHaveNoGraph) {
  EXPECT_TRUE(FailsWith(ImportOnnxBytes("", "", {}, "empty.onnx"), StatusCode::kDataLoss,
                        {"empty.onnx", "no graph"}));
}

TEST(OnnxImportErrors, MissingFile) {
  EXPECT_TRUE(FailsWith(ImportOnnxFile("/nonexistent/model.onnx"), StatusCode::kNotFound,
                        {"/nonexistent/model.onnx"}));
}

TEST(OnnxImportErrors, UndefinedInputNamesNodeAndTensor) {
  onnx::ModelProto m = SmallModel();
  m.mutable_graph()->mutable_node(1)->set_input(0, "nowhere");
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"Relu 'relu'", "'nowhere'"}));
}

TEST(OnnxImportErrors, MissingInitializer) {
  onnx::ModelProto m = SmallModel();
  m.mutable_graph()->clear_initializer();
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"Add 'add'", "'w'"}));
}

TEST(OnnxImportErrors, UndefinedGraphOutput) {
  onnx::ModelProto m = SmallModel();
  AddOutput(m, "ghost");
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"graph output 'ghost'"}));
}

TEST(OnnxImportErrors, CycleNamesANode) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddNode(m, "Add", {"x", "b"}, {"a"}, "first");
  AddNode(m, "Relu", {"a"}, {"b"}, "second");
  AddOutput(m, "b");
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"model.onnx", "cycle", "'"}));
}

TEST(OnnxImportErrors, ValueDefinedTwice) {
  onnx::ModelProto m = SmallModel();
  AddNode(m, "Neg", {"x"}, {"s"}, "neg");
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"'s'", "defined twice"}));
}

TEST(OnnxImportErrors, DimProductOverflow) {
  onnx::ModelProto m = SmallModel();
  onnx::TensorProto t = MakeTensor("huge", kFloat, {int64_t{1} << 32, int64_t{1} << 32});
  t.set_raw_data("");
  AddInitializer(m, t);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kOutOfRange, {"'huge'", "overflows int64"}));
}

TEST(OnnxImportErrors, TooManyElements) {
  onnx::ModelProto m = SmallModel();
  onnx::TensorProto t = MakeTensor("big", kFloat, {int64_t{1} << 30, int64_t{1} << 30});
  t.set_raw_data("1234");
  AddInitializer(m, t);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kOutOfRange, {"'big'", "elements"}));
}

TEST(OnnxImportErrors, HugeShapeWithoutDataFailsBeforeAllocating) {
  onnx::ModelProto m = SmallModel();
  AddInitializer(m, MakeTensor("h", kFloat, {int64_t{1} << 40}));  // 4 TB, no data
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"'h'", "float_data"}));
}

TEST(OnnxImportErrors, NegativeDims) {
  onnx::ModelProto m = SmallModel();
  onnx::TensorProto t = MakeTensor("neg", kFloat, {2, -3});
  AddInitializer(m, t);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"'neg'", "negative"}));

  onnx::ModelProto m2 = SmallModel();
  m2.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_value(-4);
  EXPECT_TRUE(FailsWith(Import(m2), StatusCode::kInvalidArgument, {"'x'", "negative"}));
}

TEST(OnnxImportErrors, RawDataLengthMismatch) {
  onnx::ModelProto m = SmallModel();
  m.mutable_graph()->mutable_initializer(0)->set_raw_data(std::string(7, '\0'));
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument,
                        {"initializer 'w'", "7 bytes", "8 bytes"}));
}

TEST(OnnxImportErrors, TypedFieldCountMismatch) {
  onnx::ModelProto m = SmallModel();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_raw_data();
  w->add_float_data(1.0f);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"'w'", "float_data", "2"}));

  w->clear_float_data();
  w->add_int64_data(1);
  w->add_int64_data(2);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"'w'", "int64_data"}));
}

TEST(OnnxImportErrors, StringTensorsAreUnimplemented) {
  onnx::ModelProto m = SmallModel();
  onnx::TensorProto t = MakeTensor("names", onnx::TensorProto::STRING, {1});
  t.add_string_data("hello");
  AddInitializer(m, t);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kUnimplemented, {"'names'", "STRING"}));

  onnx::ModelProto m2 = SmallModel();
  AddInput(m2, "label", onnx::TensorProto::STRING, {1});
  EXPECT_TRUE(FailsWith(Import(m2), StatusCode::kUnimplemented, {"'label'", "STRING"}));

  onnx::ModelProto m3 = SmallModel();
  AddInput(m3, "z", onnx::TensorProto::COMPLEX64, {1});
  EXPECT_TRUE(FailsWith(Import(m3), StatusCode::kUnimplemented, {"'z'", "COMPLEX64"}));
}

TEST(OnnxImportErrors, UnknownDataTypeId) {
  onnx::ModelProto m = SmallModel();
  m.mutable_graph()->mutable_initializer(0)->set_data_type(99);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"'w'", "99"}));
}

TEST(OnnxImportErrors, OpsetOutOfRange) {
  for (int64_t opset : {12, 22}) {
    onnx::ModelProto m = SmallModel();
    m.mutable_opset_import(0)->set_version(opset);
    EXPECT_TRUE(FailsWith(Import(m), StatusCode::kUnimplemented,
                          {"opset " + std::to_string(opset), "13 to 21"}));
  }
  onnx::ModelProto m = SmallModel();
  m.mutable_opset_import(0)->set_domain("ai.onnx");  // the long spelling is the same domain
  EXPECT_TRUE(Import(m).ok());
  m.clear_opset_import();
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kUnimplemented, {"ai.onnx opset", "13 to 21"}));
}

TEST(OnnxImportErrors, UnsupportedOpsAreListedTogether) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddNode(m, "NonMaxSuppression", {"x"}, {"n1"}, "nms1");
  AddNode(m, "NonMaxSuppression", {"n1"}, {"n2"}, "nms2");
  AddNode(m, "NonMaxSuppression", {"n2"}, {"n3"}, "nms3");
  AddNode(m, "TopK", {"n3"}, {"t"}, "topk");
  AddNode(m, "Relu", {"t"}, {"y"}, "relu");
  AddOutput(m, "y");
  auto r = Import(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(r.status().message(),
            "model.onnx uses 2 unsupported op types: NonMaxSuppression x3 (nodes 'nms1', 'nms2', "
            "'nms3'), TopK x1 (node 'topk')");

  AddNode(m, "NonMaxSuppression", {"x"}, {"n4"}, "");
  r = Import(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("NonMaxSuppression x4 (nodes 'nms1', 'nms2', 'nms3', ...)"),
            std::string::npos)
      << r.status().message();

  ImportOptions allow;
  allow.allow_unsupported_ops = true;
  auto ok = Import(m, "", allow);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->graph->num_nodes(), 6);
}

TEST(OnnxImportErrors, CustomDomainOpsAreUnsupported) {
  onnx::ModelProto m = SmallModel();
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
  m.mutable_graph()->mutable_node(1)->set_domain("com.microsoft");
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kUnimplemented, {"com.microsoft:Relu x1"}));
}

TEST(OnnxImportErrors, SubgraphAttributes) {
  onnx::ModelProto m = SmallModel();
  auto* n = AddNode(m, "If", {"x"}, {"z"}, "branch");
  AddAttr(n, "then_branch", onnx::AttributeProto::GRAPH)->mutable_g()->set_name("then");
  ImportOptions allow;
  allow.allow_unsupported_ops = true;
  EXPECT_TRUE(FailsWith(Import(m, "", allow), StatusCode::kUnimplemented,
                        {"If 'branch'", "'then_branch'", "subgraph"}));
}

TEST(OnnxImportErrors, NonTensorValues) {
  onnx::ModelProto m = SmallModel();
  auto* vi = m.mutable_graph()->add_input();
  vi->set_name("seq");
  vi->mutable_type()
      ->mutable_sequence_type()
      ->mutable_elem_type()
      ->mutable_tensor_type()
      ->set_elem_type(kFloat);
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kUnimplemented, {"'seq'", "sequence"}));
}

TEST(OnnxImportErrors, ConstantNodeProblems) {
  onnx::ModelProto m = SmallModel();
  auto* c = AddNode(m, "Constant", {}, {"k"}, "c");
  AddAttr(c, "value_string", onnx::AttributeProto::STRING)->set_s("hi");
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kUnimplemented, {"Constant 'c'", "STRING"}));

  c->clear_attribute();
  EXPECT_TRUE(FailsWith(Import(m), StatusCode::kInvalidArgument, {"Constant 'c'", "exactly one"}));
}

TEST(OnnxImportErrors, AttributeForTheWrongOpset) {
  // ReduceMean's axes is an input from opset 18 on; an attribute there is invalid.
  onnx::ModelProto m = MakeModel(18);
  AddInput(m, "x", kFloat, {2, 3});
  AddIntsAttr(AddNode(m, "ReduceMean", {"x"}, {"y"}, "rm"), "axes", {1});
  AddOutput(m, "y", kFloat, {2, 1});
  EXPECT_TRUE(
      FailsWith(Import(m), StatusCode::kInvalidArgument, {"ReduceMean 'rm'", "'axes'", "18"}));
}

}  // namespace
}  // namespace octet
