// The executor of cuda.conv2d_cudnn (docs/cuda-backend.md, "Convolutions,
// pooling, float GEMMs"): inputs x, w bf16 [O, kh, kw, C], bias f32 [O] (or
// -1), residual of y's dims (or -1); attrs kernel_shape, strides, pads,
// dilations, relu, and x_layout / y_layout / residual_layout ("nchw_f32",
// the default, or "nhwc_bf16": a value passed between cuDNN convolutions in
// cuDNN's own layout). Outputs: y, then arena scratch: x in bf16 NHWC (only
// when x is nchw_f32), the convolution in bf16 NHWC (only when y is
// nchw_f32), and cuDNN's workspace.
// y = relu?(conv(x, w) + bias + residual): x to bf16 NHWC unless it is
// already, cuDNN, then either back to f32 NCHW with the bias, residual and
// relu, or (y nhwc_bf16) those in place over y.
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_executors.h"
#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/cudnn_conv.h"
#include "octet/cuda/device_buffer.h"

namespace octet::runtime {
namespace {

using SharedBuffer = std::shared_ptr<const cuda::DeviceBuffer>;

// dims of an NHWC tensor in NCHW order, for ReadCudaConvDims (which checks
// the window against them); the dtype is taken as f32 for that check only.
DeviceTensor NchwView(const DeviceTensor& t) {
  DeviceTensor v;
  v.data = t.data;
  v.dtype = DType::kF32;
  v.dims = {t.dims[0], t.dims[3], t.dims[1], t.dims[2]};
  return v;
}

class CudnnConv2dExecutor : public CudaOpExecutor {
 public:
  CudnnConv2dExecutor(ModuleOp op, cuda::Window2d window, bool relu, bool x_nhwc, bool y_nhwc,
                      bool residual_nhwc, SharedBuffer w, SharedBuffer bias, cuda::CudnnConv conv)
      : op_(std::move(op)),
        window_(window),
        relu_(relu),
        x_nhwc_(x_nhwc),
        y_nhwc_(y_nhwc),
        residual_nhwc_(residual_nhwc),
        w_(std::move(w)),
        bias_(std::move(bias)),
        conv_(std::move(conv)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &residual = in[3], &y = out[0], &ws = out.back();
    for (const auto& [t, nhwc, what] : {std::tuple{&x, x_nhwc_, "x"}, std::tuple{&y, y_nhwc_, "y"}})
      if (nhwc && (t->dtype != DType::kBF16 || t->dims.size() != 4))
        return InvalidArgument(CudaOpPrefix(op_), what, " is nhwc_bf16 but got ",
                               DTypeName(t->dtype), CudaDimsText(t->dims));
    OCTET_ASSIGN_OR_RETURN(
        cuda::Conv2dDims d,
        ReadCudaConvDims(op_, x_nhwc_ ? NchwView(x) : x, y_nhwc_ ? NchwView(y) : y, window_, true));
    // The residual has y's dims in its own layout.
    std::vector<int64_t> residual_dims = {d.batch, d.out_channels, d.out_height, d.out_width};
    if (residual_nhwc_) residual_dims = {d.batch, d.out_height, d.out_width, d.out_channels};
    const DType residual_dtype = residual_nhwc_ ? DType::kBF16 : DType::kF32;
    if (residual.data != nullptr &&
        (residual.dims != residual_dims || residual.dtype != residual_dtype))
      return InvalidArgument(CudaOpPrefix(op_), "residual ", DTypeName(residual.dtype),
                             CudaDimsText(residual.dims), " is not ", DTypeName(residual_dtype),
                             CudaDimsText(residual_dims));
    const float* residual_f32 = residual_nhwc_ ? nullptr : static_cast<const float*>(residual.data);
    const void* residual_bf16 = residual_nhwc_ ? residual.data : nullptr;
    // The bf16 NHWC places: x's own or scratch output 1; y's own or the next
    // scratch output.
    const DeviceTensor& x_nhwc = x_nhwc_ ? x : out[1];
    const DeviceTensor& y_nhwc = y_nhwc_ ? y : out[x_nhwc_ ? 1 : 2];
    if (x_nhwc.numel() != x.numel() || y_nhwc.numel() != y.numel())
      return Internal(CudaOpPrefix(op_), "the NHWC places ", CudaDimsText(x_nhwc.dims), ", ",
                      CudaDimsText(y_nhwc.dims), " do not fit ", CudaDimsText(x.dims), " -> ",
                      CudaDimsText(y.dims));
    const int64_t pixels = d.height * d.width, out_pixels = d.out_height * d.out_width;
    Status st = Status::Ok();
    if (!x_nhwc_)
      st = cuda::NchwF32ToNhwcBf16(static_cast<const float*>(x.data), d.batch, d.channels, pixels,
                                   x_nhwc.data, stream);
    if (st.ok())
      st = conv_.Run(d, x_nhwc.data, y_nhwc.data, ws.data, static_cast<size_t>(ws.numel()), stream);
    const float* bias = bias_ ? bias_->as<float>() : nullptr;
    if (st.ok() && y_nhwc_)
      st = cuda::NhwcBf16EpilogueInPlace(y.data, d.batch, d.out_channels, out_pixels, bias,
                                         residual_bf16, residual_f32, relu_, stream);
    else if (st.ok())
      st = cuda::NhwcBf16ToNchwF32(y_nhwc.data, d.batch, d.out_channels, out_pixels, bias,
                                   residual_f32, relu_, static_cast<float*>(y.data), stream,
                                   residual_bf16);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Window2d window_;
  bool relu_, x_nhwc_, y_nhwc_, residual_nhwc_;
  SharedBuffer w_, bias_;  // owned here; conv_ reads w_
  cuda::CudnnConv conv_;
};

// "nchw_f32" (false) or "nhwc_bf16" (true).
Expected<bool> ReadLayout(const ModuleOp& op, const char* attr) {
  OCTET_ASSIGN_OR_RETURN(std::string layout, op.Get<std::string>(attr, std::string("nchw_f32")));
  if (layout != "nchw_f32" && layout != "nhwc_bf16")
    return InvalidArgument(CudaOpPrefix(op), attr, " must be nchw_f32 or nhwc_bf16, got '", layout,
                           "'");
  return layout == "nhwc_bf16";
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateCudnnConv2d(const ModuleDesc& desc,
                                                            const ModuleOp& op,
                                                            const std::vector<Tensor>& constants) {
  OCTET_ASSIGN_OR_RETURN(bool x_nhwc, ReadLayout(op, "x_layout"));
  OCTET_ASSIGN_OR_RETURN(bool y_nhwc, ReadLayout(op, "y_layout"));
  OCTET_ASSIGN_OR_RETURN(bool residual_nhwc, ReadLayout(op, "residual_layout"));
  // cuDNN writes an nhwc_bf16 y itself, before the epilogue reads the
  // residual: the two must not share a place.
  if (y_nhwc && op.inputs[3] >= 0 && !op.inplace.empty())
    return InvalidArgument(CudaOpPrefix(op),
                           "an nhwc_bf16 output cannot take the residual's place");
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 4, 2, 4 - x_nhwc - y_nhwc, {1, 2}));
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
  return std::unique_ptr<CudaOpExecutor>(
      new CudnnConv2dExecutor(op, window, relu != 0, x_nhwc, y_nhwc, residual_nhwc,
                              std::move(weights), std::move(bias), std::move(*conv)));
}

}  // namespace

void AddCudaCudnnConvExecutors(CudaExecutorFactories& factories) {
  factories["cuda.conv2d_cudnn"] = CreateCudnnConv2d;
}

}  // namespace octet::runtime
