// Shape rules for convolution, pooling and normalisation: Conv, ConvInteger,
// QLinearConv, ConvTranspose, MaxPool, AveragePool, Global*Pool,
// BatchNormalization, InstanceNormalization, LayerNormalization.
#include <algorithm>
#include <limits>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

// Bound on window attributes, so that the arithmetic on them cannot overflow.
constexpr int64_t kMaxWindowAttr = int64_t{1} << 31;

// The sliding-window attributes shared by Conv and the pools, one entry per
// spatial dim (pads: begins then ends).
struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads;
  std::string auto_pad;
  bool ceil_mode = false;
};

Expected<Window> ReadWindow(const InferenceContext& ctx, int spatial,
                            std::vector<int64_t> kernel_from_weight) {
  Window w;
  OCTET_ASSIGN_OR_RETURN(w.kernel, ctx.Ints("kernel_shape", kernel_from_weight));
  OCTET_ASSIGN_OR_RETURN(w.strides, ctx.Ints("strides", std::vector<int64_t>(spatial, 1)));
  OCTET_ASSIGN_OR_RETURN(w.dilations, ctx.Ints("dilations", std::vector<int64_t>(spatial, 1)));
  OCTET_ASSIGN_OR_RETURN(w.pads, ctx.Ints("pads", std::vector<int64_t>(2 * spatial, 0)));
  OCTET_ASSIGN_OR_RETURN(w.auto_pad, ctx.node().GetString("auto_pad", "NOTSET"));
  OCTET_ASSIGN_OR_RETURN(int64_t ceil_mode, ctx.Int("ceil_mode", 0));
  w.ceil_mode = ceil_mode != 0;
  if (static_cast<int>(w.kernel.size()) != spatial ||
      static_cast<int>(w.strides.size()) != spatial ||
      static_cast<int>(w.dilations.size()) != spatial ||
      static_cast<int>(w.pads.size()) != 2 * spatial)
    return ctx.Fail("kernel_shape, strides, dilations and pads must have ", spatial, ", ", spatial,
                    ", ", spatial, " and ", 2 * spatial, " elements for ", ctx.Describe(0));
  auto bad = [](int64_t v, int64_t lo) { return v < lo || v > kMaxWindowAttr; };
  for (int i = 0; i < spatial; ++i)
    if (bad(w.kernel[i], 1) || bad(w.strides[i], 1) || bad(w.dilations[i], 1) ||
        bad(w.pads[i], 0) || bad(w.pads[i + spatial], 0))
      return ctx.Fail("kernel_shape, strides and dilations must be in [1, 2^31] and pads in ",
                      "[0, 2^31] (spatial dimension ", i, ")");
  if (w.auto_pad != "NOTSET" && w.auto_pad != "VALID" && w.auto_pad != "SAME_UPPER" &&
      w.auto_pad != "SAME_LOWER")
    return ctx.Fail("unknown auto_pad '", w.auto_pad, "'");
  return w;
}

