// MakeFloatKernelProvider (float_provider.h): small graphs run through the
// reference interpreter with and without the provider, plus resnet18 whole.
//
// Configurations the provider handles run on oneDNN and must agree with the
// reference kernels within fp32 rounding (u = 2^-24, the unit roundoff):
//  - Conv / MatMul / Gemm: both sum K products (plus the bias) in f32, in
//    different orders, each within (K + 1) u * mag of the exact value, where
//    mag = sum |a_k b_k| + |bias| is what the reference computes on |A|, |B|,
//    |bias|. So they differ by at most 2 (K + 3) u mag (K = C/group * kH * kW
//    for Conv).
//  - Softmax: x - max, oneDNN's exp polynomial (within 8 u + |x - max| u
//    relative, float_kernels_test.cc), a row sum of C positive terms within
//    (C - 1) u and one division: |dy| <= ((C + 2 R + 20) u) |y| with R the
//    largest |x - max| of a row; the reference works in double.
//  - LayerNormalization: mean and variance summed in f32 over C terms, then a
//    few roundings: |dy| <= (C + 16) u (|gamma| inv_std (mean|x| + |x - mean|)
//    + |beta|); the reference works in double.
// Configurations it does not handle must run the reference kernel itself:
// bitwise equal.
#include "octet/x86/float_provider.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "octet/onnx.h"
#include "octet/reference/interpreter.h"
#include "test_paths.h"
#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

constexpr double kU = 0x1p-24;

// A graph built twice (or three times) from the same seed: as given, and with
// every input and constant replaced by its absolute value (for magnitudes).
class Builder {
 public:
  explicit Builder(bool abs) : abs_(abs), rng_(Seed(77)) {}

  Tensor Random(std::vector<int64_t> dims, float lo = -1.f, float hi = 1.f) {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    Tensor t = Tensor::FromVector(RandomFloats(n, rng_, lo, hi), std::move(dims));
    if (abs_)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = std::fabs(t.data<float>()[i]);
    return t;
  }
  Value* Input(std::vector<int64_t> dims, const std::string& name, float lo = -1.f,
               float hi = 1.f) {
    Tensor t = Random(std::move(dims), lo, hi);
    feeds_[name] = t;
    return graph_.AddInput(name, TensorType(t.dtype(), Shape::FromStatic(t.dims())));
  }
  Value* Const(std::vector<int64_t> dims, const std::string& name) {
    return graph_.AddConstant(name, Random(std::move(dims)));
  }
  Value* Node(const std::string& op, std::vector<Value*> ins,
              const std::map<std::string, Attribute>& attrs = {}) {
    octet::Node* n = graph_.AddNode(op, std::move(ins), {"y"}, "node");
    for (const auto& [k, v] : attrs) n->SetAttr(k, v);
    return n->output(0);
  }

  Graph& graph() { return graph_; }
  const std::map<std::string, Tensor>& feeds() const { return feeds_; }

 private:
  bool abs_;
  std::mt19937 rng_;
  Graph graph_;
  std::map<std::string, Tensor> feeds_;
};

using Build = std::function<Value*(Builder&)>;

// The graph's one output, run with the reference kernels or with a fresh
// provider (which lives no longer than the graph). `kernel`: what the
// provider ran for the node (DescribeFloatKernels).
Tensor RunGraph(const Build& build, bool provider, bool abs = false,
                std::string* kernel = nullptr) {
  Builder b(abs);
  b.graph().AddOutput(build(b));
  reference::InterpreterOptions o;
  o.num_threads = 2;
  if (provider) o.kernels = MakeFloatKernelProvider();
  reference::Interpreter interp(b.graph(), o);
  auto out = interp.Run(b.feeds());
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  if (kernel != nullptr && provider) {
    const std::vector<std::string> lines = DescribeFloatKernels(*o.kernels);
    EXPECT_EQ(lines.size(), 1u);
    *kernel = lines.empty() ? "" : lines[0];
  }
  return out.ok() ? out->begin()->second : Tensor();
}

bool RanReference(const std::string& kernel) {
  return kernel.size() >= 16 && kernel.compare(kernel.size() - 16, 16, "reference kernel") == 0;
}

