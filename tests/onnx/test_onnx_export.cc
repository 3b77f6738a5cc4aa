// Export: round trips through import, onnx.checker acceptance, the attribute
// form at older opsets, and crash-safe file writing.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "octet/ir_text.h"
#include "octet/verifier.h"
#include "onnx_test_util.h"

namespace octet {
namespace {

using namespace onnx_test;  // NOLINT: test builders

// A model touching most import features, at opset 17 where ReduceMean still
// takes 'axes' as an attribute.
onnx::ModelProto RichModel() {
  onnx::ModelProto m = MakeModel(17);
  auto* kv = m.add_metadata_props();
  kv->set_key("k");
  kv->set_value("v");
  auto* x = AddInput(m, "x", kFloat, {-1, 4});
  x->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  AddFloatInitializer(m, "w", {4, 4}, std::vector<float>(16, 0.25f));
  AddInput(m, "w", kFloat, {4, 4});  // initializer listed as input: a constant
  AddNode(m, "MatMul", {"x", "w"}, {"mm"}, "matmul");
  auto* c = AddNode(m, "Constant", {}, {"bias"}, "const");
  auto* fl = AddAttr(c, "value_floats", onnx::AttributeProto::FLOATS);
  for (int i = 0; i < 4; ++i) fl->add_floats(0.5f * i);
  AddNode(m, "Add", {"mm", "bias"}, {"biased"}, "add");
  auto* rm = AddNode(m, "ReduceMean", {"biased"}, {"mean"}, "rm");
  AddIntsAttr(rm, "axes", {1});
  AddIntAttr(rm, "keepdims", 1);
  auto* clip = AddNode(m, "Clip", {"mean", "", ""}, {"clipped"}, "clip");
  (void)clip;
  auto* sm = AddNode(m, "Softmax", {"biased"}, {"sm"}, "softmax");
  AddIntAttr(sm, "axis", -1);
  AddNode(m, "Split", {"sm"}, {"s0", "s1"}, "split");
  AddIntAttr(m.mutable_graph()->mutable_node(m.graph().node_size() - 1), "axis", 1);
  auto* vi = m.mutable_graph()->add_value_info();
  vi->set_name("mm");
  SetTensorType(vi, kFloat, {-1, 4});
  vi->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("N");
  AddOutput(m, "clipped", kFloat, {-1, 1})
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_param("N");
  AddOutput(m, "s0", kFloat, {-1, 2})
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_param("N");
  AddOutput(m, "s1", kFloat, {-1, 2})
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_param("N");
  return m;
}

TEST(OnnxExport, RoundTripKeepsTheIr) {
  auto first = Import(RichModel());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  auto bytes = ExportOnnxBytes(*first);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto second = ImportOnnxBytes(*bytes, "", {}, "exported.onnx");
  ASSERT_TRUE(second.ok()) << second.status().ToString();
  EXPECT_TRUE(VerifyGraph(*second->graph).ok());
  EXPECT_EQ(PrintModel(*first), PrintModel(*second));
  // And once more: export of the re-import is byte-identical.
  auto bytes2 = ExportOnnxBytes(*second);
  ASSERT_TRUE(bytes2.ok());
  EXPECT_EQ(*bytes, *bytes2);
}

TEST(OnnxExport, OldOpsetGetsAttributeFormBack) {
  auto model = Import(RichModel());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto bytes = ExportOnnxBytes(*model);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(*bytes));
  bool found = false;
  for (const auto& n : proto.graph().node()) {
    if (n.op_type() == "ReduceMean") {
      found = true;
      EXPECT_EQ(n.input_size(), 1);
      bool has_axes = false;
      for (const auto& a : n.attribute())
        if (a.name() == "axes") has_axes = a.ints_size() == 1 && a.ints(0) == 1;
      EXPECT_TRUE(has_axes);
    }
    if (n.op_type() == "Split") {
      for (const auto& a : n.attribute()) EXPECT_NE(a.name(), "num_outputs");
    }
    if (n.op_type() == "Clip") {
      EXPECT_EQ(n.input_size(), 1);  // trailing absent inputs dropped
    }
  }
  EXPECT_TRUE(found);
  // The axes constant only fed the attribute, so it is not an initializer.
  for (const auto& init : proto.graph().initializer()) EXPECT_NE(init.name(), "rm_axes");
  // Initializers are not listed as graph inputs.
  EXPECT_EQ(proto.graph().input_size(), 1);
}

TEST(OnnxExport, NewOpsetKeepsInputForm) {
  auto model = Import(RichModel());
  ASSERT_TRUE(model.ok());
  model->opset_imports[""] = 18;
  auto bytes = ExportOnnxBytes(*model);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(*bytes));
  for (const auto& n : proto.graph().node()) {
    if (n.op_type() == "ReduceMean") {
      EXPECT_EQ(n.input(1), "rm_axes");
    }
  }
  auto back = ImportOnnxBytes(*bytes, "", {}, "x.onnx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
}

TEST(OnnxExport, NonConstantAxesCannotBecomeAnAttribute) {
  Model model;
  model.opset_imports[""] = 17;
  Graph& g = *model.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{2, 3}));
  Value* axes = g.AddInput("axes", TensorType(DType::kI64, Shape{1}));
  Node* n = g.AddNode("ReduceMean", {x, axes}, {"y"}, "rm");
  g.AddOutput(n->output(0));
  auto bytes = ExportOnnxBytes(model);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("ReduceMean 'rm'"), std::string::npos);
  EXPECT_NE(bytes.status().message().find("'axes'"), std::string::npos);

  // The file writer leaves neither the target nor a temporary behind.
  TempDir dir;
  EXPECT_FALSE(ExportOnnxFile(model, dir.File("out.onnx")).ok());
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(OnnxExport, UnevenSplitNeedsOpset18) {
  Model model;
  model.opset_imports[""] = 17;
  Graph& g = *model.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{5}));
  Node* n = g.AddNode("Split", {x}, {"a", "b"}, "split");
  n->SetAttr("num_outputs", int64_t{2});
  g.AddOutput(n->output(0));
  g.AddOutput(n->output(1));
  auto bytes = ExportOnnxBytes(model);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), StatusCode::kUnimplemented);
  model.opset_imports[""] = 18;
  EXPECT_TRUE(ExportOnnxBytes(model).ok());
}

