// Shape rules for ops that carve a tensor up or extend it: Split, Slice, Pad.
#include <algorithm>
#include <limits>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

// Slice bounds at least this large mean "to the end" even for a dim that is
// not static (exporters write INT64_MAX or INT32_MAX); symbolic dims are
// assumed to be smaller.
constexpr int64_t kToTheEnd = std::numeric_limits<int32_t>::max();

std::string IntsString(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

// Split(input, split?; axis, num_outputs): explicit sizes, or equal chunks of
// ceil(d / n) with a smaller last one (opset 18 semantics; identical to opset
// 13 whenever the split is even).
Status Split(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 2, 1, 1 << 20));
  const DType dtype = ctx.input_dtype(0);
  const int n = ctx.num_outputs();
  if (!ctx.input_has_shape(0)) {
    for (int i = 0; i < n; ++i) ctx.set_output_unknown_rank(i, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.Int("axis", 0));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, in.rank()));
  OCTET_ASSIGN_OR_RETURN(int64_t num_outputs, ctx.Int("num_outputs", n));
  if (num_outputs != n)
    return ctx.Fail("attribute num_outputs is ", num_outputs, " but the node has ", n, " outputs");
  std::vector<Dim> sizes(n);
  const Dim& d = in[axis];
  if (ctx.has_input(1)) {
    OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI64}, "the split"));
    if (std::optional<std::vector<int64_t>> split = ctx.input_ints(1)) {
      if (static_cast<int>(split->size()) != n)
        return ctx.Fail("split ", IntsString(*split), " has ", split->size(),
                        " sizes but the node has ", n, " outputs");
      int64_t sum = 0;
      for (int i = 0; i < n; ++i) {
        if ((*split)[i] < 0) return ctx.Fail("split ", IntsString(*split), " has a negative size");
        sum += (*split)[i];
        sizes[i] = Dim((*split)[i]);
      }
      if (d.is_static() && sum != d.value())
        return ctx.Fail("split ", IntsString(*split), " adds up to ", sum, " but axis ", axis,
                        " of ", ctx.Describe(0), " is ", d.value());
    }
  } else if (n == 1) {
    sizes[0] = d;
  } else if (d.is_static()) {
    const int64_t chunk = d.value() == 0 ? 0 : (d.value() - 1) / n + 1;
    const int64_t last = d.value() - chunk * (n - 1);
    if (last < 0)
      return ctx.Fail("cannot split axis ", axis, " of ", ctx.Describe(0), " into ", n, " outputs");
    for (int i = 0; i < n; ++i) sizes[i] = Dim(i + 1 < n ? chunk : last);
  }
  for (int i = 0; i < n; ++i) {
    Shape s = in;
    s[axis] = sizes[i];
    ctx.set_output(i, dtype, std::move(s));
  }
  return Status::Ok();
}

// Reads the optional axes input of Slice/Pad into `out` (0..count-1 when
// absent); false when the input is present but its value is unknown.
Expected<bool> ReadAxesOrDefault(InferenceContext& ctx, int input, int rank, int64_t count,
                                 std::vector<int>* out) {
  if (!ctx.has_input(input)) {
    for (int64_t i = 0; i < count; ++i) out->push_back(static_cast<int>(i));
    return true;
  }
  std::optional<std::vector<int64_t>> axes = ctx.input_ints(input);
  if (!axes) return false;
  for (int64_t a : *axes) {
    OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, a, rank));
    if (std::find(out->begin(), out->end(), axis) != out->end())
      return ctx.Fail("axis ", a, " appears twice in the axes ", IntsString(*axes));
    out->push_back(axis);
  }
  return true;
}

// The extent of one sliced dim; unknown where it cannot be known.
Dim SliceDim(const Dim& d, int64_t start, int64_t end, int64_t step) {
  if (!d.is_static()) {
    if (step == 1 && start == 0 && end >= kToTheEnd) return d;
    const bool full_reverse =
        step == -1 && (start == -1 || start >= kToTheEnd) && end <= -kToTheEnd;
    return full_reverse ? d : Dim();
  }
  const int64_t n = d.value();
  if (start < 0) start += n;
  if (end < 0) end += n;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, 0, n);
    return Dim(end <= start ? 0 : (end - start - 1) / step + 1);
  }
  if (n == 0) return Dim(0);
  start = std::clamp<int64_t>(start, 0, n - 1);
  end = std::clamp<int64_t>(end, -1, n - 1);
  const int64_t stride = step == std::numeric_limits<int64_t>::min() ? n : -step;
  return Dim(start <= end ? 0 : (start - end - 1) / stride + 1);
}

