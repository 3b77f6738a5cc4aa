// The cuda target's fused attention (cuda.attention): an AttentionPattern
// (attention_pattern.h, the matcher the x86 target shares) run by the bf16
// flash-attention kernel, with f32 <-> bf16 conversions at its edges.
#pragma once

#include <string>

#include "attention_pattern.h"
#include "module_builder.h"

namespace octet::compile_internal {

// "" when cuda.attention can run `m`, else why not.
std::string WhyNotCudaAttention(const AttentionPattern& m);

// Inputs: q, k, v f32 [..., tokens, d] (q unscaled, k not transposed) or,
// with qkv_heads = H > 0, one packed qkv f32 [B, ..., 3*H*d] and two -1;
// relative-position tables Rh [q_h, k_h, d], Rw [q_w, k_w, d] f32 (absent:
// -1). Attrs: scale, qkv_heads, out_interleaved, head_dim (d) and
// padded_head_dim (d rounded up to 16, what the kernel runs). Outputs: y f32
// (the pattern's output), then bf16 scratch the op writes and nothing else
// reads: the operands with rows padded to padded_head_dim (packed: one qkv
// copy; else q, k, v) and the padded output.
//
// Where the neighbours keep the values in bf16 (compile_cuda.cc: a packed qkv
// written in bf16 by the int8 GEMM before, an output quantized from bf16 by
// the one after; head dims needing no padding), the kernel reads and writes
// them in place: the packed qkv input's slot is then bf16 and its scratch
// copy is not emitted, and with out_bf16 the output slot is bf16 and the
// output scratch is not emitted.
Status EmitCudaAttention(const AttentionPattern& m, ModuleBuilder& builder, bool out_bf16);

}  // namespace octet::compile_internal
