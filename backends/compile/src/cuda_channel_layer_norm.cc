#include "cuda_channel_layer_norm.h"

#include "cuda_rules_util.h"
#include "x86_patterns.h"

namespace octet::compile_internal {
namespace {

// The producer of `v` when it is an `op` whose output only `reader` reads.
const Node* OnlyFeeds(const Value* v, const char* op, const Node* reader) {
  const Node* p = v == nullptr ? nullptr : v->producer();
  if (p == nullptr || !IsOnnxOp(p, op) || v->is_graph_output()) return nullptr;
  for (const Use& u : v->uses())
    if (u.node != reader) return nullptr;
  return p;
}

std::optional<float> ScalarF32(const Value* v) {
  if (v == nullptr || !v->is_constant() || v->constant().dtype() != DType::kF32 ||
      v->constant().numel() != 1)
    return std::nullopt;
  return v->constant().data<float>()[0];
}

// ReduceMean over axis 1 only, keeping the dim.
bool IsChannelMean(const Node* n) {
  const int64_t rank = n->input(0)->type().shape.rank();
  std::vector<int64_t> axes;
  if (const Value* a = n->input(1); a != nullptr) {
    auto ints = CudaConstInts(a);
    if (!ints) return false;
    axes = *ints;
  } else {
    axes = CudaOr(n->GetInts("axes", std::vector<int64_t>{}), {});
  }
  return axes.size() == 1 && CudaNormalizeAxis(axes[0], rank) == std::optional<int64_t>(1) &&
         CudaOr(n->GetInt("keepdims", 1), int64_t{1}) == 1;
}

// A constant of C values laid out along axis 1 of a rank-`rank` tensor
// ([C, 1, ...] with rank - 1 dims, or [1, C, 1, ...]).
std::optional<Tensor> PerChannel(const Value* v, int64_t channels, int64_t rank) {
  if (v == nullptr || !v->is_constant() || v->constant().dtype() != DType::kF32)
    return std::nullopt;
  const Tensor& t = v->constant();
  if (t.numel() != channels) return std::nullopt;
  const std::vector<int64_t>& dims = t.dims();
  const int64_t lead = static_cast<int64_t>(dims.size()) - (rank - 1);  // 0: [C,..], 1: [1,C,..]
  if (lead < 0 || lead > 1 || (lead == 1 && dims[0] != 1)) return std::nullopt;
  for (size_t i = static_cast<size_t>(lead) + 1; i < dims.size(); ++i)
    if (dims[i] != 1) return std::nullopt;
  Tensor flat(DType::kF32, {channels});
  std::copy(t.data<float>(), t.data<float>() + channels, flat.data<float>());
  return flat;
}

}  // namespace

std::optional<ChannelLayerNormPattern> MatchChannelLayerNorm(const Node* add) {
  if (!IsOnnxOp(add, "Add") || add->num_inputs() != 2) return std::nullopt;
  for (int bi = 0; bi < 2; ++bi) {
    const Node* mul = OnlyFeeds(add->input(1 - bi), "Mul", add);
    if (mul == nullptr) continue;
    for (int wi = 0; wi < 2; ++wi) {
      const Node* div = OnlyFeeds(mul->input(1 - wi), "Div", mul);
      if (div == nullptr) continue;
      const Value* d = div->input(0);
      const Node* sqrt = OnlyFeeds(div->input(1), "Sqrt", div);
      const Node* add_eps = sqrt != nullptr ? OnlyFeeds(sqrt->input(0), "Add", sqrt) : nullptr;
      if (add_eps == nullptr) continue;
      const int si = ScalarF32(add_eps->input(1)) ? 0 : 1;
      auto eps = ScalarF32(add_eps->input(1 - si));
      const Node* var = OnlyFeeds(add_eps->input(si), "ReduceMean", add_eps);
      const Node* pow = var != nullptr ? OnlyFeeds(var->input(0), "Pow", var) : nullptr;
      const Node* sub = d->producer();
      if (!eps || pow == nullptr || pow->input(0) != d || ScalarF32(pow->input(1)) != 2.f ||
          sub == nullptr || !IsOnnxOp(sub, "Sub") || d->is_graph_output() || !IsChannelMean(var))
        continue;
      // d feeds the Pow and the Div only.
      bool d_private = d->uses().size() == 2;
      for (const Use& u : d->uses()) d_private = d_private && (u.node == pow || u.node == div);
      const Value* x = sub->input(0);
      const Node* mean = OnlyFeeds(sub->input(1), "ReduceMean", sub);
      if (!d_private || mean == nullptr || mean->input(0) != x || !IsChannelMean(mean)) continue;
      const TensorType& xt = x->type();
      if (xt.dtype != DType::kF32 || !xt.has_shape || xt.shape.rank() < 2 ||
          xt.shape.dims()[1].is_symbolic() || xt.shape.dims()[1].value() <= 0 ||
          add->output(0)->type().shape != xt.shape)
        continue;
      const int64_t channels = xt.shape.dims()[1].value(), rank = xt.shape.rank();
      auto scale = PerChannel(mul->input(wi), channels, rank);
      auto bias = PerChannel(add->input(bi), channels, rank);
      if (!scale || !bias) continue;
      ChannelLayerNormPattern p;
      p.last = add;
      p.nodes = {mean, sub, pow, var, add_eps, sqrt, div, mul, add};
      p.x = x;
      p.scale = std::move(*scale);
      p.bias = std::move(*bias);
      p.epsilon = *eps;
      return p;
    }
  }
  return std::nullopt;
}

}  // namespace octet::compile_internal
