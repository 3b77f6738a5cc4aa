// Shape rules for element-wise ops: unary math and activations, broadcasting
// binary and variadic ops, comparisons and logic, Where, Cast, Clip, Dropout and
// the element-wise quantization ops.
#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

void SetLikeInput(InferenceContext& ctx, int out, int in, DType dtype) {
  if (ctx.input_has_shape(in))
    ctx.set_output(out, dtype, ctx.input_shape(in));
  else
    ctx.set_output_unknown_rank(out, dtype);
}

// Broadcasts inputs [0, num_inputs) into output 0 with element type `dtype`.
Status SetBroadcast(InferenceContext& ctx, DType dtype) {
  OCTET_ASSIGN_OR_RETURN(std::optional<Shape> shape, BroadcastInputs(ctx, 0, ctx.num_inputs() - 1));
  if (shape)
    ctx.set_output(0, dtype, *shape);
  else
    ctx.set_output_unknown_rank(0, dtype);
  return Status::Ok();
}

Status Unary(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  SetLikeInput(ctx, 0, 0, ctx.input_dtype(0));
  return Status::Ok();
}

Status Not(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(0, {DType::kBool}, "the input"));
  SetLikeInput(ctx, 0, 0, DType::kBool);
  return Status::Ok();
}

// Add, Sub, Mul, Div, Mod: two inputs of one element type.
Status BinaryArithmetic(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  return SetBroadcast(ctx, ctx.input_dtype(0));
}

// Pow: the exponent may have another numeric type; the result has the base's.
Status Pow(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  return SetBroadcast(ctx, ctx.input_dtype(0));
}

// Min, Max, Sum, Mean: one or more inputs of one element type.
Status Variadic(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1 << 20));
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Fail("input ", i, " is missing");
    OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, i));
  }
  return SetBroadcast(ctx, ctx.input_dtype(0));
}

Status Compare(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  return SetBroadcast(ctx, DType::kBool);
}

Status Logic(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(0, {DType::kBool}, "input 0"));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kBool}, "input 1"));
  return SetBroadcast(ctx, DType::kBool);
}

Status Where(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(3, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(0, {DType::kBool}, "the condition"));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(1, 2));
  return SetBroadcast(ctx, ctx.input_dtype(1));
}

Status Cast(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  OCTET_ASSIGN_OR_RETURN(int64_t to, ctx.node().GetInt("to", std::nullopt));
  std::optional<DType> dtype = DTypeFromOnnxTypeId(to);
  if (!dtype) return ctx.Fail("attribute 'to' is ", to, ", which is not a supported ONNX type");
  SetLikeInput(ctx, 0, 0, *dtype);
  return Status::Ok();
}

Status CastLike(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  SetLikeInput(ctx, 0, 0, ctx.input_dtype(1));
  return Status::Ok();
}

// Clip's bounds and Dropout's ratio must be single elements.
Status CheckScalar(InferenceContext& ctx, int i, const char* what) {
  if (!ctx.has_input(i) || !ctx.input_has_shape(i)) return Status::Ok();
  const Shape& s = ctx.input_shape(i);
  if (s.rank() > 1 || (s.rank() == 1 && s[0].is_static() && s[0].value() != 1))
    return ctx.Fail(what, " must be a scalar but got ", ctx.Describe(i));
  return Status::Ok();
}

Status Clip(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  OCTET_RETURN_IF_ERROR(CheckScalar(ctx, 1, "min"));
  OCTET_RETURN_IF_ERROR(CheckScalar(ctx, 2, "max"));
  SetLikeInput(ctx, 0, 0, ctx.input_dtype(0));
  return Status::Ok();
}

// Dropout(data, ratio?, training_mode?) -> output, mask?
Status Dropout(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 3, 1, 2));
  OCTET_RETURN_IF_ERROR(CheckScalar(ctx, 1, "ratio"));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(2, {DType::kBool}, "training_mode"));
  SetLikeInput(ctx, 0, 0, ctx.input_dtype(0));
  if (ctx.num_outputs() > 1) SetLikeInput(ctx, 1, 0, DType::kBool);
  return Status::Ok();
}

