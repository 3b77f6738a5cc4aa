// QuantizeLinear, DequantizeLinear and DynamicQuantizeLinear; the integer and
// QLinear matrix/convolution kernels are in kernels_quant_gemm.cc.
//
// Rounding is the spec's: round half to even (std::nearbyint under the default
// rounding mode), then saturation to the target type's range. The division
// x / scale is done in float for float inputs, as in the ONNX reference
// (float32 / float32 in numpy) and onnxruntime, so results match bit for bit at
// ties.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernel_util.h"
#include "octet/reference/kernel.h"
#include "quant_kernels.h"
#include "quant_util.h"
#include "tensor_convert.h"

namespace octet::reference {
namespace {

// The quantized types QuantizeLinear's output_dtype attribute may name
// (TensorProto.DataType values).
Expected<DType> QuantDTypeFromOnnx(const KernelContext& ctx, int64_t id) {
  const std::optional<DType> dtype = DTypeFromOnnxTypeId(id);
  if (dtype == DType::kF8E4M3 || dtype == DType::kF8E5M2)
    return Unimplemented(ctx.node.Describe(), ": float8 quantization is not supported");
  if (!dtype || !IsInteger(*dtype) || DTypeBits(*dtype) > 16)
    return ctx.Fail("output_dtype ", id, " is not a quantized integer type");
  return *dtype;
}

bool IsQuantizableInput(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF64 ||
         t == DType::kI32;
}

Status QuantizeLinearKernel(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* scale = ctx.input(1);
  const Tensor* zp = ctx.input(2);
  if (x == nullptr || scale == nullptr) return ctx.Fail("inputs x and y_scale are required");
  if (!IsQuantizableInput(x->dtype()))
    return ctx.Fail("x must be f32, f16, bf16 or i32 but is ", DTypeName(x->dtype()));
  if (!IsFloat(scale->dtype()))
    return ctx.Fail("y_scale must be a float tensor but is ", scale->ShapeString());
  OCTET_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.node.GetInt("output_dtype", 0));
  DType out = DType::kU8;
  if (output_dtype != 0) {
    OCTET_ASSIGN_OR_RETURN(out, QuantDTypeFromOnnx(ctx, output_dtype));
  }
  if (zp != nullptr) {
    if (output_dtype != 0 && zp->dtype() != out)
      return ctx.Fail("output_dtype says ", DTypeName(out), " but y_zero_point is ",
                      zp->ShapeString());
    out = zp->dtype();
  }
  double lo, hi;
  OCTET_RETURN_IF_ERROR(QuantRange(ctx, out, &lo, &hi));
  OCTET_ASSIGN_OR_RETURN(QuantLayout q, ResolveQuantLayout(ctx, *x, *scale, zp));
  const std::vector<float> scales = ReadAs<float>(*scale);
  const std::vector<double> zps = zp != nullptr ? ReadAs<double>(*zp) : std::vector<double>();
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(out, x->dims()));
  // float32 / float32 for float inputs; int32 and f64 inputs divide in double
  // (numpy promotes int32 / float32 to float64).
  const bool in_float = x->dtype() != DType::kI32 && x->dtype() != DType::kF64;
  const std::vector<float> xf = in_float ? ReadAs<float>(*x) : std::vector<float>();
  const std::vector<double> xd = in_float ? std::vector<double>() : ReadAs<double>(*x);
  WithQuantStore(y, [&](auto store) {
    ForEachQuantRow(q, ctx.num_threads, IsPacked(out), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t o = row / q.axis_dim, a = row % q.axis_dim;
        const int64_t base = o * q.outer_stride + (a / q.block) * q.axis_stride;
        for (int64_t i = 0; i < q.inner; ++i) {
          const int64_t e = row * q.inner + i, p = base + i * q.inner_stride;
          const double r = in_float ? static_cast<double>(std::nearbyint(xf[e] / scales[p]))
                                    : std::nearbyint(xd[e] / static_cast<double>(scales[p]));
          store(e, Saturate(r + (zps.empty() ? 0.0 : zps[p]), lo, hi));
        }
      }
    });
  });
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status DequantizeLinearKernel(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  const Tensor* scale = ctx.input(1);
  const Tensor* zp = ctx.input(2);
  if (x == nullptr || scale == nullptr) return ctx.Fail("inputs x and x_scale are required");
  double lo, hi;
  OCTET_RETURN_IF_ERROR(QuantRange(ctx, x->dtype(), &lo, &hi));
  if (scale->dtype() != DType::kF32 && scale->dtype() != DType::kF16 &&
      scale->dtype() != DType::kBF16)
    return ctx.Fail("x_scale must be f32, f16 or bf16 but is ", scale->ShapeString());
  if (zp != nullptr && zp->dtype() != x->dtype())
    return ctx.Fail("x_zero_point must have x's dtype ", DTypeName(x->dtype()), " but is ",
                    zp->ShapeString());
  OCTET_ASSIGN_OR_RETURN(QuantLayout q, ResolveQuantLayout(ctx, *x, *scale, zp));
  const std::vector<float> scales = ReadAs<float>(*scale);
  const std::vector<double> zps = zp != nullptr ? ReadAs<double>(*zp) : std::vector<double>();
  const std::vector<double> xd = ReadAs<double>(*x);
  // The output has the scale's type; f16/bf16 are computed in float.
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(scale->dtype(), x->dims()));
  std::vector<float> yf(y.dtype() == DType::kF32 ? 0 : y.numel());
  float* out = y.dtype() == DType::kF32 ? y.data<float>() : yf.data();
  ForEachQuantRow(q, ctx.num_threads, false, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / q.axis_dim, a = row % q.axis_dim;
      const int64_t base = o * q.outer_stride + (a / q.block) * q.axis_stride;
      for (int64_t i = 0; i < q.inner; ++i) {
        const int64_t e = row * q.inner + i, p = base + i * q.inner_stride;
        // (x - zero_point) is exact in double; then float, as the spec's
        // float32 arithmetic.
        out[e] = static_cast<float>(xd[e] - (zps.empty() ? 0.0 : zps[p])) * scales[p];
      }
    }
  });
  if (y.dtype() != DType::kF32) WriteFrom(yf.data(), y);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

