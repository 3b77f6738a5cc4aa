// The cuda lowering of the weight-only presets: MatMul(x, DequantizeLinear(w
// i8 per channel | u4 in groups along K)) [+ bias] [+ GELU] ->
// cuda.weight_only_matmul (WeightOnlyGemm in bf16 between two conversions).
// The op list is checked everywhere; the GPU runs compare with the reference
// module.
//
// Tolerance: the module rounds each activation to bf16 before the GEMM
// (relative 2^-9) and each output back from bf16 (2^-9), and from 33 rows on
// multiplies by bf16-rounded dequantized weights (2^-9 per weight); the
// sums are f32. Each is a relative error of order 2^-9 = 0.002 per element,
// so 1 - cosine stays near 1e-5; cosine >= 0.999 leaves room for the GELU and
// the second layer while a wrong group, scale, zero point or layout gives
// errors of order 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_lower/cuda_module_test.h"
#include "cuda_lower/mlp_block.h"
#include "cuda_lower/presets.h"
#include "memory_source.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/runtime/module.h"
#include "octet/runtime/quantize.h"
#include "octet/runtime/tune.h"

namespace octet {
namespace {

constexpr int64_t kTokens = 7, kHidden = 128, kMlp = 256;

Model Quantized(const std::string& preset, uint32_t seed) {
  auto qdq =
      testing::ApplyPreset(testing::TransformerMlpBlock(seed, kTokens, kHidden, kMlp), preset);
  EXPECT_TRUE(qdq.ok()) << qdq.status().ToString();
  return qdq.ok() ? std::move(*qdq) : Model{};
}

class LowerWeightOnlyTest : public testing::ModuleFolderTest,
                            public ::testing::WithParamInterface<const char*> {};

TEST_P(LowerWeightOnlyTest, MlpLowersToWeightOnlyOps) {
  const std::string preset = GetParam();
  auto cuda = CompileForCuda(Quantized(preset, 1));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  std::vector<std::string> kernels;
  for (const ModuleOp& op : d.ops) kernels.push_back(op.kernel);
  EXPECT_EQ(kernels, (std::vector<std::string>{"cuda.layer_norm", "cuda.weight_only_matmul",
                                               "cuda.weight_only_matmul", "cuda.add"}));
  EXPECT_EQ(d.metadata.at("cuda.weight_only_matmul"), "2");
  const ModuleOp &lin1 = d.ops[1], &lin2 = d.ops[2];
  EXPECT_EQ(*lin1.Get<std::string>("activation"), "gelu_erf");
  EXPECT_EQ(*lin2.Get<std::string>("activation"), "none");
  const bool int4 = preset == "int4-weight-only";
  const TensorSlot& codes = d.slots[lin1.inputs[1]];
  EXPECT_EQ(codes.dtype, int4 ? DType::kU4 : DType::kI8);
  EXPECT_EQ(codes.shape, Shape({kHidden, kMlp}));  // [K, N], as the graph has it
  EXPECT_EQ(*lin1.Get<int64_t>("group_size"), int4 ? 128 : 0);
  EXPECT_EQ(lin1.inputs[3] >= 0, int4);  // zero points
  ASSERT_EQ(lin1.outputs.size(), 4u);    // y, the bf16 scratch of x and y, the weights' scratch
  EXPECT_EQ(d.slots[lin1.outputs[1]].dtype, DType::kBF16);
  EXPECT_EQ(d.slots[lin1.outputs[2]].shape, Shape({Dim::Symbol("N"), kTokens, kMlp}));
  // The rows (N x 7) may reach cuBLASLt's 33: room for the bf16 weights
  // (256-byte multiple) and the 4 MiB cuBLASLt workspace.
  EXPECT_EQ(d.slots[lin1.outputs[3]].dtype, DType::kU8);
  EXPECT_EQ(d.slots[lin1.outputs[3]].shape, Shape({kHidden * kMlp * 2 + (int64_t{4} << 20)}));
}

// The weight scratch by the rows: none needed below cuBLASLt's 33 (a few
// bytes), a resident bf16 copy (no scratch output) for static rows below
// 4096, where dequantizing on every run would cost the GEMM 10% or more, and
// the scratch from there on (and for symbolic rows, above).
TEST_P(LowerWeightOnlyTest, WeightScratchFollowsTheRows) {
  for (auto [batch, outputs, bytes] : {std::tuple<int64_t, size_t, int64_t>{1, 4, 16},
                                       {10, 3, 0},
                                       {600, 4, kHidden * kMlp * 2 + (int64_t{4} << 20)}}) {
    auto qdq = testing::ApplyPreset(
        testing::TransformerMlpBlock(3, kTokens, kHidden, kMlp, Dim(batch)), GetParam());
    ASSERT_TRUE(qdq.ok()) << qdq.status().ToString();
    auto cuda = CompileForCuda(std::move(*qdq));
    ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
    const ModuleOp& lin1 = cuda->desc.ops[1];
    ASSERT_EQ(lin1.kernel, "cuda.weight_only_matmul");
    SCOPED_TRACE(::testing::Message() << kTokens * batch << " rows");
    ASSERT_EQ(lin1.outputs.size(), outputs);
    if (outputs == 4) {
      EXPECT_EQ(cuda->desc.slots[lin1.outputs[3]].shape, Shape({bytes}));
    }
  }
}

TEST_P(LowerWeightOnlyTest, MlpOnGpuMatchesReference) {
  Model qdq = Quantized(GetParam(), 2);
  auto module = runtime::Module::Load(Write(CompileForCuda(qdq.Clone()), "cuda.octet"));
  if (!module.ok()) GTEST_SKIP() << module.status().ToString();
  auto reference = runtime::Module::Load(Write(CompileForReference(qdq.Clone()), "ref.octet"));
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  auto session = runtime::Session::Create(*module);
  auto ref_session = runtime::Session::Create(*reference, {1});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  ASSERT_TRUE(ref_session.ok());
  // 7, 21 and 119 rows: the streaming kernels (m <= 32) and cuBLASLt on the
  // weights dequantized into the op's scratch (m >= 33).
  for (int64_t batch : {1, 3, 17}) {
    auto inputs = (*reference)->MakeRandomInputs(60 + batch, batch);
    ASSERT_TRUE(inputs.ok());
    auto got = (*session)->Run(*inputs);
    auto want = (*ref_session)->Run(*inputs);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    const Tensor &y = got->at("out"), &r = want->at("out");
    ASSERT_EQ(y.dims(), (std::vector<int64_t>{batch, kTokens, kHidden}));
    const double cosine = testing::Cosine(y, r);
    EXPECT_GE(cosine, 0.999) << GetParam() << " batch " << batch;
    std::printf("%s batch %lld: cosine %.7f\n", GetParam(), static_cast<long long>(batch), cosine);
  }
}

// int4-weight-only with calibration data (a mean of 0.5 per channel): bias
// correction changes only the bias constants, so the module has the same
// kernels, and on the GPU it agrees with the corrected QDQ graph.
class LowerBiasCorrectedTest : public testing::ModuleFolderTest {};

TEST_F(LowerBiasCorrectedTest, SameKernelsAndTheGpuAgreesWithTheCorrectedGraph) {
  auto config = quant::MakePreset("int4-weight-only");
  ASSERT_TRUE(config.ok());
  auto prepared =
      PrepareForQuantization(testing::TransformerMlpBlock(4, kTokens, kHidden, kMlp), *config);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  std::mt19937 rng(5);
  std::vector<Tensor> samples;
  for (int i = 0; i < 6; ++i) {
    Tensor t = testing::RandomTensor({kTokens, kHidden}, rng);
    for (int64_t e = 0; e < t.numel(); ++e) t.data<float>()[e] += 0.5f;
    samples.push_back(std::move(t));
  }
  testing::MemorySource data(std::move(samples));
  auto stats = Calibrate(*prepared, data, CalibrationRun{});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  auto qdq = ConvertToQuantized(*prepared, *stats);
  ASSERT_TRUE(qdq.ok()) << qdq.status().ToString();
  EXPECT_EQ(qdq->metadata.at("octet.quantization.bias_correction"), "2 of 2 nodes");

  auto cuda = CompileForCuda(qdq->Clone());
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  std::vector<std::string> kernels;
  for (const ModuleOp& op : cuda->desc.ops) kernels.push_back(op.kernel);
  EXPECT_EQ(kernels, (std::vector<std::string>{"cuda.layer_norm", "cuda.weight_only_matmul",
                                               "cuda.weight_only_matmul", "cuda.add"}));

  auto module = runtime::Module::Load(Write(std::move(cuda), "cuda.octet"));
  if (!module.ok()) GTEST_SKIP() << module.status().ToString();
  auto reference = runtime::Module::Load(Write(CompileForReference(qdq->Clone()), "ref.octet"));
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  auto session = runtime::Session::Create(*module);
  auto ref_session = runtime::Session::Create(*reference, {1});
  ASSERT_TRUE(session.ok() && ref_session.ok());
  auto inputs = (*reference)->MakeRandomInputs(77, 3);
  ASSERT_TRUE(inputs.ok());
  auto got = (*session)->Run(*inputs);
  auto want = (*ref_session)->Run(*inputs);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  const double cosine = testing::Cosine(got->at("out"), want->at("out"));
  EXPECT_GE(cosine, 0.999);  // the tolerance argument at the top of this file
  std::printf("bias-corrected int4 MLP: cosine %.7f\n", cosine);
}

// `octet compile --tune`: each int4 weight-only GEMM whose planned rows run a
// u4 kernel (7 rows at batch 1) gets the fastest of its path's kernel shapes,
// rows that run cuBLASLt (70 at batch 10) get none; the tuned module agrees
// with the plain one (the shapes differ only in the order of f32 sums), and
// a shape this runtime does not have is refused when the module loads.
class LowerWeightOnlyTuneTest : public testing::CudaModuleTest {};

TEST_F(LowerWeightOnlyTuneTest, Int4KernelRowsGetAMeasuredShape) {
  for (int64_t batch : {1, 10}) {
    SCOPED_TRACE(::testing::Message() << "batch " << batch);
    auto qdq = testing::ApplyPreset(
        testing::TransformerMlpBlock(6, kTokens, kHidden, kMlp, Dim(batch)), "int4-weight-only");
    ASSERT_TRUE(qdq.ok()) << qdq.status().ToString();
    auto compiled = CompileForCuda(qdq->Clone());
    ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
    const std::string plain_path = Write(compiled, "plain.octet");
    auto tuned = TuneOrSkip(&*compiled);
    if (!tuned.has_value()) GTEST_SKIP() << "no GPU (or no CUDA build) to tune on";
    int tuned_ops = 0;
    for (const ModuleOp& op : compiled->desc.ops) {
      if (op.kernel != "cuda.weight_only_matmul") continue;
      const bool has = op.FindAttr("tuned_int4_shape") != nullptr;
      EXPECT_EQ(has, batch == 1) << op.name;
      if (!has) continue;
      ++tuned_ops;
      EXPECT_EQ(*op.Get<int64_t>("tuned_rows"), kTokens * batch) << op.name;
    }
    ASSERT_EQ(tuned->size(), batch == 1 ? 2u : 0u);
    EXPECT_EQ(tuned_ops, static_cast<int>(tuned->size()));
    for (const runtime::TunedOp& t : *tuned) {
      EXPECT_EQ(t.m, kTokens * batch);
      ASSERT_FALSE(t.tiles.empty());
      EXPECT_NE(std::find(t.tiles.begin(), t.tiles.end(), t.chosen), t.tiles.end());
      EXPECT_NE(std::find(t.tiles.begin(), t.tiles.end(), t.model_choice), t.tiles.end());
      for (double ms : t.ms) EXPECT_GT(ms, 0.0) << t.op;
    }
    auto plain = LoadOrSkip(plain_path);
    auto tuned_module = LoadOrSkip(Write(compiled, "tuned.octet"));
    ASSERT_TRUE(plain != nullptr && tuned_module != nullptr);
    auto a = runtime::Session::Create(plain);
    auto b = runtime::Session::Create(tuned_module);
    ASSERT_TRUE(a.ok() && b.ok());
    auto inputs = plain->MakeRandomInputs(90 + batch, batch);
    ASSERT_TRUE(inputs.ok());
    auto ya = (*a)->Run(*inputs);
    auto yb = (*b)->Run(*inputs);
    ASSERT_TRUE(ya.ok() && yb.ok());
    EXPECT_GE(testing::Cosine(ya->at("out"), yb->at("out")), 0.99999);

    if (batch != 1) continue;
    for (ModuleOp& op : compiled->desc.ops)
      for (ModuleAttr& attr : op.attrs)
        if (attr.name == "tuned_int4_shape") attr.value = int64_t{999};
    auto bad = runtime::Module::Load(Write(compiled, "bad.octet"));
    Status refused = bad.ok() ? runtime::Session::Create(*bad).status() : bad.status();
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.ToString().find("tuned_int4_shape 999"), std::string::npos)
        << refused.ToString();
  }
}

INSTANTIATE_TEST_SUITE_P(Presets, LowerWeightOnlyTest,
                         ::testing::Values("int8-weight-only", "int4-weight-only"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param) == "int8-weight-only" ? "int8" : "int4";
                         });

}  // namespace
}  // namespace octet
