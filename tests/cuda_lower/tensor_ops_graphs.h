// Small graphs of the tensor ops the cuda target runs as they appear in SAM
// and resnet (window partition, LayerNorm2d, residual Add + Relu, ...),
// shared by the cuda tensor-op lowering tests.
#pragma once

#include <random>
#include <string>
#include <vector>

#include "octet/passes/shape_inference.h"
#include "quant/quant_test_util.h"

namespace octet::testing {

inline Value* Ints(Graph& g, const std::string& name, const std::vector<int64_t>& v) {
  return g.AddConstant(name, Tensor::FromVector<int64_t>(v, {static_cast<int64_t>(v.size())}));
}

// x [B, 14, 14, 32] -> Pad (to 16x16, value 0.5) -> window partition
// (Reshape, Transpose, Reshape) -> Slice (a step of 2 and one of -3) ->
// Split -> Concat (swapped) -> Transpose (reversed) -> Flatten -> Unsqueeze ->
// Squeeze -> Identity. Every op a copy: the device must match bit for bit.
inline Model WindowPartitionGraph(int64_t batch) {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({batch, 14, 14, 32})));
  Value* p = Add(g, "Pad",
                 {x, Ints(g, "pads", {0, 0, 0, 0, 0, 2, 2, 0}),
                  g.AddConstant("pad_value", Tensor::Scalar(0.5f))},
                 "p", "pad")
                 ->output(0);
  Value* r1 =
      Add(g, "Reshape", {p, Ints(g, "s1", {batch, 2, 8, 2, 8, 32})}, "r1", "reshape1")->output(0);
  Node* t = Add(g, "Transpose", {r1}, "t", "window_transpose");
  t->SetAttr("perm", std::vector<int64_t>{0, 1, 3, 2, 4, 5});
  Value* w =
      Add(g, "Reshape", {t->output(0), Ints(g, "s2", {-1, 8, 8, 32})}, "w", "reshape2")->output(0);
  Value* s = Add(g, "Slice",
                 {w, Ints(g, "starts", {1, -1}), Ints(g, "ends", {7, -100}),
                  Ints(g, "axes", {1, 3}), Ints(g, "steps", {2, -3})},
                 "s", "slice")
                 ->output(0);  // [4B, 3, 8, 11]
  Node* split = g.AddNode("Split", {s, Ints(g, "split", {5, 6})}, {"s0", "s1"}, "split");
  split->SetAttr("axis", int64_t{3});
  Node* cat = Add(g, "Concat", {split->output(1), split->output(0)}, "c", "concat");
  cat->SetAttr("axis", int64_t{-1});
  Value* tr = Add(g, "Transpose", {cat->output(0)}, "tr", "reverse")->output(0);  // [11,8,3,4B]
  Node* fl = Add(g, "Flatten", {tr}, "fl", "flatten");
  fl->SetAttr("axis", int64_t{2});
  Value* u = Add(g, "Unsqueeze", {fl->output(0), Ints(g, "ua", {0})}, "u", "unsqueeze")->output(0);
  Value* q = Add(g, "Squeeze", {u, Ints(g, "qa", {0})}, "q", "squeeze")->output(0);
  g.AddOutput(Add(g, "Identity", {q}, "out", "identity")->output(0));
  g.AddOutput(split->output(0));  // a Split output read by Concat and the graph
  (void)InferShapes(g);
  return m;
}