// Largest |got - want| / tol(i) must be <= 1.
void ExpectWithin(const Tensor& got, const Tensor& want, const std::function<double(int64_t)>& tol,
                  const std::string& what) {
  EXPECT_EQ(got.dims(), want.dims()) << what;
  if (got.dims() != want.dims()) return;
  int64_t differ = 0, bad = 0;
  double worst = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double g = got.data<float>()[i], w = want.data<float>()[i];
    differ += g != w;
    const double t = tol(i) + 1e-30;
    worst = std::max(worst, std::fabs(g - w) / t);
    if (!(std::fabs(g - w) <= t) && ++bad <= 5)
      ADD_FAILURE() << what << " element " << i << ": provider " << g << ", reference " << w
                    << " (tolerance " << t << ")";
  }
  if (std::getenv("OCTET_X86_TEST_REPORT"))
    std::printf("%s: largest error / tolerance %.3f, %lld of %lld differ\n", what.c_str(), worst,
                static_cast<long long>(differ), static_cast<long long>(got.numel()));
}

// Runs on oneDNN (what the provider says it ran).
std::string OnOneDnn(const Build& build, const std::string& what) {
  std::string kernel;
  RunGraph(build, true, false, &kernel);
  EXPECT_FALSE(kernel.empty() || RanReference(kernel)) << what << ": " << kernel;
  if (std::getenv("OCTET_X86_TEST_REPORT")) std::printf("  %s\n", kernel.c_str());
  return kernel;
}

// A product of K terms (Conv, MatMul, Gemm) on oneDNN.
void ExpectProductMatches(const Build& build, int64_t k, const std::string& what) {
  OnOneDnn(build, what);
  const Tensor want = RunGraph(build, false), got = RunGraph(build, true),
               mag = RunGraph(build, false, true);
  ASSERT_TRUE(want.defined() && got.defined() && mag.defined()) << what;
  ExpectWithin(
      got, want, [&](int64_t i) { return 2.0 * (k + 3) * kU * mag.data<float>()[i]; }, what);
}

// Not handled: the provider must run the reference kernel.
void ExpectFallsBack(const Build& build, const std::string& what) {
  std::string kernel;
  const Tensor want = RunGraph(build, false), got = RunGraph(build, true, false, &kernel);
  ASSERT_TRUE(want.defined() && got.defined()) << what;
  EXPECT_TRUE(RanReference(kernel)) << what << ": " << kernel;
  EXPECT_TRUE(got.BitwiseEquals(want)) << what << ": should run the reference kernel";
}

using Ints = std::vector<int64_t>;

// ------------------------------------------------------------------ Conv

TEST(FloatProvider, ConvMatchesReference) {
  struct Case {
    std::string name;
    Ints x, w;
    std::map<std::string, Attribute> attrs;
    bool bias;
  };
  const std::vector<Case> cases = {
      {"3x3_pad1_bias", {2, 8, 11, 9}, {12, 8, 3, 3}, {{"pads", Ints{1, 1, 1, 1}}}, true},
      {"groups2_stride2x1_asym_pads_dilation",
       {1, 6, 13, 10},
       {4, 3, 3, 2},
       {{"group", int64_t{2}},
        {"strides", Ints{2, 1}},
        {"pads", Ints{1, 0, 2, 1}},
        {"dilations", Ints{1, 2}},
        {"kernel_shape", Ints{3, 2}}},
       true},
      {"depthwise",
       {1, 16, 7, 5},
       {16, 1, 3, 3},
       {{"group", int64_t{16}}, {"pads", Ints{1, 1, 1, 1}}},
       false},
      {"1x1_no_bias", {3, 32, 6, 6}, {24, 32, 1, 1}, {}, false},
  };
  for (const Case& c : cases) {
    const Build build = [&](Builder& b) {
      std::vector<Value*> ins = {b.Input(c.x, "x"), b.Const(c.w, "w")};
      if (c.bias) ins.push_back(b.Const({c.w[0]}, "b"));
      return b.Node("Conv", ins, c.attrs);
    };
    ExpectProductMatches(build, c.w[1] * c.w[2] * c.w[3], "Conv " + c.name);
  }
}

TEST(FloatProvider, ConvFallsBack) {
  // auto_pad other than NOTSET.
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Conv", {b.Input({1, 4, 7, 7}, "x"), b.Const({6, 4, 3, 3}, "w")},
                      {{"auto_pad", std::string("SAME_UPPER")}});
      },
      "Conv auto_pad SAME_UPPER");
  // Weights that are not a constant (packed at creation otherwise).
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Conv", {b.Input({1, 4, 7, 7}, "x"), b.Input({6, 4, 3, 3}, "w")});
      },
      "Conv with weights as an input");
  // 1-D convolution.
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Conv", {b.Input({2, 4, 9}, "x"), b.Const({5, 4, 3}, "w")});
      },
      "Conv 1-D");
}

