#include "x86_patterns.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace octet::compile_internal {
namespace {

const Tensor* ConstantOf(const Value* v) {
  return v != nullptr && v->is_constant() ? &v->constant() : nullptr;
}

std::optional<float> ScalarF32(const Value* v) {
  const Tensor* t = ConstantOf(v);
  if (t == nullptr || t->dtype() != DType::kF32 || t->numel() != 1) return std::nullopt;
  return t->data<float>()[0];
}

bool IsInt8(DType t) { return t == DType::kU8 || t == DType::kI8; }

bool AllZero(const Value* zp) {
  if (zp == nullptr) return true;
  const Tensor* t = ConstantOf(zp);
  if (t == nullptr) return false;
  const auto* p = static_cast<const uint8_t*>(t->raw());
  for (int64_t i = 0; i < t->nbytes(); ++i)
    if (p[i] != 0) return false;
  return true;
}

// A non-constant int8 activation of rank 4 whose C, H and W are static.
bool IsStaticChwActivation(const Value* v) {
  const TensorType& t = v->type();
  if (v->is_constant() || !IsInt8(t.dtype) || !t.has_shape || t.shape.rank() != 4) return false;
  for (int i = 1; i < 4; ++i)
    if (t.shape.dims()[i].is_symbolic() || t.shape.dims()[i].value() < 0) return false;
  return true;
}

// The bias input of a matched Conv / Gemm as f32 real values: DequantizeLinear
// of an int32 constant (the quantizer's b_q with scale s_x * s_w, evaluated as
// the reference does, (b_q - zp) * scale) or a float constant.
std::optional<Tensor> BiasOf(const Value* b, int64_t channels) {
  if (b == nullptr) return Tensor();
  Tensor out(DType::kF32, {channels});
  if (const Tensor* f = ConstantOf(b)) {
    if (f->dtype() != DType::kF32 || f->numel() != channels) return std::nullopt;
    for (int64_t i = 0; i < channels; ++i) out.data<float>()[i] = f->data<float>()[i];
    return out;
  }
  const Node* dq = b->producer();
  if (!IsOnnxOp(dq, "DequantizeLinear")) return std::nullopt;
  const Tensor* q = ConstantOf(dq->input(0));
  const Tensor* s = ConstantOf(dq->input(1));
  if (q == nullptr || q->dtype() != DType::kI32 || q->numel() != channels || s == nullptr ||
      s->dtype() != DType::kF32 || (s->numel() != 1 && s->numel() != channels))
    return std::nullopt;
  const Tensor* zp = ConstantOf(dq->input(2));
  if (dq->input(2) != nullptr &&
      (zp == nullptr || zp->dtype() != DType::kI32 || zp->numel() != s->numel()))
    return std::nullopt;
  for (int64_t i = 0; i < channels; ++i) {
    const int64_t k = s->numel() == 1 ? 0 : i;
    const int32_t z = zp != nullptr ? zp->data<int32_t>()[k] : 0;
    out.data<float>()[i] = static_cast<float>(q->data<int32_t>()[i] - z) * s->data<float>()[k];
  }
  return out;
}

// A symmetric i8 constant weight behind DequantizeLinear, per-tensor or per
// channel on `axis`, with `channels` scales in the per-channel case.
const Tensor* SymmetricWeight(const Node* dq_w, int rank, int axis, int64_t channels) {
  if (!IsOnnxOp(dq_w, "DequantizeLinear") || dq_w->HasAttr("block_size")) return nullptr;
  const Tensor* w = ConstantOf(dq_w->input(0));
  const Tensor* ws = ConstantOf(dq_w->input(1));
  if (w == nullptr || w->dtype() != DType::kI8 || w->rank() != rank || ws == nullptr ||
      ws->dtype() != DType::kF32 || !AllZero(dq_w->input(2)))
    return nullptr;
  if (ws->numel() != 1) {
    auto a = dq_w->GetInt("axis", 1);
    if (!a.ok() || (*a != axis && *a != axis - rank) || ws->rank() != 1 || ws->numel() != channels)
      return nullptr;
  }
  return w;
}

// [Clip(constant bounds)] -> QuantizeLinear after `v`; sets *clip.
const Node* ClipThenQuantize(const Value* v, const Node** clip) {
  const Node* next = SoleUser(v);
  *clip = nullptr;
  if (IsOnnxOp(next, "Clip")) {
    if (!ScalarF32(next->input(1)) || !ScalarF32(next->input(2))) return nullptr;
    *clip = next;
    next = SoleUser(next->output(0));
  }
  return IsOnnxOp(next, "QuantizeLinear") ? next : nullptr;
}

}  // namespace

