// The cuda target end to end: a transformer MLP block quantized by Octet's
// int8-dynamic preset, compiled for cuda and for reference. The lowering
// tests need no GPU (they run in CI); the device tests load the module and
// skip, with the loader's reason, where the runtime or machine cannot run it
// (no CUDA build, no GPU, not Hopper).
//
// Why cosine >= 0.999 against the reference module (the QDQ graph run by the
// interpreter): both quantize the same f32 rows per token with the same IEEE
// division and rounding, multiply int8 x int8 exactly (int32 sums) and
// dequantize in f32. What differs is f32 rounding order (LayerNorm's
// reductions, the epilogue's fma), a few ulps; where such a difference moves
// a LayerNorm or GELU output across a rounding boundary, one code of one row
// changes by 1, i.e. one of K products moves by a 1/127 step. Measured
// cosines are above 0.99999; 0.999 leaves room for an unlucky row while still
// catching any real error (a wrong scale, layout or bias gives < 0.9).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include "cuda_lower/cuda_module_test.h"
#include "cuda_lower/mlp_block.h"
#include "cuda_lower/presets.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/passes/shape_inference.h"
#include "octet/runtime/module.h"
#include "octet/runtime/quantize.h"
#include "quant/quant_test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kTokens = 7, kHidden = 64, kMlp = 256;

Model MlpBlock(uint32_t seed) { return testing::TransformerMlpBlock(seed, kTokens, kHidden, kMlp); }

using testing::QuantizeDynamic;

using LowerCudaTest = testing::CudaModuleTest;

TEST_F(LowerCudaTest, MlpBlockLowersToDeviceOpsOnly) {
  auto cuda = CompileForCuda(QuantizeDynamic(MlpBlock(1)));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  EXPECT_EQ(d.target, "cuda");
  EXPECT_EQ(d.requirements.at("target"), "cuda");
  EXPECT_EQ(d.requirements.at("cuda_arch"), "sm_90a");
  std::vector<std::string> kernels;
  for (const ModuleOp& op : d.ops) kernels.push_back(op.kernel);
  // The LayerNorm is inside the first op's per-token quantization, the
  // residual sum in the second GEMM's epilogue.
  EXPECT_EQ(kernels,
            (std::vector<std::string>{"cuda.dynamic_int8_matmul", "cuda.dynamic_int8_matmul"}));
  EXPECT_EQ(d.metadata.at("cuda.dynamic_int8_matmul"), "2");
  EXPECT_EQ(d.metadata.count("cuda.add"), 0u);
  EXPECT_EQ(d.metadata.count("cuda.layer_norm"), 0u);
  const ModuleOp &lin1 = d.ops[0], &lin2 = d.ops[1];
  ASSERT_EQ(lin1.inputs.size(), 7u);
  EXPECT_EQ(d.slots[lin1.inputs[0]].name, "x");  // the LayerNorm's input
  EXPECT_EQ(d.slots[lin1.inputs[5]].shape, Shape({kHidden}));
  EXPECT_TRUE(lin1.Get<float>("layer_norm_epsilon").ok());
  EXPECT_EQ(lin2.inputs.size(), 5u);  // no LayerNorm in front of the second
  EXPECT_EQ(*lin1.Get<std::string>("activation"), "gelu_erf");
  EXPECT_EQ(*lin2.Get<std::string>("activation"), "none");
  // Weights in the kernel's [N, K] layout, scales per output channel, bias.
  const TensorSlot& w1 = d.slots[lin1.inputs[1]];
  EXPECT_EQ(w1.dtype, DType::kI8);
  EXPECT_EQ(w1.shape, Shape({kMlp, kHidden}));
  EXPECT_EQ(d.slots[lin1.inputs[2]].shape, Shape({kMlp}));
  EXPECT_EQ(d.slots[lin1.inputs[3]].shape, Shape({kMlp}));
  // Scratch outputs: the codes and row scales, planned in the arena.
  ASSERT_EQ(lin1.outputs.size(), 3u);
  const TensorSlot& codes = d.slots[lin1.outputs[1]];
  const TensorSlot& row_scales = d.slots[lin1.outputs[2]];
  EXPECT_EQ(codes.dtype, DType::kI8);
  EXPECT_EQ(codes.shape, Shape({Dim::Symbol("N"), kTokens, kHidden}));
  EXPECT_EQ(row_scales.shape, Shape({Dim::Symbol("N"), kTokens, 1}));
  EXPECT_GE(codes.arena_offset, 0);
  // The residual reads the graph input and the GEMM writes the graph output.
  EXPECT_EQ(lin1.inputs[4], -1);
  ASSERT_GE(lin2.inputs[4], 0);
  EXPECT_EQ(d.slots[lin2.inputs[4]].name, "x");
  EXPECT_EQ(d.slots[lin2.outputs[0]].kind, SlotKind::kOutput);
}

