#include "quant_util.h"

#include "conv_geometry.h"
#include "kernel_util.h"
#include "tensor_convert.h"

namespace octet::reference {

Status QuantRange(const KernelContext& ctx, DType t, double* lo, double* hi) {
  struct Range {
    DType type;
    double lo, hi;
  };
  static constexpr Range kRanges[] = {
      {DType::kU8, 0, 255},
      {DType::kI8, -128, 127},
      {DType::kU16, 0, 65535},
      {DType::kI16, -32768, 32767},
      {DType::kU4, 0, 15},
      {DType::kI4, -8, 7},
      {DType::kI32, -2147483648.0, 2147483647.0},
      {DType::kU32, 0, 4294967295.0},
  };
  for (const Range& r : kRanges) {
    if (r.type != t) continue;
    *lo = r.lo;
    *hi = r.hi;
    return Status::Ok();
  }
  return Unimplemented(ctx.node.Describe(), ": quantized type ", DTypeName(t),
                       " is not supported (expected u8, i8, u16, i16, u4, i4, i32 or u32)");
}

Expected<std::vector<double>> SubtractZeroPoint(const KernelContext& ctx, const Tensor& x,
                                                const Tensor* zero_point, bool per_row_vector,
                                                const char* what) {
  std::vector<double> out = ReadAs<double>(x);
  if (zero_point == nullptr || zero_point->numel() == 0) return out;
  if (zero_point->dtype() != x.dtype())
    return ctx.Fail("the zero point of ", what, " must have ", what, "'s dtype ",
                    DTypeName(x.dtype()), " but is ", zero_point->ShapeString());
  const std::vector<double> zp = ReadAs<double>(*zero_point);
  if (zero_point->numel() == 1) {
    for (double& v : out) v -= zp[0];
    return out;
  }
  std::vector<int64_t> zp_dims = zero_point->dims();
  if (per_row_vector && zero_point->rank() == 1 && x.rank() >= 2) zp_dims.push_back(1);
  auto shape = BroadcastShapes(zp_dims, x.dims());
  if (!shape.ok() || *shape != x.dims())
    return ctx.Fail("the zero point of ", what, " has shape ", zero_point->ShapeString(),
                    " which does not apply to ", what, " ", x.ShapeString(),
                    per_row_vector ? " (expected a scalar, [M] or [..., M, 1])"
                                   : " (expected a scalar, [N] or [..., 1, N])");
  const BroadcastIndexer index(zp_dims, x.dims());
  for (int64_t i = 0; i < static_cast<int64_t>(out.size()); ++i) out[i] -= zp[index.Map(i)];
  return out;
}

Expected<QuantLayout> ResolveQuantLayout(const KernelContext& ctx, const Tensor& x,
                                         const Tensor& scale, const Tensor* zero_point) {
  if (zero_point != nullptr && zero_point->dims() != scale.dims() &&
      !(zero_point->numel() == 1 && scale.numel() == 1))
    return ctx.Fail("the zero point ", zero_point->ShapeString(),
                    " must have the same shape as the scale ", scale.ShapeString());
  QuantLayout q;
  if (scale.numel() == 1 && scale.rank() <= 1) {
    q.axis_dim = x.numel();  // one row per element keeps the rows parallelisable
    return q;
  }
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", 1));
  OCTET_ASSIGN_OR_RETURN(int64_t block_size, ctx.node.GetInt("block_size", 0));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, x.rank()));
  if (x.rank() == 0)
    return ctx.Fail("a scalar input needs a scalar scale but got ", scale.ShapeString());
  for (int d = 0; d < axis; ++d) q.outer *= x.dim(d);
  q.axis_dim = x.dim(axis);
  for (int d = axis + 1; d < x.rank(); ++d) q.inner *= x.dim(d);
  if (block_size < 0) return ctx.Fail("block_size must be non-negative but is ", block_size);
  if (block_size == 0) {
    if (scale.rank() != 1 || scale.dim(0) != q.axis_dim)
      return ctx.Fail("per-axis scale must have shape [", q.axis_dim, "] (axis ", axis, " of x ",
                      x.ShapeString(), ") but has shape ", scale.ShapeString());
    q.axis_stride = 1;
    return q;
  }
  std::vector<int64_t> want = x.dims();
  want[axis] = (q.axis_dim + block_size - 1) / block_size;
  if (scale.dims() != want)
    return ctx.Fail("per-block scale (block_size ", block_size, " along axis ", axis,
                    ") must have shape ", DimsString(want), " for x ", x.ShapeString(),
                    " but has shape ", scale.ShapeString());
  q.block = block_size;
  q.inner_stride = 1;
  q.axis_stride = q.inner;
  q.outer_stride = want[axis] * q.inner;
  return q;
}

void ForEachQuantRow(const QuantLayout& q, int threads, bool serial,
                     const std::function<void(int64_t, int64_t)>& fn) {
  ParallelFor(q.outer * q.axis_dim, serial ? 1 : threads, fn);
}

}  // namespace octet::reference