bool IsOnnxOp(const Node* n, const char* op_type) {
  return n != nullptr && n->domain().empty() && n->op_type() == op_type;
}

const Node* SoleUser(const Value* v) {
  if (v == nullptr || v->is_graph_output() || v->uses().size() != 1) return nullptr;
  return v->uses()[0].node;
}

std::vector<int64_t> IntsAttr(const Node& n, const char* name, std::vector<int64_t> dflt) {
  const Attribute* a = n.FindAttr(name);
  return a != nullptr && a->kind() == Attribute::Kind::kInts ? a->ints() : dflt;
}

std::optional<Quant> PerTensorQuant(const Node* n) {
  const bool q = IsOnnxOp(n, "QuantizeLinear");
  if (!q && !IsOnnxOp(n, "DequantizeLinear")) return std::nullopt;
  if (n->HasAttr("block_size") || n->HasAttr("output_dtype")) return std::nullopt;
  auto scale = ScalarF32(n->input(1));
  if (!scale || !std::isfinite(*scale) || *scale <= 0) return std::nullopt;
  Quant out;
  out.scale = *scale;
  out.type = q ? n->output(0)->type().dtype : n->input(0)->type().dtype;
  if (!IsInt8(out.type)) return std::nullopt;
  if (const Value* zp = n->input(2)) {
    const Tensor* t = ConstantOf(zp);
    if (t == nullptr || t->dtype() != out.type || t->numel() != 1) return std::nullopt;
    out.zero_point =
        out.type == DType::kU8 ? int32_t{t->data<uint8_t>()[0]} : int32_t{t->data<int8_t>()[0]};
  }
  return out;
}

CodeRange CodesOf(const Node* q) {
  auto quant = PerTensorQuant(q);
  if (!quant) return {};
  const int32_t type_lo = quant->type == DType::kU8 ? 0 : -128;
  const int32_t type_hi = quant->type == DType::kU8 ? 255 : 127;
  CodeRange r{type_lo, type_hi};
  const Node* clip = q->input(0)->producer();
  if (!IsOnnxOp(clip, "Clip")) return r;
  auto code = [&](std::optional<float> v, int32_t dflt) {
    if (!v) return dflt;
    const float c = std::nearbyint(*v / quant->scale) + static_cast<float>(quant->zero_point);
    return static_cast<int32_t>(
        std::clamp(c, static_cast<float>(type_lo), static_cast<float>(type_hi)));
  };
  r.lo = code(ScalarF32(clip->input(1)), type_lo);
  r.hi = code(ScalarF32(clip->input(2)), type_hi);
  return r;
}

