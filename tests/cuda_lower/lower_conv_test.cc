// The cuda lowering of float convolutions, pooling and GEMMs (cuda_conv_patterns.h,
// cuda_rules_pool.cc): which ops a graph becomes (CI, no GPU), what is
// refused and why, and on the GPU the modules against the reference target.
//
// Why cosine >= 0.999 and max |err| <= 2^-5 max |ref| on the GPU: the cuda
// modules round each GEMM's inputs (activations and weights) to bf16, 2^-9
// relative each, and accumulate in f32; every product is then off by at most
// 2^-8 of itself, with independent signs, so an output of K products is off by
// about 2^-8 sqrt(K) |typical product|, i.e. 2^-8 relative to an output of
// random-signed terms (|y| ~ sqrt(K) |product|). Through the 2-3 GEMMs of
// these graphs that is ~0.5% RMS: cosine >= 1 - 2e-5; 0.999 leaves margin
// and still catches any real error (a wrong tap, pad or bias gives < 0.9).
// The max-abs bound allows the worst element a few times the RMS error.
// On cuDNN (the default) the convolutions run in bf16 NHWC with the same
// input rounding, plus one rounding of each result to bf16 (2^-9), and a
// second one where a value passes to the next cuDNN convolution in bf16
// NHWC: within the same bounds.
// Pooling, the residual sum and GELU are f32 on both sides.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cuda_lower/conv_graph.h"
#include "cuda_lower/cuda_module_test.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/passes/shape_inference.h"
#include "octet/runtime/module.h"
#include "quant/quant_test_util.h"

namespace octet {
namespace {

using testing::Add;
using testing::RandomTensor;

using testing::ConvNode;

// resnet's shapes in small: conv+bias+relu, conv (no bias) + x + relu,
// maxpool 3x3 s2 p1, GlobalAveragePool, Flatten, Gemm transB with C.
// With 8 channels every convolution takes im2col, with 32 cuDNN.
Model ResidualCnn(uint32_t seed, int64_t c = 8) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), c, 13, 11})));
  Value* r1 =
      Add(g, "Relu", {ConvNode(g, x, c, c, 3, 1, 1, true, "conv1", rng)->output(0)}, "r1", "relu1")
          ->output(0);
  Value* c2 = ConvNode(g, r1, c, c, 3, 1, 1, false, "conv2", rng)->output(0);
  Value* sum = Add(g, "Add", {c2, x}, "sum", "residual")->output(0);
  Value* r2 = Add(g, "Relu", {sum}, "r2", "relu2")->output(0);
  testing::AddClassifierHead(g, r2, c, 10, rng);
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

// Convolutions on cuDNN (16 channels) that share and branch: a -> b (graph
// output), a -> c, c -> d (graph output), c -> MaxPool (graph output). a is
// read only by cuDNN convolutions, so it passes in bf16 NHWC; c is also
// read by the pool, so it stays f32 NCHW.
Model BranchingCudnnCnn(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 16, 12, 10})));
  Value* a = Add(g, "Relu", {ConvNode(g, x, 16, 16, 3, 1, 1, true, "a", rng)->output(0)}, "a_relu",
                 "relu_a")
                 ->output(0);
  Value* b = ConvNode(g, a, 24, 16, 3, 1, 1, true, "b", rng)->output(0);
  Value* c = ConvNode(g, a, 16, 16, 1, 1, 0, false, "c", rng)->output(0);
  Value* d = ConvNode(g, c, 16, 16, 3, 2, 1, true, "d", rng)->output(0);
  Node* pool = Add(g, "MaxPool", {c}, "p", "pool");
  pool->SetAttr("kernel_shape", std::vector<int64_t>{2, 2});
  pool->SetAttr("strides", std::vector<int64_t>{2, 2});
  for (Value* v : {b, d, pool->output(0)}) g.AddOutput(v);
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

