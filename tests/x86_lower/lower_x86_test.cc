// The x86 lowering end to end: a float model quantized by Octet's quantizer
// (x86-int8 preset), compiled for x86 and for reference, both run by the
// runtime. The x86 module must run the quantized convolutions on oneDNN
// (x86.int8_conv ops) and agree with the reference module's QDQ execution.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "memory_source.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/onnx.h"
#include "octet/passes/shape_inference.h"
#include "octet/runtime/module.h"
#include "octet/runtime/prepack.h"
#include "octet/runtime/quantize.h"
#include "octet/x86/cpu_info.h"
#include "process_stats.h"
#include "quant/quant_test_util.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

// QDQ model from the x86-int8 preset, calibrated on `samples` random samples
// of `sample_dims` (activations 7-bit when reduce_range).
Model Quantize(Model float_model, const std::vector<int64_t>& sample_dims, bool reduce_range,
               int samples = 16) {
  auto config = quant::MakePreset("x86-int8");
  EXPECT_TRUE(config.ok());
  config->activation->reduce_range = reduce_range;
  auto prepared = PrepareForQuantization(std::move(float_model), *config);
  EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
  std::mt19937 rng(5);
  std::vector<Tensor> data;
  for (int i = 0; i < samples; ++i) data.push_back(testing::RandomTensor(sample_dims, rng));
  auto stats = Calibrate(*prepared, testing::MemorySource(std::move(data)), CalibrationRun{});
  EXPECT_TRUE(stats.ok()) << stats.status().ToString();
  auto qdq = ConvertToQuantized(*prepared, *stats);
  EXPECT_TRUE(qdq.ok()) << qdq.status().ToString();
  return std::move(*qdq);
}

class LowerX86Test : public testing::ModuleFolderTest {
 protected:
  static int CountKernel(const ModuleDesc& d, const std::string& kernel) {
    int n = 0;
    for (const ModuleOp& op : d.ops) n += op.kernel == kernel;
    return n;
  }

  // Compiles `qdq` for both targets and compares every output at each batch.
  // Returns the number of x86.int8_conv ops.
  int CompareWithReference(const Model& qdq, const std::vector<int64_t>& batches) {
    CompileOptions options;
    options.reduce_range = true;
    auto x86 = CompileForX86(qdq.Clone(), options);
    const std::string x86_path = Write(x86, "x86.octet");
    const std::string ref_path = Write(CompileForReference(qdq.Clone()), "ref.octet");
    EXPECT_EQ(x86->desc.target, "x86");
    EXPECT_EQ(x86->desc.requirements.at("reduce_range"), "1");
    const int convs = CountKernel(x86->desc, "x86.int8_conv");
    EXPECT_EQ(x86->desc.metadata.at("x86.int8_conv"), std::to_string(convs));
    EXPECT_EQ(x86->desc.metadata.at("x86.int8_matmul"),
              std::to_string(CountKernel(x86->desc, "x86.int8_matmul")));
    matmuls_ = CountKernel(x86->desc, "x86.int8_matmul");
    auto xm = runtime::Module::Load(x86_path);
    auto rm = runtime::Module::Load(ref_path);
    EXPECT_TRUE(xm.ok()) << xm.status().ToString();
    EXPECT_TRUE(rm.ok()) << rm.status().ToString();
    if (!xm.ok() || !rm.ok()) return convs;
    auto xs = runtime::Session::Create(*xm, {1});
    auto rs = runtime::Session::Create(*rm, {1});
    int64_t arena_at_1 = 0;
    for (int64_t batch : batches) {
      auto inputs = (*rm)->MakeRandomInputs(11 + batch, batch);
      EXPECT_TRUE(inputs.ok());
      auto xo = (*xs)->Run(*inputs);
      auto ro = (*rs)->Run(*inputs);
      EXPECT_TRUE(xo.ok()) << xo.status().ToString();
      // Every batch runs in an arena: the module's own plan at batch 1, one
      // planned for the batch otherwise (larger with the batch).
      // (A static batch stays 1.)
      const int64_t actual = inputs->begin()->second.dims()[0];
      const bool static_batch = !(*xm)->inputs()[0].shape.dims()[0].is_symbolic();
      EXPECT_EQ((*xs)->last_run_used_arena(), static_batch || actual == 1) << batch;
      if (actual == 1) arena_at_1 = (*xs)->last_run_arena_bytes();
      if (!static_batch && actual > 1 && arena_at_1 > 0) {
        EXPECT_GT((*xs)->last_run_arena_bytes(), arena_at_1);
      }
      EXPECT_TRUE(ro.ok()) << ro.status().ToString();
      if (!xo.ok() || !ro.ok()) continue;
      for (const auto& [name, r] : *ro) {
        const Tensor& x = xo->at(name);
        EXPECT_EQ(x.dims(), r.dims()) << name;
        if (x.dims() != r.dims() || r.dtype() != DType::kF32) continue;
        const double cos = testing::Cosine(x, r);
        // oneDNN accumulates exactly in int32 and rounds once; the reference
        // dequantizes and sums in f32. A requantized code can therefore differ
        // by one step (value near .5), for about 1% of codes per layer
        // (docs/x86-backend.md). A one-step error on 1% of a layer's codes is
        // a relative error of ~0.1 / sqrt(levels) in norm, far inside
        // cos >= 0.999 (relative error <= 4.5%); a wrong scale, zero point,
        // layout or bias instead gives cos well below 0.99.
        EXPECT_GE(cos, 0.999) << name << " batch " << batch;
        double max_diff = 0;
        for (int64_t i = 0; i < r.numel(); ++i)
          max_diff = std::max(max_diff, std::fabs(double{x.data<float>()[i]} - r.data<float>()[i]));
        std::printf("%s batch %lld: 1 - cosine %.3g, max |diff| %.3g\n", name.c_str(),
                    static_cast<long long>(batch), 1 - cos, max_diff);
      }
    }
    return convs;
  }