// Slice(data, starts, ends, axes?, steps?).
Status Slice(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(3, 5));
  for (int i = 1; i < 5; ++i)
    OCTET_RETURN_IF_ERROR(ctx.CheckDType(i, {DType::kI32, DType::kI64}, "starts/ends/axes/steps"));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::optional<std::vector<int64_t>> starts = ctx.input_ints(1);
  std::optional<SymValue> ends_value = ctx.input_value(2);
  const int64_t count = starts ? static_cast<int64_t>(starts->size()) : -1;
  std::vector<int> axes;
  OCTET_ASSIGN_OR_RETURN(bool axes_known, ReadAxesOrDefault(ctx, 3, in.rank(), count, &axes));
  Shape out = in;
  if (!axes_known || (count < 0 && !ctx.has_input(3))) {  // which axes are sliced is unknown
    ctx.set_output(0, dtype, UnknownDims(in.rank()));
    return Status::Ok();
  }
  std::optional<std::vector<int64_t>> steps = ctx.input_ints(4);
  if (!ctx.has_input(4)) steps = std::vector<int64_t>(axes.size(), 1);
  if (!starts || !ends_value || !steps) {
    for (int a : axes) out[a] = Dim();
    ctx.set_output(0, dtype, std::move(out));
    return Status::Ok();
  }
  if (ends_value->size() != axes.size() || starts->size() != axes.size() ||
      steps->size() != axes.size())
    return ctx.Fail("starts, ends, axes and steps must have the same length but have ",
                    starts->size(), ", ", ends_value->size(), ", ", axes.size(), " and ",
                    steps->size());
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t step = (*steps)[i];
    if (step == 0) return ctx.Fail("step ", i, " is 0");
    const int a = axes[i];
    const int64_t start = (*starts)[i];
    const SymInt& e = (*ends_value)[i];
    if (e.is_number())
      out[a] = SliceDim(in[a], start, e.number, step);
    else if (e.is_symbol() && in[a] == Dim::Symbol(e.symbol) && start == 0 && step == 1)
      out[a] = in[a];  // x[:, :N] where N is x's own extent
    else
      out[a] = Dim();
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::Ok();
}

// Pad(data, pads, constant_value?, axes?): pads are [begins..., ends...];
// negative pads crop.
Status Pad(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 4));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI64}, "the pads"));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::optional<std::vector<int64_t>> pads = ctx.input_ints(1);
  const int64_t count = ctx.has_input(3) ? -1 : in.rank();
  std::vector<int> axes;
  OCTET_ASSIGN_OR_RETURN(bool axes_known, ReadAxesOrDefault(ctx, 3, in.rank(), count, &axes));
  Shape out = in;
  if (!axes_known) {
    ctx.set_output(0, dtype, UnknownDims(in.rank()));
    return Status::Ok();
  }
  if (!pads) {
    for (int a : axes) out[a] = Dim();
    ctx.set_output(0, dtype, std::move(out));
    return Status::Ok();
  }
  const size_t k = axes.size();
  if (pads->size() != 2 * k)
    return ctx.Fail("pads ", IntsString(*pads), " must have 2 x ", k, " elements for ",
                    ctx.Describe(0));
  for (size_t i = 0; i < k; ++i) {
    const int a = axes[i];
    int64_t delta = 0, extent = 0;
    if (__builtin_add_overflow((*pads)[i], (*pads)[i + k], &delta) ||
        (in[a].is_static() && __builtin_add_overflow(in[a].value(), delta, &extent)))
      return ctx.Fail("pads ", IntsString(*pads), " overflow axis ", a, " of ", ctx.Describe(0));
    if (!in[a].is_static()) {
      out[a] = delta == 0 ? in[a] : Dim();
      continue;
    }
    if (extent < 0)
      return ctx.Fail("pads ", IntsString(*pads), " crop axis ", a, " of ", ctx.Describe(0),
                      " below zero");
    out[a] = Dim(extent);
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::Ok();
}

}  // namespace

void AddSliceRules(RuleTable& t) {
  t["Split"] = Split;
  t["Slice"] = Slice;
  t["Pad"] = Pad;
}

}  // namespace octet::shape_inference
