#include "octet/quant/convert.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "octet/passes/shape_inference.h"

namespace octet::quant {
namespace {

// Position of every node, so a rewrite can insert before the earliest consumer.
std::unordered_map<const Node*, size_t> NodePositions(const Graph& g) {
  std::unordered_map<const Node*, size_t> pos;
  const std::vector<Node*> nodes = g.nodes();
  for (size_t i = 0; i < nodes.size(); ++i) pos[nodes[i]] = i;
  return pos;
}

Value* AddConst(Graph& g, const std::string& base, Tensor t) {
  return g.AddConstant(g.UniqueValueName(base), std::move(t));
}

Tensor ScalarOf(DType dtype, double v) {
  Tensor t(dtype, {});
  t.SetFromDouble(0, v);
  return t;
}

// Element e of a weight viewed as [outer, axis_dim, inner] maps to parameter
// o * (blocks * inner) + (a / block) * inner + i (per-group); per-channel: to
// its channel a alone (1-D parameters); per-tensor: everything maps to 0.
struct ParamIndex {
  int64_t outer = 1, axis_dim = 1, inner = 1, block = 1, blocks = 1;
  bool per_tensor = true, per_channel = false;
  int64_t operator()(int64_t e) const {
    if (per_tensor) return 0;
    const int64_t i = e % inner, a = (e / inner) % axis_dim, o = e / (inner * axis_dim);
    if (per_channel) return a;
    return (o * blocks + a / block) * inner + i;
  }
  int64_t count() const { return per_tensor ? 1 : per_channel ? axis_dim : outer * blocks * inner; }
};

Expected<ParamIndex> WeightParamIndex(const Tensor& w, const QuantScheme& s) {
  ParamIndex p;
  if (s.granularity == Granularity::kPerTensor) return p;
  const int axis = s.axis < 0 ? s.axis + w.rank() : s.axis;
  if (axis < 0 || axis >= w.rank())
    return InvalidArgument("weight ", w.ShapeString(), ": axis ", s.axis, " is out of range");
  p.per_tensor = false;
  for (int d = 0; d < w.rank(); ++d) {
    if (d < axis) p.outer *= w.dim(d);
    if (d > axis) p.inner *= w.dim(d);
  }
  p.axis_dim = w.dim(axis);
  if (s.granularity == Granularity::kPerChannel) {
    // Per-channel parameters are 1-D over the axis (DequantizeLinear's
    // per-axis form): outer and inner must not index them.
    p.blocks = p.axis_dim;
    p.per_channel = true;
    return p;
  }
  if (s.granularity != Granularity::kPerGroup)
    return InvalidArgument("weights cannot be quantized ", GranularityName(s.granularity));
  p.block = s.group_size;
  p.blocks = (p.axis_dim + p.block - 1) / p.block;
  return p;
}

}  // namespace

Expected<QuantizedWeight> QuantizeWeight(const Tensor& w, const QuantScheme& scheme) {
  if (w.dtype() != DType::kF32)
    return InvalidArgument("weight of dtype ", DTypeName(w.dtype()),
                           " cannot be quantized (f32 only)");
  OCTET_ASSIGN_OR_RETURN(ParamIndex p, WeightParamIndex(w, scheme));
  const float* x = w.data<float>();
  const int64_t n = w.numel();
  const int64_t count = p.count();
  std::vector<double> lo(count, std::numeric_limits<double>::infinity()),
      hi(count, -std::numeric_limits<double>::infinity());
  for (int64_t e = 0; e < n; ++e) {
    if (!std::isfinite(x[e]))
      return InvalidArgument("weight ", w.ShapeString(), " holds a non-finite value at element ",
                             e);
    const int64_t k = p(e);
    lo[k] = std::min(lo[k], static_cast<double>(x[e]));
    hi[k] = std::max(hi[k], static_cast<double>(x[e]));
  }
  std::vector<ScaleZeroPoint> sz(count);
  for (int64_t k = 0; k < count; ++k)
    sz[k] = ChooseScaleZeroPoint(std::isfinite(lo[k]) ? lo[k] : 0, std::isfinite(hi[k]) ? hi[k] : 0,
                                 scheme);
  QuantizedWeight out;
  std::vector<int64_t> param_dims;
  if (scheme.granularity == Granularity::kPerChannel) {
    param_dims = {p.axis_dim};
  } else if (scheme.granularity == Granularity::kPerGroup) {
    param_dims = w.dims();
    param_dims[scheme.axis < 0 ? scheme.axis + w.rank() : scheme.axis] = p.blocks;
  }
  out.scale = Tensor(DType::kF32, param_dims);
  const bool has_zero_point =
      std::any_of(sz.begin(), sz.end(), [](const ScaleZeroPoint& s) { return s.zero_point != 0; });
  if (has_zero_point || !scheme.symmetric) out.zero_point = Tensor(scheme.dtype, param_dims);
  for (int64_t k = 0; k < count; ++k) {
    out.scale.data<float>()[k] = sz[k].scale;
    if (out.zero_point.defined()) out.zero_point.SetFromDouble(k, sz[k].zero_point);
  }
  out.q = Tensor(scheme.dtype, w.dims());
  const double qmin = static_cast<double>(scheme.qmin()), qmax = static_cast<double>(scheme.qmax());
  for (int64_t e = 0; e < n; ++e) {
    const ScaleZeroPoint& s = sz[p(e)];
    // float / float then round half to even: what QuantizeLinear computes.
    const double r = std::nearbyint(x[e] / s.scale) + s.zero_point;
    out.q.SetFromDouble(e, std::clamp(r, qmin, qmax));
  }
  return out;
}

Expected<Tensor> DequantizeWeight(const QuantizedWeight& qw, const QuantScheme& scheme) {
  OCTET_ASSIGN_OR_RETURN(ParamIndex p, WeightParamIndex(qw.q, scheme));
  Tensor w(DType::kF32, qw.q.dims());
  float* out = w.data<float>();
  const float* scale = qw.scale.data<float>();
  for (int64_t e = 0; e < qw.q.numel(); ++e) {
    const int64_t k = p(e);
    const double zp = qw.zero_point.defined() ? qw.zero_point.GetAsDouble(k) : 0.0;
    // DequantizeLinear's arithmetic: float scale times the integer difference.
    out[e] = scale[k] * static_cast<float>(qw.q.GetAsDouble(e) - zp);
  }
  return w;
}

Status InsertObservers(Graph& graph, const QuantPlan& plan) {
  auto pos = NodePositions(graph);
  const std::vector<Node*> nodes = graph.nodes();
  for (const ActivationGroup& group : plan.groups) {
    if (group.scheme.dynamic) continue;
    Value* v = graph.FindValue(group.observed_value);
    if (v == nullptr)
      return InvalidArgument("observer for group ", group.id, ": value '", group.observed_value,
                             "' is not in the graph");
    // Right after the producer, so the value can be freed as soon as its
    // consumers and the observer are done with it.
    const Node* before = nullptr;
    if (v->producer() == nullptr) {
      before = nodes.empty() ? nullptr : nodes.front();
    } else if (size_t next = pos.at(v->producer()) + 1; next < nodes.size()) {
      before = nodes[next];
    }
    Node* obs = graph.AddNode(kObserverOp, {v}, {}, graph.UniqueNodeName("observe/" + v->name()),
                              kOctetDomain, before);
    obs->SetAttr("group", static_cast<int64_t>(group.id));
  }
  return Status::Ok();
}

int RemoveObservers(Graph& graph) {
  int removed = 0;
  for (Node* n : graph.nodes())
    if (n->domain() == kOctetDomain && n->op_type() == kObserverOp && graph.RemoveNode(n).ok())
      ++removed;
  return removed;
}

namespace {

class QdqRewriter {
 public:
  QdqRewriter(Model& m, const QuantPlan& plan, const std::vector<ScaleZeroPoint>& params)
      : model_(m), g_(*m.graph), plan_(plan), params_(params), pos_(NodePositions(g_)) {}

