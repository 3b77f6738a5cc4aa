// The x86 lowering: QDQ patterns (x86_patterns.h) to oneDNN ops, the rest as
// reference ops. Int8 convolution and pooling keep activations NHWC (the
// layout oneDNN's int8 kernels run on), so a chain of them never changes
// layout; where a value crosses to an op that reads the graph's own layout
// (a reference op, a graph output, the matmul), one x86.convert op reorders it
// once and later readers share the copy. QuantizeLinear / DequantizeLinear
// left over at the edges of int8 regions become x86.convert too, writing NHWC
// directly when an int8 convolution or pooling reads the result.
//
// Emission walks the nodes in graph order and writes each pattern's op where
// its last node (the QuantizeLinear, or the MatMul) stood: every input of the
// pattern is defined by then.
#include <map>
#include <set>

#include "attention_pattern.h"
#include "module_builder.h"
#include "octet/compile/compile.h"
#include "x86_patterns.h"

namespace octet {
namespace {

using compile_internal::AttentionPattern;
using compile_internal::CodesPassThrough;
using compile_internal::ConvPattern;
using compile_internal::DynamicMatMulPattern;
using compile_internal::IntsAttr;
using compile_internal::IsOnnxOp;
using compile_internal::MatMulPattern;
using compile_internal::PoolPattern;
using compile_internal::QuantizePattern;

constexpr const char kInt8Conv[] = "x86.int8_conv";
constexpr const char kInt8MatMul[] = "x86.int8_matmul";
constexpr const char kInt8Pool[] = "x86.int8_pool";
constexpr const char kConvert[] = "x86.convert";
constexpr const char kDynamicMatMul[] = "x86.dynamic_int8_matmul";
constexpr const char kAttention[] = "x86.attention";

enum class Layout { kPlain, kNhwc };

const char* LayoutName(Layout l) { return l == Layout::kNhwc ? "nhwc" : "plain"; }

// N, C, H, W -> N, H, W, C.
TensorType NhwcType(const TensorType& t) {
  const auto& d = t.shape.dims();
  return TensorType(t.dtype, Shape({d[0], d[2], d[3], d[1]}));
}

// Dims 1.. static, dim 0 static or symbolic (a batch): what x86.convert runs.
bool ConvertibleShape(const TensorType& t) {
  if (!t.has_shape || t.shape.rank() < 1) return false;
  const auto& d = t.shape.dims();
  for (size_t i = 0; i < d.size(); ++i)
    if ((i > 0 || !d[i].is_symbolic()) && (d[i].is_symbolic() || d[i].value() < 0)) return false;
  return true;
}

class X86Lowering {
 public:
  X86Lowering(const Graph& graph, const CompileOptions& options)
      : graph_(graph), builder_(graph, options, "x86") {
    if (options.reduce_range) builder_.desc().requirements["reduce_range"] = "1";
  }

  Expected<CompiledModule> Lower() {
    Match();
    OCTET_RETURN_IF_ERROR(builder_.Begin());
    for (const Node* n : graph_.nodes()) {
      if (auto it = convs_.find(n); it != convs_.end()) {
        OCTET_RETURN_IF_ERROR(EmitConv(it->second));
      } else if (auto it = pools_.find(n); it != pools_.end()) {
        OCTET_RETURN_IF_ERROR(EmitPool(it->second));
      } else if (auto it = dynamics_.find(n); it != dynamics_.end()) {
        OCTET_RETURN_IF_ERROR(EmitDynamicMatMul(it->second));
      } else if (auto it = attentions_.find(n); it != attentions_.end()) {
        OCTET_RETURN_IF_ERROR(EmitAttention(it->second));
      } else if (auto it = matmuls_.find(n); it != matmuls_.end()) {
        OCTET_RETURN_IF_ERROR(EmitMatMul(it->second));
      } else if (auto it = passes_.find(n); it != passes_.end()) {
        OCTET_RETURN_IF_ERROR(EmitPassThrough(it->second));
      } else if (auto it = quantizes_.find(n); it != quantizes_.end()) {
        OCTET_RETURN_IF_ERROR(EmitQuantize(it->second));
      } else if (!absorbed_.count(n)) {
        const bool dequantize =
            IsOnnxOp(n, "DequantizeLinear") && compile_internal::PerTensorQuant(n) &&
            !n->input(0)->is_constant() && ConvertibleShape(n->input(0)->type());
        OCTET_RETURN_IF_ERROR(dequantize ? EmitDequantize(*n) : EmitReference(*n));
      }
    }
    auto& meta = builder_.desc().metadata;
    meta[kInt8Conv] = std::to_string(convs_.size());
    meta[kInt8MatMul] = std::to_string(matmuls_.size());
    meta[kInt8Pool] = std::to_string(pools_.size());
    meta[kConvert] = std::to_string(converts_);
    meta[kDynamicMatMul] = std::to_string(dynamics_.size());
    meta[kAttention] = std::to_string(attentions_.size());
    return builder_.Finish();
  }

