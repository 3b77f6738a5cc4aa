// Shape rules for reductions along axes: Reduce* (axes as an input), ArgMax,
// ArgMin, and Softmax/LogSoftmax (which normalise along an axis and keep the
// shape).
#include <algorithm>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

// Reduce*(data, axes?; keepdims, noop_with_empty_axes).
Status Reduce(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI64}, "the axes"));
  OCTET_ASSIGN_OR_RETURN(int64_t keepdims, ctx.Int("keepdims", 1));
  OCTET_ASSIGN_OR_RETURN(int64_t noop, ctx.Int("noop_with_empty_axes", 0));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::optional<std::vector<int64_t>> axes =
      ctx.has_input(1) ? ctx.input_ints(1) : std::vector<int64_t>();
  if (!axes) {  // which axes is unknown; with keepdims at least the rank is known
    if (keepdims)
      ctx.set_output(0, dtype, UnknownDims(in.rank()));
    else
      ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  if (axes->empty() && noop) {
    ctx.set_output(0, dtype, in);
    return Status::Ok();
  }
  std::vector<bool> reduced(in.rank(), axes->empty());
  for (int64_t a : *axes) {
    OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, a, in.rank()));
    if (reduced[axis]) return ctx.Fail("axis ", a, " appears twice in the axes");
    reduced[axis] = true;
  }
  std::vector<Dim> out;
  for (int i = 0; i < in.rank(); ++i) {
    if (!reduced[i])
      out.push_back(in[i]);
    else if (keepdims)
      out.emplace_back(1);
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// ArgMax/ArgMin(data; axis, keepdims) -> i64.
Status ArgReduce(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  OCTET_ASSIGN_OR_RETURN(int64_t keepdims, ctx.Int("keepdims", 1));
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.Int("axis", 0));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, DType::kI64);
    return Status::Ok();
  }
  std::vector<Dim> out = ctx.input_shape(0).dims();
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, ctx.input_rank(0)));
  if (keepdims)
    out[axis] = Dim(1);
  else
    out.erase(out.begin() + axis);
  ctx.set_output(0, DType::kI64, Shape(std::move(out)));
  return Status::Ok();
}

Status Softmax(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  OCTET_ASSIGN_OR_RETURN(int64_t axis, ctx.Int("axis", -1));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  if (ctx.input_rank(0) > 0) {
    OCTET_RETURN_IF_ERROR(NormalizeAxis(ctx, axis, ctx.input_rank(0)).status());
  }
  ctx.set_output(0, dtype, ctx.input_shape(0));
  return Status::Ok();
}

}  // namespace

void AddReduceRules(RuleTable& t) {
  for (const char* op :
       {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare",
        "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp"})
    t[op] = Reduce;
  t["ArgMax"] = ArgReduce;
  t["ArgMin"] = ArgReduce;
  t["Softmax"] = Softmax;
  t["LogSoftmax"] = Softmax;
}

}  // namespace octet::shape_inference