// ------------------------------------------------------------------ MatMul, Gemm

TEST(FloatProvider, MatMulMatchesReference) {
  struct Case {
    std::string name;
    Ints a, b;
    bool constant_b;
  };
  const std::vector<Case> cases = {
      {"2d_const", {7, 19}, {19, 11}, true},
      {"2d_input", {7, 19}, {19, 11}, false},
      {"3d_x_2d", {3, 5, 16}, {16, 9}, true},
      {"4d_x_2d_input", {2, 3, 5, 16}, {16, 9}, false},
      {"3d_x_3d_same_batch", {4, 6, 10}, {4, 10, 7}, false},
      {"3d_x_3d_const", {4, 6, 10}, {4, 10, 7}, true},
      {"broadcast_a_batch1", {1, 6, 10}, {3, 10, 7}, false},
      {"broadcast_a_2d", {6, 10}, {2, 3, 10, 7}, true},
      {"broadcast_b_batch1", {2, 3, 6, 10}, {1, 1, 10, 7}, false},
  };
  for (const Case& c : cases) {
    const Build build = [&](Builder& b) {
      return b.Node("MatMul",
                    {b.Input(c.a, "a"), c.constant_b ? b.Const(c.b, "b") : b.Input(c.b, "b")});
    };
    ExpectProductMatches(build, c.a.back(), "MatMul " + c.name);
  }
}

TEST(FloatProvider, MatMulFallsBack) {
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("MatMul", {b.Input({2, 1, 4, 5}, "a"), b.Input({1, 3, 5, 6}, "b")});
      },
      "MatMul partial broadcast");
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("MatMul", {b.Input({5}, "a"), b.Input({5, 6}, "b")});
      },
      "MatMul vector x matrix");
}

TEST(FloatProvider, GemmMatchesReference) {
  ExpectProductMatches(
      [](Builder& b) {
        return b.Node("Gemm", {b.Input({5, 24}, "a"), b.Const({10, 24}, "b"), b.Const({10}, "c")},
                      {{"transB", int64_t{1}}});
      },
      24, "Gemm transB + bias");
  ExpectProductMatches(
      [](Builder& b) {
        return b.Node("Gemm", {b.Input({5, 24}, "a"), b.Input({24, 10}, "b")});
      },
      24, "Gemm no bias, B an input");
  ExpectProductMatches(
      [](Builder& b) {
        return b.Node("Gemm",
                      {b.Input({5, 24}, "a"), b.Const({24, 10}, "b"), b.Const({1, 10}, "c")});
      },
      24, "Gemm bias [1, N]");
}

TEST(FloatProvider, GemmFallsBack) {
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Gemm", {b.Input({5, 24}, "a"), b.Const({10, 24}, "b"), b.Const({10}, "c")},
                      {{"transB", int64_t{1}}, {"alpha", 0.5f}});
      },
      "Gemm alpha 0.5");
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Gemm", {b.Input({24, 5}, "a"), b.Const({24, 10}, "b")},
                      {{"transA", int64_t{1}}});
      },
      "Gemm transA");
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Gemm",
                      {b.Input({5, 24}, "a"), b.Const({24, 10}, "b"), b.Const({5, 10}, "c")});
      },
      "Gemm C [M, N]");
}

// ------------------------------------------------------------------ Softmax, LayerNorm

TEST(FloatProvider, SoftmaxLastAxisMatchesReference) {
  constexpr float kRange = 4.f;  // inputs in [-4, 4]: R <= 8
  for (const Attribute& axis : {Attribute(int64_t{-1}), Attribute(int64_t{2})}) {
    const Build build = [&](Builder& b) {
      return b.Node("Softmax", {b.Input({3, 7, 37}, "x", -kRange, kRange)}, {{"axis", axis}});
    };
    OnOneDnn(build, "Softmax");
    const Tensor want = RunGraph(build, false), got = RunGraph(build, true);
    const double c = 37, r = 2 * kRange;
    ExpectWithin(
        got, want, [&](int64_t i) { return (c + 2 * r + 20) * kU * want.data<float>()[i]; },
        "Softmax axis " + std::to_string(axis.i()));
  }
}

