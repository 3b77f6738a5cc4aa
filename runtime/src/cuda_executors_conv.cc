// Executors of the cuda target's convolutions, pooling and float GEMMs
// (cuda.conv2d_bf16, cuda.grouped_conv2d, cuda.max_pool, cuda.average_pool,
// cuda.global_average_pool, cuda.linear_bf16, cuda.batched_matmul_bf16;
// docs/cuda-backend.md,
// "Convolutions, pooling, float GEMMs").
#include <memory>
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/bf16_gemm.h"
#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/float_kernels.h"

namespace octet::runtime {
namespace {

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }
std::string DimsText(const std::vector<int64_t>& dims) { return CudaDimsText(dims); }
using SharedBuffer = std::shared_ptr<const cuda::DeviceBuffer>;

}  // namespace

Expected<std::shared_ptr<const cuda::DeviceBuffer>> UploadCudaConstant(const ModuleOp& op,
                                                                       const Tensor& t) {
  auto buffer = cuda::DeviceBuffer::FromHost(t.raw(), static_cast<size_t>(t.nbytes()));
  if (!buffer.ok()) return buffer.status().WithContext("op '" + op.name + "'");
  return std::make_shared<const cuda::DeviceBuffer>(std::move(*buffer));
}

// kernel_shape, strides, pads [top, left, bottom, right], dilations.
Expected<cuda::Window2d> ReadCudaWindow(const ModuleOp& op) {
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> k, op.Get<std::vector<int64_t>>("kernel_shape"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> s, op.Get<std::vector<int64_t>>("strides"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> p, op.Get<std::vector<int64_t>>("pads"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> d, op.Get<std::vector<int64_t>>("dilations"));
  if (k.size() != 2 || s.size() != 2 || p.size() != 4 || d.size() != 2)
    return InvalidArgument(Prefix(op), "expected a 2-D window (2 kernel dims, strides and ",
                           "dilations, 4 pads)");
  cuda::Window2d w;
  w.kernel_h = k[0], w.kernel_w = k[1], w.stride_h = s[0], w.stride_w = s[1];
  w.pad_top = p[0], w.pad_left = p[1], w.pad_bottom = p[2], w.pad_right = p[3];
  w.dilation_h = d[0], w.dilation_w = d[1];
  return w;
}

Expected<cuda::Conv2dDims> ReadCudaConvDims(const ModuleOp& op, const DeviceTensor& x,
                                            const DeviceTensor& y, const cuda::Window2d& w,
                                            bool floor_dims) {
  if (x.dtype != DType::kF32 || y.dtype != DType::kF32 || x.dims.size() != 4 ||
      y.dims.size() != 4 || x.dims[0] != y.dims[0])
    return InvalidArgument(Prefix(op), "expected f32 NCHW in and out, got ", DTypeName(x.dtype),
                           DimsText(x.dims), " -> ", DTypeName(y.dtype), DimsText(y.dims));
  cuda::Conv2dDims d{x.dims[0], x.dims[1], x.dims[2], x.dims[3], y.dims[1], y.dims[2], y.dims[3]};
  const int64_t oh =
      (d.height + w.pad_top + w.pad_bottom - w.dilation_h * (w.kernel_h - 1) - 1) / w.stride_h + 1;
  const int64_t ow =
      (d.width + w.pad_left + w.pad_right - w.dilation_w * (w.kernel_w - 1) - 1) / w.stride_w + 1;
  if (floor_dims ? (oh != d.out_height || ow != d.out_width)
                 : (d.out_height < oh || d.out_width < ow || d.out_height > oh + 1 ||
                    d.out_width > ow + 1))
    return InvalidArgument(Prefix(op), "output ", DimsText(y.dims), " does not fit input ",
                           DimsText(x.dims), " (", oh, "x", ow, " windows)");
  return d;
}

namespace {

Expected<cuda::Window2d> ReadWindow(const ModuleOp& op) { return ReadCudaWindow(op); }

// cuda.conv2d_bf16: x f32 NCHW -> im2col in bf16 (output 1, [N, rows, OH,
// OW]: the window's C * kh * kw taps, then rows of ones for the bias columns,
// then zeros) -> per image Y[O, P] = W[O, rows] x cols[rows, P] on cuBLASLt
// (f32 accumulation and output, + residual, relu in the epilogue) -> y f32
// NCHW. Output 2 is the GEMM's workspace.
class Conv2dBf16Executor : public CudaOpExecutor {
 public:
  Conv2dBf16Executor(ModuleOp op, cuda::Window2d window, int64_t rows, int64_t ones_rows,
                     SharedBuffer w, cuda::Bf16Gemm gemm)
      : op_(std::move(op)),
        window_(window),
        rows_(rows),
        ones_rows_(ones_rows),
        w_(std::move(w)),
        gemm_(std::move(gemm)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &residual = in[2], &y = out[0], &cols = out[1], &ws = out[2];
    OCTET_ASSIGN_OR_RETURN(cuda::Conv2dDims d, ReadCudaConvDims(op_, x, y, window_, true));
    const int64_t k = d.channels * window_.kernel_h * window_.kernel_w;
    const int64_t o = static_cast<int64_t>(w_->bytes() / 2) / rows_;
    const int64_t pixels = d.out_height * d.out_width;
    if (k + ones_rows_ > rows_ || d.out_channels != o)
      return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims), " -> ", DimsText(y.dims),
                             " does not fit the weights [", o, ", ", rows_, "]");
    if (cols.numel() != d.batch * rows_ * pixels)
      return Internal(Prefix(op_), "the im2col place ", DimsText(cols.dims), " does not fit");
    if (residual.data != nullptr && residual.dims != y.dims)
      return InvalidArgument(Prefix(op_), "residual ", DimsText(residual.dims), " is not ",
                             DimsText(y.dims));
    Status st = cuda::Im2ColBf16(static_cast<const float*>(x.data), d, window_, rows_, ones_rows_,
                                 cols.data, stream);
    cuda::Bf16GemmShape s;
    s.m = pixels, s.n = o, s.k = rows_;
    s.lda = pixels, s.ldb = rows_, s.ldc = pixels;
    s.batch = d.batch, s.stride_a = rows_ * pixels, s.stride_b = 0, s.stride_c = o * pixels;
    if (st.ok())
      st = gemm_.Run(s, cols.data, w_->data(), static_cast<const float*>(residual.data),
                     static_cast<float*>(y.data), ws.data, static_cast<size_t>(ws.numel()), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Window2d window_;
  int64_t rows_, ones_rows_;
  SharedBuffer w_;
  cuda::Bf16Gemm gemm_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateConv2dBf16(const ModuleDesc& desc,
                                                           const ModuleOp& op,
                                                           const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 3, 2, 3, {1}));
  const Tensor& w = constants[op.inputs[1]];
  if (w.dtype() != DType::kBF16 || w.rank() != 2)
    return InvalidArgument(Prefix(op), "expected bf16 weights [O, rows], got ",
                           DTypeName(w.dtype()), w.ShapeString());
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadWindow(op));
  OCTET_ASSIGN_OR_RETURN(int64_t relu, op.Get<int64_t>("relu"));
  OCTET_ASSIGN_OR_RETURN(int64_t ones_rows, op.Get<int64_t>("bias_rows"));
  OCTET_ASSIGN_OR_RETURN(SharedBuffer weights, UploadCudaConstant(op, w));
  cuda::Bf16GemmConfig c;
  c.relu = relu != 0;
  c.accumulate = op.inputs[2] >= 0;
  auto gemm = cuda::Bf16Gemm::Create(c);
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new Conv2dBf16Executor(
      op, window, w.dim(1), ones_rows, std::move(weights), std::move(*gemm)));
}