std::optional<ConvPattern> MatchConv(const Node* conv) {
  if (!IsOnnxOp(conv, "Conv") || conv->num_inputs() < 2) return std::nullopt;
  ConvPattern m;
  m.conv = conv;
  // Activation: u8, per-tensor, of a static shape except the batch.
  m.dq_x = conv->input(0)->producer();
  auto x = PerTensorQuant(m.dq_x);
  if (!IsOnnxOp(m.dq_x, "DequantizeLinear") || !x || x->type != DType::kU8 ||
      !IsStaticChwActivation(m.dq_x->input(0)))
    return std::nullopt;
  m.x = *x;
  // Weight: i8 constant [O, C/g, kH, kW], symmetric, per-tensor or per-channel on axis 0.
  m.dq_w = conv->input(1)->producer();
  const Tensor* w0 = ConstantOf(m.dq_w != nullptr ? m.dq_w->input(0) : nullptr);
  if (w0 == nullptr || w0->rank() != 4) return std::nullopt;
  const int64_t channels = w0->dim(0);
  if (SymmetricWeight(m.dq_w, 4, 0, channels) == nullptr) return std::nullopt;
  auto bias = BiasOf(conv->input(2), channels);
  if (!bias) return std::nullopt;
  m.bias = std::move(*bias);
  // Conv attributes the kernel supports: 2-D, explicit pads.
  auto auto_pad = conv->GetString("auto_pad", std::string("NOTSET"));
  if (!auto_pad.ok() || *auto_pad != "NOTSET") return std::nullopt;
  if (IntsAttr(*conv, "strides", {1, 1}).size() != 2 ||
      IntsAttr(*conv, "dilations", {1, 1}).size() != 2 ||
      IntsAttr(*conv, "pads", {0, 0, 0, 0}).size() != 4)
    return std::nullopt;
  const Value* out = conv->output(0);
  const Node* next = SoleUser(out);
  // [Add(DQ(r))]: a residual of the conv output's own shape.
  if (IsOnnxOp(next, "Add") && next->num_inputs() == 2) {
    const Value* other = next->input(0) == out ? next->input(1) : next->input(0);
    const Node* dq_r = other->producer();
    auto r = PerTensorQuant(dq_r);
    if (other == out || !IsOnnxOp(dq_r, "DequantizeLinear") || !r ||
        !IsStaticChwActivation(dq_r->input(0)) || !out->type().has_shape ||
        !(dq_r->input(0)->type().shape == out->type().shape))
      return std::nullopt;
    m.add = next;
    m.dq_r = dq_r;
    m.r = *r;
    next = SoleUser(next->output(0));
  }
  if (IsOnnxOp(next, "Relu")) {
    m.relu = next;
    next = SoleUser(next->output(0));
  }
  if (IsOnnxOp(next, "Clip")) {
    auto lo = ScalarF32(next->input(1));
    auto hi = ScalarF32(next->input(2));
    if (!lo || !hi) return std::nullopt;
    m.clip = next;
    m.clip_min = *lo;
    m.clip_max = *hi;
    next = SoleUser(next->output(0));
  }
  auto y = PerTensorQuant(next);
  if (!IsOnnxOp(next, "QuantizeLinear") || !y || y->type != DType::kU8) return std::nullopt;
  m.q = next;
  m.y = *y;
  return m;
}

std::optional<MatMulPattern> MatchMatMul(const Node* n) {
  const bool gemm = IsOnnxOp(n, "Gemm");
  if (!gemm && !IsOnnxOp(n, "MatMul")) return std::nullopt;
  if (n->output(0)->type().dtype != DType::kF32) return std::nullopt;
  bool trans_b = false;
  if (gemm) {
    auto alpha = n->GetFloat("alpha", 1.f);
    auto beta = n->GetFloat("beta", 1.f);
    auto ta = n->GetInt("transA", 0);
    auto tb = n->GetInt("transB", 0);
    if (!alpha.ok() || *alpha != 1.f || !beta.ok() || *beta != 1.f || !ta.ok() || *ta != 0 ||
        !tb.ok())
      return std::nullopt;
    trans_b = *tb != 0;
  } else if (n->num_inputs() != 2) {
    return std::nullopt;
  }
  MatMulPattern m;
  m.node = n;
  m.dq_x = n->input(0)->producer();
  auto x = PerTensorQuant(m.dq_x);
  if (!IsOnnxOp(m.dq_x, "DequantizeLinear") || !x || x->type != DType::kU8) return std::nullopt;
  const Value* xq = m.dq_x->input(0);
  const TensorType& xt = xq->type();
  if (xq->is_constant() || !xt.has_shape || xt.shape.rank() != 2 || xt.shape.dims()[1].value() < 0)
    return std::nullopt;
  m.x = *x;
  m.dq_w = n->input(1)->producer();
  const Tensor* w0 = ConstantOf(m.dq_w != nullptr ? m.dq_w->input(0) : nullptr);
  if (w0 == nullptr || w0->rank() != 2) return std::nullopt;
  const int64_t k = trans_b ? w0->dim(1) : w0->dim(0);
  const int64_t cols = trans_b ? w0->dim(0) : w0->dim(1);
  // One scale per output column: axis 0 of [N, K], axis 1 of [K, N].
  const Tensor* w = SymmetricWeight(m.dq_w, 2, trans_b ? 0 : 1, cols);
  if (w == nullptr || k != xt.shape.dims()[1].value()) return std::nullopt;
  m.weights = Tensor(DType::kI8, {k, cols});
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < cols; ++j)
      m.weights.data<int8_t>()[i * cols + j] =
          w->data<int8_t>()[trans_b ? j * k + i : i * cols + j];
  auto bias = BiasOf(gemm ? n->input(2) : nullptr, cols);
  if (!bias) return std::nullopt;
  m.bias = std::move(*bias);
  return m;
}

