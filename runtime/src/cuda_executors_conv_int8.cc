// cuda.dynamic_int8_conv (docs/cuda-backend.md, "int8 convolutions"): the
// int8-dynamic preset's per-image quantized convolution as
//
//   ImageAbsMax(x) -> Im2ColQuantizeInt8 or, for at most 4 channels,
//   Im2ColQuantizeInt8Pixels, or, for NHWC with C % 16 == 0 where it is the
//   faster, Im2ColQuantizeInt8Nhwc16 (codes [M, Kp], one scale per row: its
//   image's)
//   -> Int8DynamicGemm (per-row x per-channel dequantization,
//   bias, residual, relu in the epilogue) -> y [M, O] = NHWC
//
// with M = N * OH * OW. Activations are NCHW or NHWC per value (attributes
// x_layout, residual_layout, y_layout): the lowering keeps a value NHWC when
// only int8 convolutions read it. An NCHW y is written NHWC into output 4
// (scratch) and transposed; an NCHW residual is transposed into the GEMM's
// destination first and added there in place.
// Where ImplicitGemmFirst says so (x NHWC with the x_codes scratch: C % 128
// == 0 and windows that cover the input, or large inputs in overlapping
// windows) there are no rows: QuantizeInt8Nhwc16 writes x's codes into
// x_codes and the per-image scales into the row scales' first N places, and
// Int8DynamicGemm::RunConv reads the rows from the codes itself (the
// implicit GEMM, through TMA's im2col mode or a cp.async gather).
// The per-image maximum across ops: with attribute y_absmax = 1 the GEMM's
// epilogue also takes the per-image max |y| (of the values written) into the
// last output (zeroed first, by the gather kernel); with x_absmax = 1 input
// 5 is that output of x's producer and ImageAbsMax does not run.
#include <cstdint>
#include <memory>
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/conv_int8_kernels.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/int8_kernels.h"
#include "octet/cuda/strided_copy.h"

