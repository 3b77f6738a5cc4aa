// Executor of the cuda target's f32 LayerNorm (cuda.layer_norm); cuda.add is
// one of the elementwise ops (cuda_executors_elementwise.cc).
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/float_kernels.h"

namespace octet::runtime {
namespace {

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }
std::string DimsText(const std::vector<int64_t>& dims) { return CudaDimsText(dims); }

// cuda.layer_norm: y = LayerNormalization(x, scale, bias) over the last axis.
class LayerNormExecutor : public CudaOpExecutor {
 public:
  LayerNormExecutor(ModuleOp op, cuda::LayerNorm kernel)
      : op_(std::move(op)), kernel_(std::move(kernel)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    if (x.dtype != DType::kF32 || x.dims.empty() || x.dims.back() != kernel_.k() ||
        x.dims != y.dims)
      return InvalidArgument(Prefix(op_), "input is ", DTypeName(x.dtype), DimsText(x.dims),
                             ", expected f32 [..., ", kernel_.k(), "] of the output's dims");
    Status s = kernel_.Run(static_cast<const float*>(x.data), x.numel() / kernel_.k(),
                           static_cast<float*>(y.data), stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::LayerNorm kernel_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateLayerNorm(const ModuleDesc& desc,
                                                          const ModuleOp& op,
                                                          const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 3, 2, 1, {1, 2}));
  const Tensor& scale = constants[op.inputs[1]];
  cuda::LayerNormConfig c;
  if (scale.dtype() != DType::kF32)
    return InvalidArgument(Prefix(op), "scale must be f32, got ", DTypeName(scale.dtype()));
  c.k = scale.numel();
  c.scale.assign(scale.data<float>(), scale.data<float>() + scale.numel());
  if (op.inputs[2] >= 0) {
    const Tensor& bias = constants[op.inputs[2]];
    if (bias.dtype() != DType::kF32)
      return InvalidArgument(Prefix(op), "bias must be f32, got ", DTypeName(bias.dtype()));
    c.bias.assign(bias.data<float>(), bias.data<float>() + bias.numel());
  }
  OCTET_ASSIGN_OR_RETURN(c.epsilon, op.Get<float>("epsilon"));
  auto kernel = cuda::LayerNorm::Create(c);
  if (!kernel.ok()) return kernel.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new LayerNormExecutor(op, std::move(*kernel)));
}

// cuda.channel_layer_norm: y = LayerNorm over axis 1 of x [N, C, ...]
// (SAM's LayerNorm2d, MatchChannelLayerNorm).
class ChannelLayerNormExecutor : public CudaOpExecutor {
 public:
  ChannelLayerNormExecutor(ModuleOp op, cuda::ChannelLayerNorm kernel)
      : op_(std::move(op)), kernel_(std::move(kernel)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    if (x.dtype != DType::kF32 || x.dims.size() < 2 || x.dims[1] != kernel_.channels() ||
        x.dims != y.dims)
      return InvalidArgument(Prefix(op_), "input is ", DTypeName(x.dtype), DimsText(x.dims),
                             ", expected f32 [N, ", kernel_.channels(),
                             ", ...] of the output's dims");
    int64_t inner = 1;
    for (size_t i = 2; i < x.dims.size(); ++i) inner *= x.dims[i];
    Status s = kernel_.Run(static_cast<const float*>(x.data), x.dims[0], inner,
                           static_cast<float*>(y.data), stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::ChannelLayerNorm kernel_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateChannelLayerNorm(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 3, 3, 1, {1, 2}));
  const Tensor &scale = constants[op.inputs[1]], &bias = constants[op.inputs[2]];
  if (scale.dtype() != DType::kF32 || bias.dtype() != DType::kF32 || scale.numel() != bias.numel())
    return InvalidArgument(Prefix(op), "scale and bias must be f32 of one length, got ",
                           DTypeName(scale.dtype()), scale.ShapeString(), " and ",
                           DTypeName(bias.dtype()), bias.ShapeString());
  cuda::LayerNormConfig c;
  c.k = scale.numel();
  c.scale.assign(scale.data<float>(), scale.data<float>() + scale.numel());
  c.bias.assign(bias.data<float>(), bias.data<float>() + bias.numel());
  OCTET_ASSIGN_OR_RETURN(c.epsilon, op.Get<float>("epsilon"));
  auto kernel = cuda::ChannelLayerNorm::Create(c);
  if (!kernel.ok()) return kernel.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new ChannelLayerNormExecutor(op, std::move(*kernel)));
}

}  // namespace

void AddCudaNormExecutors(CudaExecutorFactories& factories) {
  factories["cuda.layer_norm"] = CreateLayerNorm;
  factories["cuda.channel_layer_norm"] = CreateChannelLayerNorm;
}

}  // namespace octet::runtime