TEST(FloatProvider, SoftmaxOtherAxisFallsBack) {
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Softmax", {b.Input({3, 7, 5}, "x", -4.f, 4.f)}, {{"axis", int64_t{1}}});
      },
      "Softmax axis 1");
}

TEST(FloatProvider, LayerNormMatchesReference) {
  constexpr int64_t kRows = 10, kC = 48;
  for (bool bias : {true, false}) {
    const Build build = [&](Builder& b) {
      std::vector<Value*> ins = {b.Input({2, kRows / 2, kC}, "x", -3.f, 5.f),
                                 b.Const({kC}, "scale")};
      if (bias) ins.push_back(b.Const({kC}, "bias"));
      return b.Node("LayerNormalization", ins, {{"epsilon", 1e-4f}});
    };
    OnOneDnn(build, "LayerNormalization");
    const Tensor want = RunGraph(build, false), got = RunGraph(build, true);
    // The same inputs and constants again, for the bound.
    Builder b(false);
    const Tensor x = b.Random({2, kRows / 2, kC}, -3.f, 5.f), gamma = b.Random({kC});
    const Tensor beta = bias ? b.Random({kC}) : Tensor();
    std::vector<double> tol(x.numel());
    for (int64_t r = 0; r < kRows; ++r) {
      const float* row = x.data<float>() + r * kC;
      double sum = 0, abs_sum = 0, sq = 0;
      for (int64_t k = 0; k < kC; ++k) sum += row[k], abs_sum += std::fabs(row[k]);
      const double mean = sum / kC;
      for (int64_t k = 0; k < kC; ++k) sq += (row[k] - mean) * (row[k] - mean);
      const double inv_std = 1 / std::sqrt(sq / kC + 1e-4);
      for (int64_t k = 0; k < kC; ++k)
        tol[r * kC + k] = (kC + 16) * kU *
                          (std::fabs(gamma.data<float>()[k]) * inv_std *
                               (abs_sum / kC + std::fabs(row[k] - mean)) +
                           (bias ? std::fabs(beta.data<float>()[k]) : 0.0));
    }
    ExpectWithin(
        got, want, [&](int64_t i) { return tol[i]; },
        std::string("LayerNormalization") + (bias ? " + bias" : ""));
  }
}

TEST(FloatProvider, LayerNormFallsBack) {
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("LayerNormalization", {b.Input({2, 6, 8}, "x"), b.Const({6, 8}, "scale")},
                      {{"axis", int64_t{-2}}});
      },
      "LayerNormalization axis -2");
}

// Other op types, and ops in other domains, have no provider kernel.
// Transpose (a reorder), Pow(x, 2) and the binary ops are one correctly
// rounded operation (or none) per element, as in the reference: bitwise equal.
void ExpectExact(const Build& build, const std::string& what) {
  OnOneDnn(build, what);
  const Tensor want = RunGraph(build, false), got = RunGraph(build, true);
  ASSERT_TRUE(want.defined() && got.defined()) << what;
  EXPECT_TRUE(got.BitwiseEquals(want)) << what;
}

TEST(FloatProvider, TransposePowAndBinaryOpsMatchReferenceExactly) {
  for (const Ints& perm : {Ints{0, 2, 3, 1}, Ints{2, 0, 3, 1}, Ints{3, 2, 1, 0}})
    ExpectExact(
        [&](Builder& b) {
          return b.Node("Transpose", {b.Input({2, 3, 5, 7}, "x")}, {{"perm", Attribute(perm)}});
        },
        "Transpose " + ::testing::PrintToString(perm));
  ExpectExact(
      [](Builder& b) {
        return b.Node("Transpose", {b.Input({2, 5, 3, 4, 6}, "x")},
                      {{"perm", Attribute(Ints{2, 0, 3, 1, 4})}});
      },
      "Transpose of a packed qkv");
  ExpectExact(
      [](Builder& b) {
        return b.Node("Pow", {b.Input({3, 17, 5}, "x", -3.f, 3.f),
                              b.graph().AddConstant("two", Tensor::Scalar(2.f))});
      },
      "Pow(x, 2)");
  const std::pair<const char*, Ints> binaries[] = {{"Add", Ints{7}},
                                                   {"Add", Ints{2, 3, 7}},
                                                   {"Mul", Ints{3, 1}},
                                                   {"Sub", Ints{1, 3, 7}},
                                                   {"Div", Ints{7}}};
  for (const auto& [op, b_dims] : binaries)
    ExpectExact(
        [&, op = op, b_dims = b_dims](Builder& b) {
          return b.Node(op, {b.Input({2, 3, 7}, "a"), b.Input(b_dims, "b", 0.5f, 2.f)});
        },
        std::string(op) + " with b " + ::testing::PrintToString(b_dims));
}

