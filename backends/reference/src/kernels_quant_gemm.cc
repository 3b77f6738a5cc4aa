// MatMulInteger, ConvInteger, QLinearMatMul and QLinearConv.
//
// All four subtract zero points first and then multiply with the shared
// double-precision GEMM / convolution: with 8-bit operands every product is at
// most 2^16 in magnitude, so sums stay exact in double far beyond any real K
// (2^53 / 2^16), and the double GEMM is several times faster than an int32 one
// on CPUs without 256-bit integer vectors. Results are then either wrapped to
// int32 (the integer ops) or requantized.
//
// Requantization follows the ONNX reference: the multiplier
// (scale_a * scale_b) / scale_y is a float32 product, the accumulator times the
// multiplier is evaluated in double (numpy promotes int32 * float32 to float64),
// rounded half to even and saturated.
#include <cmath>

#include "conv_geometry.h"
#include "conv_impl.h"
#include "kernel_util.h"
#include "matmul_plan.h"
#include "quant_kernels.h"
#include "quant_util.h"
#include "tensor_convert.h"

namespace octet::reference {
namespace {

Status Check8Bit(const KernelContext& ctx, const Tensor* t, const char* what) {
  if (t == nullptr) return ctx.Fail("input ", what, " is required");
  if (t->dtype() != DType::kU8 && t->dtype() != DType::kI8)
    return ctx.Fail(what, " must be u8 or i8 but is ", t->ShapeString());
  return Status::Ok();
}

// Exact integer-valued double to int32, wrapping modulo 2^32 like an int32
// accumulator would.
int32_t WrapToInt32(double v) {
  return static_cast<int32_t>(static_cast<uint32_t>(static_cast<int64_t>(v)));
}

Tensor Int32FromDoubles(const std::vector<int64_t>& dims, const std::vector<double>& values) {
  Tensor y(DType::kI32, dims);
  int32_t* out = y.data<int32_t>();
  for (size_t i = 0; i < values.size(); ++i) out[i] = WrapToInt32(values[i]);
  return y;
}

// A scale tensor broadcast over `target` (an operand's shape with its reduced
// dim set to 1), as floats; a 1-D scale applies per row when `per_row_vector`.
Expected<std::vector<float>> BroadcastScale(const KernelContext& ctx, const Tensor& scale,
                                            const std::vector<int64_t>& target, bool per_row_vector,
                                            const char* what) {
  const std::vector<float> values = ReadAs<float>(scale);
  int64_t count = 1;
  for (int64_t d : target) count *= d;
  if (scale.numel() == 1) return std::vector<float>(count, values.at(0));
  std::vector<int64_t> dims = scale.dims();
  if (per_row_vector && scale.rank() == 1) dims.push_back(1);
  auto shape = BroadcastShapes(dims, target);
  if (!shape.ok() || *shape != target)
    return ctx.Fail(what, " has shape ", scale.ShapeString(), " but must be a scalar or ",
                    per_row_vector ? "one value per row" : "one value per column",
                    " of an operand of shape ", DimsString(target));
  const BroadcastIndexer index(dims, target);
  std::vector<float> out(count);
  for (int64_t i = 0; i < count; ++i) out[i] = values[index.Map(i)];
  return out;
}

// Input `i` as a per-tensor scalar (scale or zero point), or an error.
Expected<double> ScalarInput(const KernelContext& ctx, int i, const char* what,
                             double absent_value) {
  const Tensor* t = ctx.input(i);
  if (t == nullptr) return absent_value;
  if (t->numel() != 1)
    return ctx.Fail(what, " must be a scalar (per-tensor) but has shape ", t->ShapeString());
  return t->GetAsDouble(0);
}

// w - w_zero_point with a scalar or per-output-channel ([M]) zero point.
Expected<std::vector<double>> WeightMinusZeroPoint(const KernelContext& ctx, const Tensor& w,
                                                   const Tensor* zp) {
  std::vector<double> out = ReadAs<double>(w);
  if (zp == nullptr) return out;
  if (zp->dtype() != w.dtype())
    return ctx.Fail("w_zero_point must have w's dtype ", DTypeName(w.dtype()), " but is ",
                    zp->ShapeString());
  const int64_t m = w.dim(0), per = m > 0 ? w.numel() / m : 0;
  if (zp->numel() != 1 && (zp->rank() != 1 || zp->dim(0) != m))
    return ctx.Fail("w_zero_point must be a scalar or have shape [", m,
                    "] (one per output channel of w ", w.ShapeString(), ") but has shape ",
                    zp->ShapeString());
  for (int64_t i = 0; i < m; ++i) {
    const double z = zp->GetAsDouble(zp->numel() == 1 ? 0 : i);
    for (int64_t j = 0; j < per; ++j) out[i * per + j] -= z;
  }
  return out;
}

// Per-output-channel float multipliers (x_scale * w_scale[m]) / y_scale.
Expected<std::vector<float>> ChannelMultipliers(const KernelContext& ctx, float x_scale,
                                                const Tensor& w_scale, float y_scale,
                                                int64_t channels) {
  if (w_scale.numel() != 1 && (w_scale.rank() != 1 || w_scale.dim(0) != channels))
    return ctx.Fail("w_scale must be a scalar or have shape [", channels,
                    "] (one per output channel) but has shape ", w_scale.ShapeString());
  std::vector<float> mult(channels);
  for (int64_t m = 0; m < channels; ++m) {
    const float ws = static_cast<float>(w_scale.GetAsDouble(w_scale.numel() == 1 ? 0 : m));
    mult[m] = (x_scale * ws) / y_scale;
  }
  return mult;
}

}  // namespace

Status MatMulIntegerKernel(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, a, "A"));
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, b, "B"));
  OCTET_ASSIGN_OR_RETURN(MatMulPlan plan, PlanMatMul(ctx, a->dims(), b->dims()));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> ad,
                         SubtractZeroPoint(ctx, *a, ctx.input(2), true, "A"));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> bd,
                         SubtractZeroPoint(ctx, *b, ctx.input(3), false, "B"));
  int64_t count = 1;
  for (int64_t d : plan.out_dims) count *= d;
  std::vector<double> acc(count);
  RunPlannedMatMul(plan, ad.data(), bd.data(), acc.data(), ctx.num_threads);
  ctx.outputs[0] = Int32FromDoubles(plan.out_dims, acc);
  return Status::Ok();
}

