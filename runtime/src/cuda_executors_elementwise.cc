// Executors of the cuda target's f32 elementwise ops: the binary ops
// cuda.add / sub / mul / div / pow / max / min (NumPy broadcasting; either
// operand may be a constant, uploaded here once) and the unary ops
// cuda.relu / sqrt / erf / exp / neg / sigmoid / tanh / reciprocal / abs.
#include <algorithm>
#include <memory>
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/elementwise.h"

namespace octet::runtime {
namespace {

using cuda::BinaryOp;
using cuda::UnaryOp;

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }
std::string DimsText(const std::vector<int64_t>& dims) { return CudaDimsText(dims); }

constexpr BinaryOp kBinaryOps[] = {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                                   BinaryOp::kPow, BinaryOp::kMax, BinaryOp::kMin};
constexpr UnaryOp kUnaryOps[] = {UnaryOp::kRelu, UnaryOp::kSqrt,       UnaryOp::kErf,
                                 UnaryOp::kExp,  UnaryOp::kNeg,        UnaryOp::kSigmoid,
                                 UnaryOp::kTanh, UnaryOp::kReciprocal, UnaryOp::kAbs};

// An operand: a device tensor of the run, or a constant uploaded at Create.
struct ConstantOperand {
  std::shared_ptr<const cuda::DeviceBuffer> buffer;  // null: not a constant
  std::vector<int64_t> dims;
};

class BinaryExecutor : public CudaOpExecutor {
 public:
  BinaryExecutor(ModuleOp op, BinaryOp kind, ConstantOperand a, ConstantOperand b)
      : op_(std::move(op)), kind_(kind), constants_{std::move(a), std::move(b)} {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const float* ptr[2];
    const std::vector<int64_t>* dims[2];
    for (int i = 0; i < 2; ++i) {
      const ConstantOperand& c = constants_[i];
      if (c.buffer != nullptr) {
        ptr[i] = c.buffer->as<float>();
        dims[i] = &c.dims;
        continue;
      }
      if (in[i].dtype != DType::kF32 || in[i].data == nullptr)
        return InvalidArgument(Prefix(op_), "input ", i, " is ", DTypeName(in[i].dtype),
                               DimsText(in[i].dims), ", expected an f32 device tensor");
      ptr[i] = static_cast<const float*>(in[i].data);
      dims[i] = &in[i].dims;
    }
    const DeviceTensor& y = out[0];
    if (y.dtype != DType::kF32)
      return InvalidArgument(Prefix(op_), "output is ", DTypeName(y.dtype), ", expected f32");
    Status s = cuda::BinaryF32(kind_, ptr[0], *dims[0], ptr[1], *dims[1],
                               static_cast<float*>(y.data), y.dims, stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  BinaryOp kind_;
  ConstantOperand constants_[2];
};

class UnaryExecutor : public CudaOpExecutor {
 public:
  UnaryExecutor(ModuleOp op, UnaryOp kind) : op_(std::move(op)), kind_(kind) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    if (x.dtype != DType::kF32 || y.dtype != DType::kF32 || x.dims != y.dims || x.data == nullptr)
      return InvalidArgument(Prefix(op_), "maps an f32 device tensor to f32 of its dims, got ",
                             DTypeName(x.dtype), DimsText(x.dims), " -> ", DTypeName(y.dtype),
                             DimsText(y.dims));
    Status s = cuda::UnaryF32(kind_, static_cast<const float*>(x.data), static_cast<float*>(y.data),
                              y.numel(), stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  UnaryOp kind_;
};

Expected<BinaryOp> BinaryKind(const ModuleOp& op) {
  for (BinaryOp k : kBinaryOps)
    if (op.kernel == std::string("cuda.") + cuda::BinaryOpName(k)) return k;
  return InvalidArgument(Prefix(op), "not a binary elementwise kernel");
}

Expected<UnaryOp> UnaryKind(const ModuleOp& op) {
  for (UnaryOp k : kUnaryOps)
    if (op.kernel == std::string("cuda.") + cuda::UnaryOpName(k)) return k;
  return InvalidArgument(Prefix(op), "not a unary elementwise kernel");
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateBinary(const ModuleDesc& desc, const ModuleOp& op,
                                                       const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 2, 2, 1, {}));
  OCTET_ASSIGN_OR_RETURN(BinaryOp kind, BinaryKind(op));
  ConstantOperand operands[2];
  for (int i = 0; i < 2; ++i) {
    if (desc.slots[op.inputs[i]].kind != SlotKind::kConstant) continue;
    const Tensor& t = constants[op.inputs[i]];
    if (t.dtype() != DType::kF32)
      return InvalidArgument(Prefix(op), "constant input ", i, " is ", DTypeName(t.dtype()),
                             ", expected f32");
    OCTET_ASSIGN_OR_RETURN(cuda::DeviceBuffer buffer,
                           cuda::DeviceBuffer::FromHost(
                               t.data<float>(), sizeof(float) * static_cast<size_t>(t.numel())));
    operands[i].buffer = std::make_shared<const cuda::DeviceBuffer>(std::move(buffer));
    operands[i].dims = t.dims();
  }
  if (operands[0].buffer != nullptr && operands[1].buffer != nullptr)
    return InvalidArgument(Prefix(op), "both inputs are constants (fold them at compile time)");
  return std::unique_ptr<CudaOpExecutor>(
      new BinaryExecutor(op, kind, std::move(operands[0]), std::move(operands[1])));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateUnary(const ModuleDesc& desc, const ModuleOp& op,
                                                      const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  OCTET_ASSIGN_OR_RETURN(UnaryOp kind, UnaryKind(op));
  if (desc.slots[op.inputs[0]].kind == SlotKind::kConstant)
    return InvalidArgument(Prefix(op), "the input is a constant (fold it at compile time)");
  return std::unique_ptr<CudaOpExecutor>(new UnaryExecutor(op, kind));
}

}  // namespace

void AddCudaElementwiseExecutors(CudaExecutorFactories& factories) {
  for (BinaryOp k : kBinaryOps)
    factories[std::string("cuda.") + cuda::BinaryOpName(k)] = CreateBinary;
  for (UnaryOp k : kUnaryOps) factories[std::string("cuda.") + cuda::UnaryOpName(k)] = CreateUnary;
}

}  // namespace octet::runtime