  int matmuls_ = 0;  // x86.int8_matmul ops of the last CompareWithReference
};

TEST_F(LowerX86Test, SmallCnnConvsRunOnOneDnnAndMatchReference) {
  Model qdq = Quantize(testing::SmallCnn(3), {3, 8, 8}, /*reduce_range=*/true);
  // SmallCnn has two Conv -> Relu, each quantized in and out.
  EXPECT_EQ(CompareWithReference(qdq, {1, 3}), 2);
  EXPECT_EQ(matmuls_, 1);  // the classifier Gemm (transB, f32 logits)
  // The absorbed Q/DQ nodes and Convs are gone; the rest stays reference.
  CompileOptions options;
  options.reduce_range = true;
  auto x86 = CompileForX86(qdq.Clone(), options);
  ASSERT_TRUE(x86.ok());
  for (const ModuleOp& op : x86->desc.ops) {
    EXPECT_NE(op.kernel, "ref.ai.onnx::Conv") << op.name;
    EXPECT_TRUE(op.kernel.rfind("ref.", 0) == 0 || op.kernel == "x86.int8_conv" ||
                op.kernel == "x86.int8_matmul" || op.kernel == "x86.int8_pool" ||
                op.kernel == "x86.convert")
        << op.kernel;
    EXPECT_NE(op.kernel, "ref.ai.onnx::MaxPool") << op.name;  // int8 pooling on NHWC codes
  }
  // The agreement above is the oneDNN kernel's doing: the same module with
  // one x86.int8_conv's output scale changed gives other outputs.
  ModuleDesc changed = x86->desc;
  for (ModuleOp& op : changed.ops)
    if (op.kernel == "x86.int8_conv")
      for (ModuleAttr& a : op.attrs)
        if (a.name == "y_scale") a.value = std::get<float>(a.value) * 1.5f;
  auto run = [&](const ModuleDesc& d, const std::string& name) {
    auto m = runtime::Module::Load(Write(CompiledModule{d, x86->weights}, name));
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    auto session = runtime::Session::Create(*m);
    auto in = (*m)->MakeRandomInputs(11, 1);
    auto out = (*session)->Run(*in);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out->at("logits");
  };
  EXPECT_LT(testing::Cosine(run(x86->desc, "a.octet"), run(changed, "b.octet")), 0.999);
}