// Checks a quantization scale (or zero point) against the data it applies to:
// a scalar (per tensor), a 1-D tensor of the axis' extent (per axis), or, with
// block_size > 0, the data's shape with the axis divided into blocks.
Status CheckQuantParam(InferenceContext& ctx, int param, const char* what) {
  if (!ctx.has_input(param) || !ctx.input_has_shape(param) || !ctx.input_has_shape(0))
    return Status::Ok();
  const Shape& x = ctx.input_shape(0);
  const Shape& p = ctx.input_shape(param);
  OCTET_ASSIGN_OR_RETURN(int64_t block, ctx.Int("block_size", 0));
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.Int("axis", 1));
  const bool per_tensor = p.rank() == 0 || (p.rank() == 1 && p[0] == Dim(1) && block == 0);
  if (per_tensor) return Status::Ok();
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, x.rank()));
  if (block <= 0) {
    if (p.rank() != 1 || !UnifyDims(p[0], x[axis]))
      return ctx.Fail(what, " must be a scalar or have ", x[axis].ToString(), " elements (axis ",
                      axis, " of ", ctx.Describe(0), ") but got ", ctx.Describe(param));
    return Status::Ok();
  }
  bool ok = p.rank() == x.rank();
  for (int i = 0; ok && i < x.rank(); ++i) {
    Dim want = x[i];
    if (i == axis) want = x[i].is_static() ? Dim((x[i].value() + block - 1) / block) : Dim();
    ok = UnifyDims(p[i], want).has_value();
  }
  if (!ok)
    return ctx.Fail(what, " must have the shape of ", ctx.Describe(0), " with axis ", axis,
                    " divided into blocks of ", block, " but got ", ctx.Describe(param));
  return Status::Ok();
}

// QuantizeLinear(x, y_scale, y_zero_point?) -> y of the zero point's type, or
// 'output_dtype' (opset 21), or u8.
Status QuantizeLinear(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 3));
  OCTET_ASSIGN_OR_RETURN(int64_t output_dtype, ctx.Int("output_dtype", 0));
  DType dtype = DType::kU8;
  if (output_dtype != 0) {
    std::optional<DType> d = DTypeFromOnnxTypeId(output_dtype);
    if (!d) return ctx.Fail("attribute 'output_dtype' ", output_dtype, " is not a known type");
    dtype = *d;
  }
  if (ctx.has_input(2)) {
    if (output_dtype != 0 && ctx.input_dtype(2) != dtype)
      return ctx.Fail("'output_dtype' is ", DTypeName(dtype), " but the zero point is ",
                      ctx.Describe(2));
    dtype = ctx.input_dtype(2);
  }
  OCTET_RETURN_IF_ERROR(CheckQuantParam(ctx, 1, "the scale"));
  OCTET_RETURN_IF_ERROR(CheckQuantParam(ctx, 2, "the zero point"));
  SetLikeInput(ctx, 0, 0, dtype);
  return Status::Ok();
}

// DequantizeLinear(x, x_scale, x_zero_point?) -> the scale's float type.
Status DequantizeLinear(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  OCTET_RETURN_IF_ERROR(CheckQuantParam(ctx, 1, "the scale"));
  OCTET_RETURN_IF_ERROR(CheckQuantParam(ctx, 2, "the zero point"));
  SetLikeInput(ctx, 0, 0, ctx.input_dtype(1));
  return Status::Ok();
}

// DynamicQuantizeLinear(x) -> y u8, y_scale f32 scalar, y_zero_point u8 scalar.
Status DynamicQuantizeLinear(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1, 3, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(0, {DType::kF32}, "the input"));
  SetLikeInput(ctx, 0, 0, DType::kU8);
  ctx.set_output(1, DType::kF32, Shape());
  ctx.set_output(2, DType::kU8, Shape());
  return Status::Ok();
}

}  // namespace

void AddElementwiseRules(RuleTable& t) {
  for (const char* op : {"Neg",       "Abs",  "Sqrt",      "Reciprocal", "Exp",     "Log",
                         "Floor",     "Ceil", "Round",     "Sign",       "Erf",     "Sin",
                         "Cos",       "Relu", "LeakyRelu", "Sigmoid",    "Tanh",    "HardSigmoid",
                         "HardSwish", "Gelu", "Elu",       "Softplus",   "Identity"})
    t[op] = Unary;
  for (const char* op : {"Add", "Sub", "Mul", "Div", "Mod"}) t[op] = BinaryArithmetic;
  for (const char* op : {"Min", "Max", "Sum", "Mean"}) t[op] = Variadic;
  for (const char* op : {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual"})
    t[op] = Compare;
  for (const char* op : {"And", "Or", "Xor"}) t[op] = Logic;
  t["Pow"] = Pow;
  t["Not"] = Not;
  t["Where"] = Where;
  t["Cast"] = Cast;
  t["CastLike"] = CastLike;
  t["Clip"] = Clip;
  t["Dropout"] = Dropout;
  t["QuantizeLinear"] = QuantizeLinear;
  t["DequantizeLinear"] = DequantizeLinear;
  t["DynamicQuantizeLinear"] = DynamicQuantizeLinear;
}

}  // namespace octet::shape_inference
