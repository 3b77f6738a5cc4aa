#include "cuda_rules_util.h"

namespace octet::compile_internal {

std::optional<std::vector<int64_t>> CudaConstInts(const Value* v) {
  if (v == nullptr || !v->is_constant()) return std::nullopt;
  const Tensor& t = v->constant();
  std::vector<int64_t> out;
  if (t.dtype() == DType::kI64) {
    out.assign(t.data<int64_t>(), t.data<int64_t>() + t.numel());
  } else if (t.dtype() == DType::kI32) {
    for (int64_t i = 0; i < t.numel(); ++i) out.push_back(t.data<int32_t>()[i]);
  } else {
    return std::nullopt;
  }
  return out;
}

std::string CudaWhyNotCopyable(const Value* v, const std::string& what) {
  if (v == nullptr) return what + " needs its data input";
  if (v->is_constant())
    return what + " copies an activation; its input '" + v->name() +
           "' is a constant (constant folding should have removed this node)";
  const DType t = v->type().dtype;
  const int bits = DTypeBits(t);
  if (bits != 8 && bits != 16 && bits != 32 && bits != 64)
    return what + " copies elements of 1, 2, 4 or 8 bytes, not " + std::string(DTypeName(t));
  return "";
}

std::optional<int64_t> CudaNormalizeAxis(int64_t a, int64_t rank) {
  if (a < -rank || a >= rank) return std::nullopt;
  return a < 0 ? a + rank : a;
}

Status CudaEmitOp(const Node& n, const std::string& kernel, const std::vector<const Value*>& inputs,
                  std::vector<ModuleAttr> attrs, std::vector<std::pair<int32_t, int32_t>> inplace,
                  ModuleBuilder& builder) {
  ModuleOp op;
  op.kernel = kernel;
  op.name = n.name();
  for (const Value* v : inputs) {
    auto slot = builder.InputSlot(v);
    if (!slot.ok()) return slot.status().WithContext(n.Describe());
    op.inputs.push_back(*slot);
  }
  for (const Value* v : n.outputs())
    if (v != nullptr) op.outputs.push_back(builder.OutputSlot(v));
  op.attrs = std::move(attrs);
  op.inplace = std::move(inplace);
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace octet::compile_internal