// The output extent of spatial dim i. A non-static input keeps its symbol
// when the window preserves the extent (stride 1 with "same" padding).
Expected<Dim> WindowOutput(const InferenceContext& ctx, const Window& w, int i, const Dim& in) {
  const int n = static_cast<int>(w.kernel.size());
  const int64_t stride = w.strides[i];
  const int64_t eff_k = w.dilations[i] * (w.kernel[i] - 1) + 1;
  const bool same = w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER";
  const int64_t pad = w.auto_pad == "NOTSET" ? w.pads[i] + w.pads[i + n] : 0;
  if (!in.is_static())
    return stride == 1 && (same || (w.auto_pad == "NOTSET" && pad == eff_k - 1)) ? in : Dim();
  if (same) return Dim(in.value() == 0 ? 0 : (in.value() - 1) / stride + 1);
  // Attributes are bounded by 2^31, so this cannot overflow for in < 2^62.
  if (in.value() > (int64_t{1} << 62)) return Dim();
  const int64_t span = in.value() + pad - eff_k;
  if (span < 0)
    return ctx.Fail("the window (kernel ", w.kernel[i], ", dilation ", w.dilations[i],
                    ") is larger than spatial dimension ", i, " of ", ctx.Describe(0),
                    " plus padding ", pad);
  int64_t out = (w.ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
  const int64_t pad_begin = w.auto_pad == "NOTSET" ? w.pads[i] : 0;
  if (w.ceil_mode && (out - 1) * stride >= in.value() + pad_begin) --out;  // starts in padding
  return Dim(out);
}

// The spatial extents of a weight [M, C, K...], when all are static.
bool KernelIsStatic(const Shape& w) {
  for (int i = 2; i < w.rank(); ++i)
    if (!w[i].is_static()) return false;
  return true;
}
std::vector<int64_t> StaticKernel(const Shape& w) {
  std::vector<int64_t> k;
  for (int i = 2; i < w.rank(); ++i) k.push_back(w[i].value());
  return k;
}

// Conv-like ops: X [N, C, D...], W [M, C/group, K...], B [M].
Status ConvLike(InferenceContext& ctx, int x, int w, int b, DType dtype) {
  const bool x_known = ctx.input_has_shape(x), w_known = ctx.input_has_shape(w);
  if (!x_known && !w_known) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const int rank = x_known ? ctx.input_rank(x) : ctx.input_rank(w);
  if (rank < 3) return ctx.Fail("expected a tensor of rank >= 3 but got ", ctx.Describe(x));
  if (x_known && w_known && ctx.input_rank(w) != rank)
    return ctx.Fail("the input and the weight must have the same rank but ", ctx.Describe(x),
                    " vs ", ctx.Describe(w));
  const Shape xs = x_known ? ctx.input_shape(x) : UnknownDims(rank);
  const Shape ws = w_known ? ctx.input_shape(w) : UnknownDims(rank);
  OCTET_ASSIGN_OR_RETURN(int64_t group, ctx.Int("group", 1));
  if (group < 1) return ctx.Fail("group must be positive but is ", group);
  if (xs[1].is_static() && ws[1].is_static() && xs[1].value() != ws[1].value() * group)
    return ctx.Fail("input channels do not match the weight: ", ctx.Describe(x), " has ",
                    xs[1].value(), " channels but ", ctx.Describe(w), " expects ", ws[1].value(),
                    " x group ", group);
  if (ws[0].is_static() && ws[0].value() % group != 0)
    return ctx.Fail(ctx.Describe(w), " has ", ws[0].value(),
                    " output channels, not a multiple of group ", group);
  if (ctx.has_input(b) && ctx.input_has_shape(b) &&
      (ctx.input_rank(b) != 1 || !UnifyDims(ctx.input_shape(b)[0], ws[0])))
    return ctx.Fail("the bias must be [", ws[0].ToString(), "] but got ", ctx.Describe(b));
  std::vector<Dim> out = {xs[0], ws[0]};
  if (!ctx.node().HasAttr("kernel_shape") && !KernelIsStatic(ws)) {
    out.resize(rank);
    ctx.set_output(0, dtype, Shape(std::move(out)));
    return Status::Ok();
  }
  OCTET_ASSIGN_OR_RETURN(Window win, ReadWindow(ctx, rank - 2, StaticKernel(ws)));
  for (int i = 0; i < rank - 2; ++i) {
    if (w_known && ws[i + 2].is_static() && ws[i + 2].value() != win.kernel[i])
      return ctx.Fail("kernel_shape does not match ", ctx.Describe(w));
    OCTET_ASSIGN_OR_RETURN(Dim d, WindowOutput(ctx, win, i, xs[i + 2]));
    out.push_back(d);
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

Status Conv(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  return ConvLike(ctx, 0, 1, 2, ctx.input_dtype(0));
}

// ConvInteger(x, w, x_zero_point?, w_zero_point?) -> i32.
Status ConvInteger(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 4));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(1, 3));
  return ConvLike(ctx, 0, 1, 4, DType::kI32);
}

// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B?) -> y_zp's type.
Status QLinearConv(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(8, 9));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(3, 5));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(8, {DType::kI32}, "the bias"));
  return ConvLike(ctx, 0, 3, 8, ctx.input_dtype(7));
}