std::optional<PoolPattern> MatchPool(const Node* pool) {
  const bool max = IsOnnxOp(pool, "MaxPool");
  const bool avg = IsOnnxOp(pool, "AveragePool");
  const bool global = IsOnnxOp(pool, "GlobalAveragePool");
  if ((!max && !avg && !global) || pool->num_outputs() != 1) return std::nullopt;
  PoolPattern m;
  m.pool = pool;
  m.dq_x = pool->input(0)->producer();
  auto x = PerTensorQuant(m.dq_x);
  if (!IsOnnxOp(m.dq_x, "DequantizeLinear") || !x || !IsStaticChwActivation(m.dq_x->input(0)))
    return std::nullopt;
  m.x = *x;
  m.q = ClipThenQuantize(pool->output(0), &m.clip);
  auto y = PerTensorQuant(m.q);
  if (m.q == nullptr || !y || !(*y == m.x)) return std::nullopt;
  m.clamp = CodesOf(m.q);
  const auto& dims = m.dq_x->input(0)->type().shape.dims();
  if (global) {
    m.kind = "avg_exclude_pad";
    m.kernel = {dims[2].value(), dims[3].value()};
    return m;
  }
  auto auto_pad = pool->GetString("auto_pad", std::string("NOTSET"));
  auto ceil_mode = pool->GetInt("ceil_mode", 0);
  if (!auto_pad.ok() || *auto_pad != "NOTSET" || !ceil_mode.ok() || *ceil_mode != 0)
    return std::nullopt;
  const std::vector<int64_t> k = IntsAttr(*pool, "kernel_shape", {});
  const std::vector<int64_t> s = IntsAttr(*pool, "strides", {1, 1});
  const std::vector<int64_t> d = IntsAttr(*pool, "dilations", {1, 1});
  const std::vector<int64_t> p = IntsAttr(*pool, "pads", {0, 0, 0, 0});
  if (k.size() != 2 || s.size() != 2 || d.size() != 2 || p.size() != 4) return std::nullopt;
  if (max) {
    auto order = pool->GetInt("storage_order", 0);
    if (!order.ok() || *order != 0) return std::nullopt;
    m.kind = "max";
  } else {
    auto include = pool->GetInt("count_include_pad", 0);
    if (!include.ok()) return std::nullopt;
    // Padded positions are code 0 in the kernel but real 0 (code zp) in ONNX.
    const bool padded = std::any_of(p.begin(), p.end(), [](int64_t v) { return v != 0; });
    if (*include != 0 && padded && m.x.zero_point != 0) return std::nullopt;
    m.kind = *include != 0 ? "avg_include_pad" : "avg_exclude_pad";
    if (d[0] != 1 || d[1] != 1) return std::nullopt;
  }
  m.kernel = {k[0], k[1]};
  m.strides = {s[0], s[1]};
  m.dilations = {d[0], d[1]};
  m.pads = {p[0], p[1], p[2], p[3]};
  return m;
}