// Three residual blocks on cuDNN (16 channels), resnet's stage in small:
// a = relu(c1(x)), r1 = relu(c2(a) + x), t = relu(c3(r1)),
// r2 = relu(c4(t) + r1), u = relu(c5(r2)), r3 = relu(c6(u) + r2) (output).
// Every value but x and r3 is read only by cuDNN convolutions (as input or
// residual), so each passes in bf16 NHWC, and every epilogue but the
// plain one runs: an NCHW residual into NHWC (c2), NHWC into NHWC (c4),
// NHWC into the NCHW output (c6).
Model ResidualChainCnn(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 16, 9, 11})));
  auto block = [&](Value* in, const std::string& c_a, const std::string& c_b) {
    Value* a = Add(g, "Relu", {ConvNode(g, in, 16, 16, 3, 1, 1, true, c_a, rng)->output(0)},
                   c_a + "_relu", c_a + "_relu")
                   ->output(0);
    Value* sum = Add(g, "Add", {ConvNode(g, a, 16, 16, 3, 1, 1, true, c_b, rng)->output(0), in},
                     c_b + "_sum", c_b + "_add")
                     ->output(0);
    return Add(g, "Relu", {sum}, c_b + "_relu", c_b + "_relu")->output(0);
  };
  g.AddOutput(block(block(block(x, "c1", "c2"), "c3", "c4"), "c5", "c6"));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

// MatMul + bias + exact GELU, then MatMul + bias (a float MLP, as the bf16
// preset leaves every linear layer), at an odd hidden size.
Model FloatMlp(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 7, 40})));
  auto linear = [&](Value* in, int64_t k, int64_t n, const std::string& name) {
    Value* w = g.AddConstant(name + ".w", RandomTensor({k, n}, rng, 1.5f / std::sqrt(k)));
    Value* mm = Add(g, "MatMul", {in, w}, name + "_mm", name)->output(0);
    return Add(g, "Add", {mm, g.AddConstant(name + ".b", RandomTensor({n}, rng, 0.1f))},
               name + "_out", name + "_bias")
        ->output(0);
  };
  Value* h = linear(x, 40, 72, "lin1");
  Value* d = Add(g, "Div", {h, g.AddConstant("root2", Tensor::Scalar(1.4142135f))}, "d", "g_div")
                 ->output(0);
  Value* e = Add(g, "Erf", {d}, "e", "g_erf")->output(0);
  Value* e1 =
      Add(g, "Add", {e, g.AddConstant("one", Tensor::Scalar(1.f))}, "e1", "g_add")->output(0);
  Value* p = Add(g, "Mul", {h, e1}, "p", "g_mul")->output(0);
  Value* a =
      Add(g, "Mul", {p, g.AddConstant("half", Tensor::Scalar(0.5f))}, "a", "g_half")->output(0);
  g.AddOutput(linear(a, 72, 24, "lin2"));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

// SAM's patch embedding (16x16 stride 16, 3 channels) and neck (1x1, then
// 3x3 pad 1, no bias), a depthwise 3x3 and an AveragePool (ceil_mode,
// count_include_pad 0).
Model SamLikeConvs(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 3, 64, 80})));
  Value* p = ConvNode(g, x, 48, 3, 16, 16, 0, true, "patch", rng)->output(0);
  Value* n1 = ConvNode(g, p, 32, 48, 1, 1, 0, false, "neck1", rng)->output(0);
  Value* n2 = ConvNode(g, n1, 32, 32, 3, 1, 1, false, "neck2", rng)->output(0);
  Node* dw = Add(g, "Conv",
                 {n2, g.AddConstant("dw.w", RandomTensor({32, 1, 3, 3}, rng, 0.5f)),
                  g.AddConstant("dw.b", RandomTensor({32}, rng, 0.1f))},
                 "dw_out", "depthwise");
  dw->SetAttr("group", int64_t{32});
  dw->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  Node* avg = Add(g, "AveragePool", {dw->output(0)}, "y", "avg");
  avg->SetAttr("kernel_shape", std::vector<int64_t>{2, 2});
  avg->SetAttr("strides", std::vector<int64_t>{2, 2});
  avg->SetAttr("ceil_mode", int64_t{1});
  g.AddOutput(avg->output(0));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

// MatMuls of two activations: batched with the same batch, then with a
// shared (rank-2) right operand.
Model ActivationMatMuls() {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* a = g.AddInput("a", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 4, 9, 24})));
  Value* b = g.AddInput("b", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 4, 24, 10})));
  Value* c = g.AddInput("c", TensorType(DType::kF32, Shape::FromStatic({10, 6})));
  Value* ab = Add(g, "MatMul", {a, b}, "ab", "mm_ab")->output(0);
  g.AddOutput(Add(g, "MatMul", {ab, c}, "abc", "mm_abc")->output(0));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

