// Building blocks of the convolution graphs in the cuda lowering tests.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "quant/quant_test_util.h"

namespace octet::testing {

// A square Conv (k x k, equal strides and pads) of `c` input and `o` output
// channels with seeded random weights scaled so that outputs stay near unit
// size, and optionally a bias; its output is named `name` + "_out".
inline Node* ConvNode(Graph& g, Value* x, int64_t o, int64_t c, int64_t k, int64_t stride,
                      int64_t pad, bool bias, const std::string& name, std::mt19937& rng) {
  std::vector<Value*> in = {
      x, g.AddConstant(name + ".w", RandomTensor({o, c, k, k}, rng, 1.5f / std::sqrt(c * k * k)))};
  if (bias) in.push_back(g.AddConstant(name + ".b", RandomTensor({o}, rng, 0.1f)));
  Node* n = Add(g, "Conv", in, name + "_out", name);
  n->SetAttr("kernel_shape", std::vector<int64_t>{k, k});
  n->SetAttr("strides", std::vector<int64_t>{stride, stride});
  n->SetAttr("pads", std::vector<int64_t>{pad, pad, pad, pad});
  return n;
}

// resnet's head on `x` ([N, channels, H, W]): MaxPool 3x3 stride 2 pad 1,
// GlobalAveragePool, Flatten and a Gemm (transB) to `classes` logits, which
// becomes the graph's output.
inline void AddClassifierHead(Graph& g, Value* x, int64_t channels, int64_t classes,
                              std::mt19937& rng) {
  Node* pool = Add(g, "MaxPool", {x}, "pooled", "pool");
  pool->SetAttr("kernel_shape", std::vector<int64_t>{3, 3});
  pool->SetAttr("strides", std::vector<int64_t>{2, 2});
  pool->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  Value* gap = Add(g, "GlobalAveragePool", {pool->output(0)}, "gap", "gap")->output(0);
  Value* flat = Add(g, "Flatten", {gap}, "flat", "flatten")->output(0);
  Node* fc = Add(g, "Gemm",
                 {flat, g.AddConstant("fc.w", RandomTensor({classes, channels}, rng, 0.5f)),
                  g.AddConstant("fc.b", RandomTensor({classes}, rng, 0.1f))},
                 "logits", "fc");
  fc->SetAttr("transB", int64_t{1});
  g.AddOutput(fc->output(0));
}

}  // namespace octet::testing
