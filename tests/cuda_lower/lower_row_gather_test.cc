// A ViT block's window partition and its reverse (SAM's window_partition /
// window_unpartition: Pad, Reshape, Transpose, Reshape; Reshape, Transpose,
// Reshape, Slice) fold into the per-token quantization of the int8 GEMMs that
// read the rows (FoldRowGathersIntoQuantization, cuda_row_gather.h). In CI:
// the lowering (no copy op left, the row maps equal the reference
// interpreter's evaluation of each chain on rows numbered 1, 2, ...); on the
// GPU: the module against the QDQ graph run by the reference interpreter.
//
// Why cosine >= 0.999: as in lower_cuda_test.cc (same codes up to f32
// rounding order in the LayerNorms), plus one bf16 rounding of the window
// branch before the residual sum (relative 2^-9 of that branch).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>

#include "cuda_lower/cuda_module_test.h"
#include "cuda_lower/presets.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/passes/shape_inference.h"
#include "octet/runtime/module.h"
#include "octet/runtime/quantize.h"
#include "quant/quant_test_util.h"

namespace octet {
namespace {

using testing::Add;

// x [B, H, W, C] in 2 x 2 windows of size kWin with padding (H = W = 5 ->
// 6): the attention branch is one Linear on the windows.
constexpr int64_t kBatch = 2, kSide = 5, kWin = 3, kPadded = 6, kC = 16, kMlp = 32;
constexpr int64_t kWindows = kBatch * (kPadded / kWin) * (kPadded / kWin);

Value* Ints(Graph& g, const std::string& name, std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return g.AddConstant(name, Tensor::FromVector<int64_t>(std::move(v), {n}));
}

// The window partition of `in` [B, 5, 5, C] -> [B * 4, 3, 3, C].
Value* Partition(Graph& g, Value* in) {
  Value* pad =
      Add(g, "Pad", {in, Ints(g, "pads", {0, 0, 0, 0, 0, 1, 1, 0})}, "padded", "pad")->output(0);
  Value* r = Add(g, "Reshape", {pad, Ints(g, "s1", {kBatch, 2, kWin, 2, kWin, kC})}, "r1", "r1")
                 ->output(0);
  Node* t = Add(g, "Transpose", {r}, "t1", "t1");
  t->SetAttr("perm", std::vector<int64_t>{0, 1, 3, 2, 4, 5});
  return Add(g, "Reshape", {t->output(0), Ints(g, "s2", {kWindows, kWin, kWin, kC})}, "windows",
             "r2")
      ->output(0);
}

// Its reverse: [B * 4, 3, 3, C] -> [B, 5, 5, C].
Value* Unpartition(Graph& g, Value* in) {
  Value* r =
      Add(g, "Reshape", {in, Ints(g, "s3", {kBatch, 2, 2, kWin, kWin, kC})}, "r3", "r3")->output(0);
  Node* t = Add(g, "Transpose", {r}, "t2", "t2");
  t->SetAttr("perm", std::vector<int64_t>{0, 1, 3, 2, 4, 5});
  Value* full =
      Add(g, "Reshape", {t->output(0), Ints(g, "s4", {kBatch, kPadded, kPadded, kC})}, "r4", "r4")
          ->output(0);
  return Add(g, "Slice",
             {full, Ints(g, "starts", {0, 0}), Ints(g, "ends", {kSide, kSide}),
              Ints(g, "axes", {1, 2})},
             "unpadded", "slice")
      ->output(0);
}

Model WindowedBlock(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x =
      g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({kBatch, kSide, kSide, kC})));
  auto layer_norm = [&](Value* in, const std::string& name) {
    Tensor gamma = testing::RandomTensor({kC}, rng, 0.2f);
    for (int64_t i = 0; i < kC; ++i) gamma.data<float>()[i] += 1.f;
    return Add(g, "LayerNormalization",
               {in, g.AddConstant(name + ".g", gamma),
                g.AddConstant(name + ".b", testing::RandomTensor({kC}, rng, 0.1f))},
               name + "_out", name)
        ->output(0);
  };
  auto linear = [&](Value* in, int64_t k, int64_t n, const std::string& name) {
    Value* w = g.AddConstant(name + ".w", testing::RandomTensor({k, n}, rng, 1.5f / std::sqrt(k)));
    Value* b = g.AddConstant(name + ".b", testing::RandomTensor({n}, rng, 0.1f));
    Value* mm = Add(g, "MatMul", {in, w}, name + "_mm", name)->output(0);
    return Add(g, "Add", {mm, b}, name + "_out", name + "_bias")->output(0);
  };
  Value* branch = linear(Partition(g, layer_norm(x, "norm1")), kC, kC, "proj");
  Value* y = Add(g, "Add", {x, Unpartition(g, branch)}, "y", "residual1")->output(0);
  Value* h = linear(layer_norm(y, "norm2"), kC, kMlp, "lin1");
  Value* z = linear(h, kMlp, kC, "lin2");
  g.AddOutput(Add(g, "Add", {y, z}, "out", "residual2")->output(0));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

using testing::QuantizeDynamic;

using Chain = std::function<Value*(Graph&, Value*)>;

class LowerRowGatherTest : public testing::CudaModuleTest {
 protected:
  std::vector<int32_t> ReferenceRowMap(const std::vector<int64_t>& dims, const Chain& chain);
  std::vector<int32_t> ReferenceRowMap(bool partition) {
    return partition ? ReferenceRowMap({kBatch, kSide, kSide, kC}, Partition)
                     : ReferenceRowMap({kWindows, kWin, kWin, kC}, Unpartition);
  }
};

// The rows a chain moves, as the reference interpreter computes them: the
// chain applied to rows holding 1, 2, 3, ... gives each output row its
// source row + 1, or 0 for padding. The last dim of `dims` is kC.
std::vector<int32_t> LowerRowGatherTest::ReferenceRowMap(const std::vector<int64_t>& dims,
                                                         const Chain& chain) {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* in = g.AddInput("rows", TensorType(DType::kF32, Shape::FromStatic(dims)));
  g.AddOutput(chain(g, in));
  EXPECT_TRUE(InferShapes(g).ok());
  auto module = runtime::Module::Load(Write(CompileForReference(std::move(m)), "chain.octet"));
  EXPECT_TRUE(module.ok()) << module.status().ToString();
  auto session = runtime::Session::Create(*module, {1});
  EXPECT_TRUE(session.ok());
  Tensor rows(DType::kF32, dims);
  for (int64_t i = 0; i < rows.numel(); ++i) rows.data<float>()[i] = static_cast<float>(i / kC + 1);
  auto out = (*session)->Run({{"rows", rows}});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  const Tensor& o = out->begin()->second;
  std::vector<int32_t> map(o.numel() / kC);
  for (size_t r = 0; r < map.size(); ++r)
    map[r] = static_cast<int32_t>(o.data<float>()[r * kC]) - 1;
  return map;
}

std::vector<int32_t> ConstantInts(const CompiledModule& m, int32_t slot) {
  const TensorSlot& s = m.desc.slots[slot];
  EXPECT_EQ(s.dtype, DType::kI32) << s.name;
  const auto& bytes = m.weights[s.weight_section].bytes;
  std::vector<int32_t> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), bytes.size());
  return v;
}

