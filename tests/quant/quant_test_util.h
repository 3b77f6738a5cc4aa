// Small float models built in code (random weights from a seed) for the
// annotation and conversion tests.
#pragma once

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/passes/shape_inference.h"

namespace octet::testing {

inline Tensor RandomTensor(std::vector<int64_t> dims, std::mt19937& rng, float scale = 1.0f) {
  Tensor t(DType::kF32, std::move(dims));
  std::normal_distribution<float> d(0.0f, scale);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = d(rng);
  return t;
}

inline Node* Add(Graph& g, const char* op, std::vector<Value*> in, const std::string& out,
                 const std::string& name) {
  return g.AddNode(op, std::move(in), {out}, name);
}

// x[1,3,8,8] -> conv1 (+bias) -> relu1 -> pool (MaxPool 2x2) -> conv2 (+bias)
// -> relu2 -> flatten -> fc (Gemm transB=1, bias) -> logits[1,10]
inline Model SmallCnn(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({1, 3, 8, 8})));
  Value* w1 = g.AddConstant("w1", RandomTensor({4, 3, 3, 3}, rng, 0.3f));
  Value* b1 = g.AddConstant("b1", RandomTensor({4}, rng, 0.1f));
  Node* c1 = Add(g, "Conv", {x, w1, b1}, "c1", "conv1");
  c1->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  Value* r1 = Add(g, "Relu", {c1->output(0)}, "r1", "relu1")->output(0);
  Node* pool = Add(g, "MaxPool", {r1}, "p", "pool");
  pool->SetAttr("kernel_shape", std::vector<int64_t>{2, 2});
  pool->SetAttr("strides", std::vector<int64_t>{2, 2});
  Value* w2 = g.AddConstant("w2", RandomTensor({6, 4, 3, 3}, rng, 0.3f));
  Value* b2 = g.AddConstant("b2", RandomTensor({6}, rng, 0.1f));
  Node* c2 = Add(g, "Conv", {pool->output(0), w2, b2}, "c2", "conv2");
  c2->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  Value* r2 = Add(g, "Relu", {c2->output(0)}, "r2", "relu2")->output(0);
  Value* flat = Add(g, "Flatten", {r2}, "flat", "flatten")->output(0);
  Value* wf = g.AddConstant("wf", RandomTensor({10, 96}, rng, 0.1f));
  Value* bf = g.AddConstant("bf", RandomTensor({10}, rng, 0.1f));
  Node* fc = Add(g, "Gemm", {flat, wf, bf}, "logits", "fc");
  fc->SetAttr("transB", int64_t{1});
  g.AddOutput(fc->output(0));
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

// x[2,5,32] -> lin1 (MatMul [32,16] + Add bias) -> gelu-ish Relu -> lin2 (MatMul [16,8])
inline Model SmallMlp(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({2, 5, 32})));
  Value* w1 = g.AddConstant("w1", RandomTensor({32, 16}, rng, 0.2f));
  Value* b1 = g.AddConstant("b1", RandomTensor({16}, rng, 0.1f));
  Value* h = Add(g, "MatMul", {x, w1}, "h", "lin1")->output(0);
  Value* hb = Add(g, "Add", {h, b1}, "hb", "lin1_bias")->output(0);
  Value* a = Add(g, "Relu", {hb}, "a", "act")->output(0);
  Value* w2 = g.AddConstant("w2", RandomTensor({16, 8}, rng, 0.2f));
  Value* y = Add(g, "MatMul", {a, w2}, "y", "lin2")->output(0);
  g.AddOutput(y);
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

}  // namespace octet::testing