std::vector<std::string> Kernels(const ModuleDesc& d) {
  std::vector<std::string> kernels;
  for (const ModuleOp& op : d.ops) kernels.push_back(op.kernel);
  return kernels;
}

CompileOptions Options(CompileOptions::CudaConv conv) {
  CompileOptions options;
  options.cuda_conv = conv;
  return options;
}
constexpr CompileOptions::CudaConv kIm2col = CompileOptions::CudaConv::kIm2colBf16;

class LowerConvTest : public testing::CudaModuleTest {
 protected:
  // The cuda module against the reference module at several batches.
  void CompareOnGpu(const Model& model, const std::string& out,
                    CompileOptions::CudaConv conv = CompileOptions::CudaConv::kCudnn) {
    auto module = LoadOrSkip(Write(CompileForCuda(model.Clone(), Options(conv)), "cuda.octet"));
    if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
    auto reference = runtime::Module::Load(Write(CompileForReference(model.Clone()), "ref.octet"));
    ASSERT_TRUE(reference.ok()) << reference.status().ToString();
    auto session = runtime::Session::Create(module);
    auto ref_session = runtime::Session::Create(*reference, {1});
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    ASSERT_TRUE(ref_session.ok());
    for (int64_t batch : {1, 3, 2, 3}) {
      auto inputs = (*reference)->MakeRandomInputs(std::random_device{}(), batch);
      ASSERT_TRUE(inputs.ok());
      auto got = (*session)->Run(*inputs);
      auto want = (*ref_session)->Run(*inputs);
      ASSERT_TRUE(got.ok()) << got.status().ToString();
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      const Tensor &y = got->at(out), &r = want->at(out);
      ASSERT_EQ(y.dims(), r.dims());
      const double cosine = testing::Cosine(y, r);
      double max_err = 0, max_ref = 0;
      for (int64_t i = 0; i < y.numel(); ++i) {
        max_err = std::max(max_err, double{std::fabs(y.data<float>()[i] - r.data<float>()[i])});
        max_ref = std::max(max_ref, double{std::fabs(r.data<float>()[i])});
      }
      EXPECT_GE(cosine, 0.999) << "batch " << batch;
      EXPECT_LE(max_err, std::ldexp(max_ref, -5)) << "batch " << batch;
      std::printf("batch %lld: cosine %.7f, max |err| %.3g (max |ref| %.3g)%s\n",
                  static_cast<long long>(batch), cosine, max_err, max_ref,
                  (*session)->last_device_run()->graph_replayed ? " (graph)" : "");
    }
  }
};

TEST_F(LowerConvTest, ResidualCnnBecomesFusedDeviceOps) {
  auto cuda = CompileForCuda(ResidualCnn(1), Options(kIm2col));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  EXPECT_EQ(Kernels(d),
            (std::vector<std::string>{"cuda.conv2d_bf16", "cuda.conv2d_bf16", "cuda.max_pool",
                                      "cuda.global_average_pool", "cuda.linear_bf16"}));
  EXPECT_EQ(d.metadata.at("cuda.conv2d_bf16"), "2");
  EXPECT_EQ(d.metadata.at("cuda.linear_bf16"), "1");
  const ModuleOp &conv1 = d.ops[0], &conv2 = d.ops[1], &fc = d.ops[4];
  EXPECT_EQ(*conv1.Get<int64_t>("relu"), 1);
  EXPECT_EQ(*conv1.Get<int64_t>("bias_rows"), 2);
  EXPECT_EQ(conv1.inputs[2], -1);
  // Weights bf16 [O, rows]: 8 * 9 taps + 2 bias rows, padded to 80.
  EXPECT_EQ(d.slots[conv1.inputs[1]].dtype, DType::kBF16);
  EXPECT_EQ(d.slots[conv1.inputs[1]].shape, Shape({8, 80}));
  EXPECT_EQ(d.slots[conv1.outputs[1]].shape, Shape({Dim::Symbol("N"), 80, 13, 11}));
  // conv2 takes the residual (the graph input) and the relu; no bias rows.
  EXPECT_EQ(d.slots[conv2.inputs[2]].name, "x");
  EXPECT_EQ(*conv2.Get<int64_t>("relu"), 1);
  EXPECT_EQ(*conv2.Get<int64_t>("bias_rows"), 0);
  EXPECT_EQ(d.slots[conv2.inputs[1]].shape, Shape({8, 72}));
  // The Gemm reads the pooled tensor itself (the Flatten is a view).
  EXPECT_EQ(d.slots[fc.inputs[0]].name, "gap");
  EXPECT_EQ(d.slots[fc.inputs[1]].shape, Shape({10, 8}));
  EXPECT_EQ(*fc.Get<std::string>("activation"), "none");
  EXPECT_EQ(d.slots[fc.outputs[0]].kind, SlotKind::kOutput);
}