// A ResNet in miniature: stem conv + max pool, an identity block and a
// downsampling block (both Conv + Add + Relu), global average pool, Flatten,
// Gemm.
Model TinyResnet(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 3, 12, 12})));
  int k = 0;
  auto conv = [&](Value* in, int64_t cin, int64_t cout, int64_t ksize, int64_t stride) {
    const std::string id = std::to_string(k++);
    Value* w = g.AddConstant("w" + id, testing::RandomTensor({cout, cin, ksize, ksize}, rng, 0.3f));
    Value* b = g.AddConstant("b" + id, testing::RandomTensor({cout}, rng, 0.1f));
    Node* c = testing::Add(g, "Conv", {in, w, b}, "c" + id, "conv" + id);
    const int64_t p = ksize / 2;
    c->SetAttr("pads", std::vector<int64_t>{p, p, p, p});
    c->SetAttr("strides", std::vector<int64_t>{stride, stride});
    return c->output(0);
  };
  auto relu = [&](Value* v) {
    return testing::Add(g, "Relu", {v}, v->name() + "_relu", v->name() + "_relu")->output(0);
  };
  Value* stem = relu(conv(x, 3, 8, 3, 1));
  Node* pool = testing::Add(g, "MaxPool", {stem}, "pool", "maxpool");
  pool->SetAttr("kernel_shape", std::vector<int64_t>{3, 3});
  pool->SetAttr("strides", std::vector<int64_t>{2, 2});
  pool->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  Value* p = pool->output(0);  // [N, 8, 6, 6]
  Value* a = relu(conv(p, 8, 8, 3, 1));
  Value* b = conv(a, 8, 8, 3, 1);
  Value* block1 = relu(testing::Add(g, "Add", {b, p}, "add1", "add1")->output(0));
  Value* c = relu(conv(block1, 8, 16, 3, 2));
  Value* d = conv(c, 16, 16, 3, 1);
  Value* down = conv(block1, 8, 16, 1, 2);
  Value* block2 = relu(testing::Add(g, "Add", {down, d}, "add2", "add2")->output(0));
  Value* gap = testing::Add(g, "GlobalAveragePool", {block2}, "gap", "gap")->output(0);
  Value* flat = testing::Add(g, "Flatten", {gap}, "flat", "flatten")->output(0);
  Value* wf = g.AddConstant("wf", testing::RandomTensor({5, 16}, rng, 0.3f));
  Node* fc = testing::Add(g, "Gemm", {flat, wf}, "logits", "fc");
  fc->SetAttr("transB", int64_t{1});
  g.AddOutput(fc->output(0));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

TEST_F(LowerX86Test, TinyResnetRunsEveryConvAndPoolInInt8Nhwc) {
  Model qdq = Quantize(TinyResnet(7), {3, 12, 12}, /*reduce_range=*/true, 24);
  // Also output the dequantized first block: a DequantizeLinear of NHWC codes
  // (x86.convert nhwc -> plain f32).
  for (Node* n : qdq.graph->nodes())
    if (n->op_type() == "DequantizeLinear" && n->input(0)->name() == "add1_relu/q")
      qdq.graph->AddOutput(n->output(0));
  ASSERT_EQ(qdq.graph->outputs().size(), 2u);
  // More batch sizes than a session keeps arena plans for, some repeated.
  EXPECT_EQ(CompareWithReference(qdq, {1, 3, 5, 3, 1, 2, 4, 6, 5, 1}),
            6);  // every conv, both residual sums fused
  EXPECT_EQ(matmuls_, 1);
  CompileOptions options;
  options.reduce_range = true;
  auto x86 = CompileForX86(qdq.Clone(), options);
  ASSERT_TRUE(x86.ok()) << x86.status().ToString();
  EXPECT_EQ(CountKernel(x86->desc, "x86.int8_pool"), 2);  // max pool and global average
  int sums = 0;
  for (const ModuleOp& op : x86->desc.ops) {
    // Nothing of the int8 path is left on reference kernels.
    EXPECT_TRUE(op.kernel.rfind("x86.", 0) == 0 || op.kernel == "ref.ai.onnx::Flatten")
        << op.kernel << " " << op.name;
    if (op.kernel == "x86.int8_conv" && op.inputs.size() == 5) {
      ++sums;
      EXPECT_EQ(op.inplace, (std::vector<std::pair<int32_t, int32_t>>{{0, 4}}));
    }
  }
  EXPECT_EQ(sums, 2);
  // The Flatten runs on the codes: the Gemm reads them without a dequantize.
  for (const ModuleOp& op : x86->desc.ops) {
    if (op.kernel == "ref.ai.onnx::Flatten") {
      EXPECT_EQ(x86->desc.slots[op.outputs[0]].dtype, DType::kU8);
    }
  }
}

