// The cuda target's tensor ops (layout copies, broadcasting elementwise ops,
// reductions, softmax) end to end: small graphs as SAM and resnet contain
// them compile for cuda without a GPU (the emitted kernel ids are checked,
// and unsupported variants fail naming the reason); on a GPU their modules
// agree with the reference target's.
//
// Tolerances: the layout graph only moves bytes, so it must match bit for
// bit. The LayerNorm2d graph chains ~20 f32 ops; the reference computes each
// in double and rounds once, the device in f32 (IEEE add, sub, mul, div and
// sqrt, libdevice exp / erf / tanh within 2 ulp, sums in double): each op
// adds a few ulps of relative error, so outputs of magnitude <= ~10 agree to
// well within 2e-5 absolute; a wrong broadcast or axis gives errors of
// order 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "cuda_lower/cuda_module_test.h"
#include "cuda_lower/tensor_ops_graphs.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/runtime/module.h"

namespace octet {
namespace {

std::vector<std::string> Kernels(const ModuleDesc& d) {
  std::vector<std::string> k;
  for (const ModuleOp& op : d.ops) k.push_back(op.kernel);
  return k;
}

const ModuleOp* FindOp(const ModuleDesc& d, const std::string& name) {
  for (const ModuleOp& op : d.ops)
    if (op.name == name) return &op;
  return nullptr;
}

class LowerCudaTensorOpsTest : public testing::CudaModuleTest {
 protected:
  // Runs `model` compiled for cuda and for reference on the same random
  // inputs (symbolic dims at `batch`); returns false after GTEST_SKIP when
  // there is no GPU.
  bool RunBoth(const Model& model, int64_t batch, uint64_t seed, std::map<std::string, Tensor>* got,
               std::map<std::string, Tensor>* want) {
    auto module = LoadOrSkip(Write(CompileForCuda(model.Clone()), "cuda.octet"));
    if (module == nullptr) return false;
    auto reference = runtime::Module::Load(Write(CompileForReference(model.Clone()), "ref.octet"));
    EXPECT_TRUE(reference.ok()) << reference.status().ToString();
    if (!reference.ok()) return false;
    auto session = runtime::Session::Create(module);
    auto ref_session = runtime::Session::Create(*reference, {1});
    EXPECT_TRUE(session.ok()) << session.status().ToString();
    EXPECT_TRUE(ref_session.ok()) << ref_session.status().ToString();
    if (!session.ok() || !ref_session.ok()) return false;
    auto inputs = (*reference)->MakeRandomInputs(seed, batch);
    EXPECT_TRUE(inputs.ok());
    if (!inputs.ok()) return false;
    // Twice: eager, then the CUDA graph replay; both must agree.
    for (int run = 0; run < 2; ++run) {
      auto g = (*session)->Run(*inputs);
      EXPECT_TRUE(g.ok()) << g.status().ToString();
      if (!g.ok()) return false;
      if (run == 1) {
        for (const auto& [name, t] : *g)
          EXPECT_TRUE(t.BitwiseEquals(got->at(name))) << name << " differs on replay";
      }
      *got = std::move(*g);
    }
    auto w = (*ref_session)->Run(*inputs);
    EXPECT_TRUE(w.ok()) << w.status().ToString();
    if (!w.ok()) return false;
    *want = std::move(*w);
    return true;
  }
};

TEST_F(LowerCudaTensorOpsTest, WindowPartitionLowersToCopies) {
  auto cuda = CompileForCuda(testing::WindowPartitionGraph(2));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  EXPECT_EQ(Kernels(d),
            (std::vector<std::string>{"cuda.pad", "cuda.reshape", "cuda.transpose", "cuda.reshape",
                                      "cuda.slice", "cuda.split", "cuda.concat", "cuda.transpose",
                                      "cuda.reshape", "cuda.reshape", "cuda.reshape"}));
  EXPECT_EQ(FindOp(d, "identity"), nullptr);  // the simplifier drops Identity
  EXPECT_NE(FindOp(d, "squeeze"), nullptr);
  const ModuleOp* pad = FindOp(d, "pad");
  ASSERT_NE(pad, nullptr);
  EXPECT_EQ(*pad->Get<std::vector<int64_t>>("pads"),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 2, 2, 0}));
  EXPECT_EQ(*pad->Get<float>("value"), 0.5f);
  EXPECT_EQ(pad->inputs.size(), 1u);  // pads and value are attributes
  const ModuleOp* slice = FindOp(d, "slice");
  ASSERT_NE(slice, nullptr);
  EXPECT_EQ(*slice->Get<std::vector<int64_t>>("axes"), (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(*slice->Get<std::vector<int64_t>>("steps"), (std::vector<int64_t>{2, -3}));
  EXPECT_EQ(*FindOp(d, "reverse")->Get<std::vector<int64_t>>("perm"),
            (std::vector<int64_t>{3, 2, 1, 0}));
  EXPECT_EQ(*FindOp(d, "concat")->Get<int64_t>("axis"), 3);
  EXPECT_EQ(FindOp(d, "split")->outputs.size(), 2u);
  const ModuleOp* reshape = FindOp(d, "reshape1");
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(reshape->inputs.size(), 1u);  // the shape is not an input
  EXPECT_EQ(reshape->inplace, (std::vector<std::pair<int32_t, int32_t>>{{0, 0}}));
}

// The LayerNorm2d's nine ops fuse into one cuda.channel_layer_norm
// (MatchChannelLayerNorm): scale and bias as [C] constants, epsilon.
TEST_F(LowerCudaTensorOpsTest, LayerNorm2dFusesIntoOneChannelLayerNorm) {
  auto cuda = CompileForCuda(testing::LayerNorm2dGraph(1));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  const std::vector<std::string> kernels = Kernels(d);
  EXPECT_EQ(kernels.front(), "cuda.channel_layer_norm");
  for (const char* k : {"cuda.reduce_mean", "cuda.pow", "cuda.sqrt", "cuda.div"})
    EXPECT_EQ(std::count(kernels.begin(), kernels.end(), k), 0) << k;
  EXPECT_EQ(std::count(kernels.begin(), kernels.end(), "cuda.sub"), 1) << "half_sub only";
  const ModuleOp* ln = FindOp(d, "beta_add");
  ASSERT_NE(ln, nullptr);
  EXPECT_EQ(d.slots[ln->inputs[0]].name, "x");
  EXPECT_EQ(d.slots[ln->inputs[1]].shape, Shape::FromStatic({8}));
  EXPECT_EQ(d.slots[ln->inputs[2]].shape, Shape::FromStatic({8}));
  EXPECT_EQ(*ln->Get<float>("epsilon"), 1e-6f);
  EXPECT_EQ(d.slots[ln->outputs[0]].name, "ln");
}

// The matcher takes scale / bias laid out as [1, C, 1, 1] too, and refuses
// look-alikes: a cube instead of the square, a mean over another axis.
TEST_F(LowerCudaTensorOpsTest, ChannelLayerNormMatcherTakesOnlyTheFormula) {
  auto build = [](float exponent, int64_t mean_axis) {
    std::mt19937 rng(5);
    Model m;
    m.opset_imports[""] = 17;
    Graph& g = *m.graph;
    Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({2, 6, 3, 4})));
    auto mean = [&](Value* in, const std::string& name) {
      Node* n = testing::Add(g, "ReduceMean", {in, testing::Ints(g, name + "_axes", {mean_axis})},
                             name, name);
      n->SetAttr("keepdims", int64_t{1});
      return n->output(0);
    };
    Value* d = testing::Add(g, "Sub", {x, mean(x, "mean")}, "d", "centre")->output(0);
    Value* p = testing::Add(g, "Pow", {d, g.AddConstant("e", Tensor::Scalar(exponent))}, "p", "pow")
                   ->output(0);
    Value* e = testing::Add(g, "Add", {mean(p, "var"), g.AddConstant("eps", Tensor::Scalar(1e-6f))},
                            "v", "add_eps")
                   ->output(0);
    Value* sd = testing::Add(g, "Sqrt", {e}, "sd", "sqrt")->output(0);
    Value* n = testing::Add(g, "Div", {d, sd}, "n", "normalise")->output(0);
    Value* gm =
        testing::Add(g, "Mul", {n, g.AddConstant("w", testing::RandomTensor({1, 6, 1, 1}, rng))},
                     "gm", "scale")
            ->output(0);
    g.AddOutput(testing::Add(g, "Add",
                             {g.AddConstant("b", testing::RandomTensor({1, 6, 1, 1}, rng)), gm},
                             "y", "bias")
                    ->output(0));
    EXPECT_TRUE(InferShapes(g).ok());
    return m;
  };
  auto count = [](const Model& m, const char* kernel) {
    auto cuda = CompileForCuda(m.Clone());
    EXPECT_TRUE(cuda.ok()) << cuda.status().ToString();
    if (!cuda.ok()) return int64_t{-1};
    const std::vector<std::string> k = Kernels(cuda->desc);
    return static_cast<int64_t>(std::count(k.begin(), k.end(), kernel));
  };
  EXPECT_EQ(count(build(2.f, 1), "cuda.channel_layer_norm"), 1);
  EXPECT_EQ(count(build(3.f, 1), "cuda.channel_layer_norm"), 0) << "a cube is not a variance";
  EXPECT_EQ(count(build(2.f, 2), "cuda.channel_layer_norm"), 0) << "a mean over H";
}