// With 32 channels the convolutions run on cuDNN (bf16 NHWC weights
// [O, kh, kw, C]); the residual sum and relu are the op's own, and the
// module requires cuDNN. conv1's output, read only by conv2 as its input,
// passes between them in bf16 NHWC: conv1 converts x (scratch) and writes y
// NHWC; conv2 reads it as is and converts its own result (scratch) to f32
// NCHW.
TEST_F(LowerConvTest, WideResidualCnnRunsOnCudnn) {
  auto cuda = CompileForCuda(ResidualCnn(1, 32));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  EXPECT_EQ(Kernels(d),
            (std::vector<std::string>{"cuda.conv2d_cudnn", "cuda.conv2d_cudnn", "cuda.max_pool",
                                      "cuda.global_average_pool", "cuda.linear_bf16"}));
  EXPECT_EQ(d.metadata.at("cuda.conv2d_cudnn"), "2");
  EXPECT_EQ(d.requirements.at("cudnn"), "9");
  const ModuleOp &conv1 = d.ops[0], &conv2 = d.ops[1];
  EXPECT_EQ(d.slots[conv1.inputs[1]].dtype, DType::kBF16);
  EXPECT_EQ(d.slots[conv1.inputs[1]].shape, Shape({32, 3, 3, 32}));
  EXPECT_EQ(d.slots[conv1.inputs[2]].shape, Shape({32}));
  EXPECT_EQ(conv1.inputs[3], -1);
  EXPECT_EQ(*conv1.Get<int64_t>("relu"), 1);
  EXPECT_EQ(*conv1.Get<std::string>("x_layout"), "nchw_f32");
  EXPECT_EQ(*conv1.Get<std::string>("y_layout"), "nhwc_bf16");
  ASSERT_EQ(conv1.outputs.size(), 3u);  // y, x in NHWC, workspace
  EXPECT_EQ(d.slots[conv1.outputs[0]].dtype, DType::kBF16);
  EXPECT_EQ(d.slots[conv1.outputs[0]].shape, Shape({Dim::Symbol("N"), 13, 11, 32}));
  EXPECT_EQ(d.slots[conv1.outputs[1]].shape, Shape({Dim::Symbol("N"), 13, 11, 32}));
  EXPECT_EQ(d.slots[conv1.outputs[2]].shape, Shape({int64_t{16} << 20}));
  EXPECT_TRUE(conv1.inplace.empty());
  EXPECT_EQ(conv2.inputs[0], conv1.outputs[0]);
  EXPECT_EQ(conv2.inputs[2], -1);  // no bias
  EXPECT_EQ(d.slots[conv2.inputs[3]].name, "x");
  EXPECT_EQ(*conv2.Get<int64_t>("relu"), 1);
  EXPECT_EQ(*conv2.Get<std::string>("x_layout"), "nhwc_bf16");
  EXPECT_EQ(*conv2.Get<std::string>("y_layout"), "nchw_f32");
  ASSERT_EQ(conv2.outputs.size(), 3u);  // y, its NHWC convolution, workspace
  EXPECT_EQ(d.slots[conv2.outputs[0]].dtype, DType::kF32);
  EXPECT_EQ(d.slots[conv2.outputs[1]].shape, Shape({Dim::Symbol("N"), 13, 11, 32}));
  EXPECT_EQ(conv2.inplace, (std::vector<std::pair<int32_t, int32_t>>{{0, 3}}));
  // --cuda-conv im2col keeps them off cuDNN.
  auto im2col = CompileForCuda(ResidualCnn(1, 32), Options(kIm2col));
  ASSERT_TRUE(im2col.ok()) << im2col.status().ToString();
  EXPECT_EQ(im2col->desc.ops[0].kernel, "cuda.conv2d_bf16");
  EXPECT_EQ(im2col->desc.requirements.count("cudnn"), 0u);
}

