// The x86 lowering: QDQ patterns to oneDNN int8 ops, the rest as reference
// ops. Matching reads the graph only; emission then walks the nodes in order,
// writing each pattern's op where its QuantizeLinear stood (every input of
// the pattern is defined by then) and skipping the nodes it absorbed.
#include <optional>
#include <set>

#include "module_builder.h"
#include "octet/compile/compile.h"

namespace octet {
namespace {

constexpr const char kInt8ConvKernel[] = "x86.int8_conv";
constexpr const char kInt8MatMulKernel[] = "x86.int8_matmul";

bool IsOnnxOp(const Node* n, const char* op_type) {
  return n != nullptr && n->domain().empty() && n->op_type() == op_type;
}

// The only user of `v`, or null when it has several or is a graph output.
const Node* SoleUser(const Value* v) {
  if (v == nullptr || v->is_graph_output() || v->uses().size() != 1) return nullptr;
  return v->uses()[0].node;
}

const Tensor* ConstantOf(const Value* v) {
  return v != nullptr && v->is_constant() ? &v->constant() : nullptr;
}

std::optional<float> ScalarF32(const Value* v) {
  const Tensor* t = ConstantOf(v);
  if (t == nullptr || t->dtype() != DType::kF32 || t->numel() != 1) return std::nullopt;
  return t->data<float>()[0];
}

// A per-tensor zero point of `dtype`; an absent one is 0.
std::optional<int32_t> ScalarZeroPoint(const Value* v, DType dtype) {
  if (v == nullptr) return 0;
  const Tensor* t = ConstantOf(v);
  if (t == nullptr || t->dtype() != dtype || t->numel() != 1) return std::nullopt;
  return dtype == DType::kU8 ? int32_t{t->data<uint8_t>()[0]} : int32_t{t->data<int8_t>()[0]};
}

bool AllZero(const Value* zp) {
  if (zp == nullptr) return true;
  const Tensor* t = ConstantOf(zp);
  if (t == nullptr) return false;
  const auto* p = static_cast<const uint8_t*>(t->raw());
  for (int64_t i = 0; i < t->nbytes(); ++i)
    if (p[i] != 0) return false;
  return true;
}

std::vector<int64_t> IntsAttr(const Node& n, const char* name, std::vector<int64_t> dflt) {
  const Attribute* a = n.FindAttr(name);
  return a != nullptr && a->kind() == Attribute::Kind::kInts ? a->ints() : dflt;
}

struct QuantizedConvRelu {
  const Node* dq_x = nullptr;
  const Node* dq_w = nullptr;
  const Node* conv = nullptr;
  const Node* relu = nullptr;  // optional
  const Node* clip = nullptr;  // optional: reduce_range's clamp to the 7-bit range
  float clip_min = 0.f, clip_max = 0.f;
  const Node* q = nullptr;
  Tensor bias;  // f32 [O] in real units, undefined without bias
  float x_scale = 1.f, y_scale = 1.f;
  int32_t x_zero_point = 0, y_zero_point = 0;
};

// The bias input of a matched Conv as f32 real values: DequantizeLinear of an
// int32 constant (the quantizer's b_q with scale s_x * s_w, evaluated here as
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

// Matches the pattern whose Conv is `conv` (see compile.h).
std::optional<QuantizedConvRelu> MatchConv(const Node* conv) {
  if (!IsOnnxOp(conv, "Conv") || conv->num_inputs() < 2) return std::nullopt;
  QuantizedConvRelu m;
  m.conv = conv;
  // Activation: u8, per-tensor, of a static shape except the batch.
  m.dq_x = conv->input(0)->producer();
  if (!IsOnnxOp(m.dq_x, "DequantizeLinear")) return std::nullopt;
  const Value* xq = m.dq_x->input(0);
  const TensorType& xt = xq->type();
  if (xq->is_constant() || xt.dtype != DType::kU8 || !xt.has_shape || xt.shape.rank() != 4)
    return std::nullopt;
  for (int i = 1; i < 4; ++i)
    if (xt.shape.dims()[i].is_symbolic() || xt.shape.dims()[i].value() < 0) return std::nullopt;
  auto xs = ScalarF32(m.dq_x->input(1));
  auto xz = ScalarZeroPoint(m.dq_x->input(2), DType::kU8);
  if (!xs || !xz) return std::nullopt;
  m.x_scale = *xs;
  m.x_zero_point = *xz;
  // Weight: i8 constant [O, C/g, kH, kW], symmetric, per-tensor or per-channel on axis 0.
  m.dq_w = conv->input(1)->producer();
  if (!IsOnnxOp(m.dq_w, "DequantizeLinear")) return std::nullopt;
  const Tensor* w = ConstantOf(m.dq_w->input(0));
  const Tensor* ws = ConstantOf(m.dq_w->input(1));
  if (w == nullptr || w->dtype() != DType::kI8 || w->dims().size() != 4 || ws == nullptr ||
      ws->dtype() != DType::kF32 || !AllZero(m.dq_w->input(2)))
    return std::nullopt;
  const int64_t channels = w->dims()[0];
  if (ws->numel() != 1) {
    auto axis = m.dq_w->GetInt("axis", 1);
    if (!axis.ok() || *axis != 0 || ws->dims().size() != 1 || ws->numel() != channels)
      return std::nullopt;
  }
  if (m.dq_w->HasAttr("block_size")) return std::nullopt;
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
  // [Relu] -> QuantizeLinear(per-tensor, u8).
  const Node* next = SoleUser(conv->output(0));
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
  if (!IsOnnxOp(next, "QuantizeLinear") || next->output(0)->type().dtype != DType::kU8)
    return std::nullopt;
  m.q = next;
  auto ys = ScalarF32(m.q->input(1));
  auto yz = ScalarZeroPoint(m.q->input(2), DType::kU8);
  if (!ys || !yz) return std::nullopt;
  m.y_scale = *ys;
  m.y_zero_point = *yz;
  return m;
}

struct QuantizedMatMul {
  const Node* dq_x = nullptr;
  const Node* dq_w = nullptr;
  const Node* node = nullptr;  // MatMul or Gemm; its f32 output is the op's output
  Tensor weights;              // i8 [K, N]
  Tensor bias;                 // f32 [N] or undefined
  float x_scale = 1.f;
  int32_t x_zero_point = 0;
};

// DequantizeLinear(x u8 [M, K], per-tensor) -> MatMul / Gemm(DequantizeLinear(w i8
// constant, symmetric, per-tensor or per output column), [bias]) with an f32
// output (the classifier head). Requantized outputs need a clip post-op in
// Int8MatMul first (reduce_range's Clip), so they are not matched yet.
std::optional<QuantizedMatMul> MatchMatMul(const Node* n) {
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
  QuantizedMatMul m;
  m.node = n;
  m.dq_x = n->input(0)->producer();
  if (!IsOnnxOp(m.dq_x, "DequantizeLinear")) return std::nullopt;
  const Value* xq = m.dq_x->input(0);
  const TensorType& xt = xq->type();
  if (xq->is_constant() || xt.dtype != DType::kU8 || !xt.has_shape || xt.shape.rank() != 2 ||
      xt.shape.dims()[1].value() < 0)
    return std::nullopt;
  auto xs = ScalarF32(m.dq_x->input(1));
  auto xz = ScalarZeroPoint(m.dq_x->input(2), DType::kU8);
  if (!xs || !xz) return std::nullopt;
  m.x_scale = *xs;
  m.x_zero_point = *xz;
  m.dq_w = n->input(1)->producer();
  if (!IsOnnxOp(m.dq_w, "DequantizeLinear") || m.dq_w->HasAttr("block_size")) return std::nullopt;
  const Tensor* w = ConstantOf(m.dq_w->input(0));
  const Tensor* ws = ConstantOf(m.dq_w->input(1));
  if (w == nullptr || w->dtype() != DType::kI8 || w->dims().size() != 2 || ws == nullptr ||
      ws->dtype() != DType::kF32 || !AllZero(m.dq_w->input(2)))
    return std::nullopt;
  const int64_t k = trans_b ? w->dims()[1] : w->dims()[0];
  const int64_t cols = trans_b ? w->dims()[0] : w->dims()[1];
  if (k != xt.shape.dims()[1].value()) return std::nullopt;
  if (ws->numel() != 1) {  // one scale per output column: axis 0 of [N, K], axis 1 of [K, N]
    auto axis = m.dq_w->GetInt("axis", 1);
    if (!axis.ok() || *axis != (trans_b ? 0 : 1) || ws->numel() != cols) return std::nullopt;
  }
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

class X86Lowering {
 public:
  X86Lowering(const Graph& graph, const CompileOptions& options)
      : graph_(graph), builder_(graph, options, "x86") {
    if (options.reduce_range) builder_.desc().requirements["reduce_range"] = "1";
  }

  Expected<CompiledModule> Lower() {
    const std::vector<Node*> nodes = graph_.nodes();
    std::map<const Node*, QuantizedConvRelu> convs;  // keyed by the pattern's QuantizeLinear
    for (const Node* n : nodes) {
      auto m = MatchConv(n);
      if (!m) continue;
      absorbed_.insert({m->conv, m->q});
      if (m->relu != nullptr) absorbed_.insert(m->relu);
      if (m->clip != nullptr) absorbed_.insert(m->clip);
      convs.emplace(m->q, std::move(*m));
    }
    std::map<const Node*, QuantizedMatMul> matmuls;  // keyed by the MatMul / Gemm
    for (const Node* n : nodes) {
      auto m = MatchMatMul(n);
      if (!m) continue;
      absorbed_.insert(n);
      matmuls.emplace(n, std::move(*m));
    }
    // DequantizeLinear nodes read only by absorbed nodes go too (walking
    // backwards, so a chain of them is seen user first).
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      const Node* n = *it;
      if (!IsOnnxOp(n, "DequantizeLinear") || n->output(0)->is_graph_output()) continue;
      bool all_absorbed = true;
      for (const Use& u : n->output(0)->uses())
        all_absorbed = all_absorbed && absorbed_.count(u.node);
      if (all_absorbed) absorbed_.insert(n);
    }
    builder_.desc().metadata[kInt8ConvKernel] = std::to_string(convs.size());
    builder_.desc().metadata[kInt8MatMulKernel] = std::to_string(matmuls.size());

    OCTET_RETURN_IF_ERROR(builder_.Begin());
    for (const Node* n : nodes) {
      auto c = convs.find(n);
      if (c != convs.end()) {
        OCTET_RETURN_IF_ERROR(EmitConv(c->second));
      } else if (auto mm = matmuls.find(n); mm != matmuls.end()) {
        OCTET_RETURN_IF_ERROR(EmitMatMul(mm->second));
      } else if (!absorbed_.count(n)) {
        OCTET_RETURN_IF_ERROR(builder_.AddReferenceOp(*n));
      }
    }
    return builder_.Finish();
  }

 private:
  // Inputs: x u8, weight i8 [O, C/g, kH, kW], weight scales f32 [O] or [1],
  // bias f32 [O] (absent: -1). The weight and its scales are the graph's own
  // constants, so weights shared by several convolutions are stored once.
  Status EmitConv(const QuantizedConvRelu& m) {
    const Node& conv = *m.conv;
    ModuleOp op;
    op.kernel = kInt8ConvKernel;
    op.name = conv.name();
    for (const Value* v : {m.dq_x->input(0), m.dq_w->input(0), m.dq_w->input(1)}) {
      auto slot = builder_.InputSlot(v);
      if (!slot.ok()) return slot.status().WithContext(conv.Describe());
      op.inputs.push_back(*slot);
    }
    op.inputs.push_back(
        m.bias.defined() ? builder_.AddConstantTensor(conv.name() + "/bias_f32", m.bias) : -1);
    op.outputs.push_back(builder_.OutputSlot(m.q->output(0)));
    op.attrs.push_back({"strides", IntsAttr(conv, "strides", {1, 1})});
    op.attrs.push_back({"dilations", IntsAttr(conv, "dilations", {1, 1})});
    op.attrs.push_back({"pads", IntsAttr(conv, "pads", {0, 0, 0, 0})});
    auto group = conv.GetInt("group", 1);
    if (!group.ok()) return group.status();
    op.attrs.push_back({"group", *group});
    op.attrs.push_back({"relu", int64_t{m.relu != nullptr}});
    if (m.clip != nullptr) {  // after the Relu, as in the graph
      op.attrs.push_back({"clip_min", m.clip_min});
      op.attrs.push_back({"clip_max", m.clip_max});
    }
    op.attrs.push_back({"x_scale", m.x_scale});
    op.attrs.push_back({"x_zero_point", int64_t{m.x_zero_point}});
    op.attrs.push_back({"y_scale", m.y_scale});
    op.attrs.push_back({"y_zero_point", int64_t{m.y_zero_point}});
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  // Inputs: x u8 [M, K], weight i8 [K, N] (transposed here for Gemm transB),
  // weight scales f32 [N] or [1], bias f32 [N] (absent: -1). Output f32 [M, N].
  Status EmitMatMul(const QuantizedMatMul& m) {
    const Node& n = *m.node;
    ModuleOp op;
    op.kernel = kInt8MatMulKernel;
    op.name = n.name();
    auto x = builder_.InputSlot(m.dq_x->input(0));
    auto scales = builder_.InputSlot(m.dq_w->input(1));
    if (!x.ok()) return x.status().WithContext(n.Describe());
    if (!scales.ok()) return scales.status().WithContext(n.Describe());
    op.inputs = {
        *x, builder_.AddConstantTensor(n.name() + "/w_kn", m.weights), *scales,
        m.bias.defined() ? builder_.AddConstantTensor(n.name() + "/bias_f32", m.bias) : -1};
    op.outputs.push_back(builder_.OutputSlot(n.output(0)));
    op.attrs.push_back({"x_scale", m.x_scale});
    op.attrs.push_back({"x_zero_point", int64_t{m.x_zero_point}});
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  const Graph& graph_;
  compile_internal::ModuleBuilder builder_;
  std::set<const Node*> absorbed_;
};

}  // namespace

Expected<CompiledModule> CompileForX86(Model model, const CompileOptions& options) {
  OCTET_RETURN_IF_ERROR(compile_internal::SimplifyForCompile(model, options));
  return X86Lowering(*model.graph, options).Lower();
}

}  // namespace octet