TEST_F(LowerCudaTensorOpsTest, LayerNorm2dLowersToElementwiseAndReductions) {
  auto cuda = CompileForCuda(testing::LayerNorm2dGraph(1, /*expose_mean=*/true));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  const std::vector<std::string> kernels = Kernels(d);
  EXPECT_EQ(
      std::vector<std::string>(kernels.begin(), kernels.begin() + 9),
      (std::vector<std::string>{"cuda.reduce_mean", "cuda.sub", "cuda.pow", "cuda.reduce_mean",
                                "cuda.add", "cuda.sqrt", "cuda.div", "cuda.mul", "cuda.add"}));
  for (const char* k : {"cuda.relu", "cuda.softmax", "cuda.reduce_max", "cuda.neg", "cuda.max",
                        "cuda.min", "cuda.sigmoid", "cuda.tanh", "cuda.erf", "cuda.exp", "cuda.abs",
                        "cuda.reciprocal", "cuda.reduce_sum"})
    EXPECT_EQ(std::count(kernels.begin(), kernels.end(), k), 1) << k;
  const ModuleOp* mean = FindOp(d, "mean");
  EXPECT_EQ(*mean->Get<std::vector<int64_t>>("axes"), (std::vector<int64_t>{1}));
  EXPECT_EQ(*mean->Get<int64_t>("keepdims"), 1);
  const ModuleOp* sum = FindOp(d, "sum_n_h");
  EXPECT_EQ(*sum->Get<std::vector<int64_t>>("axes"), (std::vector<int64_t>{0, 2}));
  EXPECT_EQ(*sum->Get<int64_t>("keepdims"), 0);
  // The constant gamma is a constant slot the executor uploads; the output
  // of Sub may take x's place, Mul's output not the constant's.
  const ModuleOp* mul = FindOp(d, "gamma_mul");
  EXPECT_EQ(d.slots[mul->inputs[0]].kind, SlotKind::kConstant);
  EXPECT_EQ(mul->inplace, (std::vector<std::pair<int32_t, int32_t>>{{0, 1}}));
  EXPECT_EQ(FindOp(d, "centre")->inplace, (std::vector<std::pair<int32_t, int32_t>>{{0, 0}}));
}