TEST_F(LowerCudaTest, UnsupportedNodesAreListedInOneError) {
  // Three nodes no cuda kernel takes (a Softmax over the first axis, a
  // reflecting Pad, a Floor) between two it does run (Relu, a broadcast Add).
  std::mt19937 rng(2);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({4, 32})));
  Value* r = testing::Add(g, "Relu", {x}, "r", "the_relu")->output(0);
  Node* sm = testing::Add(g, "Softmax", {r}, "s", "the_softmax");
  sm->SetAttr("axis", int64_t{0});
  Value* pads = g.AddConstant("pads", Tensor::FromVector<int64_t>({0, 1, 0, 1}, {4}));
  Node* pad = testing::Add(g, "Pad", {sm->output(0), pads}, "p", "the_pad");
  pad->SetAttr("mode", "reflect");
  Value* f = testing::Add(g, "Floor", {pad->output(0)}, "f", "the_floor")->output(0);
  Value* b = g.AddConstant("b", testing::RandomTensor({34}, rng));
  Value* y = testing::Add(g, "Add", {f, b}, "y", "broadcast_add")->output(0);
  g.AddOutput(y);
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(std::move(m));
  ASSERT_FALSE(cuda.ok());
  const std::string msg = cuda.status().ToString();
  EXPECT_EQ(cuda.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(msg.find("cannot run 3 nodes"), std::string::npos) << msg;
  for (const char* want : {"the_softmax (Softmax): cuda.softmax normalises over the last axis",
                           "the_pad (Pad): cuda.pad pads with a constant only, not mode 'reflect'",
                           "the_floor (Floor): no cuda kernel for Floor", "no host fallback"})
    EXPECT_NE(msg.find(want), std::string::npos) << want << " not in: " << msg;
  for (const char* runs : {"the_relu", "broadcast_add"})
    EXPECT_EQ(msg.find(runs), std::string::npos) << runs << " is listed: " << msg;
}

TEST_F(LowerCudaTest, MatMulWithKNotAMultipleOf16IsRefusedWithTheReason) {
  std::mt19937 rng(3);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 40})));
  Value* w = g.AddConstant("w", testing::RandomTensor({40, 16}, rng));
  g.AddOutput(testing::Add(g, "MatMul", {x, w}, "y", "k40")->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(QuantizeDynamic(std::move(m)));
  ASSERT_FALSE(cuda.ok());
  EXPECT_NE(cuda.status().message().find("k40 (MatMul): the int8 GEMM needs K to be a multiple "
                                         "of 16"),
            std::string::npos)
      << cuda.status().ToString();
}

// Without a GPU (CI), loading says why; on the GPU machine this test skips.
TEST_F(LowerCudaTest, LoadWithoutAUsableGpuSaysWhy) {
  const std::string path = Write(CompileForCuda(QuantizeDynamic(MlpBlock(4))), "m.octet");
  auto m = runtime::Module::Load(path);
  if (m.ok()) GTEST_SKIP() << "this machine runs cuda modules";
  const std::string msg = m.status().ToString();
  EXPECT_TRUE(msg.find("no usable CUDA device") != std::string::npos ||
              msg.find("built without CUDA") != std::string::npos ||
              msg.find("needs a sm_90a GPU") != std::string::npos)
      << msg;
}

TEST_F(LowerCudaTest, UnknownRequirementIsRefused) {
  auto cuda = CompileForCuda(QuantizeDynamic(MlpBlock(5)));
  ASSERT_TRUE(cuda.ok());
  cuda->desc.requirements["cuda_arch"] = "sm_100a";
  auto m = runtime::Module::Load(Write(cuda, "m.octet"));
  ASSERT_FALSE(m.ok());
  const std::string msg = m.status().ToString();
  EXPECT_TRUE(msg.find("requires cuda_arch=sm_100a") != std::string::npos ||
              msg.find("built without CUDA") != std::string::npos)
      << msg;
}

