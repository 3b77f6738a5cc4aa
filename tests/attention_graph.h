// SAM's Attention.forward after ONNX export, for one window, as a graph the
// lowering tests of every target build: q, k, v inputs [bh, q_h * q_w, d],
// optional decomposed relative-position terms, and two variants that must
// not fuse (a scale after the position terms, scores read outside).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/passes/shape_inference.h"
#include "quant/quant_test_util.h"

namespace octet::testing {

inline Value* I64(Graph& g, const std::string& name, std::vector<int64_t> v) {
  const int64_t n = static_cast<int64_t>(v.size());
  return g.AddConstant(name, Tensor::FromVector(std::move(v), {n}));
}

struct AttentionGraph {
  int64_t bh = 3, q_h = 4, q_w = 5, d = 8;
  bool rel_pos = true;
  bool scale_after_position_terms = false;  // Mul on the scores: must not fuse
  bool scores_are_output = false;           // an intermediate read outside: must not fuse
};

// SAM's Attention.forward after export, for one window: q, k, v inputs
// [bh, q_h * q_w, d].
inline Model BuildAttention(const AttentionGraph& a) {
  std::mt19937 rng(17);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  const int64_t n = a.q_h * a.q_w;
  const TensorType t(DType::kF32, Shape::FromStatic({a.bh, n, a.d}));
  Value* q = g.AddInput("q", t);
  Value* k = g.AddInput("k", t);
  Value* v = g.AddInput("v", t);
  const float scale = 1.f / std::sqrt(static_cast<float>(a.d));
  Value* s = nullptr;
  Value* qs = a.scale_after_position_terms
                  ? q
                  : Add(g, "Mul", {q, g.AddConstant("scale", Tensor::Scalar<float>(scale))}, "qs",
                        "mul_scale")
                        ->output(0);
  Node* kt = Add(g, "Transpose", {k}, "kt", "transpose_k");
  kt->SetAttr("perm", Attribute(std::vector<int64_t>{0, 2, 1}));
  s = Add(g, "MatMul", {qs, kt->output(0)}, "s", "qk")->output(0);
  if (a.rel_pos) {
    Value* rq =
        Add(g, "Reshape", {q, I64(g, "rq_shape", {a.bh, a.q_h, a.q_w, a.d})}, "rq", "reshape_q")
            ->output(0);
    Value* th = g.AddConstant("rel_h", RandomTensor({a.q_h, a.q_h, a.d}, rng, 0.5f));
    Value* tw = g.AddConstant("rel_w", RandomTensor({a.q_w, a.q_w, a.d}, rng, 0.5f));
    Node* eh = Add(g, "Einsum", {rq, th}, "eh", "einsum_h");
    eh->SetAttr("equation", Attribute(std::string("bhwc,hkc->bhwk")));
    Node* ew = Add(g, "Einsum", {rq, tw}, "ew", "einsum_w");
    ew->SetAttr("equation", Attribute(std::string("bhwc,wkc->bhwk")));
    Value* s5 = Add(g, "Reshape", {s, I64(g, "s5_shape", {a.bh, a.q_h, a.q_w, a.q_h, a.q_w})}, "s5",
                    "reshape_s")
                    ->output(0);
    Value* uh = Add(g, "Unsqueeze", {eh->output(0), I64(g, "ax4", {4})}, "uh", "unsq_h")->output(0);
    Value* uw = Add(g, "Unsqueeze", {ew->output(0), I64(g, "ax3", {3})}, "uw", "unsq_w")->output(0);
    Value* a1 = Add(g, "Add", {s5, uh}, "a1", "add_h")->output(0);
    Value* a2 = Add(g, "Add", {a1, uw}, "a2", "add_w")->output(0);
    s = Add(g, "Reshape", {a2, I64(g, "s_shape", {a.bh, n, n})}, "s_rel", "reshape_back")
            ->output(0);
  }
  if (a.scale_after_position_terms)
    s = Add(g, "Mul", {s, g.AddConstant("scale", Tensor::Scalar<float>(scale))}, "s_scaled",
            "mul_scores")
            ->output(0);
  Value* p = Add(g, "Softmax", {s}, "p", "softmax")->output(0);
  Value* o = Add(g, "MatMul", {p, v}, "o", "pv")->output(0);
  g.AddOutput(o);
  if (a.scores_are_output) g.AddOutput(s);
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

}  // namespace octet::testing
