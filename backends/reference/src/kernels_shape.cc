// Kernels that change or report a shape without reordering elements (Reshape,
// Flatten, Squeeze, Unsqueeze, Shape, Size) and the ones that build a tensor
// from a shape or a scalar range (ConstantOfShape, Range).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>

#include "datamovement_util.h"

namespace octet::reference {
namespace movement {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 40;  // Tensor's element limit

// The reshaping ops keep the bytes as they are, so they work for every dtype,
// packed 4-bit included. The result is a copy rather than a view: callers (the
// constant folder, users of graph outputs) may own or mutate the input.
Status SetReshaped(KernelContext& ctx, const Tensor& x, std::vector<int64_t> dims) {
  ctx.outputs[0] = x.Clone().Reshaped(std::move(dims));
  return Status::Ok();
}

Status Reshape(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* shape_t, RequiredInput(ctx, 1, "shape"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> shape, ReadInts(ctx, *shape_t, "shape"));
  OCTET_ASSIGN_OR_RETURN(int64_t allowzero, ctx.node.GetInt("allowzero", int64_t{0}));
  auto fail = [&](const auto&... why) {
    return ctx.Fail("cannot reshape input ", x->ShapeString(), " to shape ", DimsString(shape),
                    ": ", why...);
  };
  std::vector<int64_t> dims(shape.size());
  int infer = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t s = shape[i];
    if (s == -1) {
      if (infer >= 0) return fail("more than one dimension is -1");
      infer = static_cast<int>(i);
      dims[i] = 1;
    } else if (s == 0 && allowzero == 0) {
      // 0 copies the input's dimension at the same index.
      if (static_cast<int>(i) >= x->rank())
        return fail("dimension ", i, " is 0 (copy) but the input has rank ", x->rank());
      dims[i] = x->dim(static_cast<int>(i));
    } else if (s < 0) {
      return fail("dimension ", i, " is ", s, "; only -1 may be negative");
    } else {
      dims[i] = s;
    }
  }
  auto known = CheckedProduct(dims, "shape " + DimsString(shape));
  if (!known.ok()) return fail(known.status().message());
  if (infer >= 0) {
    if (*known == 0)
      return fail("the -1 dimension cannot be inferred when the other dimensions have a zero");
    if (x->numel() % *known != 0)
      return fail(x->numel(), " elements are not a multiple of ", *known);
    dims[infer] = x->numel() / *known;
  } else if (*known != x->numel()) {
    return fail("the input has ", x->numel(), " elements but the shape holds ", *known);
  }
  return SetReshaped(ctx, *x, std::move(dims));
}

Status Flatten(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(int64_t axis, ctx.node.GetInt("axis", int64_t{1}));
  const int rank = x->rank();
  // Unlike most ops, axis == rank is valid (everything goes to the outer dim).
  if (axis < -rank || axis > rank)
    return ctx.Fail("axis ", axis, " is out of range for input ", x->ShapeString(),
                    "; expected a value in [", -rank, ", ", rank, "]");
  if (axis < 0) axis += rank;
  const std::vector<int64_t>& dims = x->dims();
  // Checked: with a zero dim elsewhere, one side can overflow while numel is 0.
  auto outer = CheckedProduct({dims.begin(), dims.begin() + axis}, "the outer dims");
  auto inner = CheckedProduct({dims.begin() + axis, dims.end()}, "the inner dims");
  if (!outer.ok() || !inner.ok())
    return ctx.Fail("cannot flatten input ", x->ShapeString(), " at axis ", axis, ": ",
                    (outer.ok() ? inner : outer).status().message());
  return SetReshaped(ctx, *x, {*outer, *inner});
}

Status Squeeze(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  const int rank = x->rank();
  std::vector<bool> drop(rank, false);
  const Tensor* axes_t = ctx.input(1);
  // Absent axes drop every 1. An empty list drops nothing: that is what the
  // ONNX reference implementation does (onnxruntime instead drops every 1).
  if (axes_t == nullptr) {
    for (int d = 0; d < rank; ++d) drop[d] = x->dim(d) == 1;
  } else {
    OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadInts(ctx, *axes_t, "axes"));
    for (int64_t a : axes) {
      if (a < -rank || a >= rank)
        return ctx.Fail("axes ", DimsString(axes), " has axis ", a, ", out of range for input ",
                        x->ShapeString());
      const int d = static_cast<int>(a < 0 ? a + rank : a);
      if (x->dim(d) != 1)
        return ctx.Fail("cannot squeeze axis ", a, " of input ", x->ShapeString(),
                        ": expected extent 1 but got ", x->dim(d));
      drop[d] = true;
    }
  }
  std::vector<int64_t> dims;
  for (int d = 0; d < rank; ++d)
    if (!drop[d]) dims.push_back(x->dim(d));
  return SetReshaped(ctx, *x, std::move(dims));
}

