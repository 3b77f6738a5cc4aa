// Legacy ai.onnx opsets (7..12): accepted when no op of the model changed
// between the declared opset and 13, rejected with one error listing every op
// that did; export keeps the declared opset.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "octet/ir_text.h"
#include "octet/verifier.h"
#include "onnx_test_util.h"

namespace octet {
namespace {

using namespace onnx_test;  // NOLINT: test builders

// x[1,1,4,4] -> Conv (v11) -> AveragePool (v11) -> GlobalAveragePool (v1) ->
// y[1,1,1,1]: none of these ops changed between opset 11 and 13.
onnx::ModelProto ConvPoolModel(int64_t opset) {
  onnx::ModelProto m = MakeModel(opset);
  AddInput(m, "x", kFloat, {1, 1, 4, 4});
  AddFloatInitializer(m, "w", {1, 1, 3, 3}, std::vector<float>(9, 0.5f));
  auto* conv = AddNode(m, "Conv", {"x", "w"}, {"c"}, "conv");
  AddIntsAttr(conv, "pads", {1, 1, 1, 1});
  auto* ap = AddNode(m, "AveragePool", {"c"}, {"p"}, "avgpool");
  AddIntsAttr(ap, "kernel_shape", {2, 2});
  AddIntsAttr(ap, "strides", {2, 2});
  AddNode(m, "GlobalAveragePool", {"p"}, {"y"}, "gap");
  auto* vi = m.mutable_graph()->add_value_info();
  vi->set_name("c");
  SetTensorType(vi, kFloat, {1, 1, 4, 4});
  AddOutput(m, "y", kFloat, {1, 1, 1, 1});
  return m;
}

TEST(OnnxLegacyOpset, UnchangedOpsImportAtOpset11) {
  auto model = Import(ConvPoolModel(11));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_TRUE(VerifyGraph(*model->graph).ok());
  EXPECT_EQ(model->onnx_opset(), 11);  // the declared opset is kept
  ASSERT_EQ(model->graph->num_nodes(), 3);
  EXPECT_EQ(model->graph->nodes()[0]->op_type(), "Conv");
  EXPECT_EQ(model->graph->nodes()[2]->op_type(), "GlobalAveragePool");
}

TEST(OnnxLegacyOpset, ChangeBetweenTheDeclaredOpsetAnd13) {
  // MaxPool's current schema is since opset 12 (it gained int8/uint8 there).
  for (int64_t opset : {11, 12}) {
    onnx::ModelProto m = MakeModel(opset);
    AddInput(m, "x", kFloat, {1, 1, 4, 4});
    auto* mp = AddNode(m, "MaxPool", {"x"}, {"y"}, "maxpool");
    AddIntsAttr(mp, "kernel_shape", {2, 2});
    AddOutput(m, "y", kFloat, {1, 1, 3, 3});
    auto r = Import(m);
    if (opset == 12) {
      EXPECT_TRUE(r.ok()) << r.status().ToString();
    } else {
      ASSERT_FALSE(r.ok());
      EXPECT_NE(r.status().message().find("changed between 11 and 13: MaxPool (v11 -> v12)."),
                std::string::npos)
          << r.status().message();
    }
  }
}

TEST(OnnxLegacyOpset, EveryLegacyOpsetFromTheMinimum) {
  // And's current schema is since opset 7.
  for (int64_t opset = kMinLegacyOnnxOpset; opset < kMinOnnxOpset; ++opset) {
    onnx::ModelProto m = MakeModel(opset);
    AddInput(m, "a", onnx::TensorProto::BOOL, {2});
    AddInput(m, "b", onnx::TensorProto::BOOL, {2});
    AddNode(m, "And", {"a", "b"}, {"y"}, "and");
    AddOutput(m, "y", onnx::TensorProto::BOOL, {2});
    auto model = Import(m);
    ASSERT_TRUE(model.ok()) << "opset " << opset << ": " << model.status().ToString();
    EXPECT_EQ(model->onnx_opset(), opset);
  }
}

TEST(OnnxLegacyOpset, ChangedOpsAreListedInOneError) {
  onnx::ModelProto m = ConvPoolModel(11);
  auto* sm = AddNode(m, "Softmax", {"y"}, {"s"}, "softmax1");
  AddIntAttr(sm, "axis", 1);
  AddNode(m, "Softmax", {"s"}, {"s2"}, "softmax2");  // listed once
  auto* split = AddNode(m, "Split", {"s2"}, {"s3", "s4"}, "split");
  AddIntAttr(split, "axis", 1);
  auto r = Import(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(r.status().message(),
            "model.onnx uses ai.onnx opset 11; Octet supports opsets 13 to 21, and these ops "
            "changed between 11 and 13: Softmax (v11 -> v13), Split (v11 -> v13). Re-export at "
            "opset 13 or newer.");
}

TEST(OnnxLegacyOpset, SingleChangedOpAndConstantNodes) {
  // Constant changed at 13 (bfloat16) too: the rule is the schema version,
  // also where the change only added types.
  onnx::ModelProto m = MakeModel(12);
  AddInput(m, "x");
  auto* c = AddNode(m, "Constant", {}, {"k"}, "const");
  auto* fl = AddAttr(c, "value_floats", onnx::AttributeProto::FLOATS);
  fl->add_floats(1.0f);
  fl->add_floats(2.0f);
  AddNode(m, "Celu", {"x"}, {"y"}, "celu");  // Celu is since 12: unchanged
  AddOutput(m, "y");
  auto r = Import(m, "", {/*allow_unsupported_ops=*/true});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "model.onnx uses ai.onnx opset 12; Octet supports opsets 13 to 21, and this op "
            "changed between 12 and 13: Constant (v12 -> v13). Re-export at opset 13 or newer.");
}

TEST(OnnxLegacyOpset, OpsTheRegistryDoesNotKnowAreRejected) {
  onnx::ModelProto m = MakeModel(11);
  AddInput(m, "x");
  AddNode(m, "NoSuchOp", {"x"}, {"a"}, "bogus");
  AddNode(m, "Celu", {"a"}, {"y"}, "celu");  // exists since opset 12 only
  AddOutput(m, "y");
  auto r = Import(m, "", {/*allow_unsupported_ops=*/true});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(r.status().message(),
            "model.onnx uses ai.onnx opset 11; Octet supports opsets 13 to 21, and these ops "
            "changed between 11 and 13: Celu (not in opset 11 -> v12), NoSuchOp (not an ai.onnx "
            "op known to ONNX's schema registry). Re-export at opset 13 or newer.");
}

TEST(OnnxLegacyOpset, OtherDomainsAreLeftToTheSupportedOpCheck) {
  onnx::ModelProto m = ConvPoolModel(11);
  auto* op = m.add_opset_import();
  op->set_domain("com.microsoft");
  op->set_version(1);
  // ai.onnx Softmax changed at 13; a Softmax of another domain is not ai.onnx's.
  m.mutable_graph()->mutable_node(2)->set_op_type("Softmax");
  m.mutable_graph()->mutable_node(2)->set_domain("com.microsoft");
  auto r = Import(m);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported op type: com.microsoft:Softmax"),
            std::string::npos)
      << r.status().message();
}

TEST(OnnxLegacyOpset, BelowTheLegacyMinimum) {
  onnx::ModelProto m = ConvPoolModel(kMinLegacyOnnxOpset - 1);
  auto r = Import(m);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_EQ(r.status().message(),
            "model.onnx uses ai.onnx opset 6; Octet supports opsets 13 to 21 (and 7 to 12 when "
            "no op of the model changed before 13)");
}

TEST(OnnxLegacyOpset, ExportKeepsTheOpset) {
  auto model = Import(ConvPoolModel(11));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto bytes = ExportOnnxBytes(*model);
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(*bytes));
  ASSERT_EQ(proto.opset_import_size(), 1);
  EXPECT_EQ(proto.opset_import(0).domain(), "");
  EXPECT_EQ(proto.opset_import(0).version(), 11);
  auto back = ImportOnnxBytes(*bytes, "", {}, "exported.onnx");
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(PrintModel(*model), PrintModel(*back));
}

