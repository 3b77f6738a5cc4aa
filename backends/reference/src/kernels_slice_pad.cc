// Slice and Pad: both map every output coordinate, one dimension at a time, to
// an input coordinate (or to the pad value), so both are a table construction
// for CopyByTables.
#include <algorithm>
#include <string>

#include "datamovement_util.h"

namespace octet::reference {
namespace movement {
namespace {

// Reads optional 'axes' for an op on a rank-`rank` tensor: normalises negative
// axes and rejects repeats. Absent axes mean 0..count-1.
Expected<std::vector<int>> ReadAxes(const KernelContext& ctx, const Tensor* axes_t, int rank,
                                    size_t count) {
  std::vector<int> axes;
  if (axes_t == nullptr) {
    if (static_cast<int64_t>(count) > rank)
      return ctx.Fail("has ", count, " entries per axis but the input has rank ", rank);
    for (size_t i = 0; i < count; ++i) axes.push_back(static_cast<int>(i));
    return axes;
  }
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> raw, ReadInts(ctx, *axes_t, "axes"));
  if (raw.size() != count)
    return ctx.Fail("axes ", DimsString(raw), " has ", raw.size(), " entries but expected ", count);
  std::vector<bool> seen(rank, false);
  for (int64_t a : raw) {
    if (a < -rank || a >= rank)
      return ctx.Fail("axes ", DimsString(raw), " has axis ", a, ", out of range for rank ", rank);
    const int axis = static_cast<int>(a < 0 ? a + rank : a);
    if (seen[axis]) return ctx.Fail("axes ", DimsString(raw), " repeats axis ", axis);
    seen[axis] = true;
    axes.push_back(axis);
  }
  return axes;
}

Status Slice(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* starts_t, RequiredInput(ctx, 1, "starts"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* ends_t, RequiredInput(ctx, 2, "ends"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> starts, ReadInts(ctx, *starts_t, "starts"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> ends, ReadInts(ctx, *ends_t, "ends"));
  if (starts.size() != ends.size())
    return ctx.Fail("starts ", DimsString(starts), " and ends ", DimsString(ends),
                    " have different lengths");
  const int rank = x->rank();
  OCTET_ASSIGN_OR_RETURN(std::vector<int> axes, ReadAxes(ctx, ctx.input(3), rank, starts.size()));
  std::vector<int64_t> steps(starts.size(), 1);
  if (ctx.input(4) != nullptr) {
    OCTET_ASSIGN_OR_RETURN(steps, ReadInts(ctx, *ctx.input(4), "steps"));
    if (steps.size() != starts.size())
      return ctx.Fail("steps ", DimsString(steps), " has ", steps.size(), " entries but starts ",
                      DimsString(starts), " has ", starts.size());
  }
  std::vector<int64_t> first(rank, 0), step(rank, 1), out_dims = x->dims();
  for (size_t i = 0; i < axes.size(); ++i) {
    const int d = axes[i];
    const int64_t dim = x->dim(d);
    const int64_t s = steps[i];
    if (s == 0) return ctx.Fail("steps ", DimsString(steps), " has a zero step");
    // Negative starts/ends count from the end; then both are clamped to the
    // range a step in that direction can reach (ends may be INT64_MAX/MIN).
    int64_t start = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t end = ends[i] < 0 ? ends[i] + dim : ends[i];
    int64_t count = 0;
    if (dim == 0) {
      start = 0;  // nothing to take, in either direction
    } else if (s > 0) {
      start = std::clamp<int64_t>(start, 0, dim);
      end = std::clamp<int64_t>(end, 0, dim);
      if (end > start) count = 1 + (end - start - 1) / s;
    } else {
      start = std::clamp<int64_t>(start, 0, dim - 1);
      end = std::clamp<int64_t>(end, -1, dim - 1);
      // -s overflows for INT64_MIN; any step that long takes one element.
      if (start > end) count = s < -dim ? 1 : 1 + (start - end - 1) / -s;
    }
    first[d] = start;
    step[d] = s;
    out_dims[d] = count;
  }
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, x->dtype(), out_dims));
  const std::vector<int64_t> strides = Strides(x->dims());
  OCTET_RETURN_IF_ERROR(CopyByTables(
      ctx, *x, out, [&](int d, int64_t c) { return (first[d] + c * step[d]) * strides[d]; },
      nullptr));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// Pads of one dimension after splitting negative pads (which crop the input
// first) from positive ones (which pad the cropped input).
struct AxisPad {
  int64_t crop_begin = 0;
  int64_t inner = 0;  // extent after cropping
  int64_t pad_begin = 0;
};

// The input coordinate (within the cropped extent `inner`) that output
// coordinate i of the padded axis copies, or kFillElement. i is relative to the
// start of the cropped input and may be negative or >= inner.
int64_t PadSource(PadMode mode, int64_t i, int64_t inner) {
  if (i >= 0 && i < inner) return i;
  switch (mode) {
    case PadMode::kConstant:
      return kFillElement;
    case PadMode::kEdge:
      return i < 0 ? 0 : inner - 1;
    case PadMode::kWrap:
      return ((i % inner) + inner) % inner;
    case PadMode::kReflect: {
      // Mirror without repeating the edge: the pattern has period 2*(inner-1),
      // which also reproduces numpy's repeated reflection for long pads.
      if (inner == 1) return 0;
      const int64_t period = 2 * (inner - 1);
      const int64_t m = ((i % period) + period) % period;
      return m < inner ? m : period - m;
    }
  }
  return kFillElement;
}

Status Pad(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequiredInput(ctx, 0, "data"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* pads_t, RequiredInput(ctx, 1, "pads"));
  // Rejects 4-bit data before any work.
  OCTET_RETURN_IF_ERROR(ElementBytes(ctx, *x, "input 'data'").status());
  OCTET_ASSIGN_OR_RETURN(std::string mode_name,
                         ctx.node.GetString("mode", std::string("constant")));
  PadMode mode;
  if (mode_name == "constant") {
    mode = PadMode::kConstant;
  } else if (mode_name == "reflect") {
    mode = PadMode::kReflect;
  } else if (mode_name == "edge") {
    mode = PadMode::kEdge;
  } else if (mode_name == "wrap") {
    mode = PadMode::kWrap;
  } else {
    return ctx.Fail("mode '", mode_name, "' is not one of constant, reflect, edge, wrap");
  }
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ReadInts(ctx, *pads_t, "pads"));
  const int rank = x->rank();
  const Tensor* axes_t = ctx.input(3);
  const size_t naxes = axes_t != nullptr ? axes_t->numel() : rank;
  if (pads.size() != 2 * naxes)
    return ctx.Fail("pads ", DimsString(pads), " has ", pads.size(), " entries but expected ",
                    2 * naxes, " (two per padded axis of input ", x->ShapeString(), ")");
  OCTET_ASSIGN_OR_RETURN(std::vector<int> axes, ReadAxes(ctx, axes_t, rank, naxes));

  // The fill element: the optional scalar 'constant_value', zero otherwise.
  const void* fill = nullptr;
  const Tensor* value = ctx.input(2);
  if (mode == PadMode::kConstant && value != nullptr && value->numel() > 0) {
    if (value->dtype() != x->dtype())
      return ctx.Fail("constant_value has dtype ", DTypeName(value->dtype()),
                      " but data has dtype ", DTypeName(x->dtype()));
    if (value->numel() != 1)
      return ctx.Fail("constant_value must be a scalar but has shape ", value->ShapeString());
    fill = value->raw();
  }

  constexpr int64_t kLimit = int64_t{1} << 40;  // Tensor's element limit
  std::vector<int64_t> begin(rank, 0), end(rank, 0);
  for (size_t i = 0; i < naxes; ++i) {
    for (int64_t p : {pads[i], pads[i + naxes]})
      if (p > kLimit || p < -kLimit)
        return ctx.Fail("pads ", DimsString(pads), " has an entry larger than 2^40");
    begin[axes[i]] = pads[i];
    end[axes[i]] = pads[i + naxes];
  }
  std::vector<AxisPad> axis_pads(rank);
  std::vector<int64_t> out_dims(rank);
  for (int d = 0; d < rank; ++d) {
    AxisPad& p = axis_pads[d];
    p.crop_begin = std::max<int64_t>(-begin[d], 0);
    p.inner = x->dim(d) - p.crop_begin - std::max<int64_t>(-end[d], 0);
    p.pad_begin = std::max<int64_t>(begin[d], 0);
    if (p.inner < 0)
      return ctx.Fail("pads ", DimsString(pads), " remove more than the extent ", x->dim(d),
                      " of axis ", d, " of input ", x->ShapeString());
    out_dims[d] = p.inner + p.pad_begin + std::max<int64_t>(end[d], 0);
    if (mode != PadMode::kConstant && p.inner == 0 && out_dims[d] > 0)
      return ctx.Fail("mode '", mode_name, "' cannot pad axis ", d, " of input ", x->ShapeString(),
                      " because it has no elements to copy");
  }
  OCTET_ASSIGN_OR_RETURN(Tensor out, NewOutput(ctx, x->dtype(), out_dims));
  const std::vector<int64_t> strides = Strides(x->dims());
  OCTET_RETURN_IF_ERROR(CopyByTables(
      ctx, *x, out,
      [&](int d, int64_t c) {
        const AxisPad& p = axis_pads[d];
        const int64_t i = PadSource(mode, c - p.pad_begin, p.inner);
        return i == kFillElement ? kFillElement : (i + p.crop_begin) * strides[d];
      },
      fill));
  ctx.outputs[0] = std::move(out);
  return Status::Ok();
}

}  // namespace
}  // namespace movement

void RegisterSlicePadKernels(KernelRegistry& r) {
  r.Register("Slice", movement::Slice);
  r.Register("Pad", movement::Pad);
}

}  // namespace octet::reference