Status ConvIntegerKernel(KernelContext& ctx) {
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, ctx.input(0), "x"));
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, ctx.input(1), "w"));
  OCTET_ASSIGN_OR_RETURN(ConvGeometry g, ResolveConv(ctx, 0, 1, -1));
  const Tensor* x_zp = ctx.input(2);
  if (x_zp != nullptr && x_zp->numel() != 1)
    return ctx.Fail("x_zero_point must be a scalar (per-tensor) but has shape ",
                    x_zp->ShapeString());
  // Padding reads as x_zero_point, i.e. as zero after the subtraction.
  OCTET_ASSIGN_OR_RETURN(std::vector<double> xd,
                         SubtractZeroPoint(ctx, *ctx.input(0), x_zp, false, "x"));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> wd,
                         WeightMinusZeroPoint(ctx, *ctx.input(1), ctx.input(3)));
  std::vector<int64_t> dims = {g.batch, g.out_channels};
  for (const WindowDim& w : g.dims) dims.push_back(w.out);
  std::vector<double> acc(g.batch * g.out_channels * g.out_size());
  ConvForward<double>(g, xd.data(), wd.data(), nullptr, acc.data(), ctx.num_threads);
  ctx.outputs[0] = Int32FromDoubles(dims, acc);
  return Status::Ok();
}