TEST_F(LowerConvTest, CudnnConvolutionsPassBf16NhwcWhereOnlyTheyRead) {
  auto cuda = CompileForCuda(BranchingCudnnCnn(3));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  ASSERT_EQ(Kernels(d),
            (std::vector<std::string>{"cuda.conv2d_cudnn", "cuda.conv2d_cudnn", "cuda.conv2d_cudnn",
                                      "cuda.conv2d_cudnn", "cuda.max_pool"}));
  auto layouts = [&](const ModuleOp& op) {
    return *op.Get<std::string>("x_layout") + " -> " + *op.Get<std::string>("y_layout");
  };
  const ModuleOp &a = d.ops[0], &b = d.ops[1], &c = d.ops[2], &conv_d = d.ops[3];
  EXPECT_EQ(layouts(a), "nchw_f32 -> nhwc_bf16");
  EXPECT_EQ(layouts(b), "nhwc_bf16 -> nchw_f32");
  EXPECT_EQ(layouts(c), "nhwc_bf16 -> nchw_f32");
  EXPECT_EQ(layouts(conv_d), "nchw_f32 -> nchw_f32");
  EXPECT_EQ(b.inputs[0], a.outputs[0]);
  EXPECT_EQ(c.inputs[0], a.outputs[0]);
  EXPECT_EQ(d.slots[a.outputs[0]].dtype, DType::kBF16);
  EXPECT_EQ(d.slots[a.outputs[0]].shape, Shape({Dim::Symbol("N"), 12, 10, 16}));
  EXPECT_EQ(a.outputs.size(), 3u);       // y, x in NHWC, workspace
  EXPECT_EQ(b.outputs.size(), 3u);       // y, its NHWC convolution, workspace
  EXPECT_EQ(conv_d.outputs.size(), 4u);  // y, x and y in NHWC, workspace
  EXPECT_EQ(d.slots[conv_d.inputs[0]].dtype, DType::kF32);
  EXPECT_EQ(d.slots[d.ops[4].inputs[0]].dtype, DType::kF32);
}

TEST_F(LowerConvTest, ResidualBlocksPassBf16NhwcWithTheirResiduals) {
  auto cuda = CompileForCuda(ResidualChainCnn(5));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  ASSERT_EQ(d.ops.size(), 6u);
  auto layouts = [&](const ModuleOp& op) {
    return *op.Get<std::string>("x_layout") + " + " + *op.Get<std::string>("residual_layout") +
           " -> " + *op.Get<std::string>("y_layout");
  };
  EXPECT_EQ(layouts(d.ops[0]), "nchw_f32 + nchw_f32 -> nhwc_bf16");    // c1, no residual
  EXPECT_EQ(layouts(d.ops[1]), "nhwc_bf16 + nchw_f32 -> nhwc_bf16");   // c2, + x
  EXPECT_EQ(layouts(d.ops[2]), "nhwc_bf16 + nchw_f32 -> nhwc_bf16");   // c3, no residual
  EXPECT_EQ(layouts(d.ops[3]), "nhwc_bf16 + nhwc_bf16 -> nhwc_bf16");  // c4, + r1
  EXPECT_EQ(layouts(d.ops[5]), "nhwc_bf16 + nhwc_bf16 -> nchw_f32");   // c6, + r2, the output
  EXPECT_EQ(d.ops[3].inputs[3], d.ops[1].outputs[0]);                  // r1, NHWC
  EXPECT_EQ(d.slots[d.ops[1].inputs[3]].name, "x");
  // An NHWC y is cuDNN's own output: never in the residual's place; the
  // NCHW output may not take an NHWC residual's either.
  for (const ModuleOp& op : d.ops) EXPECT_TRUE(op.inplace.empty()) << op.name;
  EXPECT_EQ(d.slots[d.ops[5].outputs[0]].dtype, DType::kF32);
}

