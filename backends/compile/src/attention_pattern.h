// Scaled dot-product attention in an exported float graph, optionally with
// SAM's decomposed relative-position terms (add_decomposed_rel_pos), found so
// a target can run it as one fused kernel instead of the graph's score
// tensor, broadcast adds and softmax:
//
//   S  = MatMul(Mul(q, scale), Transpose(k, swap last two))     (or no Mul)
//   [rel-pos: S5 = Reshape(S, [B, q_h, q_w, k_h, k_w]);
//             rh = Einsum("bhwc,hkc->bhwk", Reshape(q, [B, q_h, q_w, d]), Rh)
//             rw = Einsum("bhwc,wkc->bhwk", Reshape(q, ...), Rw)
//             S  = Reshape(S5 + Unsqueeze(rh, 4) + Unsqueeze(rw, 3), [B, N, N])]
//   [Mul / Div(S, scalar)]
//   O  = MatMul(Softmax(S, last axis), v)
//
// q, k, v are [..., tokens, channels] f32 with equal leading dims (heads
// folded into them or not). Rh and Rw are constants (after folding SAM's
// Gather of the learned tables): [q_h, k_h, d] and [q_w, k_w, d]. Every
// intermediate must have no reader outside the pattern.
#pragma once

#include <optional>
#include <vector>

#include "octet/ir.h"
#include "octet/tensor.h"

namespace octet::compile_internal {

struct AttentionPattern {
  const Node* softmax = nullptr;
  const Node* pv = nullptr;           // the last node: O = P x V
  std::vector<const Node*> absorbed;  // every node the fused op replaces
  const Value* q = nullptr;           // unscaled
  const Value* k = nullptr;           // [..., kv_len, d], not transposed
  const Value* v = nullptr;
  float scale = 1.f;
  Tensor rel_pos_h, rel_pos_w;  // both or neither
  // Packed form (SAM, and most ViTs): q, k and v are Squeeze(Split(Reshape(
  // Transpose(Reshape(qkv, [B, N, 3, H, d]), [2, 0, 3, 1, 4]), [3, B*H, N, d])))
  // of one [B, ..., 3*H*d] tensor; the kernel then reads the heads out of
  // qkv through strides and those copies go (absorbed with the rest).
  const Value* qkv = nullptr;
  int64_t heads = 0;
  // Interleaved output: O feeds Reshape([B, H, ..., d]) -> Transpose(heads
  // after the tokens) -> Reshape([B, ..., H*d]); the kernel writes that last
  // value directly ([B, N, H, d] order). Only with the packed form.
  const Node* out_last = nullptr;
  const Value* output() const { return (out_last != nullptr ? out_last : pv)->output(0); }
};

// Anchored at the Softmax.
std::optional<AttentionPattern> MatchAttention(const Node* softmax);

}  // namespace octet::compile_internal
