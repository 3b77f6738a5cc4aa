// Executors of the cuda target's f32 reductions (cuda.reduce_sum,
// cuda.reduce_mean, cuda.reduce_max: attrs axes, non-negative and sorted, and
// keepdims) and cuda.softmax (over the last axis).
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/reduce.h"

namespace octet::runtime {
namespace {

using cuda::ReduceOp;

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }
std::string DimsText(const std::vector<int64_t>& dims) { return CudaDimsText(dims); }

class ReduceExecutor : public CudaOpExecutor {
 public:
  ReduceExecutor(ModuleOp op, ReduceOp kind, std::vector<int64_t> axes, bool keepdims)
      : op_(std::move(op)), kind_(kind), axes_(std::move(axes)), keepdims_(keepdims) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    const int64_t rank = static_cast<int64_t>(x.dims.size());
    std::vector<bool> reduced(x.dims.size(), false);
    bool axes_ok = true;
    for (int64_t a : axes_) {
      axes_ok = axes_ok && a < rank;
      if (a < rank) reduced[a] = true;
    }
    std::vector<int64_t> want;
    for (int64_t d = 0; d < rank; ++d)
      if (!reduced[d])
        want.push_back(x.dims[d]);
      else if (keepdims_)
        want.push_back(1);
    if (x.dtype != DType::kF32 || y.dtype != DType::kF32 || x.data == nullptr || !axes_ok ||
        want != y.dims)
      return InvalidArgument(Prefix(op_), "reduces f32 ", DimsText(x.dims), " over axes ",
                             DimsText(axes_), keepdims_ ? " (keepdims)" : "",
                             " to f32 of other dims than the output's ", DTypeName(y.dtype),
                             DimsText(y.dims));
    Status s = cuda::ReduceF32(kind_, static_cast<const float*>(x.data), x.dims, axes_,
                               static_cast<float*>(y.data), stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  ReduceOp kind_;
  std::vector<int64_t> axes_;
  bool keepdims_;
};

class SoftmaxExecutor : public CudaOpExecutor {
 public:
  explicit SoftmaxExecutor(ModuleOp op) : op_(std::move(op)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    if (x.dtype != DType::kF32 || y.dtype != DType::kF32 || x.dims.empty() || x.dims != y.dims ||
        x.data == nullptr)
      return InvalidArgument(Prefix(op_), "takes f32 of rank >= 1 to f32 of its dims, got ",
                             DTypeName(x.dtype), DimsText(x.dims), " -> ", DTypeName(y.dtype),
                             DimsText(y.dims));
    const int64_t k = x.dims.back();
    Status s =
        cuda::SoftmaxLastAxisF32(static_cast<const float*>(x.data), k == 0 ? 0 : x.numel() / k, k,
                                 static_cast<float*>(y.data), stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateReduce(const ModuleDesc& desc, const ModuleOp& op,
                                                       const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  if (desc.slots[op.inputs[0]].kind == SlotKind::kConstant)
    return InvalidArgument(Prefix(op), "the input is a constant (fold it at compile time)");
  const ReduceOp kind = op.kernel == "cuda.reduce_sum"    ? ReduceOp::kSum
                        : op.kernel == "cuda.reduce_mean" ? ReduceOp::kMean
                                                          : ReduceOp::kMax;
  OCTET_ASSIGN_OR_RETURN(auto axes, op.Get<std::vector<int64_t>>("axes"));
  OCTET_ASSIGN_OR_RETURN(int64_t keepdims, op.Get<int64_t>("keepdims"));
  for (size_t i = 0; i < axes.size(); ++i)
    if (axes[i] < 0 || (i > 0 && axes[i] <= axes[i - 1]))
      return InvalidArgument(Prefix(op), "axes must be non-negative and increasing, got ",
                             DimsText(axes));
  return std::unique_ptr<CudaOpExecutor>(
      new ReduceExecutor(op, kind, std::move(axes), keepdims != 0));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateSoftmax(const ModuleDesc& desc, const ModuleOp& op,
                                                        const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  if (desc.slots[op.inputs[0]].kind == SlotKind::kConstant)
    return InvalidArgument(Prefix(op), "the input is a constant (fold it at compile time)");
  return std::unique_ptr<CudaOpExecutor>(new SoftmaxExecutor(op));
}

}  // namespace

void AddCudaReduceExecutors(CudaExecutorFactories& factories) {
  factories["cuda.reduce_sum"] = CreateReduce;
  factories["cuda.reduce_mean"] = CreateReduce;
  factories["cuda.reduce_max"] = CreateReduce;
  factories["cuda.softmax"] = CreateSoftmax;
}

}  // namespace octet::runtime