  Status Run() {
    for (const ActivationGroup& group : plan_.groups)
      for (const GroupMember& member : group.members)
        OCTET_RETURN_IF_ERROR(QuantizeActivation(group, member));
    for (const WeightQuant& w : plan_.weights) OCTET_RETURN_IF_ERROR(QuantizeWeightInput(w));
    for (const BiasQuant& b : plan_.biases) OCTET_RETURN_IF_ERROR(QuantizeBias(b));
    g_.RemoveDeadValues();
    OCTET_RETURN_IF_ERROR(g_.TopologicalSort());
    if (needs_opset21_) {
      if (model_.onnx_opset() < 21) model_.opset_imports[""] = 21;
      model_.ir_version = std::max<int64_t>(model_.ir_version, 10);
    }
    return InferShapes(g_);
  }

 private:
  Expected<Node*> FindNode(const std::string& name) const {
    Node* n = g_.FindNode(name);
    if (n == nullptr)
      return InvalidArgument("quantization plan names node '", name, "' which is not in the graph");
    return n;
  }

  Status QuantizeActivation(const ActivationGroup& group, const GroupMember& member) {
    Value* x = g_.FindValue(member.value);
    if (x == nullptr)
      return InvalidArgument("quantization plan names value '", member.value,
                             "' which is not in the graph");
    std::vector<Node*> consumers;
    for (const std::string& name : member.consumers) {
      OCTET_ASSIGN_OR_RETURN(Node * c, FindNode(name));
      consumers.push_back(c);
    }
    if (consumers.empty()) return Status::Ok();
    const Node* first =
        *std::min_element(consumers.begin(), consumers.end(),
                          [&](Node* a, Node* b) { return pos_.at(a) < pos_.at(b); });
    Value* dq = nullptr;
    if (group.scheme.dynamic) {
      // A Conv reads its input quantized per image (one scale over C, H, W),
      // the rest per token (one scale per row of the last axis).
      std::vector<Node*> convs, others;
      for (Node* c : consumers) (c->op_type() == "Conv" ? convs : others).push_back(c);
      // One chain per Conv: each int8 convolution quantizes its own input
      // (the backends fuse the chain into the op that reads it).
      for (Node* conv : convs) {
        OCTET_ASSIGN_OR_RETURN(Value * per_image, DynamicPerImage(x, group.scheme, conv));
        Replace({conv}, x, per_image);
      }
      if (others.empty()) return Status::Ok();
      OCTET_ASSIGN_OR_RETURN(dq, DynamicPerToken(x, group.scheme, first));
      Replace(others, x, dq);
      return Status::Ok();
    } else {
      if (group.id >= static_cast<int>(params_.size()))
        return InvalidArgument("no calibrated parameters for activation group ", group.id, " ('",
                               group.observed_value, "')");
      dq = StaticPerTensor(x, group.scheme, params_[group.id], first);
    }
    for (Node* c : consumers)
      for (int i = 0; i < c->num_inputs(); ++i)
        if (c->input(i) == x) c->SetInput(i, dq);
    return Status::Ok();
  }