TEST(OnnxExport, BuiltGraphWithoutOpsetAndQuantTypes) {
  Model model;
  model.opset_imports.clear();
  Graph& g = *model.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{2}));
  Value* c = g.AddConstant("scale", Tensor::Scalar<float>(0.1f));
  Node* q = g.AddNode("QuantizeLinear", {x, c}, {"q"}, "quant");
  TensorType qt(DType::kU8, Shape{2});
  qt.quant = QuantParams{};
  qt.quant->scales = {0.1f};
  q->output(0)->set_type(qt);
  g.AddOutput(q->output(0));
  g.AddOutput(c);  // a constant may be a graph output
  auto bytes = ExportOnnxBytes(model);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto back = ImportOnnxBytes(*bytes, "", {}, "built.onnx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->onnx_opset(), kMaxOnnxOpset);
  // QuantParams have no ONNX form and are dropped; the rest of the type stays.
  EXPECT_EQ(back->graph->FindValue("q")->type(), TensorType(DType::kU8, Shape{2}));
  EXPECT_TRUE(back->graph->outputs()[1]->is_constant());
}

TEST(OnnxExport, FileWriteReplacesAtomically) {
  auto model = Import(RichModel());
  ASSERT_TRUE(model.ok());
  TempDir dir;
  dir.Write("out.onnx", "old contents");
  ASSERT_TRUE(ExportOnnxFile(*model, dir.File("out.onnx")).ok());
  auto back = ImportOnnxFile(dir.File("out.onnx"));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(PrintModel(*back), PrintModel(*model));
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
  Status s = ExportOnnxFile(*model, dir.File("no/such/folder/out.onnx"));
  EXPECT_EQ(s.code(), StatusCode::kIoError) << s.ToString();
  EXPECT_NE(s.message().find("no/such/folder/out.onnx"), std::string::npos);
}

// onnx.checker (Python) must accept what we write, when it is available.
TEST(OnnxExport, CheckerAcceptsExportedModel) {
  if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with the onnx package is not available";
  auto model = Import(RichModel());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  TempDir dir;
  ASSERT_TRUE(ExportOnnxFile(*model, dir.File("rich.onnx")).ok());
  const std::string cmd =
      "/usr/bin/python3 -c \"import onnx; onnx.checker.check_model(onnx.load('" +
      dir.File("rich.onnx") + "'), full_check=True)\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace octet