 private:
  // Finds every pattern (keyed by the node it is emitted at), the nodes they
  // absorb, and the values int8 NHWC ops read.
  void Match() {
    const std::vector<Node*> nodes = graph_.nodes();
    // Float attention first: its MatMuls must not be taken by other patterns.
    for (const Node* n : nodes) {
      if (auto a = compile_internal::MatchAttention(n)) {
        for (const Node* x : a->absorbed) absorbed_.insert(x);
        attentions_.emplace(a->pv, std::move(*a));
      }
    }
    for (const Node* n : nodes) {
      if (absorbed_.count(n)) continue;
      if (auto m = compile_internal::MatchConv(n)) {
        absorb({m->conv, m->add, m->relu, m->clip, m->q});
        wants_nhwc_.insert(m->dq_x->input(0));
        if (m->dq_r != nullptr) wants_nhwc_.insert(m->dq_r->input(0));
        convs_.emplace(m->q, std::move(*m));
      } else if (auto p = compile_internal::MatchPool(n)) {
        absorb({p->pool, p->clip, p->q});
        wants_nhwc_.insert(p->dq_x->input(0));
        pools_.emplace(p->q, std::move(*p));
      } else if (auto d = compile_internal::MatchDynamicMatMul(n)) {
        absorb({d->abs, d->reduce_max, d->div, d->max, d->q, d->dq_x, d->matmul, d->add,
                d->residual_add});
        for (const Node* g : d->gelu) absorb({g});
        dynamics_.emplace(d->last(), std::move(*d));
      } else if (auto mm = compile_internal::MatchMatMul(n)) {
        absorb({n});
        matmuls_.emplace(n, std::move(*mm));
      } else if (auto t = compile_internal::MatchCodesPassThrough(n)) {
        absorb({t->op, t->clip, t->q});
        passes_.emplace(t->q, std::move(*t));
      }
    }
    for (const Node* n : nodes) {
      if (absorbed_.count(n)) continue;
      auto q = compile_internal::MatchQuantize(n);
      if (q && ConvertibleShape(n->input(0)->type())) {
        if (q->clip != nullptr) absorb({q->clip});
        quantizes_.emplace(n, std::move(*q));
      }
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
  }

  void absorb(std::initializer_list<const Node*> nodes) {
    for (const Node* n : nodes)
      if (n != nullptr) absorbed_.insert(n);
  }

  // The slot holding `v` in `layout`, converting (once) from the layout it
  // was written in.
  Expected<int32_t> SlotIn(const Value* v, Layout layout) {
    if (layout == Layout::kNhwc) {
      if (auto it = nhwc_.find(v); it != nhwc_.end()) return it->second;
      OCTET_ASSIGN_OR_RETURN(int32_t plain, builder_.InputSlot(v));
      const int32_t slot = builder_.AddActivation(v->name() + "/nhwc", NhwcType(v->type()));
      nhwc_[v] = slot;
      EmitConvert(v->name() + "/to_nhwc", plain, Layout::kPlain, slot, Layout::kNhwc, 1.f, 0);
      return slot;
    }
    if (builder_.HasSlot(v) || v->is_constant()) return builder_.InputSlot(v);
    auto it = nhwc_.find(v);
    if (it == nhwc_.end()) return Internal("value '", v->name(), "' is used before it is defined");
    const int32_t slot = builder_.OutputSlot(v);
    EmitConvert(v->name() + "/to_plain", it->second, Layout::kNhwc, slot, Layout::kPlain, 1.f, 0);
    return slot;
  }

  // The slot an NHWC op writes `v` into; a graph output also gets its plain copy.
  int32_t DefineNhwc(const Value* v) {
    const int32_t slot = builder_.AddActivation(v->name() + "/nhwc", NhwcType(v->type()));
    nhwc_[v] = slot;
    return slot;
  }
  Status FinishNhwc(const Value* v) {
    if (builder_.IsGraphOutput(v)) return SlotIn(v, Layout::kPlain).status();
    return Status::Ok();
  }

  void EmitConvert(const std::string& name, int32_t in, Layout in_layout, int32_t out,
                   Layout out_layout, float scale, int32_t zero_point, int32_t clamp_lo = -128,
                   int32_t clamp_hi = 255) {
    ModuleOp op;
    op.kernel = kConvert;
    op.name = name;
    op.inputs = {in};
    op.outputs = {out};
    op.attrs = {{"src_layout", std::string(LayoutName(in_layout))},
                {"dst_layout", std::string(LayoutName(out_layout))},
                {"scale", scale},
                {"zero_point", int64_t{zero_point}},
                {"clamp_lo", int64_t{clamp_lo}},
                {"clamp_hi", int64_t{clamp_hi}}};
    builder_.AddOp(std::move(op));
    ++converts_;
  }

  // Inputs: x u8 NHWC, weight i8 [O, C/g, kH, kW], weight scales f32 [O] or
  // [1], bias f32 [O] (absent: -1), [residual NHWC, which the output may
  // overwrite in place]. The weight and its scales are the graph's own
  // constants, so weights shared by several convolutions are stored once.
  Status EmitConv(const ConvPattern& m) {
    const Node& conv = *m.conv;
    ModuleOp op;
    op.kernel = kInt8Conv;
    op.name = conv.name();
    auto x = SlotIn(m.dq_x->input(0), Layout::kNhwc);
    if (!x.ok()) return x.status().WithContext(conv.Describe());
    op.inputs.push_back(*x);
    for (const Value* v : {m.dq_w->input(0), m.dq_w->input(1)}) {
      auto slot = builder_.InputSlot(v);
      if (!slot.ok()) return slot.status().WithContext(conv.Describe());
      op.inputs.push_back(*slot);
    }
    op.inputs.push_back(
        m.bias.defined() ? builder_.AddConstantTensor(conv.name() + "/bias_f32", m.bias) : -1);
    if (m.add != nullptr) {
      auto r = SlotIn(m.dq_r->input(0), Layout::kNhwc);
      if (!r.ok()) return r.status().WithContext(conv.Describe());
      op.inputs.push_back(*r);
      op.inplace.push_back({0, 4});
      op.attrs.push_back({"sum_scale", m.r.scale});
      op.attrs.push_back({"sum_zero_point", int64_t{m.r.zero_point}});
    }
    const Value* y = m.q->output(0);
    op.outputs.push_back(DefineNhwc(y));
    op.attrs.push_back({"layout", std::string("nhwc")});
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
    op.attrs.push_back({"x_scale", m.x.scale});
    op.attrs.push_back({"x_zero_point", int64_t{m.x.zero_point}});
    op.attrs.push_back({"y_scale", m.y.scale});
    op.attrs.push_back({"y_zero_point", int64_t{m.y.zero_point}});
    builder_.AddOp(std::move(op));
    return FinishNhwc(y);
  }

  // x int8 NHWC -> y int8 NHWC with the same parameters.
  Status EmitPool(const PoolPattern& m) {
    ModuleOp op;
    op.kernel = kInt8Pool;
    op.name = m.pool->name();
    auto x = SlotIn(m.dq_x->input(0), Layout::kNhwc);
    if (!x.ok()) return x.status().WithContext(m.pool->Describe());
    op.inputs = {*x};
    const Value* y = m.q->output(0);
    op.outputs = {DefineNhwc(y)};
    op.attrs = {{"kind", std::string(m.kind)},
                {"kernel", std::vector<int64_t>(m.kernel.begin(), m.kernel.end())},
                {"strides", std::vector<int64_t>(m.strides.begin(), m.strides.end())},
                {"dilations", std::vector<int64_t>(m.dilations.begin(), m.dilations.end())},
                {"pads", std::vector<int64_t>(m.pads.begin(), m.pads.end())},
                {"clamp_lo", int64_t{m.clamp.lo}},
                {"clamp_hi", int64_t{m.clamp.hi}}};
    builder_.AddOp(std::move(op));
    return FinishNhwc(y);
  }

  // Inputs: x u8 [M, K], weight i8 [K, N] (transposed here for Gemm transB),
  // weight scales f32 [N] or [1], bias f32 [N] (absent: -1). Output f32 [M, N].
  Status EmitMatMul(const MatMulPattern& m) {
    const Node& n = *m.node;
    ModuleOp op;
    op.kernel = kInt8MatMul;
    op.name = n.name();
    auto x = SlotIn(m.dq_x->input(0), Layout::kPlain);
    auto scales = builder_.InputSlot(m.dq_w->input(1));
    if (!x.ok()) return x.status().WithContext(n.Describe());
    if (!scales.ok()) return scales.status().WithContext(n.Describe());
    op.inputs = {
        *x, builder_.AddConstantTensor(n.name() + "/w_kn", m.weights), *scales,
        m.bias.defined() ? builder_.AddConstantTensor(n.name() + "/bias_f32", m.bias) : -1};
    op.outputs.push_back(builder_.OutputSlot(n.output(0)));
    op.attrs.push_back({"x_scale", m.x.scale});
    op.attrs.push_back({"x_zero_point", int64_t{m.x.zero_point}});
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  // Inputs: x f32 [..., K], weight i8 [K, N], weight scales f32 [N] or [1],
  // bias f32 [N] (absent: -1), [residual f32 [..., N], which the output may
  // overwrite in place]. Output f32 [..., N], after the optional GELU. Rows
  // are quantized per token at run time exactly as the graph's
  // Abs/ReduceMax/Div/Max/Q do.
  Status EmitDynamicMatMul(const DynamicMatMulPattern& m) {
    const Node& n = *m.matmul;
    ModuleOp op;
    op.kernel = kDynamicMatMul;
    op.name = n.name();
    auto x = SlotIn(m.x, Layout::kPlain);
    auto w = builder_.InputSlot(m.dq_w->input(0));
    auto scales = builder_.InputSlot(m.dq_w->input(1));
    for (const auto* e : {&x, &w, &scales})
      if (!e->ok()) return e->status().WithContext(n.Describe());
    op.inputs = {*x, *w, *scales,
                 m.bias.defined() ? builder_.AddConstantTensor(n.name() + "/bias", m.bias) : -1};
    if (m.residual != nullptr) {
      auto r = SlotIn(m.residual, Layout::kPlain);
      if (!r.ok()) return r.status().WithContext(n.Describe());
      op.inputs.push_back(*r);
      op.inplace.push_back({0, 4});  // the sum reads the residual from the output
    }
    op.outputs.push_back(builder_.OutputSlot(m.last()->output(0)));
    op.attrs = {{"qmax", m.qmax},
                {"min_scale", m.min_scale},
                {"activation", std::string(m.gelu.empty() ? "none" : "gelu_erf")}};
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  // Inputs: q, k, v f32 [..., tokens, channels] (q unscaled, k not
  // transposed) or, with qkv_heads = H > 0, one packed qkv [B, ..., 3*H*d]
  // and two -1; relative-position tables Rh [q_h, k_h, d] and Rw [q_w, k_w,
  // d] (absent: -1). Output f32 [..., q tokens, v channels], or with
  // out_interleaved qkv's dims with H*d last ([B, N, H, d] order).
  Status EmitAttention(const AttentionPattern& m) {
    const Node& n = *m.pv;
    ModuleOp op;
    op.kernel = kAttention;
    op.name = m.softmax->name();
    for (const Value* v : {m.q, m.k, m.v}) {
      if (m.qkv != nullptr && v != m.q) {
        op.inputs.push_back(-1);
        continue;
      }
      auto slot = SlotIn(m.qkv != nullptr ? m.qkv : v, Layout::kPlain);
      if (!slot.ok()) return slot.status().WithContext(n.Describe());
      op.inputs.push_back(*slot);
    }
    for (const auto& [table, suffix] :
         {std::pair{&m.rel_pos_h, "/rel_pos_h"}, std::pair{&m.rel_pos_w, "/rel_pos_w"}})
      op.inputs.push_back(table->defined() ? builder_.AddConstantTensor(op.name + suffix, *table)
                                           : -1);
    op.outputs.push_back(builder_.OutputSlot(m.output()));
    op.attrs = {{"scale", m.scale},
                {"qkv_heads", m.heads},
                {"out_interleaved", int64_t{m.out_last != nullptr}}};
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  // The shared op as a reference op on the codes.
  Status EmitPassThrough(const CodesPassThrough& m) {
    std::vector<const Value*> inputs(m.op->inputs().begin(), m.op->inputs().end());
    inputs[0] = m.dq_x->input(0);
    OCTET_RETURN_IF_ERROR(SlotIn(inputs[0], Layout::kPlain).status());
    return builder_.AddReferenceOpOn(*m.op, inputs, {m.q->output(0)});
  }

  Status EmitQuantize(const QuantizePattern& m) {
    const Value* x = m.clip != nullptr ? m.clip->input(0) : m.q->input(0);
    const Value* y = m.q->output(0);
    auto in = SlotIn(x, Layout::kPlain);
    if (!in.ok()) return in.status().WithContext(m.q->Describe());
    const bool nhwc = wants_nhwc_.count(y) && y->type().shape.rank() == 4;
    const int32_t out = nhwc ? DefineNhwc(y) : builder_.OutputSlot(y);
    EmitConvert(m.q->name(), *in, Layout::kPlain, out, nhwc ? Layout::kNhwc : Layout::kPlain,
                m.y.scale, m.y.zero_point, m.clamp.lo, m.clamp.hi);
    return nhwc ? FinishNhwc(y) : Status::Ok();
  }

  // Reads the codes in whichever layout they exist (no reorder first).
  Status EmitDequantize(const Node& dq) {
    auto quant = compile_internal::PerTensorQuant(&dq);
    const Value* x = dq.input(0);
    const bool nhwc = !builder_.HasSlot(x) && nhwc_.count(x);
    auto in = SlotIn(x, nhwc ? Layout::kNhwc : Layout::kPlain);
    if (!in.ok()) return in.status().WithContext(dq.Describe());
    EmitConvert(dq.name(), *in, nhwc ? Layout::kNhwc : Layout::kPlain,
                builder_.OutputSlot(dq.output(0)), Layout::kPlain, quant->scale, quant->zero_point);
    return Status::Ok();
  }

  Status EmitReference(const Node& n) {
    for (const Value* v : n.inputs())
      if (v != nullptr) OCTET_RETURN_IF_ERROR(SlotIn(v, Layout::kPlain).status());
    return builder_.AddReferenceOp(n);
  }

  const Graph& graph_;
  compile_internal::ModuleBuilder builder_;
  std::set<const Node*> absorbed_;
  std::map<const Node*, ConvPattern> convs_;
  std::map<const Node*, PoolPattern> pools_;
  std::map<const Node*, MatMulPattern> matmuls_;
  std::map<const Node*, DynamicMatMulPattern> dynamics_;  // keyed by the last node
  std::map<const Node*, AttentionPattern> attentions_;    // keyed by P x V
  std::map<const Node*, CodesPassThrough> passes_;
  std::map<const Node*, QuantizePattern> quantizes_;
  std::set<const Value*> wants_nhwc_;
  std::map<const Value*, int32_t> nhwc_;  // values written (or copied) in NHWC
  int converts_ = 0;
};

}  // namespace

Expected<CompiledModule> CompileForX86(Model model, const CompileOptions& options) {
  OCTET_RETURN_IF_ERROR(compile_internal::SimplifyForCompile(model, options));
  return X86Lowering(*model.graph, options).Lower();
}

}  // namespace octet