// A module whose layout attributes the loader cannot honour is refused at
// load, naming the op and the attribute (checked where a GPU can load it).
TEST_F(LowerConvTest, CudnnLayoutAttributesAreCheckedAtLoad) {
  auto cuda = CompileForCuda(ResidualChainCnn(5));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  if (LoadOrSkip(Write(*cuda, "ok.octet")) == nullptr) GTEST_SKIP() << "no cuda runtime or GPU";
  auto with = [&](int op, const std::string& attr, const std::string& value) {
    CompiledModule m = *cuda;
    for (ModuleAttr& a : m.desc.ops[op].attrs)
      if (a.name == attr) a.value = value;
    return runtime::Module::Load(Write(m, attr + value + ".octet")).status();
  };
  const Status bad_name = with(0, "x_layout", "nhwc_f16");
  EXPECT_EQ(bad_name.code(), StatusCode::kInvalidArgument) << bad_name.ToString();
  EXPECT_NE(bad_name.message().find("x_layout must be nchw_f32 or nhwc_bf16, got 'nhwc_f16'"),
            std::string::npos)
      << bad_name.ToString();
  // c2's y is NHWC: it cannot take its residual's place.
  CompiledModule inplace = *cuda;
  inplace.desc.ops[1].inplace = {{0, 3}};
  const Status shared = runtime::Module::Load(Write(inplace, "inplace.octet")).status();
  EXPECT_NE(shared.message().find("cannot take the residual's place"), std::string::npos)
      << shared.ToString();
  // A layout that does not match the slots: c3 told its input is f32 NCHW.
  const Status mismatch = with(2, "x_layout", "nchw_f32");
  EXPECT_FALSE(mismatch.ok());
}

TEST_F(LowerConvTest, ResidualChainCnnOnGpuMatchesReference) {
  CompareOnGpu(ResidualChainCnn(6), "c6_relu");
}

TEST_F(LowerConvTest, BranchingCudnnCnnOnGpuMatchesReference) {
  for (const char* out : {"b_out", "d_out", "p"}) {
    SCOPED_TRACE(out);
    CompareOnGpu(BranchingCudnnCnn(4), out);
  }
}

// cuDNN's descriptor has one pad per axis: asymmetric pads take im2col; so
// does a strided 1x1 (resnet's downsample, measured faster as im2col); a
// module with no cuDNN op does not require it.
TEST_F(LowerConvTest, AsymmetricPadsAndStridedPointwiseTakeIm2col) {
  std::mt19937 rng(8);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 16, 9, 9})));
  Node* conv = ConvNode(g, x, 16, 16, 3, 1, 1, true, "asym", rng);
  conv->SetAttr("pads", std::vector<int64_t>{0, 0, 1, 1});
  g.AddOutput(ConvNode(g, conv->output(0), 32, 16, 1, 2, 0, true, "down", rng)->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(std::move(m));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  EXPECT_EQ(Kernels(cuda->desc),
            (std::vector<std::string>{"cuda.conv2d_bf16", "cuda.conv2d_bf16"}));
  EXPECT_EQ(cuda->desc.requirements.count("cudnn"), 0u);
}

TEST_F(LowerConvTest, FloatMlpBecomesTwoLinearOps) {
  auto cuda = CompileForCuda(FloatMlp(2));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  EXPECT_EQ(Kernels(d), (std::vector<std::string>{"cuda.linear_bf16", "cuda.linear_bf16"}));
  EXPECT_EQ(*d.ops[0].Get<std::string>("activation"), "gelu_erf");
  EXPECT_EQ(*d.ops[1].Get<std::string>("activation"), "none");
  EXPECT_EQ(d.slots[d.ops[0].inputs[1]].shape, Shape({72, 40}));  // [N, K]
  EXPECT_GE(d.ops[0].inputs[2], 0);
  EXPECT_EQ(d.slots[d.ops[0].outputs[1]].dtype, DType::kBF16);
}

TEST_F(LowerConvTest, SamLikeConvsLowerAndDepthwiseIsDirect) {
  auto cuda = CompileForCuda(SamLikeConvs(3), Options(kIm2col));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  EXPECT_EQ(Kernels(cuda->desc),
            (std::vector<std::string>{"cuda.conv2d_bf16", "cuda.conv2d_bf16", "cuda.conv2d_bf16",
                                      "cuda.grouped_conv2d", "cuda.average_pool"}));
  EXPECT_EQ(*cuda->desc.ops[3].Get<int64_t>("group"), 32);
  EXPECT_EQ(*cuda->desc.ops[4].Get<int64_t>("count_include_pad"), 0);
}

