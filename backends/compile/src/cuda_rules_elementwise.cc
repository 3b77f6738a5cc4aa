// cuda rules for elementwise ops: Add of two f32 activations of one shape.
#include "cuda_rules.h"

namespace octet::compile_internal {
namespace {

constexpr const char kAdd[] = "cuda.add";

std::string WhyNotAdd(const Node& n) {
  const TensorType& y = n.output(0)->type();
  for (const Value* v : n.inputs())
    if (v->is_constant() || v->type().dtype != DType::kF32 || !(v->type().shape == y.shape))
      return "cuda.add adds two f32 activations of the output's shape (no broadcasting, no "
             "constants); got " +
             CudaShapeText(n.input(0)->type()) + " + " + CudaShapeText(n.input(1)->type());
  return "";
}

// Inputs a, b f32 of the output's dims; the output may take either's place.
Status EmitAdd(const Node& n, ModuleBuilder& builder) {
  ModuleOp op;
  op.kernel = kAdd;
  op.name = n.name();
  for (const Value* v : n.inputs()) {
    auto slot = builder.InputSlot(v);
    if (!slot.ok()) return slot.status().WithContext(n.Describe());
    op.inputs.push_back(*slot);
  }
  op.outputs = {builder.OutputSlot(n.output(0))};
  op.inplace = {{0, 0}, {0, 1}};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace

void AddCudaElementwiseRules(CudaNodeRules& rules) { rules["Add"] = {WhyNotAdd, EmitAdd}; }

}  // namespace octet::compile_internal
