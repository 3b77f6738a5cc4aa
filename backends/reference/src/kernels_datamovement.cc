// Data-movement kernels that rearrange whole elements: Transpose, Concat,
// Split, Gather, Expand and Tile. They copy elements by byte size, so every
// whole-byte dtype works; the shape-only ops are in kernels_shape.cc and Slice
// and Pad in kernels_slice_pad.cc.
#include <cstring>
#include <limits>

#include "datamovement_util.h"

namespace octet::reference {
namespace movement {
namespace {

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

Status Transpose(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  const int rank = x->rank();
  std::vector<int64_t> reversed(rank);
  for (int i = 0; i < rank; ++i) reversed[i] = rank - 1 - i;
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> perm, ctx.node.GetInts("perm", reversed));
  if (static_cast<int>(perm.size()) != rank)
    return ctx.Fail("perm has ", perm.size(), " entries but the input ", x->ShapeString(),
                    " has rank ", rank);
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    if (p < 0 || p >= rank || seen[p])
      return ctx.Fail("perm ", DimsString(perm), " is not a permutation of 0..", rank - 1);
    seen[p] = true;
  }
  std::vector<int64_t> out_dims(rank);
  for (int i = 0; i < rank; ++i) out_dims[i] = x->dim(perm[i]);
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, x->dtype(), out_dims));
  const std::vector<int64_t> strides = Strides(x->dims());
  OCTET_RETURN_IF_ERROR(CopyByTables(
      ctx, *x, out, [&](int d, int64_t c) { return c * strides[perm[d]]; }, nullptr));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status Concat(KernelContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.Fail("expected at least one input but got none");
  for (int i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.input(i) == nullptr) return ctx.Fail("input ", i, " is missing");
  const Tensor& first = *ctx.input(0);
  OCTET_ASSIGN_OR_RETURN(int bytes, ElementBytes(ctx, first, "input 0"));
  if (first.rank() == 0) return ctx.Fail("inputs must have rank >= 1 but input 0 is a scalar");
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", std::nullopt));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, first.rank()));
  std::vector<int64_t> out_dims = first.dims();
  out_dims[axis] = 0;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    const Tensor& t = *ctx.input(i);
    if (t.dtype() != first.dtype())
      return ctx.Fail("input ", i, " has dtype ", DTypeName(t.dtype()), " but input 0 has ",
                      DTypeName(first.dtype()));
    bool same = t.rank() == first.rank();
    for (int d = 0; same && d < t.rank(); ++d) same = d == axis || t.dim(d) == first.dim(d);
    if (!same)
      return ctx.Fail("input ", i, " has shape ", t.ShapeString(), " but input 0 has shape ",
                      first.ShapeString(), "; all dimensions except axis ", axis, " must match");
    out_dims[axis] += t.dim(axis);
  }
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, first.dtype(), out_dims));
  // Every input contributes one contiguous block per outer index.
  const int64_t outer = Product(out_dims, 0, axis);
  const int64_t inner = Product(out_dims, axis + 1, out_dims.size()) * bytes;
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t o = 0; o < outer; ++o) {
    for (int i = 0; i < ctx.num_inputs(); ++i) {
      const Tensor& t = *ctx.input(i);
      const int64_t block = t.dim(axis) * inner;
      if (block == 0) continue;
      std::memcpy(dst, static_cast<const uint8_t*>(t.raw()) + o * block, block);
      dst += block;
    }
  }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

// The chunk sizes of Split along an axis of extent `dim`, from the 'split'
// input, the opset-18 'num_outputs' attribute, or an equal division by the
// number of outputs.
Expected<std::vector<int64_t>> SplitSizes(const KernelContext& ctx, int64_t dim) {
  const int n = ctx.num_outputs();
  const Tensor* split = ctx.input(1);
  // An empty 'split' tensor is how some exporters say "absent".
  if (split != nullptr && split->numel() == 0 && n != 0) split = nullptr;
  OCTET_ASSIGN_OR_RETURN(int64_t num_outputs, ctx.node.GetInt("num_outputs", int64_t{0}));
  if (split != nullptr) {
    if (ctx.node.HasAttr("num_outputs"))
      return ctx.Fail(
          "has both the 'split' input and the 'num_outputs' attribute; "
          "only one may be given");
    OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, ReadInts(ctx, *split, "split"));
    if (static_cast<int>(sizes.size()) != n)
      return ctx.Fail("split ", DimsString(sizes), " has ", sizes.size(),
                      " entries but the node has ", n, " outputs");
    int64_t sum = 0;
    for (int64_t s : sizes) {
      if (s < 0 || s > dim)  // bounded so that the sum cannot overflow
        return ctx.Fail("split ", DimsString(sizes), " has size ", s, "; expected sizes in [0, ",
                        dim, "]");
      sum += s;
    }
    if (sum != dim)
      return ctx.Fail("split ", DimsString(sizes), " sums to ", sum, " but the axis has extent ",
                      dim);
    return sizes;
  }
  if (n == 0) return ctx.Fail("expected at least one output but got none");
  if (ctx.node.HasAttr("num_outputs")) {
    if (num_outputs != n)
      return ctx.Fail("num_outputs is ", num_outputs, " but the node has ", n, " outputs");
    // Opset 18: chunks of ceil(dim / n); the last one takes what is left.
    const int64_t chunk = (dim + n - 1) / n;
    std::vector<int64_t> sizes(n, chunk);
    sizes.back() = dim - chunk * (n - 1);
    if (sizes.back() < 0)
      return ctx.Fail("cannot split an axis of extent ", dim, " into ", n, " chunks of ", chunk,
                      " (the last chunk would be ", sizes.back(), ")");
    return sizes;
  }
  if (dim % n != 0)
    return ctx.Fail("cannot split an axis of extent ", dim, " into ", n,
                    " equal parts; give 'split' or 'num_outputs'");
  return std::vector<int64_t>(n, dim / n);
}