// SAM's LayerNorm2d over the channels of x [N, 8, 5, 7] (N symbolic), then
// elementwise ops with activation and constant broadcasts, a softmax and
// reductions over several axes. expose_mean: the channel mean is a graph
// output too, which keeps the LayerNorm2d's nine ops from fusing into one.
inline Model LayerNorm2dGraph(uint32_t seed, bool expose_mean = false) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 8, 5, 7})));
  auto scalar = [&](const char* name, float v) { return g.AddConstant(name, Tensor::Scalar(v)); };
  auto reduce = [&](const char* op, Value* in, std::vector<int64_t> axes, int64_t keep,
                    const std::string& name) {
    // Axes as an input: the IR's form at every opset (the importer moves
    // older opsets' axes attribute there).
    Node* n = Add(g, op, {in, Ints(g, name + "_axes", axes)}, name, name);
    n->SetAttr("keepdims", keep);
    return n->output(0);
  };
  Value* u = reduce("ReduceMean", x, {1}, 1, "mean");
  Value* d = Add(g, "Sub", {x, u}, "d", "centre")->output(0);
  Value* p = Add(g, "Pow", {d, scalar("two", 2.f)}, "p", "square")->output(0);
  Value* v = reduce("ReduceMean", p, {1}, 1, "var");
  Value* e = Add(g, "Add", {v, scalar("eps", 1e-6f)}, "e", "add_eps")->output(0);
  Value* sd = Add(g, "Sqrt", {e}, "sd", "sqrt")->output(0);
  Value* nx = Add(g, "Div", {d, sd}, "nx", "normalise")->output(0);
  Value* gm =
      Add(g, "Mul", {g.AddConstant("gamma", RandomTensor({8, 1, 1}, rng)), nx}, "gm", "gamma_mul")
          ->output(0);
  Value* ln =
      Add(g, "Add", {gm, g.AddConstant("beta", RandomTensor({8, 1, 1}, rng))}, "ln", "beta_add")
          ->output(0);
  Value* r = Add(g, "Relu", {ln}, "r", "relu")->output(0);
  Value* sm = Add(g, "Softmax", {r}, "sm", "softmax")->output(0);
  Value* mx = reduce("ReduceMax", x, {2}, 1, "max_h");  // [N, 8, 1, 7]
  Value* b = Add(g, "Add", {sm, mx}, "b", "add_max")->output(0);
  Value* nb = Add(g, "Neg", {x}, "nb", "neg")->output(0);
  Value* c = Add(g, "Max", {b, nb}, "c", "max")->output(0);
  Value* c2 = Add(g, "Min", {c, scalar("cap", 0.75f)}, "c2", "min")->output(0);
  Value* sg = Add(g, "Sigmoid", {c2}, "sg", "sigmoid")->output(0);
  Value* th = Add(g, "Tanh", {sg}, "th", "tanh")->output(0);
  Value* ef = Add(g, "Erf", {th}, "ef", "erf")->output(0);
  Value* ex = Add(g, "Exp", {ef}, "ex", "exp")->output(0);
  Value* ab =
      Add(g, "Abs", {Add(g, "Sub", {scalar("half", 0.5f), ex}, "hs", "half_sub")->output(0)}, "ab",
          "abs")
          ->output(0);
  Value* rc =
      Add(g, "Reciprocal", {Add(g, "Add", {ab, scalar("one", 1.f)}, "ab1", "plus_one")->output(0)},
          "rc", "reciprocal")
          ->output(0);
  g.AddOutput(ln);
  g.AddOutput(rc);
  if (expose_mean) g.AddOutput(u);
  g.AddOutput(reduce("ReduceSum", rc, {0, 2}, 0, "sum_n_h"));  // [8, 7]
  (void)InferShapes(g);
  return m;
}

// resnet's tail at opset 18 (axes as inputs): x [2, 4, 3, 3] -> Relu ->
// residual Add -> Relu -> ReduceMean over H, W (axes input) -> Flatten ->
// Expand to [3, 2, 4].
inline Model ResnetTailGraph() {
  Model m;
  m.opset_imports[""] = 18;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({2, 4, 3, 3})));
  Value* r = Add(g, "Relu", {x}, "r", "relu1")->output(0);
  Value* a = Add(g, "Add", {r, x}, "a", "residual")->output(0);
  Value* r2 = Add(g, "Relu", {a}, "r2", "relu2")->output(0);
  Value* gap = Add(g, "ReduceMean", {r2, Ints(g, "hw", {-2, -1})}, "gap", "pool")->output(0);
  Value* f = Add(g, "Flatten", {gap}, "f", "flatten")->output(0);
  g.AddOutput(Add(g, "Expand", {f, Ints(g, "shape", {3, 1, 4})}, "out", "expand")->output(0));
  (void)InferShapes(g);
  return m;
}

}  // namespace octet::testing