// int8-dynamic: each MatMul (+ bias Add) with its per-token quantization
// subgraph becomes one x86.dynamic_int8_matmul; the module agrees with the
// reference execution of the QDQ graph. (Both quantize the same rows the same
// way; products are exact in int8 and differ from f32 only by rounding, and on
// CPUs without VNNI the op multiplies the same dequantized values in f32.)
TEST_F(LowerX86Test, DynamicPerTokenMatMuls) {
  auto config = quant::MakePreset("int8-dynamic");
  ASSERT_TRUE(config.ok());
  auto prepared = PrepareForQuantization(testing::SmallMlp(4), *config);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  auto qdq = ConvertToQuantized(*prepared, CalibrationStats{});
  ASSERT_TRUE(qdq.ok()) << qdq.status().ToString();
  CompareWithReference(*qdq, {1});
  auto x86 = CompileForX86(qdq->Clone());
  ASSERT_TRUE(x86.ok()) << x86.status().ToString();
  EXPECT_EQ(CountKernel(x86->desc, "x86.dynamic_int8_matmul"), 2);
  EXPECT_EQ(x86->desc.metadata.at("x86.dynamic_int8_matmul"), "2");
  for (const ModuleOp& op : x86->desc.ops) {
    // The per-token subgraph and the bias Add are absorbed.
    EXPECT_NE(op.kernel, "ref.ai.onnx::ReduceMax") << op.name;
    EXPECT_NE(op.kernel, "ref.ai.onnx::QuantizeLinear") << op.name;
    EXPECT_NE(op.kernel, "ref.ai.onnx::MatMul") << op.name;
  }
}

// --prepack: the packed copies are what the kernels use at load (the module
// computes the same with its plain weights zeroed), and a copy whose layout
// fingerprint does not match this CPU is ignored for the plain weights.
TEST_F(LowerX86Test, PrepackedWeightsAreUsedInPlace) {
  Model qdq = Quantize(TinyResnet(9), {3, 12, 12}, /*reduce_range=*/true, 16);
  CompileOptions options;
  options.reduce_range = true;
  auto plain = CompileForX86(qdq.Clone(), options);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  auto packed = CompileForX86(qdq.Clone(), options);
  ASSERT_TRUE(packed.ok());
  auto report = runtime::PrepackX86Weights(&*packed);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->ops_packed, 7);  // 6 convolutions and the classifier
  EXPECT_GT(report->bytes, 0);
  // Packing twice adds nothing.
  auto again = runtime::PrepackX86Weights(&*packed);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ops_packed, 0);

  auto run = [&](const CompiledModule& m, const std::string& name) {
    auto module = runtime::Module::Load(Write(m, name));
    EXPECT_TRUE(module.ok()) << module.status().ToString();
    auto session = runtime::Session::Create(*module, {1});
    auto inputs = (*module)->MakeRandomInputs(5, 3);
    auto out = (*session)->Run(*inputs);
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    return out.ok() ? out->begin()->second : Tensor();
  };
  const Tensor want = run(*plain, "plain.octet");
  // Zero the plain weights of every packed op: only the packed copies remain.
  CompiledModule zeroed = *packed;
  for (const ModuleOp& op : zeroed.desc.ops)
    if (op.FindAttr("prepacked_slot") != nullptr) {
      auto& bytes = zeroed.weights[zeroed.desc.slots[op.inputs[1]].weight_section].bytes;
      std::fill(bytes.begin(), bytes.end(), uint8_t{0});
    }
  EXPECT_TRUE(run(zeroed, "zeroed.octet").BitwiseEquals(want));
  // A fingerprint from another CPU: the packed copy is ignored.
  CompiledModule foreign = *packed;
  for (ModuleOp& op : foreign.desc.ops)
    for (ModuleAttr& a : op.attrs)
      if (a.name == "prepacked_layout") a.value = std::string("onednn 3.2.0 isa 999 elsewhere");
  EXPECT_TRUE(run(foreign, "foreign.octet").BitwiseEquals(want));
}

