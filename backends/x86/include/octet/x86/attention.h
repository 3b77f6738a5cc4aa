// Fused multi-head attention in f32 for x86, with SAM's decomposed relative
// position terms added inside the kernel:
//
//   S    = scale * Q K^T                               [q_len, kv_len] per head
//   S   += rel_h[q, kh] + rel_w[q, kw]  (key kv = kh * k_w + kw), where
//          rel_h[q, kh] = <Q[q], Rh[qy, kh]> and rel_w[q, kw] = <Q[q], Rw[qx, kw]>
//          for query q = qy * q_w + qx (unscaled Q, as SAM's add_decomposed_rel_pos)
//   O    = softmax(S) V                                [q_len, v_dim]
//
// The score matrix is never materialised for a whole head: each OpenMP thread
// takes a block of query rows of one head at a time, computes its scores into
// a buffer of its own (a few hundred KB, so it stays in L2), adds the
// position terms, runs the softmax in place and multiplies by V straight into
// the output. For SAM vit_b's global attention (12 heads x 4096 x 4096 per
// image) that is 805 MB of scores the unfused graph writes and reads back
// several times.
//
// The two products and the softmax are oneDNN primitives created once, for
// one thread (they run inside Octet's parallel loop); Q, K, V and O are read
// and written through strides, so a head may live inside a packed QKV tensor
// (the qkv Linear's [B, N, 3, H, d] output) and O may be written straight in
// the [B, N, H, d] order the projection after it reads.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::x86 {

// Element strides of a [batch, heads, tokens, channels] operand whose
// channels are contiguous: {batch, head, token}.
using AttentionStrides = std::array<int64_t, 3>;

// Dense [batch, heads, tokens, channels].
AttentionStrides DenseAttentionStrides(int64_t heads, int64_t tokens, int64_t channels);

struct F32AttentionConfig {
  int64_t batch = 1, heads = 1;  // independent attentions: batch * heads
  int64_t q_len = 0, kv_len = 0;
  int64_t head_dim = 0;  // of Q and K
  int64_t v_dim = 0;     // of V and O; 0: head_dim
  float scale = 1.f;     // applied to Q K^T (not to the position terms)
  // Strides of each operand; a zero stride array means dense.
  AttentionStrides q_strides{}, k_strides{}, v_strides{}, out_strides{};
  // Decomposed relative position terms (SAM): both or neither. Rh is f32
  // [q_h, k_h, head_dim], Rw f32 [q_w, k_w, head_dim], with q_len = q_h * q_w
  // and kv_len = k_h * k_w.
  Tensor rel_pos_h, rel_pos_w;
};

class F32Attention {
 public:
  static Expected<F32Attention> Create(const F32AttentionConfig& config);
  // O must not overlap Q, K or V. num_threads <= 0: all hardware threads.
  Status Run(const float* q, const float* k, const float* v, float* out, int num_threads) const;
  int64_t block_rows() const;                 // query rows each thread takes at a time
  const std::string& implementation() const;  // the oneDNN kernels'
  // "F32Attention 2x12 heads q 4096 kv 4096 d 64 +rel_pos(64x64, 64x64)"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::x86
