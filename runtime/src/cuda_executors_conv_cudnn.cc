// The executor of cuda.conv2d_cudnn (docs/cuda-backend.md, "Convolutions,
// pooling, float GEMMs"): inputs x f32 NCHW, w f32 [O, C / group, kh, kw],
// bias f32 [O] (or -1), residual f32 of y's dims (or -1); outputs y f32 NCHW
// and cuDNN's workspace (arena scratch); attrs kernel_shape, strides, pads,
// dilations, group, relu. y = relu?(conv(x, w) + bias + residual) on cuDNN.
#include <memory>
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/cudnn_conv.h"
#include "octet/cuda/device_buffer.h"

namespace octet::runtime {
namespace {

using SharedBuffer = std::shared_ptr<const cuda::DeviceBuffer>;

class CudnnConv2dExecutor : public CudaOpExecutor {
 public:
  CudnnConv2dExecutor(ModuleOp op, cuda::Window2d window, SharedBuffer w, SharedBuffer bias,
                      cuda::CudnnConv conv)
      : op_(std::move(op)),
        window_(window),
        w_(std::move(w)),
        bias_(std::move(bias)),
        conv_(std::move(conv)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &residual = in[3], &y = out[0], &ws = out[1];
    OCTET_ASSIGN_OR_RETURN(cuda::Conv2dDims d, ReadCudaConvDims(op_, x, y, window_, true));
    if (residual.data != nullptr && residual.dims != y.dims)
      return InvalidArgument(CudaOpPrefix(op_), "residual ", CudaDimsText(residual.dims),
                             " is not ", CudaDimsText(y.dims));
    Status st = conv_.Run(d, static_cast<const float*>(x.data),
                          static_cast<const float*>(residual.data), static_cast<float*>(y.data),
                          ws.data, static_cast<size_t>(ws.numel()), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Window2d window_;
  SharedBuffer w_, bias_;  // owned here, read by conv_
  cuda::CudnnConv conv_;
};

Expected<SharedBuffer> Upload(const ModuleOp& op, const Tensor& t) {
  auto buffer = cuda::DeviceBuffer::FromHost(t.raw(), static_cast<size_t>(t.nbytes()));
  if (!buffer.ok()) return buffer.status().WithContext("op '" + op.name + "'");
  return std::make_shared<const cuda::DeviceBuffer>(std::move(*buffer));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateCudnnConv2d(const ModuleDesc& desc,
                                                            const ModuleOp& op,
                                                            const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 4, 2, 2, {1, 2}));
  const Tensor& w = constants[op.inputs[1]];
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadCudaWindow(op));
  OCTET_ASSIGN_OR_RETURN(int64_t groups, op.Get<int64_t>("group"));
  OCTET_ASSIGN_OR_RETURN(int64_t relu, op.Get<int64_t>("relu"));
  if (w.dtype() != DType::kF32 || w.rank() != 4 || w.dim(2) != window.kernel_h ||
      w.dim(3) != window.kernel_w || groups <= 0 || w.dim(0) % groups != 0)
    return InvalidArgument(CudaOpPrefix(op), "expected f32 weights [O, C / group, kh, kw] for a ",
                           window.kernel_h, "x", window.kernel_w, " window in ", groups,
                           " groups, got ", DTypeName(w.dtype()), w.ShapeString());
  OCTET_ASSIGN_OR_RETURN(SharedBuffer weights, Upload(op, w));
  SharedBuffer bias;
  if (op.inputs[2] >= 0) {
    const Tensor& b = constants[op.inputs[2]];
    if (b.dtype() != DType::kF32 || b.numel() != w.dim(0))
      return InvalidArgument(CudaOpPrefix(op), "expected an f32 bias of ", w.dim(0),
                             " values, got ", DTypeName(b.dtype()), b.ShapeString());
    OCTET_ASSIGN_OR_RETURN(bias, Upload(op, b));
  }
  cuda::CudnnConvConfig c;
  c.window = window;
  c.groups = groups;
  c.out_channels = w.dim(0);
  c.channels_per_group = w.dim(1);
  c.weights = weights->as<float>();
  c.bias = bias ? bias->as<float>() : nullptr;
  c.relu = relu != 0;
  auto conv = cuda::CudnnConv::Create(c);
  if (!conv.ok()) return conv.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new CudnnConv2dExecutor(
      op, window, std::move(weights), std::move(bias), std::move(*conv)));
}

}  // namespace

void AddCudaCudnnConvExecutors(CudaExecutorFactories& factories) {
  factories["cuda.conv2d_cudnn"] = CreateCudnnConv2d;
}

}  // namespace octet::runtime