// ConvTranspose(X, W, B?): W is [C, M/group, K...]; output_shape wins when given.
Status ConvTranspose(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(1)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& xs = ctx.input_shape(0);
  const Shape& ws = ctx.input_shape(1);
  const int rank = xs.rank(), spatial = rank - 2;
  if (rank < 3 || ws.rank() != rank)
    return ctx.Fail("expected input and weight of the same rank >= 3 but got ", ctx.Describe(0),
                    " and ", ctx.Describe(1));
  OCTET_ASSIGN_OR_RETURN(int64_t group, ctx.Int("group", 1));
  if (group < 1) return ctx.Fail("group must be positive but is ", group);
  if (!UnifyDims(xs[1], ws[0]))
    return ctx.Fail("input channels do not match the weight: ", ctx.Describe(0), " vs ",
                    ctx.Describe(1));
  if (!ctx.node().HasAttr("kernel_shape") && !KernelIsStatic(ws)) {
    ctx.set_output(0, dtype, UnknownDims(rank));
    return Status::Ok();
  }
  OCTET_ASSIGN_OR_RETURN(Window win, ReadWindow(ctx, spatial, StaticKernel(ws)));
  OCTET_ASSIGN_OR_RETURN(auto out_pad, ctx.Ints("output_padding", std::vector<int64_t>(spatial)));
  OCTET_ASSIGN_OR_RETURN(auto out_shape, ctx.Ints("output_shape", {}));
  if (static_cast<int>(out_pad.size()) != spatial ||
      (!out_shape.empty() && static_cast<int>(out_shape.size()) != spatial))
    return ctx.Fail("output_padding and output_shape must have ", spatial, " elements");
  std::vector<Dim> out = {xs[0], MulDims(ws[1], Dim(group))};
  for (int i = 0; i < spatial; ++i) {
    const Dim& in = xs[i + 2];
    const int64_t s = win.strides[i];
    const int64_t eff_k = win.dilations[i] * (win.kernel[i] - 1) + 1;
    const int64_t pad = win.auto_pad == "NOTSET" ? win.pads[i] + win.pads[i + spatial] : 0;
    if (out_pad[i] < 0 || out_pad[i] > kMaxWindowAttr || (!out_shape.empty() && out_shape[i] < 0))
      return ctx.Fail("output_padding and output_shape must not be negative");
    if (!out_shape.empty()) {
      out.emplace_back(out_shape[i]);
    } else if (!in.is_static()) {
      out.emplace_back();
    } else if (win.auto_pad == "SAME_UPPER" || win.auto_pad == "SAME_LOWER") {
      int64_t v = 0;
      out.emplace_back(__builtin_mul_overflow(in.value(), s, &v) ? Dim() : Dim(v));
    } else {
      const __int128 v = static_cast<__int128>(s) * (in.value() - 1) + out_pad[i] + eff_k - pad;
      if (v <= 0 || v > std::numeric_limits<int64_t>::max())
        return ctx.Fail("the output would be empty or too large for ", ctx.Describe(0));
      out.emplace_back(static_cast<int64_t>(v));
    }
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// MaxPool / AveragePool (X) -> Y, and MaxPool's optional i64 Indices.
Status Pool(InferenceContext& ctx) {
  const int max_outputs = ctx.node().op_type() == "MaxPool" ? 2 : 1;
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1, 1, max_outputs));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    for (int i = 0; i < ctx.num_outputs(); ++i)
      ctx.set_output_unknown_rank(i, i == 0 ? dtype : DType::kI64);
    return Status::Ok();
  }
  const Shape& xs = ctx.input_shape(0);
  if (xs.rank() < 3) return ctx.Fail("expected a tensor of rank >= 3 but got ", ctx.Describe(0));
  if (!ctx.node().HasAttr("kernel_shape")) return ctx.Fail("attribute 'kernel_shape' is missing");
  OCTET_ASSIGN_OR_RETURN(Window win, ReadWindow(ctx, xs.rank() - 2, {}));
  std::vector<Dim> out = {xs[0], xs[1]};
  for (int i = 0; i < xs.rank() - 2; ++i) {
    OCTET_ASSIGN_OR_RETURN(Dim d, WindowOutput(ctx, win, i, xs[i + 2]));
    out.push_back(d);
  }
  ctx.set_output(0, dtype, Shape(out));
  if (ctx.num_outputs() > 1) ctx.set_output(1, DType::kI64, Shape(out));
  return Status::Ok();
}

