// Fused multi-head attention in bf16 for CUDA (flash-attention style), with
// SAM's decomposed relative position terms added inside the kernel. The same
// formula and operand conventions as x86::F32Attention (octet/x86/attention.h):
//
//   S    = scale * Q K^T                               [q_len, kv_len] per head
//   S   += rel_h[q, kh] + rel_w[q, kw]  (key kv = kh * k_w + kw), where
//          rel_h[q, kh] = <Q[q], Rh[qy, kh]> and rel_w[q, kw] = <Q[q], Rw[qx, kw]>
//          for query q = qy * q_w + qx (unscaled Q, as SAM's add_decomposed_rel_pos)
//   O    = softmax(S) V
//
// Q, K, V and O are bf16; products accumulate in f32 on the tensor cores
// (mma.sync m16n8k16), the softmax runs online in f32 (running max and sum
// per query row), and P is rounded to bf16 for the P V product. Neither the
// score matrix nor the [q_len, kv_len] bias is ever in device memory: each
// thread block takes 128 query rows of one head, computes their rel_h and
// rel_w (f32, from f32 tables) into shared memory once, then walks the keys in
// blocks of 64, adding rel_h[kh(key)] + rel_w[kw(key)] to each score tile.
//
// Operands are read and written through element strides, so the heads of a
// packed qkv tensor [B, N, 3, H, d] are read in place and O may be written as
// [B, N, H, d] (what the projection after attention reads).
#pragma once

#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::cuda {

// Element strides of a [batch, heads, tokens, channels] operand whose
// channels are contiguous: {batch, head, token}.
using AttentionStrides = std::array<int64_t, 3>;

// Dense [batch, heads, tokens, channels].
AttentionStrides DenseAttentionStrides(int64_t heads, int64_t tokens, int64_t channels);

struct Bf16AttentionConfig {
  int64_t batch = 1, heads = 1;  // independent attentions: batch * heads
  int64_t q_len = 0, kv_len = 0;
  int64_t head_dim = 0;  // of Q, K, V and O: a multiple of 16, at most 128
  int64_t v_dim = 0;     // 0 or head_dim (kept for the x86 config's shape)
  float scale = 1.f;     // applied to Q K^T (not to the position terms)
  // Strides of each operand; a zero stride array means dense. Every stride
  // must be a multiple of 8 elements (rows are copied in 16-byte pieces).
  AttentionStrides q_strides{}, k_strides{}, v_strides{}, out_strides{};
  // Decomposed relative position terms (SAM): both or neither; f32 or bf16.
  // Rh is [q_h, k_h, head_dim], Rw [q_w, k_w, head_dim], with q_len = q_h * q_w
  // and kv_len = k_h * k_w. They are uploaded at Create (as f32).
  Tensor rel_pos_h, rel_pos_w;
};

class Bf16Attention {
 public:
  // Validates before touching the device (configuration errors are reported
  // without a GPU too), uploads the position tables, and sets the kernel's
  // shared-memory limit. Needs compute capability 8.0 or newer (mma.sync
  // bf16); the library is built for sm_90a, so in practice a Hopper GPU.
  static Expected<Bf16Attention> Create(const Bf16AttentionConfig& config);

  // q, k, v: bf16 device pointers to element (0, 0, 0, 0) of each operand
  // (for a packed qkv tensor: qkv, qkv + H*d, qkv + 2*H*d), 16-byte aligned;
  // out: bf16, 16-byte aligned, not overlapping q, k or v. Enqueues on
  // `stream`, allocates nothing and does not synchronise (CUDA-graph safe).
  Status Run(const void* q, const void* k, const void* v, void* out, cudaStream_t stream) const;

  // Query rows per thread block and keys per inner step.
  static constexpr int kBlockQueries = 128;
  static constexpr int kBlockKeys = 64;

  // 4 * batch * heads * q_len * kv_len * head_dim: the two products, not
  // counting the position terms or the softmax.
  double flops() const;
  // "Bf16Attention 1x12 heads q 4096 kv 4096 d 64 +rel_pos(64x64, 64x64)"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::cuda