// SAM's neck (48 and 32 channels) runs on cuDNN; the 3-channel patch
// embedding and the depthwise convolution do not.
TEST_F(LowerConvTest, SamLikeNeckRunsOnCudnn) {
  auto cuda = CompileForCuda(SamLikeConvs(3));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  EXPECT_EQ(Kernels(cuda->desc),
            (std::vector<std::string>{"cuda.conv2d_bf16", "cuda.conv2d_cudnn", "cuda.conv2d_cudnn",
                                      "cuda.grouped_conv2d", "cuda.average_pool"}));
}

TEST_F(LowerConvTest, ActivationMatMulsAreBatchedGemms) {
  auto cuda = CompileForCuda(ActivationMatMuls());
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  EXPECT_EQ(Kernels(cuda->desc),
            (std::vector<std::string>{"cuda.batched_matmul_bf16", "cuda.batched_matmul_bf16"}));
  EXPECT_EQ(cuda->desc.slots[cuda->desc.ops[0].outputs[1]].dtype, DType::kBF16);
  // Mixed broadcasting (each operand expanded along another dim) is refused.
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* a = g.AddInput("a", TensorType(DType::kF32, Shape::FromStatic({2, 1, 5, 6})));
  Value* b = g.AddInput("b", TensorType(DType::kF32, Shape::FromStatic({1, 3, 6, 7})));
  g.AddOutput(Add(g, "MatMul", {a, b}, "y", "mixed")->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto refused = CompileForCuda(std::move(m));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("mixed (MatMul): cuda.batched_matmul_bf16 broadcasts"),
            std::string::npos)
      << refused.status().ToString();
}

TEST_F(LowerConvTest, UnsupportedFormsSayWhy) {
  std::mt19937 rng(4);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({2, 4, 8, 8})));
  Node* same = Add(g, "Conv", {x, g.AddConstant("same.w", RandomTensor({4, 4, 3, 3}, rng))}, "s",
                   "same_conv");
  same->SetAttr("auto_pad", std::string("SAME_UPPER"));
  Value* gap = Add(g, "GlobalAveragePool", {same->output(0)}, "gap", "gap")->output(0);
  Value* flat = Add(g, "Flatten", {gap}, "flat", "flatten")->output(0);
  Node* fc = Add(g, "Gemm", {g.AddConstant("a", RandomTensor({2, 2}, rng)), flat}, "y", "const_a");
  fc->SetAttr("transA", int64_t{1});
  g.AddOutput(fc->output(0));
  (void)InferShapes(g);
  auto cuda = CompileForCuda(std::move(m));
  ASSERT_FALSE(cuda.ok());
  const std::string msg = cuda.status().ToString();
  for (const char* want : {"same_conv (Conv): cuda.conv2d takes explicit pads", "const_a (Gemm)"})
    EXPECT_NE(msg.find(want), std::string::npos) << want << " not in: " << msg;
}

TEST_F(LowerConvTest, ResidualCnnOnGpuMatchesReference) { CompareOnGpu(ResidualCnn(5), "logits"); }
TEST_F(LowerConvTest, WideResidualCnnOnGpuMatchesReference) {
  CompareOnGpu(ResidualCnn(5, 32), "logits");
}
TEST_F(LowerConvTest, WideResidualCnnIm2colOnGpuMatchesReference) {
  CompareOnGpu(ResidualCnn(5, 32), "logits", kIm2col);
}
TEST_F(LowerConvTest, SamLikeConvsIm2colOnGpuMatchReference) {
  CompareOnGpu(SamLikeConvs(7), "y", kIm2col);
}
TEST_F(LowerConvTest, FloatMlpOnGpuMatchesReference) { CompareOnGpu(FloatMlp(6), "lin2_out"); }
TEST_F(LowerConvTest, SamLikeConvsOnGpuMatchReference) { CompareOnGpu(SamLikeConvs(7), "y"); }
TEST_F(LowerConvTest, ActivationMatMulsOnGpuMatchReference) {
  CompareOnGpu(ActivationMatMuls(), "abc");
}

}  // namespace
}  // namespace octet
