// The cuda lowering of float attention (attention_pattern.h, shared with x86)
// to cuda.attention: what fuses, what is refused and why, and on the GPU that
// the fused bf16 op agrees with the reference module (the f32 graph run by
// the interpreter).
//
// Tolerance: the kernel rounds Q, K, V to bf16 (relative error <= 2^-9 each)
// and P to bf16 before P V, accumulating in f32. Scores of magnitude |s|
// move by about |s| 2^-8, probabilities by that relative amount, and the
// output, a convex mix of V rows, by about 2^-8 of its scale: a relative L2
// near 4e-3 for these O(1) inputs. 2e-2 leaves room for the few largest
// scores; a wrong scale, a missing position term, a token-order or padding
// error gives errors of order 1 (cosine < 0.9).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "attention_graph.h"
#include "cuda_lower/cuda_module_test.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/onnx.h"
#include "octet/runtime/module.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::AttentionGraph;
using testing::BuildAttention;

class LowerCudaAttentionTest : public testing::CudaModuleTest {
 protected:
  // Compiles `model` for cuda and reference, runs both on fresh random inputs
  // (when a GPU is here) and checks every output. Returns the cuda module's
  // description, or nothing when compilation failed (with a failure).
  std::optional<ModuleDesc> CompileRunCompare(const Model& model, double max_rel_l2 = 2e-2) {
    auto cuda = CompileForCuda(model.Clone());
    EXPECT_TRUE(cuda.ok()) << cuda.status().ToString();
    if (!cuda.ok()) return std::nullopt;
    ModuleDesc desc = cuda->desc;
    auto module = LoadOrSkip(Write(cuda, "cuda.octet"));
    if (module == nullptr) return desc;  // the lowering is checked; no device here
    auto reference = runtime::Module::Load(Write(CompileForReference(model.Clone()), "ref.octet"));
    EXPECT_TRUE(reference.ok()) << reference.status().ToString();
    auto session = runtime::Session::Create(module);
    auto ref_session = runtime::Session::Create(*reference, {4});
    EXPECT_TRUE(session.ok()) << session.status().ToString();
    if (!reference.ok() || !session.ok() || !ref_session.ok()) return desc;
    const uint32_t seed = std::random_device{}();
    auto inputs = (*reference)->MakeRandomInputs(seed, 1);
    EXPECT_TRUE(inputs.ok());
    auto got = (*session)->Run(*inputs);
    auto want = (*ref_session)->Run(*inputs);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(want.ok()) << want.status().ToString();
    if (!got.ok() || !want.ok()) return desc;
    for (const auto& [name, r] : *want) {
      const Tensor& y = got->at(name);
      EXPECT_EQ(y.dims(), r.dims()) << name;
      if (y.dims() != r.dims()) continue;
      const double err = testing::RelativeL2(r, y), cosine = testing::Cosine(r, y);
      EXPECT_LT(err, max_rel_l2) << name << " seed " << seed;
      std::printf("%s: rel L2 %.3g, cosine %.7f (seed %u)\n", name.c_str(), err, cosine, seed);
    }
    return desc;
  }
};

int CountKernel(const ModuleDesc& d, const std::string& kernel) {
  int n = 0;
  for (const ModuleOp& op : d.ops) n += op.kernel == kernel;
  return n;
}

TEST_F(LowerCudaAttentionTest, SamWindowWithRelativePositionIsOneOp) {
  // d = 8: run as 16 with zero channels.
  auto d = CompileRunCompare(BuildAttention({}));
  ASSERT_TRUE(d.has_value());
  ASSERT_EQ(d->ops.size(), 1u);
  const ModuleOp& op = d->ops[0];
  EXPECT_EQ(op.kernel, "cuda.attention");
  EXPECT_EQ(*op.Get<int64_t>("head_dim"), 8);
  EXPECT_EQ(*op.Get<int64_t>("padded_head_dim"), 16);
  EXPECT_EQ(*op.Get<int64_t>("qkv_heads"), 0);
  EXPECT_GE(op.inputs[3], 0) << "relative position tables";
  ASSERT_EQ(op.outputs.size(), 5u);  // y, then bf16 q, k, v and y
  for (size_t i = 1; i < 5; ++i) {
    const TensorSlot& s = d->slots[op.outputs[i]];
    EXPECT_EQ(s.dtype, DType::kBF16) << s.name;
    EXPECT_EQ(s.shape.dims().back().value(), 16) << s.name;
  }
  EXPECT_EQ(d->metadata.at("cuda.attention"), "1");
}

TEST_F(LowerCudaAttentionTest, PlainAttentionAtSeveralHeadDims) {
  for (int64_t dim : {16, 24, 64, 80, 128}) {
    AttentionGraph a;
    a.rel_pos = false;
    a.q_h = 7;
    a.q_w = 9;  // 63 tokens: not a multiple of the kernel's query or key blocks
    a.d = dim;
    SCOPED_TRACE("head dim " + std::to_string(dim));
    auto d = CompileRunCompare(BuildAttention(a));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(CountKernel(*d, "cuda.attention"), 1);
    EXPECT_EQ(*d->ops[0].Get<int64_t>("padded_head_dim"), (dim + 15) / 16 * 16);
  }
}

TEST_F(LowerCudaAttentionTest, HeadDimAbove128RunsUnfusedOrSaysWhy) {
  AttentionGraph a;
  a.rel_pos = false;
  a.d = 136;
  auto cuda = CompileForCuda(BuildAttention(a));
  if (!cuda.ok()) {
    // An op of the unfused form has no kernel: the fused op's refusal is
    // given with it.
    const std::string msg = cuda.status().ToString();
    EXPECT_NE(msg.find("attention found, but cuda.attention runs head dims up to 128, got 136"),
              std::string::npos)
        << msg;
    return;
  }
  EXPECT_EQ(CountKernel(cuda->desc, "cuda.attention"), 0);
  CompileRunCompare(BuildAttention(a));
}

TEST_F(LowerCudaAttentionTest, SamTinyAttentionsFuseWithPackedQkv) {
  const fs::path path = testing::ModelsDir() / "sam_tiny/model.onnx";
  OCTET_REQUIRE_PATH(path, "sam_tiny");
  auto model = ImportOnnxFile(path.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  // Compilation fails while other ops of the encoder (float MLPs, convs) lack
  // cuda kernels; the
  // attentions themselves must not be among the refused nodes.
  auto cuda = CompileForCuda(std::move(*model));
  if (!cuda.ok()) {
    const std::string msg = cuda.status().ToString();
    for (const char* op : {"(Softmax)", "(Einsum)", "(Split)"})
      EXPECT_EQ(msg.find(op), std::string::npos) << op << " refused: " << msg;
    return;
  }
  EXPECT_EQ(CountKernel(cuda->desc, "cuda.attention"), 4);
  for (const ModuleOp& op : cuda->desc.ops) {
    if (op.kernel != "cuda.attention") continue;
    EXPECT_EQ(*op.Get<int64_t>("qkv_heads"), 4) << op.name;
    EXPECT_EQ(*op.Get<int64_t>("out_interleaved"), 1) << op.name;
    EXPECT_EQ(*op.Get<int64_t>("head_dim"), 24) << op.name;
    EXPECT_EQ(*op.Get<int64_t>("padded_head_dim"), 32) << op.name;
  }
}

}  // namespace
}  // namespace octet