TEST(FloatProvider, SliceAndZeroPadMatchReferenceExactly) {
  auto ints = [](Builder& b, const std::string& name, Ints v) {
    const int64_t n = static_cast<int64_t>(v.size());
    return b.graph().AddConstant(name, Tensor::FromVector(std::move(v), {n}));
  };
  // SAM's window unpartition crop, a negative start and end, and axes given.
  ExpectExact(
      [&](Builder& b) {
        return b.Node("Slice", {b.Input({1, 7, 7, 5}, "x"), ints(b, "s", {0, 0}),
                                ints(b, "e", {6, 6}), ints(b, "a", {1, 2})});
      },
      "Slice crop");
  ExpectExact(
      [&](Builder& b) {
        return b.Node("Slice", {b.Input({4, 9, 3}, "x"), ints(b, "s", {-3, 1}),
                                ints(b, "e", {-1, 1000}), ints(b, "a", {1, 0})});
      },
      "Slice negative and clamped");
  // SAM's window partition pad (H and W of [B, H, W, C], at the end).
  ExpectExact(
      [&](Builder& b) {
        return b.Node("Pad", {b.Input({1, 5, 5, 3}, "x"), ints(b, "p", {0, 0, 0, 0, 0, 2, 2, 0})});
      },
      "Pad end");
  ExpectExact(
      [&](Builder& b) {
        return b.Node("Pad", {b.Input({2, 3, 4}, "x"), ints(b, "p", {1, 0, 2, 0, 3, 1}),
                              b.graph().AddConstant("zero", Tensor::Scalar(0.f))});
      },
      "Pad both sides, explicit zero");
}

TEST(FloatProvider, SliceAndPadOutsideTheFastFormsFallBack) {
  auto ints = [](Builder& b, const std::string& name, Ints v) {
    const int64_t n = static_cast<int64_t>(v.size());
    return b.graph().AddConstant(name, Tensor::FromVector(std::move(v), {n}));
  };
  ExpectFallsBack(
      [&](Builder& b) {
        return b.Node("Slice", {b.Input({6, 5}, "x"), ints(b, "s", {0}), ints(b, "e", {6}),
                                ints(b, "a", {0}), ints(b, "st", {2})});
      },
      "Slice step 2");
  ExpectFallsBack(
      [&](Builder& b) {
        return b.Node("Pad", {b.Input({2, 3}, "x"), ints(b, "p", {1, 1, 1, 1}),
                              b.graph().AddConstant("v", Tensor::Scalar(1.5f))});
      },
      "Pad value 1.5");
  ExpectFallsBack(
      [&](Builder& b) {
        return b.Node("Pad", {b.Input({2, 3}, "x"), ints(b, "p", {0, 1, 0, 1})},
                      {{"mode", Attribute(std::string("reflect"))}});
      },
      "Pad reflect");
  ExpectFallsBack(
      [&](Builder& b) {
        return b.Node("Pad", {b.Input({4, 3}, "x"), ints(b, "p", {-1, 0, 0, 0})});
      },
      "Pad negative");
}

TEST(FloatProvider, PowOtherExponentFallsBack) {
  ExpectFallsBack(
      [](Builder& b) {
        return b.Node("Pow", {b.Input({3, 5}, "x", 0.5f, 2.f),
                              b.graph().AddConstant("three", Tensor::Scalar(3.f))});
      },
      "Pow(x, 3)");
}

TEST(FloatProvider, FindsOnlyItsOps) {
  auto provider = MakeFloatKernelProvider();
  Graph g;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({2, 3})));
  EXPECT_EQ(provider->Find(*g.AddNode("Relu", {x}, {"r"})), nullptr);
  EXPECT_EQ(provider->Find(*g.AddNode("Softmax", {x}, {"s1"}, "", "com.example")), nullptr);
  EXPECT_NE(provider->Find(*g.AddNode("Softmax", {x}, {"s2"})), nullptr);
}