TEST_F(LowerCudaTensorOpsTest, ResnetTailLowersWithOpset18Axes) {
  auto cuda = CompileForCuda(testing::ResnetTailGraph());
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  EXPECT_EQ(Kernels(cuda->desc),
            (std::vector<std::string>{"cuda.relu", "cuda.add", "cuda.relu", "cuda.reduce_mean",
                                      "cuda.reshape", "cuda.expand"}));
  EXPECT_EQ(*FindOp(cuda->desc, "pool")->Get<std::vector<int64_t>>("axes"),
            (std::vector<int64_t>{2, 3}));
}

// One graph with a node of each refused kind; the error names each reason.
TEST_F(LowerCudaTensorOpsTest, UnsupportedVariantsNameTheirReason) {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({4, 6})));
  Value* shape = g.AddInput("shape", TensorType(DType::kI64, Shape::FromStatic({2})));
  Value* r = testing::Add(g, "Reshape", {x, shape}, "r", "runtime_reshape")->output(0);
  r->set_type(TensorType(DType::kF32, Shape::FromStatic({6, 4})));
  Value* starts = g.AddInput("starts", TensorType(DType::kI64, Shape::FromStatic({1})));
  Value* s =
      testing::Add(g, "Slice", {x, starts, testing::Ints(g, "ends", {3})}, "s", "runtime_slice")
          ->output(0);
  s->set_type(TensorType(DType::kF32, Shape::FromStatic({3, 6})));
  Value* crop =
      testing::Add(g, "Pad", {x, testing::Ints(g, "pads", {0, -1, 0, 0})}, "c", "crop")->output(0);
  Value* ix = g.AddInput("ix", TensorType(DType::kI64, Shape::FromStatic({4, 6})));
  Value* iadd = testing::Add(g, "Add", {ix, ix}, "ia", "int_add")->output(0);
  Node* sm = testing::Add(g, "Softmax", {x}, "sm", "softmax_axis0");
  sm->SetAttr("axis", int64_t{0});
  for (Value* v : {r, s, crop, iadd, sm->output(0)}) g.AddOutput(v);
  (void)InferShapes(g);
  r->set_type(TensorType(DType::kF32, Shape::FromStatic({6, 4})));
  s->set_type(TensorType(DType::kF32, Shape::FromStatic({3, 6})));
  auto cuda = CompileForCuda(std::move(m));
  ASSERT_FALSE(cuda.ok());
  const std::string msg = cuda.status().ToString();
  EXPECT_NE(msg.find("cannot run 5 nodes"), std::string::npos) << msg;
  for (const char* want :
       {"runtime_reshape (Reshape): cuda.reshape (Reshape) needs input 1 ('shape') to be a "
        "constant integer tensor",
        "runtime_slice (Slice): cuda.slice needs starts ('starts') to be a constant",
        "crop (Pad): cuda.pad does not crop (negative pads)",
        "int_add (Add): cuda.add computes in f32 only",
        "softmax_axis0 (Softmax): cuda.softmax normalises over the last axis only"})
    EXPECT_NE(msg.find(want), std::string::npos) << want << " not in: " << msg;
}