Status QLinearMatMulKernel(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(3);
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, a, "a"));
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, b, "b"));
  if (ctx.input(1) == nullptr || ctx.input(4) == nullptr || ctx.input(6) == nullptr)
    return ctx.Fail("a_scale, b_scale and y_scale are required");
  const Tensor* y_zp = ctx.input(7);
  const DType out_type = y_zp != nullptr ? y_zp->dtype() : DType::kU8;
  double lo, hi;
  OCTET_RETURN_IF_ERROR(QuantRange(ctx, out_type, &lo, &hi));
  OCTET_ASSIGN_OR_RETURN(MatMulPlan plan, PlanMatMul(ctx, a->dims(), b->dims()));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> ad,
                         SubtractZeroPoint(ctx, *a, ctx.input(2), true, "a"));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> bd,
                         SubtractZeroPoint(ctx, *b, ctx.input(5), false, "b"));
  // Scales per row of a and per column of b: the operand shapes with the
  // reduced (K) dim set to 1.
  std::vector<int64_t> a_rows = plan.a_dims, b_cols = plan.b_dims;
  a_rows.back() = 1;
  b_cols[b_cols.size() - 2] = 1;
  OCTET_ASSIGN_OR_RETURN(std::vector<float> a_scale,
                         BroadcastScale(ctx, *ctx.input(1), a_rows, true, "a_scale"));
  OCTET_ASSIGN_OR_RETURN(std::vector<float> b_scale,
                         BroadcastScale(ctx, *ctx.input(4), b_cols, false, "b_scale"));
  OCTET_ASSIGN_OR_RETURN(double y_scale, ScalarInput(ctx, 6, "y_scale", 1.0));
  OCTET_ASSIGN_OR_RETURN(double y_zero, ScalarInput(ctx, 7, "y_zero_point", 0.0));
  std::vector<double> acc(plan.a_batch.size() * plan.m * plan.n);
  RunPlannedMatMul(plan, ad.data(), bd.data(), acc.data(), ctx.num_threads);
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(out_type, plan.out_dims));
  const float ys = static_cast<float>(y_scale);
  WithQuantStore(y, [&](auto store) {
    int64_t e = 0;
    for (size_t bi = 0; bi < plan.a_batch.size(); ++bi) {
      const float* as = a_scale.data() + plan.a_batch[bi] * plan.m;
      const float* bs = b_scale.data() + plan.b_batch[bi] * plan.n;
      for (int64_t i = 0; i < plan.m; ++i) {
        for (int64_t j = 0; j < plan.n; ++j, ++e) {
          const float mult = (as[i] * bs[j]) / ys;
          const double r = std::nearbyint(acc[e] * static_cast<double>(mult));
          store(e, Saturate(r + y_zero, lo, hi));
        }
      }
    }
  });
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status QLinearConvKernel(KernelContext& ctx) {
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, ctx.input(0), "x"));
  OCTET_RETURN_IF_ERROR(Check8Bit(ctx, ctx.input(3), "w"));
  if (ctx.input(1) == nullptr || ctx.input(4) == nullptr || ctx.input(6) == nullptr)
    return ctx.Fail("x_scale, w_scale and y_scale are required");
  OCTET_ASSIGN_OR_RETURN(ConvGeometry g, ResolveConv(ctx, 0, 3, 8));
  const Tensor* bias = ctx.input(8);
  if (bias != nullptr && bias->dtype() != DType::kI32)
    return ctx.Fail("B must be i32 but is ", bias->ShapeString());
  const Tensor* x_zp = ctx.input(2);
  if (x_zp != nullptr && x_zp->numel() != 1)
    return ctx.Fail("x_zero_point must be a scalar (per-tensor) but has shape ",
                    x_zp->ShapeString());
  const Tensor* y_zp = ctx.input(7);
  const DType out_type = y_zp != nullptr ? y_zp->dtype() : DType::kU8;
  double lo, hi;
  OCTET_RETURN_IF_ERROR(QuantRange(ctx, out_type, &lo, &hi));
  OCTET_ASSIGN_OR_RETURN(double x_scale, ScalarInput(ctx, 1, "x_scale", 1.0));
  OCTET_ASSIGN_OR_RETURN(double y_scale, ScalarInput(ctx, 6, "y_scale", 1.0));
  OCTET_ASSIGN_OR_RETURN(double y_zero, ScalarInput(ctx, 7, "y_zero_point", 0.0));
  OCTET_ASSIGN_OR_RETURN(std::vector<float> mult,
                         ChannelMultipliers(ctx, static_cast<float>(x_scale), *ctx.input(4),
                                            static_cast<float>(y_scale), g.out_channels));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> xd,
                         SubtractZeroPoint(ctx, *ctx.input(0), x_zp, false, "x"));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> wd,
                         WeightMinusZeroPoint(ctx, *ctx.input(3), ctx.input(5)));
  const std::vector<double> bd = bias != nullptr ? ReadAs<double>(*bias) : std::vector<double>();
  std::vector<int64_t> dims = {g.batch, g.out_channels};
  for (const WindowDim& w : g.dims) dims.push_back(w.out);
  const int64_t plane = g.out_size();
  std::vector<double> acc(g.batch * g.out_channels * plane);
  ConvForward<double>(g, xd.data(), wd.data(), bias != nullptr ? bd.data() : nullptr, acc.data(),
                      ctx.num_threads);
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(out_type, dims));
  WithQuantStore(y, [&](auto store) {
    for (int64_t e = 0; e < static_cast<int64_t>(acc.size()); ++e) {
      const double m = mult[(e / plane) % g.out_channels];
      store(e, Saturate(std::nearbyint(acc[e] * m) + y_zero, lo, hi));
    }
  });
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

}  // namespace octet::reference
