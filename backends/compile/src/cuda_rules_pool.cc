// cuda rules for pooling: MaxPool, AveragePool (2-D, NCHW f32) and
// GlobalAveragePool (f32 of rank >= 3).
#include "cuda_rules.h"
#include "x86_patterns.h"

namespace octet::compile_internal {
namespace {

constexpr const char kMaxPool[] = "cuda.max_pool";
constexpr const char kAveragePool[] = "cuda.average_pool";
constexpr const char kGlobalAveragePool[] = "cuda.global_average_pool";

std::string WhyNotPool(const Node& n) {
  const TensorType& x = n.input(0)->type();
  if (x.dtype != DType::kF32 || !x.has_shape || x.shape.rank() != 4)
    return "cuda runs 2-D pooling of f32 NCHW only, got " + CudaShapeText(x);
  auto auto_pad = n.GetString("auto_pad", "NOTSET");
  if (!auto_pad.ok() || (*auto_pad != "NOTSET" && *auto_pad != "VALID"))
    return "cuda pooling takes explicit pads (auto_pad NOTSET or VALID)";
  if (IntsAttr(n, "kernel_shape", {}).size() != 2 || IntsAttr(n, "strides", {1, 1}).size() != 2 ||
      IntsAttr(n, "pads", {0, 0, 0, 0}).size() != 4 || IntsAttr(n, "dilations", {1, 1}).size() != 2)
    return "kernel_shape, strides, pads or dilations do not describe a 2-D window";
  for (int i = 1; i < n.num_outputs(); ++i) {
    const Value* v = n.output(i);
    if (v != nullptr && (!v->uses().empty() || v->is_graph_output()))
      return "cuda.max_pool does not write Indices, which '" + v->name() + "' needs";
  }
  return "";
}

Status EmitPool(const Node& n, ModuleBuilder& builder) {
  ModuleOp op;
  const bool max = n.op_type() == "MaxPool";
  op.kernel = max ? kMaxPool : kAveragePool;
  op.name = n.name();
  auto x = builder.InputSlot(n.input(0));
  if (!x.ok()) return x.status().WithContext(n.Describe());
  op.inputs = {*x};
  op.outputs = {builder.OutputSlot(n.output(0))};
  // ceil_mode is in the output's dims; VALID is zero pads.
  op.attrs = {{"kernel_shape", IntsAttr(n, "kernel_shape", {})},
              {"strides", IntsAttr(n, "strides", {1, 1})},
              {"pads", IntsAttr(n, "pads", {0, 0, 0, 0})},
              {"dilations", IntsAttr(n, "dilations", {1, 1})}};
  if (!max) {
    OCTET_ASSIGN_OR_RETURN(int64_t include_pad, n.GetInt("count_include_pad", 0));
    op.attrs.push_back({"count_include_pad", include_pad});
  }
  builder.AddOp(std::move(op));
  return Status::Ok();
}

std::string WhyNotGlobalAveragePool(const Node& n) {
  const TensorType& x = n.input(0)->type();
  if (x.dtype != DType::kF32 || !x.has_shape || x.shape.rank() < 3)
    return "cuda.global_average_pool takes f32 [N, C, ...], got " + CudaShapeText(x);
  return "";
}

Status EmitGlobalAveragePool(const Node& n, ModuleBuilder& builder) {
  ModuleOp op;
  op.kernel = kGlobalAveragePool;
  op.name = n.name();
  auto x = builder.InputSlot(n.input(0));
  if (!x.ok()) return x.status().WithContext(n.Describe());
  op.inputs = {*x};
  op.outputs = {builder.OutputSlot(n.output(0))};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace

void AddCudaPoolRules(CudaNodeRules& rules) {
  rules["MaxPool"] = {WhyNotPool, EmitPool};
  rules["AveragePool"] = {WhyNotPool, EmitPool};
  rules["GlobalAveragePool"] = {WhyNotGlobalAveragePool, EmitGlobalAveragePool};
}

}  // namespace octet::compile_internal