Status Unsqueeze(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* axes_t, RequiredInput(ctx, 1, "axes"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ReadInts(ctx, *axes_t, "axes"));
  // Axes index the output, whose rank includes the new dimensions.
  const int out_rank = x->rank() + static_cast<int>(axes.size());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : axes) {
    if (a < -out_rank || a >= out_rank)
      return ctx.Fail("axes ", DimsString(axes), " has axis ", a, ", out of range for output rank ",
                      out_rank, " (input ", x->ShapeString(), ")");
    const int d = static_cast<int>(a < 0 ? a + out_rank : a);
    if (inserted[d]) return ctx.Fail("axes ", DimsString(axes), " repeats axis ", d);
    inserted[d] = true;
  }
  std::vector<int64_t> dims(out_rank, 1);
  for (int d = 0, next = 0; d < out_rank; ++d)
    if (!inserted[d]) dims[d] = x->dim(next++);
  return SetReshaped(ctx, *x, std::move(dims));
}

Status ShapeOp(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  const int64_t rank = x->rank();
  OCTET_ASSIGN_OR_RETURN(int64_t start, ctx.node.GetInt("start", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(int64_t end, ctx.node.GetInt("end", rank));
  // Opset 15: negative start/end count from the back; both clamp to [0, rank].
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  const int64_t n = std::max<int64_t>(end - start, 0);
  Tensor out(DType::kI64, {n});
  for (int64_t i = 0; i < n; ++i) out.data<int64_t>()[i] = x->dim(static_cast<int>(start + i));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

Status Size(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  ctx.outputs[0] = Tensor::Scalar<int64_t>(x->numel());
  return Status::Ok();
}

Status ConstantOfShape(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* shape_t, RequiredInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> dims, ReadInts(ctx, *shape_t, "shape"));
  for (int64_t d : dims)
    if (d < 0) return ctx.Fail("shape ", DimsString(dims), " has a negative dimension");
  Tensor value = Tensor::Scalar<float>(0.0f);
  if (const Attribute* a = ctx.node.FindAttr("value")) {
    if (a->kind() != Attribute::Kind::kTensor)
      return ctx.Fail("attribute 'value' should be a tensor but is ", AttributeKindName(a->kind()));
    value = a->t();
    if (value.numel() != 1)
      return ctx.Fail("attribute 'value' must hold one element but has shape ",
                      value.ShapeString());
  }
  OCTET_ASSIGN_OR_RETURN(int bytes, ElementBytes(ctx, value, "attribute 'value'"));
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, value.dtype(), dims));
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t i = 0; i < out.numel(); ++i) std::memcpy(dst + i * bytes, value.raw(), bytes);
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