// cuda.grouped_conv2d: direct f32 convolution with `group` groups, + bias,
// + residual, relu.
class GroupedConv2dExecutor : public CudaOpExecutor {
 public:
  GroupedConv2dExecutor(ModuleOp op, cuda::Window2d window, int64_t groups, bool relu,
                        std::vector<int64_t> w_dims, SharedBuffer w, SharedBuffer bias)
      : op_(std::move(op)),
        window_(window),
        groups_(groups),
        relu_(relu),
        w_dims_(std::move(w_dims)),
        w_(std::move(w)),
        bias_(std::move(bias)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &residual = in[3], &y = out[0];
    OCTET_ASSIGN_OR_RETURN(cuda::Conv2dDims d, ReadCudaConvDims(op_, x, y, window_, true));
    if (d.out_channels != w_dims_[0] || d.channels != w_dims_[1] * groups_)
      return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims), " -> ", DimsText(y.dims),
                             " does not fit the weights ", DimsText(w_dims_), " in ", groups_,
                             " groups");
    if (residual.data != nullptr && residual.dims != y.dims)
      return InvalidArgument(Prefix(op_), "residual ", DimsText(residual.dims), " is not ",
                             DimsText(y.dims));
    Status st = cuda::GroupedConv2dF32(static_cast<const float*>(x.data), w_->as<float>(),
                                       bias_ ? bias_->as<float>() : nullptr,
                                       static_cast<const float*>(residual.data), d, window_,
                                       groups_, relu_, static_cast<float*>(y.data), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Window2d window_;
  int64_t groups_;
  bool relu_;
  std::vector<int64_t> w_dims_;
  SharedBuffer w_, bias_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateGroupedConv2d(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 4, 2, 1, {1, 2}));
  const Tensor& w = constants[op.inputs[1]];
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadWindow(op));
  OCTET_ASSIGN_OR_RETURN(int64_t groups, op.Get<int64_t>("group"));
  OCTET_ASSIGN_OR_RETURN(int64_t relu, op.Get<int64_t>("relu"));
  if (w.dtype() != DType::kF32 || w.rank() != 4 || w.dim(2) != window.kernel_h ||
      w.dim(3) != window.kernel_w || groups <= 0 || w.dim(0) % groups != 0)
    return InvalidArgument(Prefix(op), "expected f32 weights [O, C / group, kh, kw], got ",
                           DTypeName(w.dtype()), w.ShapeString());
  OCTET_ASSIGN_OR_RETURN(SharedBuffer weights, UploadCudaConstant(op, w));
  SharedBuffer bias;
  if (op.inputs[2] >= 0) {
    const Tensor& b = constants[op.inputs[2]];
    if (b.dtype() != DType::kF32 || b.numel() != w.dim(0))
      return InvalidArgument(Prefix(op), "expected an f32 bias of ", w.dim(0), " values");
    OCTET_ASSIGN_OR_RETURN(bias, UploadCudaConstant(op, b));
  }
  return std::unique_ptr<CudaOpExecutor>(new GroupedConv2dExecutor(
      op, window, groups, relu != 0, w.dims(), std::move(weights), std::move(bias)));
}

