// cuda rules for f32 elementwise ops: the binary Add / Sub / Mul / Div / Pow /
// Max / Min with NumPy broadcasting (either operand may be a constant) as
// cuda.add / sub / mul / div / pow / max / min, and the unary Relu / Sqrt /
// Erf / Exp / Neg / Sigmoid / Tanh / Reciprocal / Abs as cuda.<op>.
#include <cctype>

#include "cuda_rules_util.h"

namespace octet::compile_internal {
namespace {

constexpr int64_t kMaxRank = 6;  // the broadcast kernel's (cuda/elementwise.h)

std::string Kernel(const Node& n) {
  std::string k = n.op_type();
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return "cuda." + k;
}

std::string WhyNotBinary(const Node& n) {
  const std::string k = Kernel(n);
  if (n.num_inputs() != 2 || n.input(0) == nullptr || n.input(1) == nullptr)
    return k + " takes exactly two inputs, got " + std::to_string(n.num_inputs());
  const TensorType& y = n.output(0)->type();
  if (y.dtype != DType::kF32 || n.input(0)->type().dtype != DType::kF32 ||
      n.input(1)->type().dtype != DType::kF32)
    return k + " computes in f32 only; got " + CudaShapeText(n.input(0)->type()) + ", " +
           CudaShapeText(n.input(1)->type()) + " -> " + CudaShapeText(y);
  if (n.input(0)->is_constant() && n.input(1)->is_constant())
    return k + ": both inputs are constants (constant folding should have removed this node)";
  if (y.shape.rank() > kMaxRank)
    return k + " broadcasts up to rank " + std::to_string(kMaxRank) + ", got " + CudaShapeText(y);
  return "";
}

// The output may take the place of an activation operand of its own shape.
Status EmitBinary(const Node& n, ModuleBuilder& builder) {
  std::vector<std::pair<int32_t, int32_t>> inplace;
  for (int i = 0; i < 2; ++i)
    if (!n.input(i)->is_constant() && n.input(i)->type().shape == n.output(0)->type().shape)
      inplace.push_back({0, i});
  return CudaEmitOp(n, Kernel(n), {n.input(0), n.input(1)}, {}, std::move(inplace), builder);
}

std::string WhyNotUnary(const Node& n) {
  const std::string k = Kernel(n);
  const Value* x = n.input(0);
  if (x == nullptr) return k + " needs its input";
  if (x->type().dtype != DType::kF32 || n.output(0)->type().dtype != DType::kF32)
    return k + " computes in f32 only; got " + CudaShapeText(x->type());
  if (x->is_constant())
    return k + ": the input is a constant (constant folding should have removed this node)";
  return "";
}

Status EmitUnary(const Node& n, ModuleBuilder& builder) {
  return CudaEmitOp(n, Kernel(n), {n.input(0)}, {}, {{0, 0}}, builder);
}

}  // namespace

void AddCudaElementwiseRules(CudaNodeRules& rules) {
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Pow", "Max", "Min"})
    rules[op] = {WhyNotBinary, EmitBinary};
  for (const char* op :
       {"Relu", "Sqrt", "Erf", "Exp", "Neg", "Sigmoid", "Tanh", "Reciprocal", "Abs"})
    rules[op] = {WhyNotUnary, EmitUnary};
}

}  // namespace octet::compile_internal