// Range over an integer type: the count and the values are exact (a double
// would round int64 bounds beyond 2^53). Returns false if the count is too large.
template <typename T>
bool IntegerRange(const KernelContext& ctx, T start, T limit, T delta, Tensor& out,
                  Status& status) {
  // Wide signed/unsigned arithmetic; the distance is taken as unsigned so that
  // it cannot overflow even between INT64_MIN and INT64_MAX.
  using W = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  const W s = start, l = limit, d = delta;
  uint64_t count = 0;
  if (d > 0 && l > s) {
    count =
        1 + (static_cast<uint64_t>(l) - static_cast<uint64_t>(s) - 1) / static_cast<uint64_t>(d);
  } else if constexpr (std::is_signed_v<T>) {
    if (d < 0 && s > l) {
      const uint64_t step = static_cast<uint64_t>(-(d + 1)) + 1;
      count = 1 + (static_cast<uint64_t>(s) - static_cast<uint64_t>(l) - 1) / step;
    }
  }
  if (count > static_cast<uint64_t>(kMaxElements)) {
    status = ctx.Fail("the range from ", +start, " to ", +limit, " by ", +delta, " has ", count,
                      " elements, more than 2^40");
    return false;
  }
  auto t = NewOutput(ctx, DTypeOf<T>::value, {static_cast<int64_t>(count)});
  if (!t.ok()) {
    status = t.status();
    return false;
  }
  out = std::move(t).value();
  // Modular arithmetic in uint64 stays exact: every value lies in [start, limit).
  for (uint64_t i = 0; i < count; ++i)
    out.data<T>()[i] = static_cast<T>(static_cast<uint64_t>(s) + i * static_cast<uint64_t>(d));
  return true;
}

Status Range(KernelContext& ctx) {
  const char* names[] = {"start", "limit", "delta"};
  const Tensor* in[3];
  for (int i = 0; i < 3; ++i) {
    OCTET_ASSIGN_OR_RETURN(in[i], RequiredInput(ctx, i, names[i]));
    if (in[i]->numel() != 1)
      return ctx.Fail(names[i], " must be a scalar but has shape ", in[i]->ShapeString());
    if (in[i]->dtype() != in[0]->dtype())
      return ctx.Fail(names[i], " has dtype ", DTypeName(in[i]->dtype()), " but start has ",
                      DTypeName(in[0]->dtype()));
  }
  const DType dtype = in[0]->dtype();
  const bool is_float =
      dtype == DType::kF32 || dtype == DType::kF64 || dtype == DType::kF16 || dtype == DType::kBF16;
  const bool is_int = IsInteger(dtype) && DTypeBits(dtype) >= 8;
  if (!is_float && !is_int)
    return Unimplemented(ctx.node.Describe(), ": Range does not support dtype ", DTypeName(dtype),
                         "; expected a float or whole-byte integer type");
  if (in[2]->GetAsDouble(0) == 0.0) return ctx.Fail("delta must not be zero");
  if (is_float) {
    const double start = in[0]->GetAsDouble(0), limit = in[1]->GetAsDouble(0),
                 delta = in[2]->GetAsDouble(0);
    const double n = std::ceil((limit - start) / delta);
    if (std::isnan(n) || n > static_cast<double>(kMaxElements))
      return ctx.Fail("the range from ", start, " to ", limit, " by ", delta,
                      " does not have a finite element count of at most 2^40");
    const int64_t count = n > 0 ? static_cast<int64_t>(n) : 0;
    OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, dtype, {count}));
    for (int64_t i = 0; i < count; ++i)
      out.SetFromDouble(i, start + static_cast<double>(i) * delta);
    ctx.outputs[0] = std::move(out);
    return Status::Ok();
  }
  Status status;
  DispatchNumeric(dtype, [&](auto zero) {
    using T = decltype(zero);
    if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
      Tensor out;
      if (IntegerRange<T>(ctx, *in[0]->data<T>(), *in[1]->data<T>(), *in[2]->data<T>(), out,
                          status))
        ctx.outputs[0] = std::move(out);
    }
  });
  return status;
}

}  // namespace
}  // namespace movement

void RegisterShapeKernels(KernelRegistry& r) {
  r.Register("Reshape", movement::Reshape);
  r.Register("Flatten", movement::Flatten);
  r.Register("Squeeze", movement::Squeeze);
  r.Register("Unsqueeze", movement::Unsqueeze);
  r.Register("Shape", movement::ShapeOp);
  r.Register("Size", movement::Size);
  r.Register("ConstantOfShape", movement::ConstantOfShape);
  r.Register("Range", movement::Range);
}

}  // namespace octet::reference