// cuda.max_pool / cuda.average_pool over f32, NCHW; a max pool with the
// attribute layout = "nhwc" reads and writes NHWC (between two int8
// convolutions, docs/cuda-backend.md "int8 convolutions"), and with y_absmax
// = 1 also writes the per-image max |y| f32 [N] (output 1) that the int8
// convolution reading y quantizes it with.
class Pool2dExecutor : public CudaOpExecutor {
 public:
  Pool2dExecutor(ModuleOp op, cuda::Window2d window, cuda::PoolKind kind, bool nhwc, bool y_absmax)
      : op_(std::move(op)), window_(window), kind_(kind), nhwc_(nhwc), y_absmax_(y_absmax) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    if (nhwc_) {
      // The NCHW sizes of the NHWC tensors, for the checks of ReadCudaConvDims.
      DeviceTensor xs = x, ys = y;
      for (DeviceTensor* t : {&xs, &ys})
        if (t->dims.size() == 4) t->dims = {t->dims[0], t->dims[3], t->dims[1], t->dims[2]};
      OCTET_ASSIGN_OR_RETURN(cuda::Conv2dDims d, ReadCudaConvDims(op_, xs, ys, window_, false));
      if (d.out_channels != d.channels)
        return InvalidArgument(Prefix(op_), "pooling keeps the channels: ", DimsText(x.dims),
                               " -> ", DimsText(y.dims), " (NHWC)");
      float* y_absmax = nullptr;
      if (y_absmax_) {
        if (out[1].numel() != d.batch || out[1].dtype != DType::kF32)
          return Internal(Prefix(op_), "y's per-image maximum ", DimsText(out[1].dims),
                          " does not fit ", d.batch, " images");
        y_absmax = static_cast<float*>(out[1].data);
      }
      Status st = cuda::MaxPool2dNhwcF32(static_cast<const float*>(x.data), d, window_,
                                         static_cast<float*>(y.data), stream, y_absmax);
      return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
    }
    OCTET_ASSIGN_OR_RETURN(cuda::Conv2dDims d, ReadCudaConvDims(op_, x, y, window_, false));
    if (d.out_channels != d.channels)
      return InvalidArgument(Prefix(op_), "pooling keeps the channels: ", DimsText(x.dims), " -> ",
                             DimsText(y.dims));
    Status st = cuda::Pool2dF32(static_cast<const float*>(x.data), d, window_, kind_,
                                static_cast<float*>(y.data), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Window2d window_;
  cuda::PoolKind kind_;
  bool nhwc_, y_absmax_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateMaxPool(const ModuleDesc& desc, const ModuleOp& op,
                                                        const std::vector<Tensor>&) {
  OCTET_ASSIGN_OR_RETURN(int64_t y_absmax, op.Get<int64_t>("y_absmax", int64_t{0}));
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, y_absmax != 0 ? 2 : 1, {}));
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadWindow(op));
  OCTET_ASSIGN_OR_RETURN(std::string layout, op.Get<std::string>("layout", std::string("nchw")));
  if (layout != "nchw" && layout != "nhwc")
    return InvalidArgument(Prefix(op), "layout is '", layout, "'; expected nchw or nhwc");
  if (y_absmax != 0 && layout != "nhwc")
    return InvalidArgument(Prefix(op), "y_absmax needs layout nhwc");
  return std::unique_ptr<CudaOpExecutor>(
      new Pool2dExecutor(op, window, cuda::PoolKind::kMax, layout == "nhwc", y_absmax != 0));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateAveragePool(const ModuleDesc& desc,
                                                            const ModuleOp& op,
                                                            const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadWindow(op));
  OCTET_ASSIGN_OR_RETURN(int64_t include_pad, op.Get<int64_t>("count_include_pad"));
  return std::unique_ptr<CudaOpExecutor>(new Pool2dExecutor(
      op, window,
      include_pad ? cuda::PoolKind::kAverageIncludePad : cuda::PoolKind::kAverageExcludePad, false,
      false));
}