TEST_F(LowerRowGatherTest, WindowCopiesFoldIntoTheQuantization) {
  auto cuda = CompileForCuda(QuantizeDynamic(WindowedBlock(1)));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  std::vector<std::string> kernels;
  for (const ModuleOp& op : d.ops) kernels.push_back(op.kernel);
  EXPECT_EQ(kernels, std::vector<std::string>(3, "cuda.dynamic_int8_matmul"));
  ASSERT_EQ(d.ops.size(), 3u);
  const ModuleOp &proj = d.ops[0], &lin1 = d.ops[1], &lin2 = d.ops[2];
  // proj: norm1 and the partition in front (row_map), x read in place.
  ASSERT_EQ(proj.inputs.size(), 10u);
  EXPECT_EQ(d.slots[proj.inputs[0]].name, "x");
  EXPECT_GE(proj.inputs[5], 0);
  EXPECT_EQ(proj.inputs[8], -1);
  EXPECT_EQ(ConstantInts(*cuda, proj.inputs[7]), ReferenceRowMap(true));
  EXPECT_EQ(d.slots[proj.outputs[0]].dtype, DType::kBF16) << "the branch stays bf16";
  EXPECT_EQ(d.slots[proj.outputs[1]].shape, Shape::FromStatic({kWindows, kWin, kWin, kC}));
  // lin1: residual1 (x + the unpartitioned branch), writing y, then norm2.
  ASSERT_EQ(lin1.inputs.size(), 10u);
  EXPECT_EQ(d.slots[lin1.inputs[0]].name, "x");
  EXPECT_EQ(lin1.inputs[7], -1);
  EXPECT_EQ(lin1.inputs[8], proj.outputs[0]);
  EXPECT_EQ(ConstantInts(*cuda, lin1.inputs[9]), ReferenceRowMap(false));
  ASSERT_EQ(lin1.outputs.size(), 4u);
  EXPECT_EQ(d.slots[lin1.outputs[3]].name, "y");
  EXPECT_EQ(d.slots[lin1.outputs[3]].dtype, DType::kF32);
  // lin2 adds y in its epilogue.
  EXPECT_EQ(lin2.inputs[4], lin1.outputs[3]);
}

