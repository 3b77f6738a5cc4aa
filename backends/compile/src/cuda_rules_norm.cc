// cuda rules for normalisations: LayerNormalization over the last axis.
#include "cuda_rules.h"

namespace octet::compile_internal {
namespace {

constexpr const char kLayerNorm[] = "cuda.layer_norm";

std::string WhyNotLayerNorm(const Node& n) {
  const TensorType& x = n.input(0)->type();
  if (x.dtype != DType::kF32 || x.shape.rank() < 1)
    return "cuda.layer_norm takes f32 of rank >= 1, got " + CudaShapeText(x);
  const int64_t rank = x.shape.rank();
  auto axis = n.GetInt("axis", -1);
  if (!axis.ok() || (*axis != -1 && *axis != rank - 1))
    return "cuda.layer_norm normalises the last axis only";
  auto stash = n.GetInt("stash_type", 1);
  if (!stash.ok() || *stash != 1) return "cuda.layer_norm computes in f32 (stash_type 1) only";
  const int64_t k = x.shape.dims().back().value();
  if (k <= 0) return "cuda.layer_norm needs a static last dim";
  for (int i = 1; i < n.num_inputs(); ++i) {
    const Value* p = n.input(i);
    if (p == nullptr) continue;
    if (!p->is_constant() || p->constant().dtype() != DType::kF32 || p->constant().numel() != k)
      return "cuda.layer_norm takes constant f32 Scale and B of " + std::to_string(k) + " values";
  }
  for (int i = 1; i < n.num_outputs(); ++i) {
    const Value* v = n.output(i);
    if (v != nullptr && (!v->uses().empty() || v->is_graph_output()))
      return "cuda.layer_norm does not write Mean / InvStdDev, which '" + v->name() + "' needs";
  }
  return "";
}

// Inputs: x f32 [..., K], scale f32 [K], bias f32 [K] (absent: -1).
Status EmitLayerNorm(const Node& n, ModuleBuilder& builder) {
  ModuleOp op;
  op.kernel = kLayerNorm;
  op.name = n.name();
  for (int i = 0; i < 3; ++i) {
    auto slot = builder.InputSlot(i < n.num_inputs() ? n.input(i) : nullptr);
    if (!slot.ok()) return slot.status().WithContext(n.Describe());
    op.inputs.push_back(*slot);
  }
  op.outputs = {builder.OutputSlot(n.output(0))};
  OCTET_ASSIGN_OR_RETURN(float epsilon, n.GetFloat("epsilon", 1e-5f));
  op.attrs = {{"epsilon", epsilon}};
  op.inplace = {{0, 0}};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace

void AddCudaNormRules(CudaNodeRules& rules) {
  rules["LayerNormalization"] = {WhyNotLayerNorm, EmitLayerNorm};
}

}  // namespace octet::compile_internal