// Follows the spec's formulas step by step, all in float32 as the ONNX
// reference does: scale = (max(0, max(x)) - min(0, min(x))) / 255,
// zero_point = round(saturate(0 - min / scale)), y = saturate(round(x / scale) + zp).
Status DynamicQuantizeLinearKernel(KernelContext& ctx) {
  const Tensor* x = ctx.input(0);
  if (x == nullptr) return ctx.Fail("input x is required");
  if (x->dtype() != DType::kF32) return ctx.Fail("x must be f32 but is ", x->ShapeString());
  const float* xf = x->data<float>();
  float mn = 0.0f, mx = 0.0f;
  for (int64_t i = 0; i < x->numel(); ++i) {
    mn = std::min(mn, xf[i]);
    mx = std::max(mx, xf[i]);
  }
  const float scale = (mx - mn) / 255.0f;
  // A zero scale (x all zero) would divide 0 by 0; every output is then 0.
  float zp = 0.0f;
  if (scale != 0.0f) zp = std::nearbyint(std::clamp((0.0f - mn) / scale, 0.0f, 255.0f));
  Tensor y(DType::kU8, x->dims());
  uint8_t* out = y.data<uint8_t>();
  ParallelFor(x->numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const double r = scale != 0.0f ? static_cast<double>(std::nearbyint(xf[i] / scale)) : 0.0;
      out[i] = static_cast<uint8_t>(Saturate(r + zp, 0.0, 255.0));
    }
  });
  ctx.outputs[0] = std::move(y);
  if (ctx.num_outputs() > 1) ctx.outputs[1] = Tensor::Scalar<float>(scale);
  if (ctx.num_outputs() > 2) ctx.outputs[2] = Tensor::Scalar<uint8_t>(static_cast<uint8_t>(zp));
  return Status::Ok();
}

}  // namespace

void RegisterQuantKernels(KernelRegistry& r) {
  r.Register("QuantizeLinear", QuantizeLinearKernel);
  r.Register("DequantizeLinear", DequantizeLinearKernel);
  r.Register("DynamicQuantizeLinear", DynamicQuantizeLinearKernel);
  r.Register("MatMulInteger", MatMulIntegerKernel);
  r.Register("ConvInteger", ConvIntegerKernel);
  r.Register("QLinearMatMul", QLinearMatMulKernel);
  r.Register("QLinearConv", QLinearConvKernel);
}

}  // namespace octet::reference