TEST_F(LowerCudaTensorOpsTest, WindowPartitionOnGpuIsBitExact) {
  for (int64_t batch : {1, 3}) {
    std::map<std::string, Tensor> got, want;
    if (!RunBoth(testing::WindowPartitionGraph(batch), 1, 20 + batch, &got, &want))
      GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
    ASSERT_EQ(got.size(), 2u);
    for (const char* name : {"out", "s0"}) {
      ASSERT_EQ(got.at(name).dims(), want.at(name).dims()) << name;
      EXPECT_TRUE(got.at(name).BitwiseEquals(want.at(name))) << name << " at batch " << batch;
    }
    EXPECT_EQ(got.at("out").dims(), (std::vector<int64_t>{88, 12 * batch}));
  }
}

TEST_F(LowerCudaTensorOpsTest, LayerNorm2dOnGpuMatchesReferenceAtSeveralBatches) {
  const Model model = testing::LayerNorm2dGraph(2);
  for (int64_t batch : {1, 4}) {
    std::map<std::string, Tensor> got, want;
    if (!RunBoth(model, batch, 30 + batch, &got, &want))
      GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
    for (const char* name : {"ln", "rc", "sum_n_h"}) {
      const Tensor &y = got.at(name), &r = want.at(name);
      ASSERT_EQ(y.dims(), r.dims()) << name;
      double max_err = 0;
      for (int64_t i = 0; i < y.numel(); ++i)
        max_err = std::max(max_err, double{std::fabs(y.data<float>()[i] - r.data<float>()[i])});
      std::printf("batch %lld %s: max |err| %.3g\n", static_cast<long long>(batch), name, max_err);
      EXPECT_LT(max_err, 2e-5) << name << " at batch " << batch;
    }
    EXPECT_EQ(got.at("ln").dims(), (std::vector<int64_t>{batch, 8, 5, 7}));
  }
}

TEST_F(LowerCudaTensorOpsTest, ResnetTailOnGpuMatchesReference) {
  std::map<std::string, Tensor> got, want;
  if (!RunBoth(testing::ResnetTailGraph(), 1, 40, &got, &want))
    GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  const Tensor &y = got.at("out"), &r = want.at("out");
  ASSERT_EQ(y.dims(), (std::vector<int64_t>{3, 2, 4}));
  // Relu, Add and the copies are exact; the mean of 9 values is summed in
  // double on both sides and rounded once.
  for (int64_t i = 0; i < y.numel(); ++i)
    EXPECT_NEAR(y.data<float>()[i], r.data<float>()[i], 1e-6f * (1 + std::fabs(r.data<float>()[i])))
        << i;
}

}  // namespace
}  // namespace octet