TEST_F(LowerCudaTest, MlpBlockOnGpuMatchesReferenceAtSeveralBatches) {
  Model qdq = QuantizeDynamic(MlpBlock(6));
  auto module = LoadOrSkip(Write(CompileForCuda(qdq.Clone()), "cuda.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto reference = runtime::Module::Load(Write(CompileForReference(qdq.Clone()), "ref.octet"));
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  auto session = runtime::Session::Create(module);
  auto ref_session = runtime::Session::Create(*reference, {1});
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  ASSERT_TRUE(ref_session.ok());
  for (int64_t batch : {1, 3, 17, 1}) {
    auto inputs = (*reference)->MakeRandomInputs(40 + batch, batch);
    ASSERT_TRUE(inputs.ok());
    auto got = (*session)->Run(*inputs);
    auto want = (*ref_session)->Run(*inputs);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    const Tensor &y = got->at("out"), &r = want->at("out");
    ASSERT_EQ(y.dims(), (std::vector<int64_t>{batch, kTokens, kHidden}));
    const double cosine = testing::Cosine(y, r);
    EXPECT_GE(cosine, 0.999) << "batch " << batch;
    double max_err = 0;
    for (int64_t i = 0; i < y.numel(); ++i)
      max_err = std::max(max_err, double{std::fabs(y.data<float>()[i] - r.data<float>()[i])});
    std::printf("batch %lld: cosine %.7f, max |err| %.3g, device %.3f ms%s\n",
                static_cast<long long>(batch), cosine, max_err,
                (*session)->last_device_run()->device_ms,
                (*session)->last_device_run()->graph_replayed ? " (graph)" : "");
  }
}

// The second run at a shape replays a CUDA graph; it must give the eager
// run's bits, and a run at another shape in between must not disturb it.
TEST_F(LowerCudaTest, GraphReplayIsBitwiseTheEagerRun) {
  auto module = LoadOrSkip(Write(CompileForCuda(QuantizeDynamic(MlpBlock(7))), "cuda.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto session = runtime::Session::Create(module);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto in4 = module->MakeRandomInputs(9, 4);
  auto in2 = module->MakeRandomInputs(10, 2);
  ASSERT_TRUE(in4.ok() && in2.ok());
  auto eager = (*session)->Run(*in4);
  ASSERT_TRUE(eager.ok()) << eager.status().ToString();
  EXPECT_FALSE((*session)->last_device_run()->graph_replayed);
  ASSERT_TRUE((*session)->Run(*in2).ok());
  for (int i = 0; i < 3; ++i) {
    auto replay = (*session)->Run(*in4);
    ASSERT_TRUE(replay.ok()) << replay.status().ToString();
    EXPECT_TRUE((*session)->last_device_run()->graph_replayed);
    EXPECT_GT((*session)->last_device_run()->device_ms, 0.0);
    EXPECT_TRUE(replay->at("out").BitwiseEquals(eager->at("out")));
  }
  // Without graphs, the same bits again.
  runtime::SessionOptions no_graphs;
  no_graphs.cuda_graphs = false;
  auto eager_session = runtime::Session::Create(module, no_graphs);
  ASSERT_TRUE(eager_session.ok());
  for (int i = 0; i < 2; ++i) {
    auto again = (*eager_session)->Run(*in4);
    ASSERT_TRUE(again.ok());
    EXPECT_FALSE((*eager_session)->last_device_run()->graph_replayed);
    EXPECT_TRUE(again->at("out").BitwiseEquals(eager->at("out")));
  }
}

TEST_F(LowerCudaTest, BadInputsAreNamedAndLeaveTheSessionUsable) {
  auto module = LoadOrSkip(Write(CompileForCuda(QuantizeDynamic(MlpBlock(8))), "cuda.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto session = runtime::Session::Create(module);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::mt19937 rng(1);
  auto wrong_shape = (*session)->Run({{"x", testing::RandomTensor({2, kTokens, 63}, rng)}});
  ASSERT_FALSE(wrong_shape.ok());
  EXPECT_NE(wrong_shape.status().message().find("input 'x'"), std::string::npos)
      << wrong_shape.status().ToString();
  auto wrong_dtype = (*session)->Run({{"x", Tensor(DType::kI32, {2, kTokens, kHidden})}});
  ASSERT_FALSE(wrong_dtype.ok());
  EXPECT_NE(wrong_dtype.status().message().find("input 'x'"), std::string::npos)
      << wrong_dtype.status().ToString();
  auto missing = (*session)->Run({});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing input 'x'"), std::string::npos);
  auto fine = (*session)->Run({{"x", testing::RandomTensor({2, kTokens, kHidden}, rng)}});
  EXPECT_TRUE(fine.ok()) << fine.status().ToString();
}

// SAM vit_b's MLP (768 -> 3072 -> 768) at 197 tokens and batch 8: the
// kernels at their real K (768, 3072) with M = 1576, not a tile multiple.
// Prints the device time of a graph replay (median of 20).
TEST_F(LowerCudaTest, VitBSizedMlpOnGpuMatchesReference) {
  Model qdq = QuantizeDynamic(testing::TransformerMlpBlock(11, 197, 768, 3072));
  auto module = LoadOrSkip(Write(CompileForCuda(qdq.Clone()), "cuda.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto reference = runtime::Module::Load(Write(CompileForReference(qdq.Clone()), "ref.octet"));
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  auto session = runtime::Session::Create(module);
  auto ref_session = runtime::Session::Create(*reference);
  ASSERT_TRUE(session.ok() && ref_session.ok());
  auto inputs = module->MakeRandomInputs(12, 8);
  ASSERT_TRUE(inputs.ok());
  auto want = (*ref_session)->Run(*inputs);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  std::vector<double> device_ms;
  for (int i = 0; i < 22; ++i) {
    auto got = (*session)->Run(*inputs);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    if (i == 0) {
      const double cosine = testing::Cosine(got->at("out"), want->at("out"));
      EXPECT_GE(cosine, 0.999);
      std::printf("vit_b MLP, batch 8 x 197 tokens: cosine %.7f\n", cosine);
    }
    if (i >= 2) device_ms.push_back((*session)->last_device_run()->device_ms);
  }
  std::sort(device_ms.begin(), device_ms.end());
  std::printf(
      "vit_b MLP, batch 8 x 197 tokens: device %.4f ms per run (median of 20 graph "
      "replays; 4 ops)\n",
      device_ms[device_ms.size() / 2]);
}

}  // namespace
}  // namespace octet
