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

}  // namespace octet::testing
