// CorrectBiasForWeightRounding: moves each corrected node's bias by minus the
// mean output error of its rounded weight (bias_correction.h).
#include "octet/quant/bias_correction.h"

#include "octet/quant/convert.h"

namespace octet::quant {
namespace {

bool IsF32Constant(const Value* v) {
  return v != nullptr && v->is_constant() && v->constant().dtype() == DType::kF32;
}

// The per-output-channel shift delta[n] = sum_k mean[k] (Wq - W)[k, n], with
// the weight viewed as [K, N] (`transposed`: stored [N, K]).
Expected<std::vector<double>> OutputShift(const Tensor& w, const WeightQuant& wq, bool transposed,
                                          const std::vector<double>& mean) {
  OCTET_ASSIGN_OR_RETURN(QuantizedWeight q, QuantizeWeight(w, wq.scheme));
  OCTET_ASSIGN_OR_RETURN(Tensor rounded, DequantizeWeight(q, wq.scheme));
  const int64_t k_dim = transposed ? w.dim(1) : w.dim(0), n_dim = transposed ? w.dim(0) : w.dim(1);
  if (static_cast<int64_t>(mean.size()) != k_dim)
    return InvalidArgument("the input mean has ", mean.size(), " channels but the weight ",
                           w.ShapeString(), " reduces over ", k_dim);
  const float* a = w.data<float>();
  const float* b = rounded.data<float>();
  std::vector<double> delta(n_dim, 0.0);
  for (int64_t k = 0; k < k_dim; ++k)
    for (int64_t n = 0; n < n_dim; ++n) {
      const int64_t e = transposed ? n * k_dim + k : k * n_dim + n;
      delta[n] += mean[k] * (static_cast<double>(b[e]) - a[e]);
    }
  return delta;
}

// A bias constant that adds one value per output channel: every dim but the
// last is 1 and the last is 1 or N (the Add or Gemm broadcasts it).
bool IsPerChannelBias(const Tensor& t, int64_t n) {
  if (t.rank() == 0) return true;
  for (int d = 0; d + 1 < t.rank(); ++d)
    if (t.dim(d) != 1) return false;
  return t.dim(t.rank() - 1) == 1 || t.dim(t.rank() - 1) == n;
}

// `bias` (per channel, IsPerChannelBias) minus scale * delta, as a tensor of
// the bias's rank (at least 1) whose last dim is N.
Tensor ShiftedBias(const Tensor* bias, const std::vector<double>& delta, double scale) {
  const int64_t n = static_cast<int64_t>(delta.size());
  std::vector<int64_t> dims = {n};
  if (bias != nullptr && bias->rank() > 1) {
    dims = bias->dims();
    dims.back() = n;
  }
  Tensor out(DType::kF32, dims);
  for (int64_t i = 0; i < n; ++i) {
    const double b = bias == nullptr ? 0.0 : bias->GetAsDouble(bias->numel() == 1 ? 0 : i);
    out.data<float>()[i] = static_cast<float>(b - scale * delta[i]);
  }
  return out;
}

Value* NewConstant(Graph& g, const std::string& base, Tensor t) {
  return g.AddConstant(g.UniqueValueName(base), std::move(t));
}

// MatMul: the constant of its sole Add consumer, or a new Add after it.
Status CorrectMatMul(Graph& g, Node& node, const std::vector<double>& delta) {
  Value* y = node.output(0);
  const int64_t n = static_cast<int64_t>(delta.size());
  if (y->uses().size() == 1 && !y->is_graph_output()) {
    const Use use = y->uses()[0];
    Node* add = use.node;
    Value* other = add->num_inputs() == 2 ? add->input(1 - use.input_index) : nullptr;
    if (add->op_type() == "Add" && add->domain().empty() && IsF32Constant(other) &&
        IsPerChannelBias(other->constant(), n) &&
        (!y->type().has_shape || other->constant().rank() <= y->type().shape.rank())) {
      add->SetInput(1 - use.input_index, NewConstant(g, other->name() + "/bias_corrected",
                                                     ShiftedBias(&other->constant(), delta, 1.0)));
      return Status::Ok();
    }
  }
  // No bias of its own: the MatMul's output is renamed and a new Add produces
  // the old name.
  const std::string name = y->name();
  const std::vector<Use> uses = y->uses();
  std::vector<int> output_slots;
  for (size_t i = 0; i < g.outputs().size(); ++i)
    if (g.outputs()[i] == y) output_slots.push_back(static_cast<int>(i));
  OCTET_RETURN_IF_ERROR(g.RenameValue(y, g.UniqueValueName(name + "/before_bias_correction")));
  Value* c = NewConstant(g, node.name() + "/bias_correction", ShiftedBias(nullptr, delta, 1.0));
  Node* add = g.AddNode("Add", {y, c}, {name}, g.UniqueNodeName(node.name() + "/bias_correction"));
  Value* out = add->output(0);
  out->set_type(y->type());
  for (const Use& u : uses) u.node->SetInput(u.input_index, out);
  for (int slot : output_slots) g.SetOutput(slot, out);
  return g.TopologicalSort();
}

// Gemm: Y = alpha A' B' + beta C, so C moves by -alpha delta / beta.
Status CorrectGemm(Graph& g, Node& node, std::vector<double> delta, std::string* skip) {
  OCTET_ASSIGN_OR_RETURN(float alpha, node.GetFloat("alpha", 1.0f));
  OCTET_ASSIGN_OR_RETURN(float beta, node.GetFloat("beta", 1.0f));
  for (double& d : delta) d *= alpha;
  Value* c = node.input(2);
  if (c != nullptr && beta != 0.0f) {
    if (!IsF32Constant(c) || !IsPerChannelBias(c->constant(), delta.size())) {
      *skip = "C is not a per-output-channel f32 constant (" +
              (c->is_constant() ? c->constant().ShapeString() : std::string("an activation")) + ")";
      return Status::Ok();
    }
    node.SetInput(2, NewConstant(g, c->name() + "/bias_corrected",
                                 ShiftedBias(&c->constant(), delta, 1.0 / beta)));
    return Status::Ok();
  }
  // No C, or one that beta = 0 ignores: the correction becomes C with beta 1.
  Value* fresh = NewConstant(g, node.name() + "/bias_correction", ShiftedBias(nullptr, delta, 1.0));
  if (c != nullptr)
    node.SetInput(2, fresh);
  else
    node.AddInput(fresh);
  node.SetAttr("beta", 1.0f);
  return Status::Ok();
}

}  // namespace

Status ChannelSums::Observe(const Tensor& x, int axis) {
  if (!IsFloat(x.dtype()))
    return InvalidArgument("channel sums of a ", DTypeName(x.dtype()), " tensor (float only)");
  if (axis < 0 || axis >= x.rank())
    return InvalidArgument("channel axis ", axis, " of a rank-", x.rank(), " tensor");
  const int64_t channels = x.dim(axis);
  if (sums.empty()) sums.assign(channels, 0.0);
  if (static_cast<int64_t>(sums.size()) != channels)
    return InvalidArgument("a batch ", x.ShapeString(), " has ", channels, " channels on axis ",
                           axis, ", earlier batches had ", sums.size());
  int64_t inner = 1;
  for (int d = axis + 1; d < x.rank(); ++d) inner *= x.dim(d);
  const int64_t n = x.numel();
  if (x.dtype() == DType::kF32) {
    const float* v = x.data<float>();
    for (int64_t e = 0; e < n; ++e) sums[(e / inner) % channels] += v[e];
  } else {
    for (int64_t e = 0; e < n; ++e) sums[(e / inner) % channels] += x.GetAsDouble(e);
  }
  if (channels > 0) count += n / channels;
  return Status::Ok();
}

std::vector<double> ChannelSums::Means() const {
  std::vector<double> m(sums.size(), 0.0);
  if (count > 0)
    for (size_t c = 0; c < sums.size(); ++c) m[c] = sums[c] / static_cast<double>(count);
  return m;
}

Expected<CorrectionInput> BiasCorrectionInput(const Node& node, const WeightQuant& wq) {
  const bool gemm = node.op_type() == "Gemm";
  if (node.domain() != "" || (!gemm && node.op_type() != "MatMul"))
    return InvalidArgument(node.op_type(), ": bias correction covers MatMul and Gemm");
  if (wq.input != 1) return InvalidArgument("the constant weight is the first operand");
  const Value* w = node.input(1);
  if (w == nullptr || !w->is_constant() || w->constant().rank() != 2)
    return InvalidArgument("the weight is not a rank-2 constant");
  const Value* x = node.input(0);
  if (x == nullptr || !x->type().has_shape || x->type().shape.rank() < 1)
    return InvalidArgument("the input's rank is unknown");
  CorrectionInput c;
  const int rank = x->type().shape.rank();
  if (gemm) {
    OCTET_ASSIGN_OR_RETURN(int64_t trans_a, node.GetInt("transA", 0));
    c.axis = trans_a != 0 ? 0 : 1;
  } else {
    c.axis = rank - 1;
  }
  return c;
}

Expected<BiasCorrectionResult> CorrectBiasForWeightRounding(
    Graph& graph, const QuantPlan& plan,
    const std::map<std::string, std::vector<double>>& input_means) {
  BiasCorrectionResult result;
  for (const WeightQuant& wq : plan.weights) {
    Node* node = graph.FindNode(wq.node);
    if (node == nullptr) return Internal("bias correction: no node '", wq.node, "' in the graph");
    auto where = BiasCorrectionInput(*node, wq);
    if (!where.ok()) {
      result.skipped.emplace_back(wq.node, where.status().message());
      continue;
    }
    auto mean = input_means.find(wq.node);
    if (mean == input_means.end())
      return InvalidArgument("bias correction of '", wq.node,
                             "': the calibration statistics hold no input mean for it");
    const bool gemm = node->op_type() == "Gemm";
    OCTET_ASSIGN_OR_RETURN(int64_t trans_b, gemm ? node->GetInt("transB", 0) : int64_t{0});
    auto delta = OutputShift(node->input(1)->constant(), wq, trans_b != 0, mean->second);
    if (!delta.ok()) return delta.status().WithContext("bias correction of '" + wq.node + "'");
    std::string skip;
    OCTET_RETURN_IF_ERROR(gemm ? CorrectGemm(graph, *node, std::move(*delta), &skip)
                               : CorrectMatMul(graph, *node, *delta));
    if (skip.empty())
      result.corrected.push_back(wq.node);
    else
      result.skipped.emplace_back(wq.node, skip);
  }
  return result;
}

}  // namespace octet::quant