Status Split(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(int bytes, ElementBytes(ctx, *x, "input 'input'"));
  if (x->rank() == 0) return ctx.Fail("input must have rank >= 1 but is a scalar");
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, x->rank()));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> sizes, SplitSizes(ctx, x->dim(axis)));
  const int64_t outer = Product(x->dims(), 0, axis);
  const int64_t inner = Product(x->dims(), axis + 1, x->dims().size()) * bytes;
  const int64_t in_block = x->dim(axis) * inner;
  const auto* src = static_cast<const uint8_t*>(x->raw());
  int64_t start = 0;
  for (int k = 0; k < ctx.num_outputs(); ++k) {
    std::vector<int64_t> dims = x->dims();
    dims[axis] = sizes[k];
    OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, x->dtype(), dims));
    const int64_t block = sizes[k] * inner;
    auto* dst = static_cast<uint8_t*>(out.raw());
    if (block > 0)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dst + o * block, src + o * in_block + start * inner, block);
    start += sizes[k];
    ctx.outputs[k] = std::move(out);
  }
  return Status::Ok();
}

Status Gather(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* data, RequiredInput(ctx, 0, "data"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* indices, RequiredInput(ctx, 1, "indices"));
  OCTET_ASSIGN_OR_RETURN(int bytes, ElementBytes(ctx, *data, "input 'data'"));
  if (data->rank() == 0) return ctx.Fail("data must have rank >= 1 but is a scalar");
  if (indices->dtype() != DType::kI64 && indices->dtype() != DType::kI32)
    return ctx.Fail("indices must be int64 or int32 but are ", DTypeName(indices->dtype()));
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, data->rank()));
  const int64_t extent = data->dim(axis);
  std::vector<int64_t> idx(indices->numel());
  for (int64_t j = 0; j < indices->numel(); ++j) {
    const int64_t v = indices->GetAsInt64(j);
    if (v < -extent || v >= extent)
      return OutOfRange(ctx.node.Describe(), ": index ", v, " (element ", j,
                        " of indices) is out of range for axis ", axis, " of extent ", extent,
                        "; expected a value in [", -extent, ", ", extent - 1, "]");
    idx[j] = v < 0 ? v + extent : v;
  }
  std::vector<int64_t> out_dims(data->dims().begin(), data->dims().begin() + axis);
  out_dims.insert(out_dims.end(), indices->dims().begin(), indices->dims().end());
  out_dims.insert(out_dims.end(), data->dims().begin() + axis + 1, data->dims().end());
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, data->dtype(), out_dims));
  const int64_t outer = Product(data->dims(), 0, axis);
  const int64_t inner = Product(data->dims(), axis + 1, data->dims().size()) * bytes;
  const auto* src = static_cast<const uint8_t*>(data->raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  if (inner > 0)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t i : idx) {
        std::memcpy(dst, src + (o * extent + i) * inner, inner);
        dst += inner;
      }
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status Expand(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* shape_t, RequiredInput(ctx, 1, "shape"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadInts(ctx, *shape_t, "shape"));
  for (int64_t s : shape)
    if (s < 0) return ctx.Fail("shape ", DimsString(shape), " has a negative dimension");
  auto out_dims = BroadcastShapes(x->dims(), shape);
  if (!out_dims.ok())
    return ctx.Fail("cannot expand input ", x->ShapeString(), " to shape ", DimsString(shape), ": ",
                    out_dims.status().message());
  const std::vector<int64_t> strides = BroadcastStrides(x->dims(), *out_dims);
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, x->dtype(), *out_dims));
  OCTET_RETURN_IF_ERROR(CopyByTables(
      ctx, *x, out, [&](int d, int64_t c) { return c * strides[d]; }, nullptr));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status Tile(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* repeats_t, RequiredInput(ctx, 1, "repeats"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> repeats, ReadInts(ctx, *repeats_t, "repeats"));
  if (static_cast<int>(repeats.size()) != x->rank())
    return ctx.Fail("repeats ", DimsString(repeats), " has ", repeats.size(),
                    " entries but the input ", x->ShapeString(), " has rank ", x->rank());
  std::vector<int64_t> out_dims(x->rank());
  for (int d = 0; d < x->rank(); ++d) {
    if (repeats[d] < 0) return ctx.Fail("repeats ", DimsString(repeats), " has a negative entry");
    if (x->dim(d) != 0 && repeats[d] > std::numeric_limits<int64_t>::max() / x->dim(d))
      return ctx.Fail("repeats ", DimsString(repeats), " overflow the output dims of input ",
                      x->ShapeString());
    out_dims[d] = x->dim(d) * repeats[d];
  }
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, x->dtype(), out_dims));
  const std::vector<int64_t> strides = Strides(x->dims());
  OCTET_RETURN_IF_ERROR(CopyByTables(
      ctx, *x, out, [&](int d, int64_t c) { return (c % x->dim(d)) * strides[d]; }, nullptr));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

}  // namespace
}  // namespace movement

void RegisterDataMovementKernels(KernelRegistry& r) {
  r.Register("Transpose", movement::Transpose);
  r.Register("Concat", movement::Concat);
  r.Register("Split", movement::Split);
  r.Register("Gather", movement::Gather);
  r.Register("Expand", movement::Expand);
  r.Register("Tile", movement::Tile);
  RegisterShapeKernels(r);
  RegisterSlicePadKernels(r);
}

}  // namespace octet::reference
