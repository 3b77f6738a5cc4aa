// The executor of cuda.conv2d_cudnn (docs/cuda-backend.md, "Convolutions,
// pooling, float GEMMs"): inputs x f32 NCHW, w bf16 [O, kh, kw, C], bias f32
// [O] (or -1), residual f32 of y's dims (or -1); outputs y f32 NCHW, then
// arena scratch: x in bf16 NHWC, the convolution in bf16 NHWC, cuDNN's
// workspace; attrs kernel_shape, strides, pads, dilations, relu.
// y = relu?(conv(x, w) + bias + residual): x to bf16 NHWC, cuDNN, back to
// f32 NCHW with the bias, residual and relu.
#include <memory>
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/cudnn_conv.h"
#include "octet/cuda/device_buffer.h"

namespace octet::runtime {
namespace {

using SharedBuffer = std::shared_ptr<const cuda::DeviceBuffer>;

class CudnnConv2dExecutor : public CudaOpExecutor {
 public:
  CudnnConv2dExecutor(ModuleOp op, cuda::Window2d window, bool relu, SharedBuffer w,
                      SharedBuffer bias, cuda::CudnnConv conv)
      : op_(std::move(op)),
        window_(window),
        relu_(relu),
        w_(std::move(w)),
        bias_(std::move(bias)),
        conv_(std::move(conv)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &residual = in[3], &y = out[0];
    const DeviceTensor &x_nhwc = out[1], &y_nhwc = out[2], &ws = out[3];
    OCTET_ASSIGN_OR_RETURN(cuda::Conv2dDims d, ReadCudaConvDims(op_, x, y, window_, true));
    if (residual.data != nullptr && residual.dims != y.dims)
      return InvalidArgument(CudaOpPrefix(op_), "residual ", CudaDimsText(residual.dims),
                             " is not ", CudaDimsText(y.dims));
    if (x_nhwc.numel() != x.numel() || y_nhwc.numel() != y.numel())
      return Internal(CudaOpPrefix(op_), "the NHWC places ", CudaDimsText(x_nhwc.dims), ", ",
                      CudaDimsText(y_nhwc.dims), " do not fit ", CudaDimsText(x.dims), " -> ",
                      CudaDimsText(y.dims));
    const int64_t pixels = d.height * d.width, out_pixels = d.out_height * d.out_width;
    Status st = cuda::NchwF32ToNhwcBf16(static_cast<const float*>(x.data), d.batch, d.channels,
                                        pixels, x_nhwc.data, stream);
    if (st.ok())
      st = conv_.Run(d, x_nhwc.data, y_nhwc.data, ws.data, static_cast<size_t>(ws.numel()), stream);
    if (st.ok())
      st = cuda::NhwcBf16ToNchwF32(
          y_nhwc.data, d.batch, d.out_channels, out_pixels, bias_ ? bias_->as<float>() : nullptr,
          static_cast<const float*>(residual.data), relu_, static_cast<float*>(y.data), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Window2d window_;
  bool relu_;
  SharedBuffer w_, bias_;  // owned here; conv_ reads w_
  cuda::CudnnConv conv_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateCudnnConv2d(const ModuleDesc& desc,
                                                            const ModuleOp& op,
                                                            const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 4, 2, 4, {1, 2}));
  const Tensor& w = constants[op.inputs[1]];
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadCudaWindow(op));
  OCTET_ASSIGN_OR_RETURN(int64_t relu, op.Get<int64_t>("relu"));
  if (w.dtype() != DType::kBF16 || w.rank() != 4 || w.dim(1) != window.kernel_h ||
      w.dim(2) != window.kernel_w)
    return InvalidArgument(CudaOpPrefix(op), "expected bf16 weights [O, kh, kw, C] for a ",
                           window.kernel_h, "x", window.kernel_w, " window, got ",
                           DTypeName(w.dtype()), w.ShapeString());
  OCTET_ASSIGN_OR_RETURN(SharedBuffer weights, UploadCudaConstant(op, w));
  SharedBuffer bias;
  if (op.inputs[2] >= 0) {
    const Tensor& b = constants[op.inputs[2]];
    if (b.dtype() != DType::kF32 || b.numel() != w.dim(0))
      return InvalidArgument(CudaOpPrefix(op), "expected an f32 bias of ", w.dim(0),
                             " values, got ", DTypeName(b.dtype()), b.ShapeString());
    OCTET_ASSIGN_OR_RETURN(bias, UploadCudaConstant(op, b));
  }
  cuda::CudnnConvConfig c;
  c.window = window;
  c.out_channels = w.dim(0);
  c.channels_per_group = w.dim(3);
  c.weights = weights->data();
  auto conv = cuda::CudnnConv::Create(c);
  if (!conv.ok()) return conv.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new CudnnConv2dExecutor(
      op, window, relu != 0, std::move(weights), std::move(bias), std::move(*conv)));
}

}  // namespace

void AddCudaCudnnConvExecutors(CudaExecutorFactories& factories) {
  factories["cuda.conv2d_cudnn"] = CreateCudnnConv2d;
}

}  // namespace octet::runtime
