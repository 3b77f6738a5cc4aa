// The x86 lowering of float attention (attention_pattern.h) to x86.attention:
// which graphs match, which must not, and that the fused op computes what the
// reference module computes. Both modules are f32 end to end, so they differ
// only by summation order: relative L2 below 1e-5 (the attention test in
// tests/x86 bounds the kernel's error; a wrong scale, a missing position term
// or a wrong token order gives errors of order 1).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

#include "attention_graph.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/onnx.h"
#include "octet/passes/shape_inference.h"
#include "octet/runtime/module.h"
#include "quant/quant_test_util.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::AttentionGraph;
using testing::BuildAttention;

int CountKernel(const ModuleDesc& d, const std::string& kernel) {
  int n = 0;
  for (const ModuleOp& op : d.ops) n += op.kernel == kernel;
  return n;
}

class LowerAttentionTest : public testing::ModuleFolderTest {
 protected:
  // Compiles for x86 and reference, runs both on seeded random inputs and
  // checks every output. Returns the number of x86.attention ops.
  int CompileRunCompare(const Model& model, uint64_t seed = 3) {
    auto x86 = CompileForX86(model.Clone());
    auto ref = CompileForReference(model.Clone());
    EXPECT_TRUE(x86.ok()) << x86.status().ToString();
    EXPECT_TRUE(ref.ok()) << ref.status().ToString();
    if (!x86.ok() || !ref.ok()) return -1;
    const int fused = CountKernel(x86->desc, "x86.attention");
    EXPECT_EQ(x86->desc.metadata.at("x86.attention"), std::to_string(fused));
    const std::string xp = (dir_ / "x86.octet").string(), rp = (dir_ / "ref.octet").string();
    EXPECT_TRUE(WriteModule(x86->desc, x86->weights, xp).ok());
    EXPECT_TRUE(WriteModule(ref->desc, ref->weights, rp).ok());
    auto xm = runtime::Module::Load(xp);
    auto rm = runtime::Module::Load(rp);
    EXPECT_TRUE(xm.ok()) << xm.status().ToString();
    EXPECT_TRUE(rm.ok()) << rm.status().ToString();
    if (!xm.ok() || !rm.ok()) return -1;
    auto xs = runtime::Session::Create(*xm, {2});
    auto rs = runtime::Session::Create(*rm, {2});
    auto inputs = (*rm)->MakeRandomInputs(seed, 1);
    EXPECT_TRUE(inputs.ok());
    auto xo = (*xs)->Run(*inputs);
    auto ro = (*rs)->Run(*inputs);
    EXPECT_TRUE(xo.ok()) << xo.status().ToString();
    EXPECT_TRUE(ro.ok()) << ro.status().ToString();
    if (!xo.ok() || !ro.ok()) return -1;
    for (const auto& [name, r] : *ro) {
      const Tensor& x = xo->at(name);
      EXPECT_EQ(x.dims(), r.dims()) << name;
      if (x.dims() != r.dims()) continue;
      const double err = testing::RelativeL2(r, x);
      EXPECT_LT(err, 1e-5) << name;
      std::printf("%s: rel L2 %.3g (%d x86.attention)\n", name.c_str(), err, fused);
    }
    return fused;
  }
};

TEST_F(LowerAttentionTest, SamWindowWithRelativePositionFuses) {
  EXPECT_EQ(CompileRunCompare(BuildAttention({})), 1);
  auto x86 = CompileForX86(BuildAttention({}));
  ASSERT_TRUE(x86.ok());
  for (const ModuleOp& op : x86->desc.ops) {
    // Scores, position terms and softmax are all inside the fused op.
    EXPECT_EQ(op.kernel, "x86.attention") << op.name;
  }
}

TEST_F(LowerAttentionTest, PlainScaledDotProductFuses) {
  AttentionGraph a;
  a.rel_pos = false;
  a.q_h = 7;
  a.q_w = 9;
  EXPECT_EQ(CompileRunCompare(BuildAttention(a)), 1);
}

TEST_F(LowerAttentionTest, ScaleAfterPositionTermsIsNotFused) {
  // The kernel scales Q K^T only; a scale on the summed scores would also
  // scale the position terms, so this stays on the unfused ops.
  AttentionGraph a;
  a.scale_after_position_terms = true;
  EXPECT_EQ(CompileRunCompare(BuildAttention(a)), 0);
  a.rel_pos = false;  // without position terms a score scale is the kernel's
  EXPECT_EQ(CompileRunCompare(BuildAttention(a)), 1);
}

TEST_F(LowerAttentionTest, ScoresReadOutsideThePatternAreNotFused) {
  AttentionGraph a;
  a.scores_are_output = true;
  EXPECT_EQ(CompileRunCompare(BuildAttention(a)), 0);
}

TEST_F(LowerAttentionTest, SamTinyEncoder) {
  const fs::path path = testing::ModelsDir() / "sam_tiny/model.onnx";
  OCTET_REQUIRE_PATH(path, "sam_tiny");
  auto model = ImportOnnxFile(path.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  // 2 windowed blocks (2x2 windows of 14x14) and 2 global ones (16x16).
  EXPECT_EQ(CompileRunCompare(*model), 4);
  // Each reads its heads out of the qkv Linear's output and writes [B, N, H,
  // d] for the projection: the head split/merge copies are gone.
  auto x86 = CompileForX86(std::move(*model));
  ASSERT_TRUE(x86.ok()) << x86.status().ToString();
  EXPECT_EQ(CountKernel(x86->desc, "ref.ai.onnx::Split"), 0);
  EXPECT_EQ(CountKernel(x86->desc, "ref.ai.onnx::Squeeze"), 0);
  for (const ModuleOp& op : x86->desc.ops) {
    if (op.kernel != "x86.attention") continue;
    EXPECT_EQ(*op.Get<int64_t>("qkv_heads"), 4) << op.name;
    EXPECT_EQ(*op.Get<int64_t>("out_interleaved"), 1) << op.name;
    EXPECT_GE(op.inputs[3], 0) << op.name << ": relative position tables";
  }
}

}  // namespace
}  // namespace octet