  Value* StaticPerTensor(Value* x, const QuantScheme& s, const ScaleZeroPoint& p,
                         const Node* before) {
    const std::string& base = x->name();
    Value* scale = AddConst(g_, base + "/scale", Tensor::Scalar<float>(p.scale));
    Value* zero = AddConst(g_, base + "/zero_point", ScalarOf(s.dtype, p.zero_point));
    Value* in = x;
    if (s.reduce_range) {
      // QuantizeLinear saturates to the full 8-bit range; a reduced (7-bit)
      // range must be enforced before it so no code exceeds qmax.
      const float lo = static_cast<float>((s.qmin() - p.zero_point) * static_cast<double>(p.scale));
      const float hi = static_cast<float>((s.qmax() - p.zero_point) * static_cast<double>(p.scale));
      in = g_.AddNode("Clip",
                      {x, AddConst(g_, base + "/clip_min", Tensor::Scalar<float>(lo)),
                       AddConst(g_, base + "/clip_max", Tensor::Scalar<float>(hi))},
                      {base + "/clipped"}, g_.UniqueNodeName(base + "/clip"), "", before)
               ->output(0);
    }
    Node* q = g_.AddNode("QuantizeLinear", {in, scale, zero}, {base + "/q"},
                         g_.UniqueNodeName(base + "/quantize"), "", before);
    Node* dq = g_.AddNode("DequantizeLinear", {q->output(0), scale, zero}, {base + "/dq"},
                          g_.UniqueNodeName(base + "/dequantize"), "", before);
    return dq->output(0);
  }

