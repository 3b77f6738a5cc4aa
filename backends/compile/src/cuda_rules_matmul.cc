// cuda rule for a MatMul of two f32 activations (batched, a shared operand
// broadcast over the batch): cuda.batched_matmul_bf16. A MatMul with a
// constant weight is a float fusion (cuda_conv_patterns.h) and never gets
// here; attention's MatMuls are the attention pattern's.
#include "cuda_rules.h"

namespace octet::compile_internal {
namespace {

constexpr const char kBatchedMatMul[] = "cuda.batched_matmul_bf16";
// As cuda_conv_patterns.cc: Bf16Gemm::kWorkspaceBytes.
constexpr int64_t kGemmWorkspaceBytes = int64_t{4} << 20;

// The batch dims of `operand` (all but the last two), right-aligned with the
// output's: either all of the output's (same dims) or none (all 1: shared).
bool BatchFits(const Shape& operand, const Shape& out) {
  const int64_t r = operand.rank() - 2, ro = out.rank() - 2;
  bool all_one = true, same = r == ro;
  for (int64_t i = 0; i < r; ++i) {
    const Dim& d = operand.dims()[i];
    all_one = all_one && d.is_static() && d.value() == 1;
    same = same && d == out.dims()[i];
  }
  return all_one || same;
}

std::string WhyNotMatMul(const Node& n) {
  const TensorType &a = n.input(0)->type(), &b = n.input(1)->type(), &y = n.output(0)->type();
  if (a.dtype != DType::kF32 || b.dtype != DType::kF32 || !a.has_shape || !b.has_shape ||
      !y.has_shape || a.shape.rank() < 2 || b.shape.rank() < 2)
    return "cuda.batched_matmul_bf16 takes two f32 operands of rank >= 2, got " + CudaShapeText(a) +
           " x " + CudaShapeText(b);
  if (!BatchFits(a.shape, y.shape) || !BatchFits(b.shape, y.shape))
    return "cuda.batched_matmul_bf16 broadcasts a whole operand over the batch only (each "
           "operand's batch dims are the output's or all 1), got " +
           CudaShapeText(a) + " x " + CudaShapeText(b);
  return "";
}

// Inputs: a f32 [..., M, K], b f32 [..., K, N]. Outputs: y f32 [..., M, N],
// the bf16 copies of a and b and the cuBLASLt workspace (arena scratch).
Status EmitMatMul(const Node& n, ModuleBuilder& builder) {
  ModuleOp op;
  op.kernel = kBatchedMatMul;
  op.name = n.name();
  for (int i = 0; i < 2; ++i) {
    auto slot = builder.InputSlot(n.input(i));
    if (!slot.ok()) return slot.status().WithContext(n.Describe());
    op.inputs.push_back(*slot);
  }
  op.outputs = {builder.OutputSlot(n.output(0)),
                builder.AddActivation(n.name() + "/a_bf16",
                                      TensorType(DType::kBF16, n.input(0)->type().shape)),
                builder.AddActivation(n.name() + "/b_bf16",
                                      TensorType(DType::kBF16, n.input(1)->type().shape)),
                builder.AddActivation(n.name() + "/workspace",
                                      TensorType(DType::kU8, Shape({Dim(kGemmWorkspaceBytes)})))};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace

void AddCudaMatMulRules(CudaNodeRules& rules) { rules["MatMul"] = {WhyNotMatMul, EmitMatMul}; }

}  // namespace octet::compile_internal