// Transformer MLP: x -> Linear -> GELU (exported as Div/Erf/Add/Mul/Mul) ->
// Linear -> + x. Both linears run per-token int8 with the GELU and the
// residual sum in their oneDNN epilogues: nothing of the block is left on
// reference kernels.
Model MlpBlock(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({2, 7, 32})));
  auto scalar = [&](const char* name, float v) { return g.AddConstant(name, Tensor::Scalar(v)); };
  // MatMul(x, w [K, N]) + b [N], as torch.nn.Linear exports.
  auto linear = [&](Value* in, int64_t k, int64_t n, const std::string& name) {
    Value* w = g.AddConstant(name + ".w", testing::RandomTensor({k, n}, rng, 0.2f));
    Value* b = g.AddConstant(name + ".b", testing::RandomTensor({n}, rng, 0.1f));
    Value* mm = testing::Add(g, "MatMul", {in, w}, name + "_mm", name)->output(0);
    return testing::Add(g, "Add", {b, mm}, name + "_out", name + "_bias")->output(0);
  };
  Value* hb = linear(x, 32, 64, "lin1");
  Value* d = testing::Add(g, "Div", {hb, scalar("root2", 1.4142135f)}, "d", "gelu_div")->output(0);
  Value* e = testing::Add(g, "Erf", {d}, "e", "gelu_erf")->output(0);
  Value* e1 = testing::Add(g, "Add", {e, scalar("one", 1.f)}, "e1", "gelu_add")->output(0);
  Value* p = testing::Add(g, "Mul", {hb, e1}, "p", "gelu_mul")->output(0);
  Value* a = testing::Add(g, "Mul", {p, scalar("half", 0.5f)}, "a", "gelu_half")->output(0);
  Value* yb = linear(a, 64, 32, "lin2");
  Value* out = testing::Add(g, "Add", {x, yb}, "out", "residual")->output(0);
  g.AddOutput(out);
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

TEST_F(LowerX86Test, MlpGeluAndResidualFuseIntoDynamicMatMuls) {
  auto config = quant::MakePreset("int8-dynamic");
  ASSERT_TRUE(config.ok());
  auto prepared = PrepareForQuantization(MlpBlock(8), *config);
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  auto qdq = ConvertToQuantized(*prepared, CalibrationStats{});
  ASSERT_TRUE(qdq.ok()) << qdq.status().ToString();
  CompareWithReference(*qdq, {1});
  auto x86 = CompileForX86(qdq->Clone());
  ASSERT_TRUE(x86.ok()) << x86.status().ToString();
  ASSERT_EQ(x86->desc.ops.size(), 2u);
  const ModuleOp &lin1 = x86->desc.ops[0], &lin2 = x86->desc.ops[1];
  EXPECT_EQ(lin1.kernel, "x86.dynamic_int8_matmul");
  EXPECT_EQ(lin2.kernel, "x86.dynamic_int8_matmul");
  EXPECT_EQ(*lin1.Get<std::string>("activation"), "gelu_erf");
  EXPECT_EQ(lin1.inputs.size(), 4u);  // no residual
  EXPECT_EQ(*lin2.Get<std::string>("activation"), "none");
  ASSERT_EQ(lin2.inputs.size(), 5u);  // x as the residual, summed in place
  EXPECT_EQ(x86->desc.slots[lin2.inputs[4]].name, "x");
}

