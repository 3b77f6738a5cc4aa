// The QDQ patterns the x86 lowering replaces by oneDNN ops (compile.h lists
// them). Matching only reads the graph; compile_x86.cc decides layouts and
// emits. Each matcher is anchored at one node and returns nullopt unless the
// whole pattern, with every parameter the kernel needs, is there.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "octet/ir.h"
#include "octet/tensor.h"

namespace octet::compile_internal {

// Per-tensor quantization read from a QuantizeLinear / DequantizeLinear node.
struct Quant {
  DType type = DType::kU8;  // of the codes
  float scale = 1.f;
  int32_t zero_point = 0;
  bool operator==(const Quant& o) const {
    return type == o.type && scale == o.scale && zero_point == o.zero_point;
  }
};

// Codes a value can hold: the full range of its type, or less after a Clip.
struct CodeRange {
  int32_t lo = -128, hi = 255;
};

bool IsOnnxOp(const Node* n, const char* op_type);
// The only user of `v`, or null when it has several or is a graph output.
const Node* SoleUser(const Value* v);
// Per-tensor u8/i8 parameters of a Q or DQ node with a scalar f32 scale.
std::optional<Quant> PerTensorQuant(const Node* q_or_dq);
// The codes `q` writes: the dtype's range, narrowed by a Clip(constant bounds)
// feeding it ([round(lo/s)+zp, round(hi/s)+zp], monotone, so exact).
CodeRange CodesOf(const Node* quantize_linear);
std::vector<int64_t> IntsAttr(const Node& n, const char* name, std::vector<int64_t> dflt);

// DQ(x) -> Conv(DQ(w), bias) -> [Add(DQ(r))] -> [Relu] -> [Clip] -> Q.
struct ConvPattern {
  const Node* dq_x = nullptr;
  const Node* dq_w = nullptr;
  const Node* conv = nullptr;
  const Node* add = nullptr;   // optional: the residual sum
  const Node* dq_r = nullptr;  // with add: the residual's DequantizeLinear
  const Node* relu = nullptr;  // optional
  const Node* clip = nullptr;  // optional: reduce_range's clamp
  float clip_min = 0.f, clip_max = 0.f;
  const Node* q = nullptr;
  Tensor bias;  // f32 [O] in real units, undefined without bias
  Quant x, y, r;
};
std::optional<ConvPattern> MatchConv(const Node* conv);

// DQ(x [M, K]) -> MatMul / Gemm(DQ(w), [bias]) with an f32 output.
struct MatMulPattern {
  const Node* dq_x = nullptr;
  const Node* dq_w = nullptr;
  const Node* node = nullptr;
  Tensor weights;  // i8 [K, N]
  Tensor bias;     // f32 [N] or undefined
  Quant x;
};
std::optional<MatMulPattern> MatchMatMul(const Node* n);

// DQ(x) -> MaxPool / AveragePool / GlobalAveragePool -> [Clip] -> Q with the
// DQ's own parameters: pooling on codes.
struct PoolPattern {
  const Node* dq_x = nullptr;
  const Node* pool = nullptr;
  const Node* clip = nullptr;
  const Node* q = nullptr;
  Quant x;
  const char* kind = "max";  // "max", "avg_include_pad", "avg_exclude_pad"
  std::array<int64_t, 2> kernel{1, 1}, strides{1, 1}, dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
  CodeRange clamp;
};
std::optional<PoolPattern> MatchPool(const Node* pool);

// DQ(x) -> Reshape / Flatten / Squeeze / Unsqueeze / Transpose -> [Clip] -> Q
// with the DQ's parameters and a Clip that cannot change x's codes: the op
// runs on the codes.
struct CodesPassThrough {
  const Node* dq_x = nullptr;
  const Node* op = nullptr;
  const Node* clip = nullptr;
  const Node* q = nullptr;
};
std::optional<CodesPassThrough> MatchCodesPassThrough(const Node* op);

// The int8-dynamic preset's per-token form: scale = Max(Div(ReduceMax(Abs(x),
// last axis, keepdims), qmax), min_scale); Q(x, scale) -> DQ (int8, blocked
// along the last axis with one block per row) -> MatMul(DQ(w i8 [K, N]
// symmetric, per-tensor or per column)) -> [Add(bias [N])].
struct DynamicMatMulPattern {
  const Node* abs = nullptr;
  const Node* reduce_max = nullptr;
  const Node* div = nullptr;
  const Node* max = nullptr;
  const Node* q = nullptr;
  const Node* dq_x = nullptr;
  const Node* dq_w = nullptr;
  const Node* matmul = nullptr;  // the MatMul, or a Gemm (MatchDynamicGemm)
  const Node* add = nullptr;     // optional bias
  // The weight DequantizeLinear's constant is [N, K] (a Gemm with transB,
  // per-row scales) instead of a MatMul's [K, N] (per-column scales).
  bool weight_nk = false;
  const Value* x = nullptr;  // f32 [..., K]
  Tensor bias;               // f32 [N] or undefined
  float qmax = 127.f, min_scale = 0.f;
  // Then at most one of: a residual Add(result, r) with r f32 of the
  // result's dims (oneDNN's sum post-op), or PyTorch's exact GELU.
  const Node* residual_add = nullptr;
  const Value* residual = nullptr;
  std::vector<const Node*> gelu;  // Div, Erf, Add, Mul, Mul
  const Node* last() const {
    if (!gelu.empty()) return gelu.back();
    if (residual_add != nullptr) return residual_add;
    return add != nullptr ? add : matmul;
  }
};
std::optional<DynamicMatMulPattern> MatchDynamicMatMul(const Node* matmul);
// The per-token quantization alone: `in` = DequantizeLinear(QuantizeLinear(x,
// scale)) with the scale computed from x as above. Fills m's abs,
// reduce_max, div, max, q, dq_x, x, qmax and min_scale.
bool MatchPerTokenActivation(const Value* in, DynamicMatMulPattern& m);
// The same scheme on Gemm(x, w, [C]) with transB = 1, alpha = beta = 1, x of
// rank 2 and C a constant bias [N] (a classifier head after Flatten). Only
// targets whose emitter reads weight_nk use it (cuda).
std::optional<DynamicMatMulPattern> MatchDynamicGemm(const Node* gemm);

// The weight-only presets' form: MatMul(x f32 [..., K] not itself
// dequantized, DequantizeLinear(w))
// -> [Add(bias [N])] -> [GELU], with w a constant [K, N] of either
//   i8, per column (axis 1, scale [N]), zero point absent or 0, or
//   u4, blocked along K (axis 0, block_size G), scale and zero point
//   [ceil(K / G), N] (one group when G >= K: the group is then K).
struct WeightOnlyMatMulPattern {
  const Node* dq_w = nullptr;
  const Node* matmul = nullptr;
  const Node* add = nullptr;      // optional bias
  std::vector<const Node*> gelu;  // optional
  const Value* x = nullptr;
  Tensor codes, scales, zero_points;  // zero_points: u4 only (may be undefined)
  Tensor bias;                        // f32 [N] or undefined
  int64_t group_size = 0;             // u4: the group along K; i8: 0
  const Node* last() const {
    if (!gelu.empty()) return gelu.back();
    return add != nullptr ? add : matmul;
  }
};
std::optional<WeightOnlyMatMulPattern> MatchWeightOnlyMatMul(const Node* matmul);

// PyTorch's exact GELU as exported: Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5)
// (operands of Add and Mul in either order), every intermediate read once.
// The nodes in graph order, or empty.
std::vector<const Node*> MatchGeluOf(const Value* x);

// [Clip] -> Q(f32 x) per-tensor: a quantizing reorder.
struct QuantizePattern {
  const Node* clip = nullptr;  // absorbed when Q is its only user
  const Node* q = nullptr;
  Quant y;
  CodeRange clamp;
};
std::optional<QuantizePattern> MatchQuantize(const Node* q);

}  // namespace octet::compile_internal