// cuda.global_average_pool: x f32 [N, C, ...] -> y f32 [N, C, 1, ...].
class GlobalAveragePoolExecutor : public CudaOpExecutor {
 public:
  explicit GlobalAveragePoolExecutor(ModuleOp op) : op_(std::move(op)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    if (x.dtype != DType::kF32 || x.dims.size() < 3 || y.dims.size() != x.dims.size() ||
        y.dims[0] != x.dims[0] || y.dims[1] != x.dims[1] || y.numel() != x.dims[0] * x.dims[1])
      return InvalidArgument(Prefix(op_), "expected f32 [N, C, ...] -> [N, C, 1, ...], got ",
                             DTypeName(x.dtype), DimsText(x.dims), " -> ", DimsText(y.dims));
    const int64_t planes = x.dims[0] * x.dims[1];
    if (planes == 0) return Status::Ok();
    Status st = cuda::GlobalAveragePoolF32(static_cast<const float*>(x.data), planes,
                                           x.numel() / planes, static_cast<float*>(y.data), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateGlobalAveragePool(const ModuleDesc& desc,
                                                                  const ModuleOp& op,
                                                                  const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  return std::unique_ptr<CudaOpExecutor>(new GlobalAveragePoolExecutor(op));
}

// cuda.linear_bf16: x f32 [..., K] (any dims of M * K elements) -> bf16
// (output 1, scratch) -> y[M, N] = act(x W^T + bias) on cuBLASLt (bf16 in,
// f32 accumulation and out, bias and relu in the epilogue, the erf GELU after
// it in place) -> y f32. Output 2 is the GEMM's workspace.
class LinearBf16Executor : public CudaOpExecutor {
 public:
  LinearBf16Executor(ModuleOp op, int64_t n, int64_t k, bool gelu, SharedBuffer w,
                     SharedBuffer bias, cuda::Bf16Gemm gemm)
      : op_(std::move(op)),
        n_(n),
        k_(k),
        gelu_(gelu),
        w_(std::move(w)),
        bias_(std::move(bias)),
        gemm_(std::move(gemm)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0], &x16 = out[1], &ws = out[2];
    if (x.dtype != DType::kF32 || x.numel() % k_ != 0 || y.dtype != DType::kF32 ||
        y.numel() != x.numel() / k_ * n_ || x16.numel() != x.numel())
      return InvalidArgument(Prefix(op_), "input ", DTypeName(x.dtype), DimsText(x.dims),
                             " -> output ", DimsText(y.dims), " is not f32 [M, ", k_, "] -> [M, ",
                             n_, "]");
    const int64_t m = x.numel() / k_;
    Status st =
        cuda::ConvertF32ToBf16(static_cast<const float*>(x.data), x16.data, x.numel(), stream);
    // Column-major: y^T [N, M] = (W [N, K] row-major = [K, N] col-major)^T x16^T.
    cuda::Bf16GemmShape s;
    s.m = n_, s.n = m, s.k = k_, s.trans_a = true, s.lda = k_, s.ldb = k_, s.ldc = n_;
    if (st.ok())
      st = gemm_.Run(s, w_->data(), x16.data, nullptr, static_cast<float*>(y.data), ws.data,
                     static_cast<size_t>(ws.numel()), stream);
    if (st.ok() && gelu_) st = cuda::GeluErfF32InPlace(static_cast<float*>(y.data), m * n_, stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  int64_t n_, k_;
  bool gelu_;
  SharedBuffer w_, bias_;
  cuda::Bf16Gemm gemm_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateLinearBf16(const ModuleDesc& desc,
                                                           const ModuleOp& op,
                                                           const std::vector<Tensor>& constants) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 3, 2, 3, {1, 2}));
  const Tensor& w = constants[op.inputs[1]];
  if (w.dtype() != DType::kBF16 || w.rank() != 2)
    return InvalidArgument(Prefix(op), "expected bf16 weights [N, K], got ", DTypeName(w.dtype()),
                           w.ShapeString());
  OCTET_ASSIGN_OR_RETURN(std::string activation, op.Get<std::string>("activation"));
  if (activation != "none" && activation != "relu" && activation != "gelu_erf")
    return InvalidArgument(Prefix(op), "unknown activation '", activation,
                           "' (this runtime has none, relu, gelu_erf)");
  OCTET_ASSIGN_OR_RETURN(SharedBuffer weights, UploadCudaConstant(op, w));
  SharedBuffer bias;
  if (op.inputs[2] >= 0) {
    const Tensor& b = constants[op.inputs[2]];
    if (b.dtype() != DType::kF32 || b.numel() != w.dim(0))
      return InvalidArgument(Prefix(op), "expected an f32 bias of ", w.dim(0), " values");
    OCTET_ASSIGN_OR_RETURN(bias, UploadCudaConstant(op, b));
  }
  cuda::Bf16GemmConfig c;
  c.bias = bias ? bias->as<float>() : nullptr;
  c.relu = activation == "relu";
  auto gemm = cuda::Bf16Gemm::Create(c);
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(
      new LinearBf16Executor(op, w.dim(0), w.dim(1), activation == "gelu_erf", std::move(weights),
                             std::move(bias), std::move(*gemm)));
}

// cuda.batched_matmul_bf16: y[b] = a[b or shared] x b[b or shared], a and b
// converted to bf16 (outputs 1 and 2, scratch), f32 accumulation and output.
class BatchedMatMulExecutor : public CudaOpExecutor {
 public:
  BatchedMatMulExecutor(ModuleOp op, cuda::Bf16Gemm gemm)
      : op_(std::move(op)), gemm_(std::move(gemm)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &a = in[0], &b = in[1], &y = out[0], &a16 = out[1], &b16 = out[2],
                       &ws = out[3];
    const size_t ra = a.dims.size(), rb = b.dims.size(), ry = y.dims.size();
    if (a.dtype != DType::kF32 || b.dtype != DType::kF32 || ra < 2 || rb < 2 || ry < 2 ||
        a.dims[ra - 1] != b.dims[rb - 2] || y.dims[ry - 2] != a.dims[ra - 2] ||
        y.dims[ry - 1] != b.dims[rb - 1])
      return InvalidArgument(Prefix(op_), "expected f32 [..., M, K] x [..., K, N] -> [..., M, N], ",
                             "got ", DimsText(a.dims), " x ", DimsText(b.dims), " -> ",
                             DimsText(y.dims));
    const int64_t m = a.dims[ra - 2], k = a.dims[ra - 1], n = b.dims[rb - 1];
    const int64_t batch = m * n > 0 ? y.numel() / (m * n) : 0;
    const int64_t a_batch = m * k > 0 ? a.numel() / (m * k) : 0;
    const int64_t b_batch = k * n > 0 ? b.numel() / (k * n) : 0;
    if ((a_batch != batch && a_batch != 1) || (b_batch != batch && b_batch != 1))
      return InvalidArgument(Prefix(op_),
                             "each operand's batch must be the output's or 1: ", DimsText(a.dims),
                             " x ", DimsText(b.dims), " -> ", DimsText(y.dims));
    if (a16.numel() != a.numel() || b16.numel() != b.numel())
      return Internal(Prefix(op_), "the bf16 places do not fit the operands");
    if (y.numel() == 0) return Status::Ok();
    if (k == 0) return InvalidArgument(Prefix(op_), "K = 0 is not supported");
    Status st =
        cuda::ConvertF32ToBf16(static_cast<const float*>(a.data), a16.data, a.numel(), stream);
    if (st.ok())
      st = cuda::ConvertF32ToBf16(static_cast<const float*>(b.data), b16.data, b.numel(), stream);
    // Column-major: y^T [N, M] = b^T [N, K] a^T [K, M], both stored as they are.
    cuda::Bf16GemmShape s;
    s.m = n, s.n = m, s.k = k, s.lda = n, s.ldb = k, s.ldc = n;
    s.batch = batch, s.stride_a = b_batch == 1 ? 0 : k * n, s.stride_b = a_batch == 1 ? 0 : m * k;
    s.stride_c = m * n;
    if (st.ok())
      st = gemm_.Run(s, b16.data, a16.data, nullptr, static_cast<float*>(y.data), ws.data,
                     static_cast<size_t>(ws.numel()), stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::Bf16Gemm gemm_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateBatchedMatMul(const ModuleDesc& desc,
                                                              const ModuleOp& op,
                                                              const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 2, 2, 4, {}));
  auto gemm = cuda::Bf16Gemm::Create(cuda::Bf16GemmConfig{});
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new BatchedMatMulExecutor(op, std::move(*gemm)));
}

}  // namespace

void AddCudaConvExecutors(CudaExecutorFactories& factories) {
  factories["cuda.conv2d_bf16"] = CreateConv2dBf16;
  factories["cuda.grouped_conv2d"] = CreateGroupedConv2d;
  factories["cuda.max_pool"] = CreateMaxPool;
  factories["cuda.average_pool"] = CreateAveragePool;
  factories["cuda.global_average_pool"] = CreateGlobalAveragePool;
  factories["cuda.linear_bf16"] = CreateLinearBf16;
  factories["cuda.batched_matmul_bf16"] = CreateBatchedMatMul;
}

}  // namespace octet::runtime