  static void Replace(const std::vector<Node*>& consumers, Value* x, Value* by) {
    for (Node* c : consumers)
      for (int i = 0; i < c->num_inputs(); ++i)
        if (c->input(i) == x) c->SetInput(i, by);
  }

  // x [N, C, H, W] (C, H, W static) quantized with one scale per image:
  // Reshape to [N, C*H*W], the per-token form on that, Reshape back. The
  // scale then factors out of every row of the convolution's GEMM (all of
  // an image's output pixels read that image only).
  Expected<Value*> DynamicPerImage(Value* x, const QuantScheme& s, const Node* before) {
    const TensorType& t = x->type();
    if (!t.has_shape || t.shape.rank() != 4 || !t.shape[1].is_static() || !t.shape[2].is_static() ||
        !t.shape[3].is_static())
      return InvalidArgument("per-image quantization of '", x->name(), "' (", t.ToString(),
                             ") needs [N, C, H, W] with C, H, W static");
    const std::string& base = x->name();
    const int64_t c = t.shape[1].value(), h = t.shape[2].value(), w = t.shape[3].value();
    // Reshape's 0 copies the batch dim, which may be symbolic.
    Node* flat = g_.AddNode(
        "Reshape",
        {x, AddConst(g_, base + "/image_shape", Tensor::FromVector<int64_t>({0, -1}, {2}))},
        {base + "/images"}, g_.UniqueNodeName(base + "/images"), "", before);
    flat->output(0)->set_type(TensorType(t.dtype, Shape({t.shape[0], Dim(c * h * w)})));
    OCTET_ASSIGN_OR_RETURN(Value * dq, DynamicPerToken(flat->output(0), s, before));
    Node* back = g_.AddNode(
        "Reshape",
        {dq, AddConst(g_, base + "/nchw_shape", Tensor::FromVector<int64_t>({0, c, h, w}, {4}))},
        {base + "/dq_nchw"}, g_.UniqueNodeName(base + "/dq_nchw"), "", before);
    back->output(0)->set_type(t);
    return back->output(0);
  }

  Expected<Value*> DynamicPerToken(Value* x, const QuantScheme& s, const Node* before) {
    const TensorType& t = x->type();
    if (!t.has_shape || t.shape.rank() < 1 || !t.shape[t.shape.rank() - 1].is_static())
      return InvalidArgument("per-token quantization of '", x->name(), "' (", t.ToString(),
                             ") needs a static last dimension");
    if (!s.symmetric || s.dtype != DType::kI8)
      return Unimplemented("dynamic activations are supported as symmetric i8 only, got ",
                           s.ToString());
    const int64_t rank = t.shape.rank(), k = t.shape[rank - 1].value();
    const std::string& base = x->name();
    auto add = [&](const char* op, std::vector<Value*> in, const std::string& out) {
      return g_.AddNode(op, std::move(in), {base + out}, g_.UniqueNodeName(base + out), "", before);
    };
    Value* abs = add("Abs", {x}, "/abs")->output(0);
    Node* absmax =
        add("ReduceMax",
            {abs, AddConst(g_, base + "/axes", Tensor::FromVector<int64_t>({rank - 1}, {1}))},
            "/absmax");
    absmax->SetAttr("keepdims", int64_t{1});
    // scale = absmax / qmax, kept above the smallest normal float so an
    // all-zero token divides by something (its codes are then all 0).
    Value* raw =
        add("Div",
            {absmax->output(0),
             AddConst(g_, base + "/qmax", Tensor::Scalar<float>(static_cast<float>(s.qmax())))},
            "/scale_raw")
            ->output(0);
    Value* scale = add("Max",
                       {raw, AddConst(g_, base + "/min_scale",
                                      Tensor::Scalar<float>(std::numeric_limits<float>::min()))},
                       "/scale")
                       ->output(0);
    Node* q = add("QuantizeLinear", {x, scale}, "/q");
    Node* dq = add("DequantizeLinear", {q->output(0), scale}, "/dq");
    for (Node* n : {q, dq}) {
      n->SetAttr("axis", rank - 1);
      n->SetAttr("block_size", k);
    }
    q->SetAttr("output_dtype", *OnnxTypeIdOf(s.dtype));
    needs_opset21_ = true;
    return dq->output(0);
  }