namespace octet::runtime {
namespace {

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }

Expected<cuda::ActLayout> ReadLayout(const ModuleOp& op, const char* name) {
  OCTET_ASSIGN_OR_RETURN(std::string s, op.Get<std::string>(name));
  if (s == "nchw") return cuda::ActLayout::kNchw;
  if (s == "nhwc") return cuda::ActLayout::kNhwc;
  return InvalidArgument(Prefix(op), name, " is '", s, "'; expected nchw or nhwc");
}

// [N, C, H, W] sizes of a 4-D tensor stored in `layout`.
std::vector<int64_t> NchwSizes(const std::vector<int64_t>& dims, cuda::ActLayout layout) {
  if (layout == cuda::ActLayout::kNchw) return dims;
  return {dims[0], dims[3], dims[1], dims[2]};
}

// dst (dense, `to`) = src (`from`), both of NCHW sizes s.
Status Relayout(const float* src, cuda::ActLayout from, float* dst, cuda::ActLayout to,
                const std::vector<int64_t>& s, cudaStream_t stream) {
  const int64_t n = s[0], c = s[1], h = s[2], w = s[3];
  cuda::StridedCopy copy;
  copy.elem_bytes = 4;
  if (from == to) {
    copy.dims = {n * c * h * w};
    copy.src_strides = {1};
  } else if (to == cuda::ActLayout::kNhwc) {  // iterate [n, h, w, c] over NCHW
    copy.dims = {n, h, w, c};
    copy.src_strides = {c * h * w, w, 1, h * w};
  } else {  // iterate [n, c, h, w] over NHWC
    copy.dims = {n, c, h, w};
    copy.src_strides = {h * w * c, 1, w * c, c};
  }
  return cuda::CopyStrided(copy, src, dst, stream);
}

class DynamicInt8ConvExecutor : public CudaOpExecutor {
 public:
  DynamicInt8ConvExecutor(ModuleOp op, cuda::Window2d window, int64_t k_padded, float qmax,
                          float min_scale, cuda::ActLayout x_layout, cuda::ActLayout r_layout,
                          cuda::ActLayout y_layout, bool pixel_codes, bool x_codes, bool x_absmax,
                          bool y_absmax, cuda::Int8DynamicGemm gemm)
      : op_(std::move(op)),
        window_(window),
        k_padded_(k_padded),
        qmax_(qmax),
        min_scale_(min_scale),
        x_layout_(x_layout),
        r_layout_(r_layout),
        y_layout_(y_layout),
        pixel_codes_(pixel_codes),
        x_codes_(x_codes),
        x_absmax_(x_absmax),
        y_absmax_(y_absmax),
        gemm_(std::move(gemm)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &residual = in[4], &y = out[0], &codes = out[1],
                       &row_scales = out[2];
    // x's per-image maximum: its producer's (input 5) or this op's scratch.
    const DeviceTensor& absmax = x_absmax_ ? in[5] : out[3];
    if (x.dtype != DType::kF32 || y.dtype != DType::kF32 || x.dims.size() != 4 ||
        y.dims.size() != 4 || x.dims[0] != y.dims[0])
      return InvalidArgument(Prefix(op_), "expected f32 4-D in and out, got ", DTypeName(x.dtype),
                             CudaDimsText(x.dims), " -> ", DTypeName(y.dtype),
                             CudaDimsText(y.dims));
    const std::vector<int64_t> xs = NchwSizes(x.dims, x_layout_), ys = NchwSizes(y.dims, y_layout_);
    cuda::Conv2dDims d{xs[0], xs[1], xs[2], xs[3], ys[1], ys[2], ys[3]};
    const cuda::Window2d& w = window_;
    const int64_t oh =
        (d.height + w.pad_top + w.pad_bottom - w.dilation_h * (w.kernel_h - 1) - 1) / w.stride_h +
        1;
    const int64_t ow =
        (d.width + w.pad_left + w.pad_right - w.dilation_w * (w.kernel_w - 1) - 1) / w.stride_w + 1;
    const int64_t taps = d.channels * w.kernel_h * w.kernel_w;
    if (oh != d.out_height || ow != d.out_width || d.out_channels != gemm_.n() || taps > k_padded_)
      return InvalidArgument(Prefix(op_), "input ", CudaDimsText(x.dims), " -> ",
                             CudaDimsText(y.dims), " does not fit the weights [", gemm_.n(), ", ",
                             k_padded_, "] and the window (", oh, "x", ow, " outputs)");
    const int64_t m = d.batch * oh * ow;
    if (codes.numel() != m * k_padded_ || codes.dtype != DType::kI8 || row_scales.numel() != m ||
        row_scales.dtype != DType::kF32 || absmax.numel() != d.batch ||
        absmax.dtype != DType::kF32 ||
        (y_absmax_ && (out.back().numel() != d.batch || out.back().dtype != DType::kF32)))
      return Internal(Prefix(op_), "scratch places do not fit ", m, " rows: codes ",
                      CudaDimsText(codes.dims), ", row scales ", CudaDimsText(row_scales.dims),
                      ", absmax ", CudaDimsText(absmax.dims), ", y's absmax ",
                      CudaDimsText(out.back().dims));
    if (residual.data != nullptr &&
        (residual.dtype != DType::kF32 || NchwSizes(residual.dims, r_layout_) != ys))
      return InvalidArgument(Prefix(op_), "residual ", DTypeName(residual.dtype),
                             CudaDimsText(residual.dims), " is not the output's ",
                             CudaDimsText(y.dims));
    if (m == 0) return Status::Ok();
    float* dst = static_cast<float*>(y.data);
    if (y_layout_ == cuda::ActLayout::kNchw) {
      if (out.size() < 5 || out[4].numel() != y.numel())
        return Internal(Prefix(op_), "no NHWC scratch for the NCHW output");
      dst = static_cast<float*>(out[4].data);
    }
    Status st = Status::Ok();
    if (!x_absmax_)
      st = cuda::ImageAbsMax(static_cast<const float*>(x.data), d.batch,
                             d.channels * d.height * d.width, static_cast<float*>(absmax.data),
                             stream);
    // y's per-image maximum, raised by the GEMM's epilogue (atomicMax): zeroed
    // by the gather (its kernel where it can, no memset node of its own).
    float* y_absmax = y_absmax_ ? static_cast<float*>(out.back().data) : nullptr;
    const int64_t y_absmax_count = y_absmax_ ? d.batch : 0;
    // The scratch outputs after the NHWC one: pixel_codes or x_codes, then
    // y_absmax's.
    const DeviceTensor& input_codes = out[out.size() - 1 - (y_absmax_ ? 1 : 0)];
    if (x_codes_ && (input_codes.numel() != x.numel() || input_codes.dtype != DType::kI8))
      return Internal(Prefix(op_), "the input codes ", CudaDimsText(input_codes.dims),
                      " do not fit the input ", CudaDimsText(x.dims));
    const bool has_codes = x_codes_ && x_layout_ == cuda::ActLayout::kNhwc &&
                           reinterpret_cast<uintptr_t>(x.data) % 16 == 0;
    const bool implicit = has_codes && cuda::ImplicitGemmFirst(d, window_);
    const bool two_pass = has_codes && !implicit && cuda::QuantizeOnceFirst(d, window_);
    if (st.ok() && implicit) {
      st = cuda::QuantizeInt8Nhwc16(
          static_cast<const float*>(x.data), d.batch, d.channels * d.height * d.width,
          static_cast<const float*>(absmax.data), qmax_, min_scale_,
          static_cast<int8_t*>(input_codes.data), static_cast<float*>(row_scales.data), stream,
          y_absmax, y_absmax_count);
      const void* res = residual.data;
      if (st.ok()) st = NhwcResidual(res, dst, ys, stream, &res);
      if (st.ok())
        st = gemm_.RunConv(static_cast<const int8_t*>(input_codes.data), d, window_,
                           static_cast<const float*>(row_scales.data), dst, stream, res, y_absmax);
    } else if (st.ok() && two_pass) {
      st = cuda::Im2ColQuantizeInt8Nhwc16(
          static_cast<const float*>(x.data), d, window_, k_padded_,
          static_cast<const float*>(absmax.data), qmax_, min_scale_,
          static_cast<int8_t*>(input_codes.data), static_cast<int8_t*>(codes.data),
          static_cast<float*>(row_scales.data), stream, y_absmax, y_absmax_count);
    } else if (st.ok() && pixel_codes_) {
      const DeviceTensor& words = input_codes;
      if (words.numel() != d.batch * d.height * d.width || words.dtype != DType::kI32)
        return Internal(Prefix(op_), "the pixel codes ", CudaDimsText(words.dims),
                        " do not fit the input ", CudaDimsText(x.dims));
      st = cuda::Im2ColQuantizeInt8Pixels(static_cast<const float*>(x.data), x_layout_, d, window_,
                                          k_padded_, static_cast<const float*>(absmax.data), qmax_,
                                          min_scale_, static_cast<uint32_t*>(words.data),
                                          static_cast<int8_t*>(codes.data),
                                          static_cast<float*>(row_scales.data), stream);
      if (st.ok() && y_absmax != nullptr)
        st = [&]() -> Status {
          OCTET_CUDA_RETURN_IF_ERROR(
              cudaMemsetAsync(y_absmax, 0, static_cast<size_t>(d.batch) * sizeof(float), stream));
          return Status::Ok();
        }();
    } else if (st.ok()) {
      st = cuda::Im2ColQuantizeInt8(static_cast<const float*>(x.data), x_layout_, d, window_,
                                    k_padded_, static_cast<const float*>(absmax.data), qmax_,
                                    min_scale_, static_cast<int8_t*>(codes.data),
                                    static_cast<float*>(row_scales.data), stream, y_absmax,
                                    y_absmax_count);
    }
    if (st.ok() && !implicit) {
      const void* res = residual.data;
      st = NhwcResidual(res, dst, ys, stream, &res);
      if (st.ok())
        st = gemm_.Run(static_cast<const int8_t*>(codes.data),
                       static_cast<const float*>(row_scales.data), m, dst, stream, res, y_absmax,
                       oh * ow);
    }
    if (st.ok() && y_layout_ == cuda::ActLayout::kNchw)
      st = Relayout(dst, cuda::ActLayout::kNhwc, static_cast<float*>(y.data),
                    cuda::ActLayout::kNchw, ys, stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  // The residual as the GEMM adds it, NHWC: itself, or for an NCHW residual
  // its transpose into the GEMM's destination, added there in place.
  Status NhwcResidual(const void* residual, float* dst, const std::vector<int64_t>& ys,
                      cudaStream_t stream, const void** nhwc) const {
    *nhwc = residual;
    if (residual == nullptr || r_layout_ != cuda::ActLayout::kNchw) return Status::Ok();
    *nhwc = dst;
    return Relayout(static_cast<const float*>(residual), r_layout_, dst, cuda::ActLayout::kNhwc, ys,
                    stream);
  }

  ModuleOp op_;
  cuda::Window2d window_;
  int64_t k_padded_;
  float qmax_, min_scale_;
  cuda::ActLayout x_layout_, r_layout_, y_layout_;
  bool pixel_codes_, x_codes_;
  bool x_absmax_, y_absmax_;
  cuda::Int8DynamicGemm gemm_;
};

// Inputs: x, weights i8 [O, Kp] (constant), weight scales f32 [O] or [1],
// bias f32 [O] or -1, residual or -1, and with the attribute x_absmax = 1
// x's per-image maximum f32 [N] (its producer's y_absmax output). Outputs:
// y, codes, row scales, absmax, the NHWC scratch when y is NCHW, with the
// attribute pixel_codes = 1 the quantized input words i32 [N, H, W]
// (Im2ColQuantizeInt8Pixels), with x_codes = 1 (x NHWC, C % 16 == 0) the
// input quantized once, i8 [N, H, W, C] (Im2ColQuantizeInt8Nhwc16, where
// QuantizeOnceFirst says so at this batch, or the implicit GEMM's codes
// where ImplicitGemmFirst does), and with y_absmax = 1 (y NHWC)
// y's per-image maximum f32 [N].
Expected<std::unique_ptr<CudaOpExecutor>> CreateDynamicInt8Conv(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  OCTET_ASSIGN_OR_RETURN(cuda::ActLayout y_layout, ReadLayout(op, "y_layout"));
  OCTET_ASSIGN_OR_RETURN(int64_t pixel_codes, op.Get<int64_t>("pixel_codes", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(int64_t x_codes, op.Get<int64_t>("x_codes", int64_t{0}));
  if (pixel_codes != 0 && x_codes != 0)
    return InvalidArgument(Prefix(op), "pixel_codes and x_codes exclude each other");
  OCTET_ASSIGN_OR_RETURN(int64_t x_absmax, op.Get<int64_t>("x_absmax", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(int64_t y_absmax, op.Get<int64_t>("y_absmax", int64_t{0}));
  // The maximum is taken of what the GEMM writes: y itself only when NHWC.
  if (y_absmax != 0 && y_layout != cuda::ActLayout::kNhwc)
    return InvalidArgument(Prefix(op), "y_absmax needs y_layout nhwc");
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, x_absmax != 0 ? 6 : 5, 3,
                                         (y_layout == cuda::ActLayout::kNchw ? 5 : 4) +
                                             (pixel_codes != 0 ? 1 : 0) + (x_codes != 0 ? 1 : 0) +
                                             (y_absmax != 0 ? 1 : 0),
                                         {1, 2, 3}));
  if (x_absmax != 0 && op.inputs[5] < 0)
    return InvalidArgument(Prefix(op), "x_absmax = 1 needs input 5 (x's per-image maximum)");
  OCTET_ASSIGN_OR_RETURN(cuda::ActLayout x_layout, ReadLayout(op, "x_layout"));
  OCTET_ASSIGN_OR_RETURN(cuda::ActLayout r_layout, ReadLayout(op, "residual_layout"));
  OCTET_ASSIGN_OR_RETURN(cuda::Window2d window, ReadCudaWindow(op));
  OCTET_ASSIGN_OR_RETURN(int64_t relu, op.Get<int64_t>("relu"));
  OCTET_ASSIGN_OR_RETURN(float qmax, op.Get<float>("qmax"));
  OCTET_ASSIGN_OR_RETURN(float min_scale, op.Get<float>("min_scale"));
  const Tensor& w = constants[op.inputs[1]];
  const Tensor& scales = constants[op.inputs[2]];
  if (w.dtype() != DType::kI8 || w.rank() != 2)
    return InvalidArgument(Prefix(op), "expected i8 weights [O, Kp], got ", DTypeName(w.dtype()),
                           w.ShapeString());
  if (scales.dtype() != DType::kF32 || (scales.numel() != 1 && scales.numel() != w.dim(0)))
    return InvalidArgument(Prefix(op), "expected f32 weight scales [", w.dim(0), "] or [1], got ",
                           DTypeName(scales.dtype()), scales.ShapeString());
  cuda::Int8DynamicGemmConfig g;
  g.weights = w;
  g.weight_layout = cuda::WeightLayout::kNK;
  g.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  if (op.inputs[3] >= 0) g.bias = constants[op.inputs[3]];
  g.activation = relu != 0 ? cuda::Activation::kRelu : cuda::Activation::kNone;
  g.dst_type = DType::kF32;
  OCTET_RETURN_IF_ERROR(ReadTunedInt8Tile(op, &g));
  auto gemm = cuda::Int8DynamicGemm::Create(g);  // checks K % 16, the bias, the scales
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new DynamicInt8ConvExecutor(
      op, window, w.dim(1), qmax, min_scale, x_layout, r_layout, y_layout, pixel_codes != 0,
      x_codes != 0, x_absmax != 0, y_absmax != 0, std::move(*gemm)));
}

}  // namespace

void AddCudaInt8ConvExecutors(CudaExecutorFactories& factories) {
  factories["cuda.dynamic_int8_conv"] = CreateDynamicInt8Conv;
}

}  // namespace octet::runtime