Status GlobalPool(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& xs = ctx.input_shape(0);
  if (xs.rank() < 3) return ctx.Fail("expected a tensor of rank >= 3 but got ", ctx.Describe(0));
  std::vector<Dim> out(xs.rank(), Dim(1));
  out[0] = xs[0];
  out[1] = xs[1];
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// Checks that inputs [first, last] are 1-D of the channel extent `c`.
Status CheckPerChannel(InferenceContext& ctx, int first, int last, const Dim& c) {
  for (int i = first; i <= last; ++i) {
    if (!ctx.has_input(i) || !ctx.input_has_shape(i)) continue;
    if (ctx.input_rank(i) != 1 || !UnifyDims(ctx.input_shape(i)[0], c))
      return ctx.Fail("expected a 1-D tensor of ", c.ToString(), " channels (", ctx.Describe(0),
                      ") but got ", ctx.Describe(i));
  }
  return Status::Ok();
}

// BatchNormalization(X, scale, B, mean, var) -> Y, running_mean?, running_var?.
Status BatchNormalization(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(5, 5, 1, 3));
  const DType dtype = ctx.input_dtype(0);
  Dim c;
  if (ctx.input_has_shape(0)) {
    const Shape& xs = ctx.input_shape(0);
    if (xs.rank() < 2) return ctx.Fail("expected rank >= 2 but got ", ctx.Describe(0));
    c = xs[1];
    ctx.set_output(0, dtype, xs);
  } else {
    ctx.set_output_unknown_rank(0, dtype);
  }
  OCTET_RETURN_IF_ERROR(CheckPerChannel(ctx, 1, 4, c));
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, ctx.input_dtype(3), Shape({c}));
  return Status::Ok();
}

// InstanceNormalization(input, scale, B).
Status InstanceNormalization(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(3, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, ctx.input_dtype(0));
    return Status::Ok();
  }
  const Shape& xs = ctx.input_shape(0);
  if (xs.rank() < 3) return ctx.Fail("expected rank >= 3 but got ", ctx.Describe(0));
  OCTET_RETURN_IF_ERROR(CheckPerChannel(ctx, 1, 2, xs[1]));
  ctx.set_output(0, ctx.input_dtype(0), xs);
  return Status::Ok();
}

// LayerNormalization(X, Scale, B?; axis) -> Y, Mean?, InvStdDev?; Scale and B
// broadcast to X[axis:]; Mean/InvStdDev are X[:axis] followed by ones.
Status LayerNormalization(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 3, 1, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  const DType dtype = ctx.input_dtype(0);
  OCTET_ASSIGN_OR_RETURN(int64_t stash, ctx.Int("stash_type", 1));
  const DType stats_dtype = DTypeFromOnnxTypeId(stash).value_or(DType::kF32);
  if (!ctx.input_has_shape(0)) {
    for (int i = 0; i < ctx.num_outputs(); ++i)
      ctx.set_output_unknown_rank(i, i == 0 ? dtype : stats_dtype);
    return Status::Ok();
  }
  const Shape& xs = ctx.input_shape(0);
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.Int("axis", -1));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, xs.rank()));
  const Shape normalized(std::vector<Dim>(xs.dims().begin() + axis, xs.dims().end()));
  for (int i = 1; i <= 2; ++i) {
    if (!ctx.has_input(i) || !ctx.input_has_shape(i)) continue;
    OCTET_ASSIGN_OR_RETURN(
        Shape b, Broadcast(ctx, normalized, ctx.input_shape(i),
                           "the normalized dimensions " + normalized.ToString(), ctx.Describe(i)));
    if (b.rank() != normalized.rank())
      return ctx.Fail(ctx.Describe(i), " does not broadcast to the normalized dimensions ",
                      normalized.ToString());
  }
  ctx.set_output(0, dtype, xs);
  std::vector<Dim> stats(xs.dims().begin(), xs.dims().begin() + axis);
  stats.resize(xs.rank(), Dim(1));
  for (int i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, stats_dtype, Shape(stats));
  return Status::Ok();
}

}  // namespace

void AddNnRules(RuleTable& t) {
  t["Conv"] = Conv;
  t["ConvInteger"] = ConvInteger;
  t["QLinearConv"] = QLinearConv;
  t["ConvTranspose"] = ConvTranspose;
  t["MaxPool"] = Pool;
  t["AveragePool"] = Pool;
  t["GlobalAveragePool"] = GlobalPool;
  t["GlobalMaxPool"] = GlobalPool;
  t["BatchNormalization"] = BatchNormalization;
  t["InstanceNormalization"] = InstanceNormalization;
  t["LayerNormalization"] = LayerNormalization;
}

}  // namespace octet::shape_inference
