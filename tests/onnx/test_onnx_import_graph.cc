// Graph-level import: names, types, Constant nodes, attributes, ordering, and
// the attribute -> input canonical form.
#include <gtest/gtest.h>

#include "octet/verifier.h"
#include "onnx_test_util.h"

namespace octet {
namespace {

using namespace onnx_test;  // NOLINT: test builders

Model MustImport(const onnx::ModelProto& m) {
  auto r = Import(m);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return Model();
  EXPECT_TRUE(VerifyGraph(*r->graph).ok()) << VerifyGraph(*r->graph).ToString();
  return std::move(r).value();
}

TEST(OnnxImportGraph, ModelFieldsAndNames) {
  onnx::ModelProto m = MakeModel(15);
  m.set_ir_version(7);
  m.set_producer_version("1.2.3");
  auto* kv = m.add_metadata_props();
  kv->set_key("author");
  kv->set_value("me");
  auto* ml = m.add_opset_import();
  ml->set_domain("ai.onnx.ml");
  ml->set_version(3);
  AddInput(m, "input.1");
  AddNode(m, "Relu", {"input.1"}, {"out:0"}, "my relu");
  AddOutput(m, "out:0");
  Model model = MustImport(m);
  EXPECT_EQ(model.ir_version, 7);
  EXPECT_EQ(model.producer_name, "octet-test");
  EXPECT_EQ(model.producer_version, "1.2.3");
  EXPECT_EQ(model.metadata.at("author"), "me");
  EXPECT_EQ(model.onnx_opset(), 15);
  EXPECT_EQ(model.opset_imports.at("ai.onnx.ml"), 3);
  EXPECT_EQ(model.graph->name(), "g");
  ASSERT_EQ(model.graph->num_nodes(), 1);
  const Node* n = model.graph->nodes()[0];
  EXPECT_EQ(n->name(), "my relu");
  EXPECT_EQ(n->input(0)->name(), "input.1");
  EXPECT_EQ(n->output(0)->name(), "out:0");
  EXPECT_EQ(n->output(0)->type(), TensorType(DType::kF32, Shape{2}));
}

TEST(OnnxImportGraph, SymbolicUnknownAndMissingShapes) {
  onnx::ModelProto m = MakeModel();
  auto* x = AddInput(m, "x", kFloat, {-1, 3, -1});
  x->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  auto* y = m.mutable_graph()->add_input();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(kFloat);  // no shape at all
  AddNode(m, "Add", {"x", "y"}, {"z"});
  AddOutput(m, "z", kFloat, {-1, 3, -1})
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_param("N");
  Model model = MustImport(m);
  const TensorType& tx = model.graph->inputs()[0]->type();
  ASSERT_TRUE(tx.has_shape);
  ASSERT_EQ(tx.shape.rank(), 3);
  EXPECT_TRUE(tx.shape[0].is_symbolic());
  EXPECT_EQ(tx.shape[0].symbol(), "N");
  EXPECT_EQ(tx.shape[1].value(), 3);
  EXPECT_TRUE(tx.shape[2].is_unknown());
  EXPECT_FALSE(model.graph->inputs()[1]->type().has_shape);
  EXPECT_EQ(model.graph->inputs()[1]->type().dtype, DType::kF32);
  EXPECT_EQ(model.graph->outputs()[0]->type().shape[0].symbol(), "N");
}

TEST(OnnxImportGraph, InitializerInputsAreConstants) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddInput(m, "w");  // also an initializer: an overridable default, so a constant
  AddFloatInitializer(m, "w", {2}, {1, 2});
  AddNode(m, "Add", {"x", "w"}, {"y"});
  AddOutput(m, "y");
  Model model = MustImport(m);
  ASSERT_EQ(model.graph->inputs().size(), 1u);
  EXPECT_EQ(model.graph->inputs()[0]->name(), "x");
  EXPECT_TRUE(model.graph->FindValue("w")->is_constant());
}

TEST(OnnxImportGraph, ConstantNodeForms) {
  onnx::ModelProto m = MakeModel();
  auto* c1 = AddNode(m, "Constant", {}, {"c_tensor"});
  onnx::TensorProto t = MakeTensor("", kFloat, {2});
  t.add_float_data(1);
  t.add_float_data(2);
  *AddAttr(c1, "value", onnx::AttributeProto::TENSOR)->mutable_t() = t;
  AddAttr(AddNode(m, "Constant", {}, {"c_float"}), "value_float", onnx::AttributeProto::FLOAT)
      ->set_f(0.5f);
  auto* fl = AddAttr(AddNode(m, "Constant", {}, {"c_floats"}), "value_floats",
                     onnx::AttributeProto::FLOATS);
  fl->add_floats(1.0f);
  fl->add_floats(-1.0f);
  AddIntAttr(AddNode(m, "Constant", {}, {"c_int"}), "value_int", 42);
  AddIntsAttr(AddNode(m, "Constant", {}, {"c_ints"}), "value_ints", {1, 2, 3});
  for (const char* name : {"c_tensor", "c_float", "c_floats", "c_int", "c_ints"})
    m.mutable_graph()->add_output()->set_name(name);
  Model model = MustImport(m);
  EXPECT_EQ(model.graph->num_nodes(), 0);
  auto value = [&](const char* name) { return model.graph->FindValue(name)->constant(); };
  EXPECT_TRUE(value("c_tensor").BitwiseEquals(Tensor::FromVector<float>({1, 2}, {2})));
  EXPECT_TRUE(value("c_float").BitwiseEquals(Tensor::Scalar<float>(0.5f)));
  EXPECT_TRUE(value("c_floats").BitwiseEquals(Tensor::FromVector<float>({1, -1}, {2})));
  EXPECT_TRUE(value("c_int").BitwiseEquals(Tensor::Scalar<int64_t>(42)));
  EXPECT_TRUE(value("c_ints").BitwiseEquals(Tensor::FromVector<int64_t>({1, 2, 3}, {3})));
}

TEST(OnnxImportGraph, AttributesOfEveryKind) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  auto* n = AddNode(m, "Identity", {"x"}, {"y"}, "id");
  AddIntAttr(n, "i", -3);
  AddAttr(n, "f", onnx::AttributeProto::FLOAT)->set_f(1.25f);
  AddAttr(n, "s", onnx::AttributeProto::STRING)->set_s("NOTSET");
  AddIntsAttr(n, "ints", {4, 5});
  auto* fs = AddAttr(n, "floats", onnx::AttributeProto::FLOATS);
  fs->add_floats(0.25f);
  auto* ss = AddAttr(n, "strings", onnx::AttributeProto::STRINGS);
  ss->add_strings("a");
  ss->add_strings("b");
  onnx::TensorProto t = MakeTensor("", kInt64, {1});
  t.add_int64_data(9);
  *AddAttr(n, "t", onnx::AttributeProto::TENSOR)->mutable_t() = t;
  auto* untyped = n->add_attribute();  // pre-IR-2 writers leave the type unset
  untyped->set_name("legacy");
  untyped->set_i(11);
  AddOutput(m, "y");
  Model model = MustImport(m);
  const Node* node = model.graph->nodes()[0];
  EXPECT_EQ(node->FindAttr("i")->i(), -3);
  EXPECT_EQ(node->FindAttr("f")->f(), 1.25f);
  EXPECT_EQ(node->FindAttr("s")->s(), "NOTSET");
  EXPECT_EQ(node->FindAttr("ints")->ints(), (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(node->FindAttr("floats")->floats(), (std::vector<float>{0.25f}));
  EXPECT_EQ(node->FindAttr("strings")->strings(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(node->FindAttr("t")->t().BitwiseEquals(Tensor::FromVector<int64_t>({9}, {1})));
  EXPECT_EQ(node->FindAttr("legacy")->i(), 11);
}

TEST(OnnxImportGraph, OutOfOrderNodesAreSorted) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddNode(m, "Neg", {"a"}, {"y"}, "second");
  AddNode(m, "Relu", {"x"}, {"a"}, "first");
  AddOutput(m, "y");
  Model model = MustImport(m);
  ASSERT_EQ(model.graph->num_nodes(), 2);
  EXPECT_EQ(model.graph->nodes()[0]->name(), "first");
  EXPECT_EQ(model.graph->nodes()[1]->name(), "second");
}

TEST(OnnxImportGraph, EmptyAndRepeatedNodeNamesBecomeUnique) {
  // ONNX allows both; the IR's passes and quantization plans find nodes by
  // name, so each node gets its own (an unnamed MatMul was once quantized
  // with another unnamed MatMul's weight plan).
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddNode(m, "Relu", {"x"}, {"a"}, "");
  AddNode(m, "Relu", {"a"}, {"b"}, "");
  AddNode(m, "Neg", {"b"}, {"c"}, "twice");
  AddNode(m, "Neg", {"c"}, {"d"}, "twice");
  AddNode(m, "Neg", {"d"}, {"e"}, "Relu.1");  // explicit: kept, the unnamed avoid it
  AddOutput(m, "e");
  Model model = MustImport(m);
  std::vector<std::string> names;
  for (const Node* n : model.graph->nodes()) names.push_back(n->name());
  EXPECT_EQ(names, (std::vector<std::string>{"Relu", "Relu.2", "twice", "twice.1", "Relu.1"}));
}

TEST(OnnxImportGraph, EmptyOptionalInputsAndOutputs) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x");
  AddFloatInitializer(m, "hi", {}, {6.0f});
  AddNode(m, "Clip", {"x", "", "hi"}, {"y"}, "clip");
  AddNode(m, "Dropout", {"y"}, {"z", ""}, "drop");  // trailing "" output = absent
  AddOutput(m, "z");
  Model model = MustImport(m);
  const Node* clip = model.graph->FindNode("clip");
  ASSERT_EQ(clip->num_inputs(), 3);
  EXPECT_EQ(clip->input(1), nullptr);
  EXPECT_EQ(clip->input(2)->name(), "hi");
  EXPECT_EQ(model.graph->FindNode("drop")->num_outputs(), 1);

  // An inner "" output needs a value; it gets a name the file does not use.
  onnx::ModelProto m2 = MakeModel();
  AddInput(m2, "x", kFloat, {4});
  AddNode(m2, "Split", {"x"}, {"", "b"}, "split");
  AddNode(m2, "Relu", {"b"}, {"split_unused_0"}, "relu");
  AddOutput(m2, "split_unused_0");
  Model model2 = MustImport(m2);
  const Node* split = model2.graph->FindNode("split");
  ASSERT_EQ(split->num_outputs(), 2);
  EXPECT_EQ(split->output(0)->name(), "split_unused_0.1");
}

TEST(OnnxImportGraph, ValueInfoTypesIntermediates) {
  onnx::ModelProto m = MakeModel();
  AddInput(m, "x", kFloat, {-1});
  AddNode(m, "Relu", {"x"}, {"a"});
  AddNode(m, "Neg", {"a"}, {"y"});
  auto* vi = m.mutable_graph()->add_value_info();
  vi->set_name("a");
  SetTensorType(vi, kFloat, {7});
  auto* stale = m.mutable_graph()->add_value_info();  // names nothing: ignored
  stale->set_name("gone");
  SetTensorType(stale, kFloat, {1});
  AddOutput(m, "y", kFloat, {7});
  Model model = MustImport(m);
  EXPECT_EQ(model.graph->FindValue("a")->type(), TensorType(DType::kF32, Shape{7}));
}

TEST(OnnxImportGraph, AxesAttributesBecomeInputsBelowOpset18) {
  onnx::ModelProto m = MakeModel(17);
  AddInput(m, "x", kFloat, {2, 3});
  auto* rm = AddNode(m, "ReduceMean", {"x"}, {"r"}, "rm");
  AddIntsAttr(rm, "axes", {1});
  AddIntAttr(rm, "keepdims", 1);
  AddOutput(m, "r", kFloat, {2, 1});
  Model model = MustImport(m);
  const Node* n = model.graph->FindNode("rm");
  EXPECT_FALSE(n->HasAttr("axes"));
  EXPECT_TRUE(n->HasAttr("keepdims"));
  ASSERT_EQ(n->num_inputs(), 2);
  ASSERT_TRUE(n->input(1)->is_constant());
  EXPECT_EQ(n->input(1)->name(), "rm_axes");
  EXPECT_TRUE(n->input(1)->constant().BitwiseEquals(Tensor::FromVector<int64_t>({1}, {1})));

  // At opset 18 the same node already has the input form.
  onnx::ModelProto m18 = MakeModel(18);
  AddInput(m18, "x", kFloat, {2, 3});
  onnx::TensorProto axes = MakeTensor("axes", kInt64, {1});
  axes.add_int64_data(1);
  AddInitializer(m18, axes);
  AddNode(m18, "ReduceMean", {"x", "axes"}, {"r"}, "rm");
  AddOutput(m18, "r", kFloat, {2, 1});
  Model model18 = MustImport(m18);
  EXPECT_EQ(model18.graph->FindNode("rm")->input(1)->name(), "axes");
}

TEST(OnnxImportGraph, SplitGetsNumOutputsBelowOpset18) {
  onnx::ModelProto m = MakeModel(13);
  AddInput(m, "x", kFloat, {4});
  AddNode(m, "Split", {"x"}, {"a", "b"}, "split");
  AddOutput(m, "a");
  AddOutput(m, "b");
  Model model = MustImport(m);
  EXPECT_EQ(model.graph->FindNode("split")->FindAttr("num_outputs")->i(), 2);
}

}  // namespace
}  // namespace octet
