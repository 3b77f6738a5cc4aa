// A transformer MLP block built in code, as PyTorch exports one:
//   x [N, tokens, hidden] -> LayerNorm -> Linear(hidden, mlp) -> GELU (erf)
//   -> Linear(mlp, hidden) -> + x
// Shared by the cuda lowering tests and the CLI tests.
#pragma once

#include <cmath>
#include <random>
#include <string>

#include "octet/passes/shape_inference.h"
#include "quant/quant_test_util.h"

namespace octet::testing {

// batch: the input's first dim, symbolic "N" unless given.
inline Model TransformerMlpBlock(uint32_t seed, int64_t tokens, int64_t hidden, int64_t mlp,
                                 Dim batch = Dim::Symbol("N")) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({batch, tokens, hidden})));
  auto scalar = [&](const char* name, float v) { return g.AddConstant(name, Tensor::Scalar(v)); };
  // MatMul(x, w [K, N]) + b [N], as torch.nn.Linear exports; weights scaled
  // by 1/sqrt(K) so that activations keep their magnitude.
  auto linear = [&](Value* in, int64_t k, int64_t n, const std::string& name) {
    const float w_scale = 1.5f / std::sqrt(static_cast<float>(k));
    Value* w = g.AddConstant(name + ".w", RandomTensor({k, n}, rng, w_scale));
    Value* b = g.AddConstant(name + ".b", RandomTensor({n}, rng, 0.1f));
    Value* mm = Add(g, "MatMul", {in, w}, name + "_mm", name)->output(0);
    return Add(g, "Add", {b, mm}, name + "_out", name + "_bias")->output(0);
  };
  Tensor gamma = RandomTensor({hidden}, rng, 0.2f);
  for (int64_t i = 0; i < hidden; ++i) gamma.data<float>()[i] += 1.f;
  Value* ln = Add(g, "LayerNormalization",
                  {x, g.AddConstant("ln.gamma", gamma),
                   g.AddConstant("ln.beta", RandomTensor({hidden}, rng, 0.1f))},
                  "ln_out", "ln")
                  ->output(0);
  Value* hb = linear(ln, hidden, mlp, "lin1");
  Value* d = Add(g, "Div", {hb, scalar("root2", 1.4142135f)}, "d", "gelu_div")->output(0);
  Value* e = Add(g, "Erf", {d}, "e", "gelu_erf")->output(0);
  Value* e1 = Add(g, "Add", {e, scalar("one", 1.f)}, "e1", "gelu_add")->output(0);
  Value* p = Add(g, "Mul", {hb, e1}, "p", "gelu_mul")->output(0);
  Value* a = Add(g, "Mul", {p, scalar("half", 0.5f)}, "a", "gelu_half")->output(0);
  Value* yb = linear(a, mlp, hidden, "lin2");
  g.AddOutput(Add(g, "Add", {x, yb}, "out", "residual")->output(0));
  (void)InferShapes(g);
  return m;
}

}  // namespace octet::testing