  Status QuantizeWeightInput(const WeightQuant& wq) {
    OCTET_ASSIGN_OR_RETURN(Node * n, FindNode(wq.node));
    Value* w = n->input(wq.input);
    if (w == nullptr || !w->is_constant())
      return InvalidArgument(n->Describe(), ": input ", wq.input, " is not a constant weight");
    auto qw = QuantizeWeight(w->constant(), wq.scheme);
    if (!qw.ok()) return qw.status().WithContext(n->Describe() + " weight '" + w->name() + "'");
    const std::string& base = w->name();
    std::vector<Value*> inputs = {AddConst(g_, base + "/q", qw->q),
                                  AddConst(g_, base + "/scale", qw->scale)};
    if (qw->zero_point.defined())
      inputs.push_back(AddConst(g_, base + "/zero_point", qw->zero_point));
    Node* dq = g_.AddNode("DequantizeLinear", inputs, {base + "/dq"},
                          g_.UniqueNodeName(base + "/dequantize"), "", n);
    if (wq.scheme.granularity != Granularity::kPerTensor)
      dq->SetAttr("axis", static_cast<int64_t>(wq.scheme.axis));
    if (wq.scheme.granularity == Granularity::kPerGroup) {
      dq->SetAttr("block_size", wq.scheme.group_size);
      needs_opset21_ = true;
    }
    if (wq.scheme.dtype == DType::kI4 || wq.scheme.dtype == DType::kU4) needs_opset21_ = true;
    n->SetInput(wq.input, dq->output(0));
    weight_scales_[n] = qw->scale;
    return Status::Ok();
  }

  Status QuantizeBias(const BiasQuant& b) {
    OCTET_ASSIGN_OR_RETURN(Node * n, FindNode(b.node));
    Value* bias = n->input(b.input);
    auto ws = weight_scales_.find(n);
    if (bias == nullptr || !bias->is_constant() || ws == weight_scales_.end() ||
        bias->constant().dtype() != DType::kF32 || bias->constant().rank() != 1)
      return InvalidArgument(n->Describe(), ": bias input ", b.input, " cannot be stored as int32");
    const Tensor& bt = bias->constant();
    const Tensor& w_scale = ws->second;
    const int64_t c = bt.numel();
    if (w_scale.numel() != 1 && w_scale.numel() != c)
      return InvalidArgument(n->Describe(), ": bias has ", c, " elements but the weight has ",
                             w_scale.numel(), " scales");
    const float s_in = params_.at(b.activation_group).scale;
    Tensor scale(DType::kF32, {c});
    Tensor q(DType::kI32, {c});
    for (int64_t i = 0; i < c; ++i) {
      const float s = s_in * w_scale.data<float>()[w_scale.numel() == 1 ? 0 : i];
      scale.data<float>()[i] = s;
      const double r = std::nearbyint(static_cast<double>(bt.data<float>()[i]) / s);
      q.data<int32_t>()[i] = static_cast<int32_t>(std::clamp(r, -2147483648.0, 2147483647.0));
    }
    const std::string& base = bias->name();
    Node* dq = g_.AddNode("DequantizeLinear",
                          {AddConst(g_, base + "/q", q), AddConst(g_, base + "/scale", scale)},
                          {base + "/dq"}, g_.UniqueNodeName(base + "/dequantize"), "", n);
    dq->SetAttr("axis", int64_t{0});
    n->SetInput(b.input, dq->output(0));
    return Status::Ok();
  }

  Model& model_;
  Graph& g_;
  const QuantPlan& plan_;
  const std::vector<ScaleZeroPoint>& params_;
  std::unordered_map<const Node*, size_t> pos_;
  std::unordered_map<const Node*, Tensor> weight_scales_;
  bool needs_opset21_ = false;
};

}  // namespace

Status ConvertToQdq(Model& model, const QuantPlan& plan,
                    const std::vector<ScaleZeroPoint>& params) {
  return QdqRewriter(model, plan, params).Run();
}

}  // namespace octet::quant