// One x86 module, 8 threads with a session each, batches 1 and 3 mixed (so
// the per-shape primitive caches and arena plans are hit concurrently):
// every output bit-identical to a single-threaded run, and after a warm-up
// 8 x 400 more runs add no memory beyond a few pages per thread.
TEST_F(LowerX86Test, EightThreadsThousandsOfCheckedRunsNoGrowth) {
  Model qdq = Quantize(TinyResnet(9), {3, 12, 12}, /*reduce_range=*/true, 16);
  CompileOptions options;
  options.reduce_range = true;
  auto module = runtime::Module::Load(Write(CompileForX86(qdq.Clone(), options), "m.octet"));
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  std::vector<std::map<std::string, Tensor>> inputs;
  std::vector<Tensor> expected;
  {
    auto session = runtime::Session::Create(*module, {1});
    ASSERT_TRUE(session.ok());
    for (int i = 0; i < 6; ++i) {
      auto in = (*module)->MakeRandomInputs(100 + i, i % 2 == 0 ? 1 : 3);
      ASSERT_TRUE(in.ok());
      auto out = (*session)->Run(*in);
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      inputs.push_back(*in);
      expected.push_back(out->at("logits"));
    }
  }
  std::vector<std::unique_ptr<runtime::Session>> sessions;
  for (int t = 0; t < 8; ++t) {
    auto s = runtime::Session::Create(*module, {1});
    ASSERT_TRUE(s.ok());
    sessions.push_back(std::move(*s));
  }
  auto round = [&](int runs) {
    std::atomic<int> bad{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
      threads.emplace_back([&, t] {
        for (int r = 0; r < runs; ++r) {
          const size_t i = static_cast<size_t>(t + r) % inputs.size();
          auto out = sessions[t]->Run(inputs[i]);
          if (!out.ok() || !out->at("logits").BitwiseEquals(expected[i])) ++bad;
        }
      });
    for (auto& th : threads) th.join();
    return bad.load();
  };
  ASSERT_EQ(round(50), 0);
  const int64_t before = testing::ResidentBytes();
  ASSERT_EQ(round(400), 0);
  const int64_t growth = testing::ResidentBytes() - before;
  std::printf("[ x86 ] 3200 runs on 8 threads: RSS growth %lld kB\n",
              static_cast<long long>(growth / 1024));
  EXPECT_LT(growth, int64_t{4} << 20);
}

TEST_F(LowerX86Test, FullRangeModuleIsRefusedWithoutVnni) {
  Model qdq = Quantize(testing::SmallCnn(3), {3, 8, 8}, /*reduce_range=*/false);
  auto x86 = CompileForX86(qdq.Clone());  // reduce_range not recorded
  ASSERT_TRUE(x86.ok()) << x86.status().ToString();
  EXPECT_EQ(x86->desc.requirements.count("reduce_range"), 0u);
  auto m = runtime::Module::Load(Write(x86, "full.octet"));
  if (!x86::Int8NeedsReducedRange()) {
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    GTEST_SKIP() << "this CPU has VNNI or AMX: full-range modules run (" << x86::CpuSummary()
                 << ")";
  }
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("without reduced-range"), std::string::npos)
      << m.status().ToString();
}

TEST_F(LowerX86Test, FloatModelHasNothingToMatch) {
  auto x86 = CompileForX86(testing::SmallCnn(3));
  ASSERT_TRUE(x86.ok()) << x86.status().ToString();
  EXPECT_EQ(CountKernel(x86->desc, "x86.int8_conv"), 0);
  // No int8 ops: loads on any CPU although reduce_range is not recorded.
  auto m = runtime::Module::Load(Write(x86, "float.octet"));
  EXPECT_TRUE(m.ok()) << m.status().ToString();
}

TEST_F(LowerX86Test, FashionResnet) {
  const fs::path path = testing::ModelsDir() / "fashion_resnet/model.onnx";
  OCTET_REQUIRE_PATH(path, "fashion_resnet");
  auto model = ImportOnnxFile(path.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Model qdq = Quantize(std::move(*model), {1, 28, 28}, /*reduce_range=*/true, 32);
  const int convs = CompareWithReference(qdq, {1, 4});
  std::printf("fashion_resnet: %d x86.int8_conv, %d x86.int8_matmul ops\n", convs, matmuls_);
  EXPECT_EQ(matmuls_, 1);
  EXPECT_GT(convs, 0);
}

}  // namespace
}  // namespace octet
