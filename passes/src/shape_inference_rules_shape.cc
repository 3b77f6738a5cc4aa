// Shape rules for ops that produce shapes or build tensors from them: Shape,
// Size, ConstantOfShape and Range.
#include <algorithm>
#include <cmath>
#include <limits>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

// Shape(data; start, end) -> i64[len]; the values come from value propagation.
Status ShapeOp(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output(0, DType::kI64, Shape({Dim()}));
    return Status::Ok();
  }
  const int64_t rank = ctx.input_rank(0);
  OCTET_ASSIGN_OR_RETURN(int64_t start, ctx.Int("start", 0));
  OCTET_ASSIGN_OR_RETURN(int64_t end, ctx.Int("end", rank));
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  ctx.set_output(0, DType::kI64, Shape({std::max<int64_t>(end - start, 0)}));
  return Status::Ok();
}

Status Size(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  ctx.set_output(0, DType::kI64, Shape());
  return Status::Ok();
}

// ConstantOfShape(shape; value) -> value's dtype (f32 if absent), the given shape.
Status ConstantOfShape(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(0, {DType::kI64}, "the shape"));
  DType dtype = DType::kF32;
  if (const Attribute* a = ctx.node().FindAttr("value")) {
    if (a->kind() != Attribute::Kind::kTensor || a->t().numel() != 1)
      return ctx.Fail("attribute 'value' must be a one-element tensor");
    dtype = a->t().dtype();
  }
  std::optional<SymValue> shape = ctx.input_value(0);
  if (!shape) {
    const int64_t n = StaticLength(ctx, 0);
    if (n >= 0)
      ctx.set_output(0, dtype, UnknownDims(static_cast<int>(n)));
    else
      ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  std::vector<Dim> dims;
  for (const SymInt& e : *shape) {
    if (e.is_number() && e.number < 0)
      return ctx.Fail("the shape ", ValueString(*shape), " has a negative element");
    dims.push_back(e.ToDim());
  }
  ctx.set_output(0, dtype, Shape(std::move(dims)));
  return Status::Ok();
}

// Range(start, limit, delta) -> [max(ceil((limit - start) / delta), 0)].
Status Range(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(3, 3));
  for (int i = 1; i < 3; ++i) OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, i));
  for (int i = 0; i < 3; ++i)
    if (ctx.input_has_shape(i) && ctx.input_rank(i) != 0)
      return ctx.Fail("start, limit and delta must be scalars but got ", ctx.Describe(i));
  const DType dtype = ctx.input_dtype(0);
  Dim n;
  auto one = [&](int i) -> std::optional<SymInt> {
    std::optional<SymValue> v = ctx.input_value(i);
    if (!v || v->size() != 1) return std::nullopt;
    return (*v)[0];
  };
  std::optional<SymInt> s = one(0), l = one(1), d = one(2);
  if (s && l && d && s->is_number() && l->is_number() && d->is_number()) {  // integers
    if (d->number == 0) return ctx.Fail("delta is 0");
    int64_t span = 0;
    if (__builtin_sub_overflow(d->number > 0 ? l->number : s->number,
                               d->number > 0 ? s->number : l->number, &span) ||
        d->number == std::numeric_limits<int64_t>::min())
      return ctx.Fail("the range from ", s->number, " to ", l->number, " by ", d->number,
                      " overflows");
    const int64_t step = d->number > 0 ? d->number : -d->number;
    n = Dim(span <= 0 ? 0 : (span + step - 1) / step);
  } else if (s && l && d && s->is_number() && s->number == 0 && d->is_number() && d->number == 1) {
    n = l->ToDim();  // Range(0, N, 1) over a tracked shape element keeps the symbol
  } else if (ctx.input_constant(0) && ctx.input_constant(1) && ctx.input_constant(2)) {
    const double s0 = ctx.input_constant(0)->GetAsDouble(0);
    const double l0 = ctx.input_constant(1)->GetAsDouble(0);
    const double d0 = ctx.input_constant(2)->GetAsDouble(0);
    if (d0 == 0) return ctx.Fail("delta is 0");
    const double count = std::ceil((l0 - s0) / d0);
    if (!(count < 1e15)) return ctx.Fail("the range has too many elements (", count, ")");
    n = Dim(static_cast<int64_t>(std::max(count, 0.0)));
  }
  ctx.set_output(0, dtype, Shape({n}));
  return Status::Ok();
}

}  // namespace

void AddShapeRules(RuleTable& t) {
  t["Shape"] = ShapeOp;
  t["Size"] = Size;
  t["ConstantOfShape"] = ConstantOfShape;
  t["Range"] = Range;
}

}  // namespace octet::shape_inference
