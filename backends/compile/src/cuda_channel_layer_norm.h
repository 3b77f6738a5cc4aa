// SAM's LayerNorm2d as torch.onnx exports it, a LayerNorm over the channels
// (axis 1) of an NC... tensor spelled in nine ops:
//   u = ReduceMean(x, axes [1], keepdims); d = Sub(x, u);
//   s = ReduceMean(Pow(d, 2), axes [1], keepdims); r = Sqrt(Add(s, eps));
//   y = Add(Mul(w [C, 1, ..], Div(d, r)), b [C, 1, ..])
// matched at the last Add and run as one cuda.channel_layer_norm (one read of
// x per pass instead of nine full-tensor ops).
#pragma once

#include <optional>
#include <vector>

#include "octet/ir.h"

namespace octet::compile_internal {

struct ChannelLayerNormPattern {
  const Node* last = nullptr;      // the final Add, where the op is emitted
  std::vector<const Node*> nodes;  // every node of the pattern
  const Value* x = nullptr;        // f32, rank >= 2, static channels
  Tensor scale, bias;              // f32 [C]
  float epsilon = 0.f;
};

std::optional<ChannelLayerNormPattern> MatchChannelLayerNorm(const Node* add);

}  // namespace octet::compile_internal