// onnx.checker (Python) must accept the exported opset-11 model.
TEST(OnnxLegacyOpset, CheckerAcceptsExportedModel) {
  if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with the onnx package is not available";
  auto model = Import(ConvPoolModel(11));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  TempDir dir;
  ASSERT_TRUE(ExportOnnxFile(*model, dir.File("legacy.onnx")).ok());
  const std::string cmd = "/usr/bin/python3 -c \"import onnx; m = onnx.load('" +
                          dir.File("legacy.onnx") +
                          "'); onnx.checker.check_model(m, full_check=True); "
                          "assert [o.version for o in m.opset_import if o.domain == ''] == [11]\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

// The exporter's attribute forms below opset 13 (Split 'split', Squeeze and
// Unsqueeze 'axes', ReduceSum 'axes'): the same as at opsets 13..17 for the
// ops whose axes became inputs at 18. Such nodes cannot come from a legacy
// import (these ops changed at 13), but a graph built or edited in Octet may
// be exported at a legacy opset.
TEST(OnnxLegacyOpset, ExportAtLegacyOpsetUsesAttributeForms) {
  onnx::ModelProto m = MakeModel(13);
  AddInput(m, "x", kFloat, {2, 4});
  onnx::TensorProto axes = MakeTensor("axes0", kInt64, {1});
  axes.set_raw_data(RawBytes(std::vector<int64_t>{0}));
  AddInitializer(m, axes);
  onnx::TensorProto split = MakeTensor("split", kInt64, {2});
  split.set_raw_data(RawBytes(std::vector<int64_t>{1, 3}));
  AddInitializer(m, split);
  AddNode(m, "Unsqueeze", {"x", "axes0"}, {"u"}, "unsqueeze");          // [1,2,4]
  AddNode(m, "Squeeze", {"u", "axes0"}, {"s"}, "squeeze");              // [2,4]
  auto* sp = AddNode(m, "Split", {"s", "split"}, {"a", "b"}, "split");  // [2,1], [2,3]
  AddIntAttr(sp, "axis", 1);
  AddNode(m, "ReduceSum", {"b", "axes0"}, {"r"}, "reducesum");  // [1,3]
  AddOutput(m, "a", kFloat, {2, 1});
  AddOutput(m, "r", kFloat, {1, 3});
  auto model = Import(m);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  model->opset_imports[""] = 11;
  TempDir dir;
  ASSERT_TRUE(ExportOnnxFile(*model, dir.File("attrs.onnx")).ok());
  std::ifstream in(dir.File("attrs.onnx"), std::ios::binary);
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromIstream(&in));
  EXPECT_EQ(proto.opset_import(0).version(), 11);
  for (const auto& n : proto.graph().node()) {
    EXPECT_EQ(n.input_size(), 1) << n.op_type();
    const std::string attr = n.op_type() == "Split" ? "split" : "axes";
    bool found = false;
    for (const auto& a : n.attribute()) {
      found |= a.name() == attr;
      EXPECT_NE(a.name(), "num_outputs");
    }
    EXPECT_TRUE(found) << n.op_type() << " lacks attribute '" << attr << "'";
  }
  EXPECT_EQ(proto.graph().initializer_size(), 0);  // the constants became attributes
  // Octet cannot import that export back: these ops changed at 13.
  auto back = ImportOnnxFile(dir.File("attrs.onnx"));
  ASSERT_FALSE(back.ok());
  EXPECT_NE(back.status().message().find(
                "ReduceSum (v11 -> v13), Split (v11 -> v13), Squeeze (v11 -> v13), "
                "Unsqueeze (v11 -> v13)"),
            std::string::npos)
      << back.status().message();
  if (std::system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "/usr/bin/python3 with the onnx package is not available";
  const std::string cmd =
      "/usr/bin/python3 -c \"import onnx; onnx.checker.check_model(onnx.load('" +
      dir.File("attrs.onnx") + "'), full_check=True)\"";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
}

}  // namespace
}  // namespace octet
