// Pass "fold-batchnorm": folds inference-mode BatchNormalization into the
// Conv / ConvTranspose / Gemm / MatMul (+ Add) that produces its input. What is
// folded, and when, is listed in fold_batchnorm.h.
//
// THE ALGEBRA. Inference-mode BN over channel axis 1 is
//
//   BN(y)[n, c, ...] = (y[n, c, ...] - mean[c]) / sqrt(var[c] + eps) * scale[c] + B[c]
//                    = (y[n, c, ...] - mean[c]) * s[c] + B[c],  s[c] = scale[c] / sqrt(var[c] +
//                    eps).
//
// Each producer folded here computes output channel c as a linear form of its
// input with weights w_c of its own (a slice of the weight tensor) plus a bias
// b[c]: y[.., c, ..] = sum_k w_c[k] * x[k] + b[c]. Hence
//
//   BN(y)[c] = sum_k (s[c] * w_c[k]) * x[k] + (b[c] - mean[c]) * s[c] + B[c],
//
// and the folded producer has  w'_c = s[c] * w_c  and  b'[c] = (b[c] - mean[c]) * s[c] + B[c]
// (b = 0 when there is no bias; the bias input is then added). Where w_c lies:
//
//   Conv           W [M, C/G, k...]: w_c = W[c, :, ...]. Groups split only the
//                  input channels (axis 1), so axis 0 is the output channel
//                  whatever the group count.
//   ConvTranspose  W [C, M/G, k...]: the input channels split into G groups of
//                  C/G; W[i, j, ...] with i in group g = i / (C/G) feeds output
//                  channel c = g * (M/G) + j. So w_c is spread over axes 0 and 1.
//   Gemm           Y = alpha * A' * B' + beta * C, B' = B [K, M] or, with
//                  transB = 1, B^T with B [M, K]: w_c = B[:, c] or B[c, :].
//                  alpha multiplies A' * B', which is linear in B', so it stays.
//                  The bias of channel c is b[c] = beta * C[c] (C broadcast
//                  along N only, so one value per column); the folded Gemm has
//                  beta = 1 and C'[c] = (beta * C[c] - mean[c]) * s[c] + B[c].
//   MatMul         Y = X * W with W [K, N]: w_c = W[:, c]; b is the constant
//                  of a following Add (one value per column), or 0 and an Add
//                  is created. This needs Y to be [batch, N]: BN's channel
//                  axis is axis 1, which is W's column axis only at rank 2 (at
//                  rank 3, [b, t, N], axis 1 is t), so other ranks stay.
//
// ROUNDING. s, w' and b' are computed in double from the stored values and
// rounded to the weight's dtype (f16 and bf16 by way of f32). The unfolded
// graph rounds y to f32 and BN then rounds its result; the folded one rounds
// s * w instead and accumulates the same number of terms, so the two agree to
// a few f32 ulps times the accumulation length. A BN with a non-finite
// parameter or s (var + eps <= 0) is not folded: inf * w and inf * 0 would put
// infinities and NaNs into the weights where the BN's results differ.
#include "octet/passes/fold_batchnorm.h"

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace octet {
namespace {

bool IsOnnxDomain(const Node& n) { return n.domain().empty() || n.domain() == "ai.onnx"; }

bool IsFoldableDType(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF64;
}

// A constant the fold may rewrite (a weight or bias): float storage of a
// supported dtype and no quantization parameters; nullptr otherwise.
const Tensor* RewritableConstant(const Value* v) {
  if (v == nullptr || !v->is_constant() || v->type().quant.has_value()) return nullptr;
  const Tensor& t = v->constant();
  return IsFoldableDType(t.dtype()) ? &t : nullptr;
}

// `v` is used once, by `user` at input `index`, and is not a graph output.
bool OnlyUsedBy(const Value* v, const Node* user, int index) {
  return v != nullptr && !v->is_graph_output() && v->uses().size() == 1 &&
         v->uses()[0].node == user && v->uses()[0].input_index == index;
}

// The value's dtype is unknown or `dtype`.
bool DTypeIsUnknownOr(const Value* v, DType dtype) {
  return v->type().dtype == DType::kUndefined || v->type().dtype == dtype;
}

// The per-channel numbers of an inference-mode BN: y = (x - mean) * s + bias.
struct BnAffine {
  std::vector<double> s, mean, bias;
  int64_t channels() const { return static_cast<int64_t>(s.size()); }
  // b'[c] for a producer bias b of channel c.
  double FoldedBias(int64_t c, double b) const { return (b - mean[c]) * s[c] + bias[c]; }
};

// BN `bn` when it can be folded at all (see the header); nullopt otherwise.
std::optional<BnAffine> ReadBatchNorm(const Node& bn) {
  if (bn.num_inputs() != 5 || bn.input(0) == nullptr || bn.num_outputs() < 1) return std::nullopt;
  const Expected<int64_t> training = bn.GetInt("training_mode", 0);
  const Expected<int64_t> spatial = bn.GetInt("spatial", 1);  // opsets < 9
  const Expected<float> eps = bn.GetFloat("epsilon", 1e-5f);
  if (!training.ok() || *training != 0 || !spatial.ok() || *spatial != 1 || !eps.ok())
    return std::nullopt;
  for (int i = 1; i < bn.num_outputs(); ++i) {
    const Value* v = bn.output(i);
    if (v != nullptr && (!v->uses().empty() || v->is_graph_output())) return std::nullopt;
  }
  std::vector<double> params[4];
  for (int i = 0; i < 4; ++i) {
    const Value* v = bn.input(i + 1);
    if (v == nullptr || !v->is_constant()) return std::nullopt;
    const Tensor& t = v->constant();
    const int64_t channels = i == 0 ? t.numel() : static_cast<int64_t>(params[0].size());
    if (!IsFloat(t.dtype()) || t.rank() != 1 || t.numel() < 1 || t.numel() != channels)
      return std::nullopt;
    for (int64_t k = 0; k < t.numel(); ++k) {
      params[i].push_back(t.GetAsDouble(k));
      if (!std::isfinite(params[i].back())) return std::nullopt;
    }
  }
  BnAffine bn_affine;
  for (size_t c = 0; c < params[0].size(); ++c) {
    const double s = params[0][c] / std::sqrt(params[3][c] + static_cast<double>(*eps));
    if (!std::isfinite(s)) return std::nullopt;
    bn_affine.s.push_back(s);
  }
  bn_affine.bias = std::move(params[1]);
  bn_affine.mean = std::move(params[2]);
  const TensorType& x = bn.input(0)->type();
  if (x.dtype != DType::kUndefined && !IsFoldableDType(x.dtype)) return std::nullopt;
  if (x.has_shape && (x.shape.rank() < 2 ||
                      (x.shape[1].is_static() && x.shape[1].value() != bn_affine.channels())))
    return std::nullopt;
  return bn_affine;
}

// `w` with element i multiplied by s[channel(i)], in w's dtype.
Tensor ScaledWeight(const Tensor& w, const BnAffine& bn,
                    const std::function<int64_t(int64_t)>& channel) {
  Tensor out(w.dtype(), w.dims());
  for (int64_t i = 0; i < w.numel(); ++i) out.SetFromDouble(i, w.GetAsDouble(i) * bn.s[channel(i)]);
  return out;
}

// The folded bias of `dims` (one element per channel, in channel order), from
// the producer's bias b(c).
Tensor FoldedBias(DType dtype, std::vector<int64_t> dims, const BnAffine& bn,
                  const std::function<double(int64_t)>& b) {
  Tensor out(dtype, std::move(dims));
  for (int64_t c = 0; c < bn.channels(); ++c) out.SetFromDouble(c, bn.FoldedBias(c, b(c)));
  return out;
}

// The dims for a folded bias replacing a bias of `dims` that must be constant
// along every axis but the last (of `channels` or 1): [channels] for ranks 0
// and 1, [1, channels] for rank 2; nullopt for any other shape.
std::optional<std::vector<int64_t>> PerColumnBiasDims(const std::vector<int64_t>& dims,
                                                      int64_t channels) {
  if (dims.size() > 2 || (dims.size() == 2 && dims[0] != 1)) return std::nullopt;
  if (!dims.empty() && dims.back() != channels && dims.back() != 1) return std::nullopt;
  if (dims.size() == 2) return std::vector<int64_t>{1, channels};
  return std::vector<int64_t>{channels};
}

// b(c) of a bias tensor with one value per channel or one value in all.
double BiasAt(const Tensor* b, int64_t c) {
  if (b == nullptr) return 0;
  return b->GetAsDouble(b->numel() == 1 ? 0 : c);
}

// A new value for constant input `index` of `user` (absent inputs included).
struct ConstantEdit {
  Node* user;
  int index;
  Tensor value;
  std::string name_if_new;  // base name for a new constant when the input is absent
};

// Everything a fold changes, computed before anything is changed.
struct FoldPlan {
  DType dtype = DType::kUndefined;  // of the weights
  std::vector<ConstantEdit> edits;
  Value* result = nullptr;     // takes the BN output's place
  Node* reset_beta = nullptr;  // a Gemm whose beta becomes the default 1
  // MatMul without Add: Add(matmul_output, new_bias) is created and takes the
  // BN output's place.
  Value* matmul_output = nullptr;
  Tensor new_bias;
  std::string new_bias_name;
};

// "conv1.weight" -> "conv1.bias", "w" -> "w.bias": the name for a created bias.
std::string BiasNameFor(const Value* weight) {
  const std::string& name = weight->name();
  const std::string suffix = ".weight";
  if (name.size() > suffix.size() &&
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0)
    return name.substr(0, name.size() - suffix.size()) + ".bias";
  return name + ".bias";
}

std::optional<FoldPlan> PlanConv(Node& conv, const BnAffine& bn) {
  const bool transpose = conv.op_type() == "ConvTranspose";
  const Tensor* w = RewritableConstant(conv.input(1));
  if (w == nullptr || w->rank() < 3 || w->numel() == 0 || conv.num_inputs() > 3)
    return std::nullopt;
  const Expected<int64_t> group = conv.GetInt("group", 1);
  if (!group.ok() || *group < 1) return std::nullopt;
  const int64_t channels = transpose ? w->dim(1) * *group : w->dim(0);
  if (channels != bn.channels() || (transpose && w->dim(0) % *group != 0)) return std::nullopt;
  const Tensor* b = nullptr;
  if (conv.input(2) != nullptr) {
    b = RewritableConstant(conv.input(2));
    if (b == nullptr || b->dtype() != w->dtype() || b->rank() != 1 || b->numel() != channels)
      return std::nullopt;
  }
  std::function<int64_t(int64_t)> channel;
  if (!transpose) {
    const int64_t per_channel = w->numel() / channels;
    channel = [per_channel](int64_t i) { return i / per_channel; };
  } else {
    const int64_t kernel = w->numel() / (w->dim(0) * w->dim(1));
    const int64_t out_per_group = w->dim(1);
    const int64_t in_per_group = w->dim(0) / *group;
    channel = [=](int64_t i) {
      const int64_t j = (i / kernel) % out_per_group;
      const int64_t in_channel = i / (kernel * out_per_group);
      return in_channel / in_per_group * out_per_group + j;
    };
  }
  FoldPlan plan;
  plan.dtype = w->dtype();
  plan.edits.push_back({&conv, 1, ScaledWeight(*w, bn, channel), ""});
  plan.edits.push_back(
      {&conv, 2, FoldedBias(w->dtype(), {channels}, bn, [b](int64_t c) { return BiasAt(b, c); }),
       BiasNameFor(conv.input(1))});
  plan.result = conv.output(0);
  return plan;
}

std::optional<FoldPlan> PlanGemm(Node& gemm, const BnAffine& bn) {
  const Tensor* w = RewritableConstant(gemm.input(1));
  if (w == nullptr || w->rank() != 2 || gemm.num_inputs() > 3) return std::nullopt;
  const Expected<int64_t> trans_b = gemm.GetInt("transB", 0);
  const Expected<float> beta = gemm.GetFloat("beta", 1.0f);
  if (!trans_b.ok() || !beta.ok()) return std::nullopt;
  const int64_t channels = *trans_b != 0 ? w->dim(0) : w->dim(1);
  if (channels != bn.channels()) return std::nullopt;
  const Tensor* c = nullptr;
  std::vector<int64_t> bias_dims = {channels};
  if (gemm.input(2) != nullptr) {
    c = RewritableConstant(gemm.input(2));
    if (c == nullptr || c->dtype() != w->dtype()) return std::nullopt;
    std::optional<std::vector<int64_t>> dims = PerColumnBiasDims(c->dims(), channels);
    if (!dims) return std::nullopt;
    bias_dims = *dims;
  }
  std::function<int64_t(int64_t)> channel;
  if (*trans_b != 0) {
    const int64_t k = w->dim(1);
    channel = [k](int64_t i) { return i / k; };
  } else {
    channel = [channels](int64_t i) { return i % channels; };
  }
  const double beta_d = static_cast<double>(*beta);
  FoldPlan plan;
  plan.dtype = w->dtype();
  plan.edits.push_back({&gemm, 1, ScaledWeight(*w, bn, channel), ""});
  plan.edits.push_back(
      {&gemm, 2,
       FoldedBias(w->dtype(), bias_dims, bn,
                  [c, beta_d](int64_t ch) { return c == nullptr ? 0.0 : beta_d * BiasAt(c, ch); }),
       BiasNameFor(gemm.input(1))});
  plan.reset_beta = &gemm;
  plan.result = gemm.output(0);
  return plan;
}

// MatMul -> BN, or MatMul -> Add(constant) -> BN with `producer` the Add.
std::optional<FoldPlan> PlanMatMul(Node& producer, const BnAffine& bn) {
  Node* add = nullptr;
  Node* matmul = &producer;
  int data_index = 0;  // the Add input that the MatMul feeds
  if (producer.op_type() == "Add") {
    if (producer.num_inputs() != 2) return std::nullopt;
    add = &producer;
    matmul = nullptr;
    for (int d = 0; d < 2 && matmul == nullptr; ++d) {
      Value* in = add->input(d);
      if (in == nullptr || in->producer() == nullptr || !OnlyUsedBy(in, add, d)) continue;
      Node* p = in->producer();
      if (p->op_type() == "MatMul" && IsOnnxDomain(*p) && p->num_outputs() == 1) {
        matmul = p;
        data_index = d;
      }
    }
    if (matmul == nullptr) return std::nullopt;
  }
  const Tensor* w = RewritableConstant(matmul->input(1));
  if (w == nullptr || w->rank() != 2 || matmul->num_inputs() != 2 || matmul->input(0) == nullptr)
    return std::nullopt;
  const int64_t channels = w->dim(1);
  if (channels != bn.channels()) return std::nullopt;
  // The MatMul output must be [batch, N]: rank 2 declared, or (undeclared) a rank-2 X.
  const TensorType& out = matmul->output(0)->type();
  const TensorType& x = matmul->input(0)->type();
  const bool rank2 = out.has_shape ? out.shape.rank() == 2 : x.has_shape && x.shape.rank() == 2;
  if (!rank2 || (x.has_shape && x.shape.rank() != 2)) return std::nullopt;
  if (!DTypeIsUnknownOr(matmul->output(0), w->dtype())) return std::nullopt;

  FoldPlan plan;
  plan.dtype = w->dtype();
  plan.edits.push_back(
      {matmul, 1, ScaledWeight(*w, bn, [channels](int64_t i) { return i % channels; }), ""});
  if (add != nullptr) {
    const Tensor* b = RewritableConstant(add->input(1 - data_index));
    if (b == nullptr || b->dtype() != w->dtype()) return std::nullopt;
    std::optional<std::vector<int64_t>> dims = PerColumnBiasDims(b->dims(), channels);
    if (!dims) return std::nullopt;
    plan.edits.push_back(
        {add, 1 - data_index,
         FoldedBias(w->dtype(), *dims, bn, [b](int64_t c) { return BiasAt(b, c); }), ""});
    plan.result = add->output(0);
  } else {
    plan.matmul_output = matmul->output(0);
    plan.new_bias = FoldedBias(w->dtype(), {channels}, bn, [](int64_t) { return 0.0; });
    plan.new_bias_name = BiasNameFor(matmul->input(1));
  }
  return plan;
}

// Gives input `index` of `user` the constant `value`: in place when the old
// constant has no other use, else as a new constant (a copy for the others).
void SetConstantInput(Graph& graph, ConstantEdit edit) {
  Value* old = edit.user->input(edit.index);
  if (old != nullptr && old->is_constant() && OnlyUsedBy(old, edit.user, edit.index)) {
    graph.MakeConstant(old, std::move(edit.value));
    return;
  }
  const std::string base = old != nullptr ? old->name() + ".folded" : edit.name_if_new;
  Value* v = graph.AddConstant(graph.UniqueValueName(base), std::move(edit.value));
  edit.user->SetInput(edit.index, v);
}

// Applies `plan` and removes `bn`, whose output the folded value replaces.
Status Apply(Graph& graph, Node& bn, FoldPlan plan) {
  for (ConstantEdit& edit : plan.edits) SetConstantInput(graph, std::move(edit));
  if (plan.reset_beta != nullptr) plan.reset_beta->RemoveAttr("beta");
  Value* y = bn.output(0);
  const std::string name = y->name();
  const TensorType type = y->type();
  const bool typed = type.has_shape && type.dtype != DType::kUndefined;
  if (plan.matmul_output != nullptr) {
    // The created Add's output takes the BN output's name (graph output or not).
    Value* bias =
        graph.AddConstant(graph.UniqueValueName(plan.new_bias_name), std::move(plan.new_bias));
    OCTET_RETURN_IF_ERROR(graph.RenameValue(y, graph.UniqueValueName(name + ".removed")));
    Node* add = graph.AddNode("Add", {plan.matmul_output, bias}, {name}, bn.name(), "", &bn);
    add->output(0)->set_type(typed ? type : plan.matmul_output->type());
    graph.ReplaceAllUsesWith(y, add->output(0));
    return graph.RemoveNode(&bn);
  }
  // As remove-identity does: uses move to the folded value; a graph output's
  // name moves with them.
  Value* x = plan.result;
  const bool graph_output = y->is_graph_output();
  if (typed) x->set_type(type);
  graph.ReplaceAllUsesWith(y, x);
  OCTET_RETURN_IF_ERROR(graph.RemoveNode(&bn));
  if (graph_output) {
    OCTET_RETURN_IF_ERROR(graph.RenameValue(y, graph.UniqueValueName(name + ".removed")));
    OCTET_RETURN_IF_ERROR(graph.RenameValue(x, name));
  }
  return Status::Ok();
}

// The fold of `bn` into its input's producer, or nullopt when it cannot be folded.
std::optional<FoldPlan> PlanFold(Node& bn) {
  if (!IsOnnxDomain(bn) || bn.op_type() != "BatchNormalization") return std::nullopt;
  std::optional<BnAffine> affine = ReadBatchNorm(bn);
  if (!affine) return std::nullopt;
  Value* x = bn.input(0);
  Node* producer = x->producer();
  if (producer == nullptr || !OnlyUsedBy(x, &bn, 0) || !IsOnnxDomain(*producer) ||
      producer->num_outputs() != 1)
    return std::nullopt;
  const std::string& op = producer->op_type();
  std::optional<FoldPlan> plan;
  if (op == "Conv" || op == "ConvTranspose") {
    plan = PlanConv(*producer, *affine);
  } else if (op == "Gemm") {
    plan = PlanGemm(*producer, *affine);
  } else if (op == "MatMul" || op == "Add") {
    plan = PlanMatMul(*producer, *affine);
  }
  if (plan && (!DTypeIsUnknownOr(x, plan->dtype) || !DTypeIsUnknownOr(bn.output(0), plan->dtype)))
    return std::nullopt;
  return plan;
}

}  // namespace

Expected<bool> FoldBatchNorm(Graph& graph) {
  bool changed = false;
  // Only the node being visited is removed, so the rest of the list stays valid.
  for (Node* n : graph.nodes()) {
    std::optional<FoldPlan> plan = PlanFold(*n);
    if (!plan) continue;
    OCTET_RETURN_IF_ERROR(Apply(graph, *n, std::move(*plan)));
    changed = true;
  }
  return changed;
}

}  // namespace octet