// A chain in another order, with a strided Slice from a negative start (ONNX
// clamps it), a Transpose of two leading axes and a Pad before and after the
// rows on one axis: the map must still be the reference interpreter's.
TEST_F(LowerRowGatherTest, StridedSlicePadAndTransposeGiveTheReferenceRows) {
  const Chain chain = [](Graph& g, Value* in) {
    Value* sl = Add(g, "Slice",
                    {in, Ints(g, "st", {-5, 0}), Ints(g, "en", {100, 6}), Ints(g, "ax", {1, 2}),
                     Ints(g, "sp", {2, 1})},
                    "sliced", "slice")
                    ->output(0);  // [2, 3, 6, C]: rows 1, 3, 5 of axis 1
    Node* t = Add(g, "Transpose", {sl}, "swapped", "swap");
    t->SetAttr("perm", std::vector<int64_t>{0, 2, 1, 3});  // [2, 6, 3, C]
    return Add(g, "Pad", {t->output(0), Ints(g, "p", {0, 0, 1, 0, 0, 0, 2, 0})}, "padded", "pad")
        ->output(0);  // [2, 6, 6, C]
  };
  const std::vector<int64_t> dims = {2, 6, 6, kC};
  std::mt19937 rng(4);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic(dims)));
  Value* w = g.AddConstant("w", testing::RandomTensor({kC, kC}, rng));
  g.AddOutput(Add(g, "MatMul", {chain(g, x), w}, "y", "mm")->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(QuantizeDynamic(std::move(m)));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  ASSERT_EQ(cuda->desc.ops.size(), 1u) << "the chain folds into the quantization";
  const ModuleOp& op = cuda->desc.ops[0];
  ASSERT_EQ(op.inputs.size(), 10u);
  EXPECT_EQ(cuda->desc.slots[op.inputs[0]].name, "x");
  const std::vector<int32_t> want = ReferenceRowMap(dims, chain);
  EXPECT_EQ(ConstantInts(*cuda, op.inputs[7]), want);
  EXPECT_EQ(std::count(want.begin(), want.end(), -1), 2 * 6 * 3) << "the padded rows";
}

TEST_F(LowerRowGatherTest, ChainsThatMoveTheChannelsStayCopies) {
  // A transpose that moves the last axis is not a row gather: the copies run.
  std::mt19937 rng(2);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({4, 16, 16})));
  Node* t = Add(g, "Transpose", {x}, "t", "swap_last");
  t->SetAttr("perm", std::vector<int64_t>{0, 2, 1});
  Value* w = g.AddConstant("w", testing::RandomTensor({16, 16}, rng));
  g.AddOutput(Add(g, "MatMul", {t->output(0), w}, "y", "mm")->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(QuantizeDynamic(std::move(m)));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  ASSERT_EQ(cuda->desc.ops.size(), 2u);
  EXPECT_EQ(cuda->desc.ops[0].kernel, "cuda.transpose");
  EXPECT_EQ(cuda->desc.ops[1].inputs.size(), 5u) << "no row prologue";
}

TEST_F(LowerRowGatherTest, WindowedBlockOnGpuMatchesReference) {
  Model qdq = QuantizeDynamic(WindowedBlock(3));
  auto module = LoadOrSkip(Write(CompileForCuda(qdq.Clone()), "cuda.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto reference = runtime::Module::Load(Write(CompileForReference(qdq.Clone()), "ref.octet"));
  ASSERT_TRUE(reference.ok()) << reference.status().ToString();
  auto session = runtime::Session::Create(module);
  auto ref_session = runtime::Session::Create(*reference, {1});
  ASSERT_TRUE(session.ok() && ref_session.ok());
  for (int run = 0; run < 2; ++run) {  // eager, then the graph replay
    auto inputs = (*reference)->MakeRandomInputs(50 + run, kBatch);
    ASSERT_TRUE(inputs.ok());
    auto got = (*session)->Run(*inputs);
    auto want = (*ref_session)->Run(*inputs);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    const double cosine = testing::Cosine(got->at("out"), want->at("out"));
    EXPECT_GE(cosine, 0.999) << "run " << run;
    std::printf("run %d: cosine %.7f\n", run, cosine);
  }
}

}  // namespace
}  // namespace octet