std::optional<CodesPassThrough> MatchCodesPassThrough(const Node* op) {
  static const char* const kOps[] = {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose"};
  if (op == nullptr || !op->domain().empty() || op->num_outputs() != 1) return std::nullopt;
  if (std::none_of(std::begin(kOps), std::end(kOps),
                   [&](const char* t) { return op->op_type() == t; }))
    return std::nullopt;
  for (int i = 1; i < op->num_inputs(); ++i)
    if (op->input(i) != nullptr && !op->input(i)->is_constant()) return std::nullopt;
  CodesPassThrough m;
  m.op = op;
  m.dq_x = op->input(0)->producer();
  auto x = PerTensorQuant(m.dq_x);
  if (!IsOnnxOp(m.dq_x, "DequantizeLinear") || !x || m.dq_x->input(0)->is_constant())
    return std::nullopt;
  m.q = ClipThenQuantize(op->output(0), &m.clip);
  auto y = PerTensorQuant(m.q);
  if (m.q == nullptr || !y || !(*y == *x)) return std::nullopt;
  if (m.clip != nullptr) {
    // The Clip must not bind: x's codes already lie within its range.
    const Node* producer = m.dq_x->input(0)->producer();
    const CodeRange in = IsOnnxOp(producer, "QuantizeLinear") ? CodesOf(producer) : CodeRange{};
    const CodeRange out = CodesOf(m.q);
    const int32_t type_lo = x->type == DType::kU8 ? 0 : -128;
    const int32_t type_hi = x->type == DType::kU8 ? 255 : 127;
    if (out.lo > std::max(in.lo, type_lo) || out.hi < std::min(in.hi, type_hi)) return std::nullopt;
  }
  return m;
}

namespace {

// `v`'s producer when it is `op_type` and `v` has exactly `uses` uses.
const Node* ProducerWithUses(const Value* v, const char* op_type, size_t uses) {
  if (v == nullptr || v->is_graph_output() || v->uses().size() != uses) return nullptr;
  const Node* p = v->producer();
  return IsOnnxOp(p, op_type) ? p : nullptr;
}

// The scalar constant among a binary node's inputs, and the other input.
std::optional<float> ScalarOperand(const Node* n, const Value** other) {
  for (int i = 0; i < 2; ++i)
    if (auto c = ScalarF32(n->input(i))) {
      *other = n->input(1 - i);
      return c;
    }
  return std::nullopt;
}

}  // namespace

std::vector<const Node*> MatchGeluOf(const Value* x) {
  if (x == nullptr || x->is_graph_output() || x->uses().size() != 2) return {};
  const Node *div = nullptr, *mul = nullptr;
  for (const Use& u : x->uses()) {
    if (IsOnnxOp(u.node, "Div") && u.input_index == 0) div = u.node;
    if (IsOnnxOp(u.node, "Mul")) mul = u.node;
  }
  if (div == nullptr || mul == nullptr) return {};
  const auto root2 = ScalarF32(div->input(1));
  if (!root2 || std::fabs(*root2 - 1.41421356f) > 1e-6f) return {};
  const Node* erf = SoleUser(div->output(0));
  if (!IsOnnxOp(erf, "Erf")) return {};
  const Node* add = SoleUser(erf->output(0));
  if (!IsOnnxOp(add, "Add")) return {};
  const Value* one_of = nullptr;
  if (ScalarOperand(add, &one_of) != std::optional<float>(1.f) || one_of != erf->output(0))
    return {};
  if (SoleUser(add->output(0)) != mul) return {};
  const Node* half = SoleUser(mul->output(0));
  const Value* half_of = nullptr;
  if (!IsOnnxOp(half, "Mul") || ScalarOperand(half, &half_of) != std::optional<float>(0.5f) ||
      half_of != mul->output(0))
    return {};
  return {div, erf, add, mul, half};
}

std::optional<WeightOnlyMatMulPattern> MatchWeightOnlyMatMul(const Node* matmul) {
  if (!IsOnnxOp(matmul, "MatMul") || matmul->num_inputs() != 2) return std::nullopt;
  WeightOnlyMatMulPattern m;
  m.matmul = matmul;
  m.x = matmul->input(0);
  const TensorType& xt = m.x->type();
  if (m.x->is_constant() || xt.dtype != DType::kF32 || !xt.has_shape || xt.shape.rank() < 2)
    return std::nullopt;
  // A dequantized activation makes it an int8 x int8 product (int8-dynamic,
  // static presets), not weight-only.
  if (IsOnnxOp(m.x->producer(), "DequantizeLinear")) return std::nullopt;
  m.dq_w = matmul->input(1)->producer();
  if (!IsOnnxOp(m.dq_w, "DequantizeLinear")) return std::nullopt;
  const Tensor* w = ConstantOf(m.dq_w->input(0));
  const Tensor* scale = ConstantOf(m.dq_w->input(1));
  if (w == nullptr || scale == nullptr || w->rank() != 2 || scale->dtype() != DType::kF32)
    return std::nullopt;
  const int64_t k = w->dim(0), n = w->dim(1);
  if (xt.shape.dims().back().is_symbolic() || xt.shape.dims().back().value() != k)
    return std::nullopt;
  auto axis = m.dq_w->GetInt("axis", 1);
  auto block = m.dq_w->GetInt("block_size", 0);
  if (!axis.ok() || !block.ok()) return std::nullopt;
  if (w->dtype() == DType::kI8) {
    if (*axis != 1 || *block != 0 || scale->numel() != n || !AllZero(m.dq_w->input(2)))
      return std::nullopt;
  } else if (w->dtype() == DType::kU4) {
    const int64_t g = *block;
    if (*axis != 0 || g <= 0) return std::nullopt;
    const int64_t groups = (k + g - 1) / g;
    if (scale->rank() != 2 || scale->dim(0) != groups || scale->dim(1) != n) return std::nullopt;
    if (const Value* zp = m.dq_w->input(2)) {
      const Tensor* z = ConstantOf(zp);
      if (z == nullptr || z->dtype() != DType::kU4 || z->dims() != scale->dims())
        return std::nullopt;
      m.zero_points = *z;
    }
    m.group_size = groups == 1 ? k : g;
  } else {
    return std::nullopt;
  }
  m.codes = *w;
  m.scales = *scale;
  const Node* add = SoleUser(matmul->output(0));
  if (IsOnnxOp(add, "Add")) {
    const Value* b = add->input(0) == matmul->output(0) ? add->input(1) : add->input(0);
    const Tensor* t = ConstantOf(b);
    if (t != nullptr && t->dtype() == DType::kF32 && t->rank() == 1 && t->dim(0) == n) {
      m.add = add;
      m.bias = *t;
    }
  }
  m.gelu = MatchGeluOf(m.last()->output(0));
  return m;
}

// The per-token quantization of x feeding `in`: DequantizeLinear(
// QuantizeLinear(x, scale)) with scale = Max(Div(ReduceMax(Abs(x), last
// axis, keepdims), qmax), min_scale), one block of K per row. Fills m's
// activation fields.
bool MatchPerTokenActivation(const Value* in, DynamicMatMulPattern& m) {
  m.dq_x = ProducerWithUses(in, "DequantizeLinear", 1);
  if (m.dq_x == nullptr) return false;
  m.q = ProducerWithUses(m.dq_x->input(0), "QuantizeLinear", 1);
  if (m.q == nullptr || m.q->input(1) != m.dq_x->input(1) || m.q->input(2) != nullptr ||
      m.dq_x->input(2) != nullptr || m.q->output(0)->type().dtype != DType::kI8)
    return false;
  // x: f32 [..., K], one block of K per row along the last axis.
  m.x = m.q->input(0);
  const TensorType& xt = m.x->type();
  if (xt.dtype != DType::kF32 || !xt.has_shape || xt.shape.rank() < 2) return false;
  const int64_t rank = xt.shape.rank();
  const int64_t k = xt.shape.dims()[rank - 1].value();
  if (k <= 0) return false;
  for (const Node* n : {m.q, m.dq_x}) {
    auto axis = n->GetInt("axis", 1);
    auto block = n->GetInt("block_size", 0);
    if (!axis.ok() || (*axis != rank - 1 && *axis != -1) || !block.ok() || *block != k)
      return false;
  }
  const Value* scale = m.q->input(1);
  m.max = ProducerWithUses(scale, "Max", 2);
  if (m.max == nullptr) return false;
  const Value* raw = nullptr;
  auto min_scale = ScalarOperand(m.max, &raw);
  m.div = ProducerWithUses(raw, "Div", 1);
  if (!min_scale || m.div == nullptr) return false;
  auto qmax = ScalarF32(m.div->input(1));
  m.reduce_max = ProducerWithUses(m.div->input(0), "ReduceMax", 1);
  if (!qmax || m.reduce_max == nullptr) return false;
  auto keepdims = m.reduce_max->GetInt("keepdims", 1);
  const Tensor* axes = ConstantOf(m.reduce_max->input(1));
  if (!keepdims.ok() || *keepdims != 1 || axes == nullptr || axes->dtype() != DType::kI64 ||
      axes->numel() != 1 ||
      (axes->data<int64_t>()[0] != rank - 1 && axes->data<int64_t>()[0] != -1))
    return false;
  m.abs = ProducerWithUses(m.reduce_max->input(0), "Abs", 1);
  if (m.abs == nullptr || m.abs->input(0) != m.x) return false;
  m.qmax = *qmax;
  m.min_scale = *min_scale;
  return m.qmax > 0 && m.min_scale > 0;
}

namespace {

// [GELU] or [Add(residual)] on the product (after its bias).
void MatchDynamicEpilogue(DynamicMatMulPattern& m) {
  const Value* y = m.last()->output(0);
  m.gelu = MatchGeluOf(y);
  const Node* res = m.gelu.empty() ? SoleUser(y) : nullptr;
  if (IsOnnxOp(res, "Add") && res->num_inputs() == 2) {
    const Value* r = res->input(0) == y ? res->input(1) : res->input(0);
    const TensorType &rt = r->type(), &yt = y->type();
    if (r != y && !r->is_constant() && rt.dtype == DType::kF32 && rt.has_shape && yt.has_shape &&
        rt.shape == yt.shape && res->output(0)->type().shape == yt.shape) {
      m.residual_add = res;
      m.residual = r;
    }
  }
}

}  // namespace

std::optional<DynamicMatMulPattern> MatchDynamicMatMul(const Node* matmul) {
  if (!IsOnnxOp(matmul, "MatMul") || matmul->num_inputs() != 2) return std::nullopt;
  DynamicMatMulPattern m;
  m.matmul = matmul;
  if (!MatchPerTokenActivation(matmul->input(0), m)) return std::nullopt;
  const int64_t k = m.x->type().shape.dims().back().value();
  // Weight: i8 [K, N] constant, symmetric, per-tensor or per column.
  m.dq_w = matmul->input(1)->producer();
  const Tensor* w0 = ConstantOf(m.dq_w != nullptr ? m.dq_w->input(0) : nullptr);
  if (w0 == nullptr || w0->rank() != 2 || w0->dim(0) != k) return std::nullopt;
  if (SymmetricWeight(m.dq_w, 2, 1, w0->dim(1)) == nullptr) return std::nullopt;
  // [Add(bias [N])], either operand order.
  const Node* add = SoleUser(matmul->output(0));
  if (IsOnnxOp(add, "Add")) {
    const Value* b = add->input(0) == matmul->output(0) ? add->input(1) : add->input(0);
    const Tensor* t = ConstantOf(b);
    if (t != nullptr && t->dtype() == DType::kF32 && t->rank() == 1 && t->dim(0) == w0->dim(1)) {
      m.add = add;
      m.bias = *t;
    }
  }
  MatchDynamicEpilogue(m);
  return m;
}

std::optional<DynamicMatMulPattern> MatchDynamicGemm(const Node* gemm) {
  if (!IsOnnxOp(gemm, "Gemm") || gemm->num_inputs() < 2) return std::nullopt;
  auto trans_a = gemm->GetInt("transA", 0), trans_b = gemm->GetInt("transB", 0);
  auto alpha = gemm->GetFloat("alpha", 1.f), beta = gemm->GetFloat("beta", 1.f);
  if (!trans_a.ok() || *trans_a != 0 || !trans_b.ok() || *trans_b != 1 || !alpha.ok() ||
      *alpha != 1.f || !beta.ok() || *beta != 1.f)
    return std::nullopt;
  DynamicMatMulPattern m;
  m.matmul = gemm;
  m.weight_nk = true;
  if (!MatchPerTokenActivation(gemm->input(0), m) || m.x->type().shape.rank() != 2)
    return std::nullopt;
  const int64_t k = m.x->type().shape.dims().back().value();
  // Weight: i8 [N, K] constant (transB), symmetric, per-tensor or per row.
  m.dq_w = gemm->input(1)->producer();
  const Tensor* w0 = ConstantOf(m.dq_w != nullptr ? m.dq_w->input(0) : nullptr);
  if (w0 == nullptr || w0->rank() != 2 || w0->dim(1) != k) return std::nullopt;
  if (SymmetricWeight(m.dq_w, 2, 0, w0->dim(0)) == nullptr) return std::nullopt;
  // C: absent, or a constant f32 [N] bias.
  if (gemm->num_inputs() > 2 && gemm->input(2) != nullptr) {
    const Tensor* c = ConstantOf(gemm->input(2));
    if (c == nullptr || c->dtype() != DType::kF32 || c->rank() != 1 || c->dim(0) != w0->dim(0))
      return std::nullopt;
    m.bias = *c;
  }
  MatchDynamicEpilogue(m);
  return m;
}

std::optional<QuantizePattern> MatchQuantize(const Node* q) {
  auto y = PerTensorQuant(q);
  if (!IsOnnxOp(q, "QuantizeLinear") || !y) return std::nullopt;
  const Value* x = q->input(0);
  if (x->is_constant() || x->type().dtype != DType::kF32 || !x->type().has_shape)
    return std::nullopt;
  QuantizePattern m;
  m.q = q;
  m.y = *y;
  m.clamp = CodesOf(q);
  const Node* clip = x->producer();
  if (IsOnnxOp(clip, "Clip") && SoleUser(x) == q) m.clip = clip;
  return m;
}

}  // namespace octet::compile_internal