// One provider shared by interpreters on several threads (each its own
// interpreter over the same graph): the kernels are created once and reused.
TEST(FloatProvider, SharedAcrossThreads) {
  Builder b(false);
  Value* y = b.Node("MatMul", {b.Input({4, 32, 64}, "a"), b.Const({64, 48}, "w")});
  b.graph().AddOutput(y);
  reference::InterpreterOptions o;
  o.num_threads = 1;
  o.kernels = MakeFloatKernelProvider();
  auto first = reference::Interpreter(b.graph(), o).Run(b.feeds());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const Tensor want = first->at("y");
  std::vector<std::thread> threads;
  std::vector<int> same(4, 0);
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto out = reference::Interpreter(b.graph(), o).Run(b.feeds());
        same[t] = out.ok() && out->at("y").BitwiseEquals(want);
        if (!same[t]) return;
      }
    });
  for (std::thread& t : threads) t.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(same[t]) << "thread " << t;
}

// ------------------------------------------------------------------ resnet18

TEST(FloatProvider, Resnet18MatchesReference) {
  const std::filesystem::path path = octet::testing::ModelsDir() / "resnet18/model.onnx";
  OCTET_REQUIRE_PATH(path, "resnet18");
  auto model = ImportOnnxFile(path.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const Graph& g = *model->graph;
  ASSERT_EQ(g.inputs().size(), 1u);
  const Value* in = g.inputs()[0];
  std::vector<int64_t> dims;
  for (int i = 0; i < in->type().shape.rank(); ++i)
    dims.push_back(in->type().shape[i].is_static() ? in->type().shape[i].value() : 2);
  std::mt19937 rng(Seed(18));
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  const std::map<std::string, Tensor> feeds = {
      {in->name(), Tensor::FromVector(RandomFloats(n, rng, -2.f, 2.f), dims)}};
  const int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // With the provider the first run creates the kernels: the second is timed.
  std::vector<std::string> kernels;
  auto run = [&](bool provider, double* seconds) {
    reference::InterpreterOptions o;
    o.num_threads = threads;
    if (provider) o.kernels = MakeFloatKernelProvider();
    reference::Interpreter interp(g, o);
    std::map<std::string, Tensor> result;
    for (int i = 0; i < (provider ? 2 : 1); ++i) {
      const auto start = std::chrono::steady_clock::now();
      auto out = interp.Run(feeds);
      *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      EXPECT_TRUE(out.ok()) << out.status().ToString();
      if (out.ok()) result = std::move(*out);
    }
    if (provider) kernels = DescribeFloatKernels(*o.kernels);
    return result;
  };
  double ref_s = 0, onednn_s = 0;
  const auto want = run(false, &ref_s);
  const auto got = run(true, &onednn_s);
  ASSERT_EQ(want.size(), got.size());
  // Every Conv, the Gemm and the residual Adds on oneDNN.
  int convs = 0;
  for (const Node* n : g.nodes())
    convs += n->op_type() == "Conv" || n->op_type() == "Gemm" || n->op_type() == "Add";
  EXPECT_EQ(static_cast<int>(kernels.size()), convs);
  std::map<std::string, int> implementations;
  for (const std::string& k : kernels) {
    EXPECT_FALSE(RanReference(k)) << k;
    ++implementations[k.substr(k.rfind('['))];
  }
  for (const auto& [impl, count] : implementations)
    std::printf("  %2d x %s\n", count, impl.c_str());
  for (const auto& [name, w] : want) {
    const Tensor& o = got.at(name);
    ASSERT_EQ(o.dims(), w.dims()) << name;
    double diff = 0, norm = 0;
    for (int64_t i = 0; i < w.numel(); ++i) {
      const double d = static_cast<double>(o.data<float>()[i]) - w.data<float>()[i];
      diff += d * d;
      norm += static_cast<double>(w.data<float>()[i]) * w.data<float>()[i];
    }
    const double rel = std::sqrt(diff / norm);
    std::printf(
        "[ resnet18 %s ] output '%s': rel L2 %.3g; reference %.3f s, oneDNN provider "
        "%.3f s (%d threads)\n",
        feeds.begin()->second.ShapeString().c_str(), name.c_str(), rel, ref_s, onednn_s, threads);
    EXPECT_LT(rel, 1e-4) << name;
  }
}

}  // namespace
}  // namespace octet::x86::testing
