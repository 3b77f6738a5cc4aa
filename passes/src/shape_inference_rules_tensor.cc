// Shape rules for ops that reshape or rearrange data without computing on it:
// Reshape, Flatten, Transpose, Squeeze, Unsqueeze, Concat, Gather, Expand and
// Tile. (Split, Slice and Pad are in shape_inference_rules_slice.cc; Shape,
// Size, ConstantOfShape and Range in shape_inference_rules_shape.cc.)
#include <algorithm>
#include <map>
#include <set>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

// The static product and the multiset of symbols of `dims` (skipping index
// `skip`); false if some dim is unknown.
bool Factor(const std::vector<Dim>& dims, int skip, int64_t* product,
            std::multiset<std::string>* symbols) {
  *product = 1;
  for (int i = 0; i < static_cast<int>(dims.size()); ++i) {
    if (i == skip) continue;
    if (dims[i].is_unknown()) return false;
    if (dims[i].is_symbolic()) {
      symbols->insert(dims[i].symbol());
    } else {
      if (dims[i].value() != 0 && *product > (int64_t{1} << 62) / dims[i].value()) return false;
      *product *= dims[i].value();
    }
  }
  return true;
}

// Reshape(data, shape; allowzero): 0 copies the input dim (unless allowzero),
// -1 takes what is left. With symbols the -1 is resolved when the symbols on
// both sides cancel (N*12 -> [-1,3,4] gives N).
Status Reshape(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI64}, "the shape"));
  const DType dtype = ctx.input_dtype(0);
  std::optional<SymValue> target = ctx.input_value(1);
  if (!target) {
    const Shape& s = ctx.input_shape(1);
    if (ctx.input_has_shape(1) && s.rank() == 1 && s[0].is_static())
      ctx.set_output(0, dtype, UnknownDims(static_cast<int>(s[0].value())));
    else
      ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  OCTET_ASSIGN_OR_RETURN(int64_t allowzero, ctx.Int("allowzero", 0));
  const bool in_known = ctx.input_has_shape(0);
  const Shape& in = ctx.input_shape(0);
  std::vector<Dim> out;
  int infer = -1;
  for (int i = 0; i < static_cast<int>(target->size()); ++i) {
    const SymInt& e = (*target)[i];
    if (!e.is_number()) {
      out.push_back(e.ToDim());
    } else if (e.number == -1) {
      if (infer >= 0) return ctx.Fail("the shape ", ValueString(*target), " has more than one -1");
      infer = i;
      out.emplace_back();
    } else if (e.number == 0 && allowzero == 0) {
      if (in_known && i >= in.rank())
        return ctx.Fail("shape ", ValueString(*target), " copies dimension ", i,
                        " (0) but the data is ", ctx.Describe(0));
      out.push_back(in_known ? in[i] : Dim());
    } else if (e.number < 0) {
      return ctx.Fail("the shape ", ValueString(*target), " has the invalid element ", e.number);
    } else {
      out.emplace_back(e.number);
    }
  }
  int64_t in_n = 0, out_n = 0;
  std::multiset<std::string> in_syms, out_syms;
  if (in_known && Factor(in.dims(), -1, &in_n, &in_syms) && Factor(out, infer, &out_n, &out_syms)) {
    const bool static_only = in_syms.empty() && out_syms.empty();
    auto bad = [&](const char* why) {
      return ctx.Fail("cannot reshape ", ctx.Describe(0), " (", in_n, " elements) to ",
                      ValueString(*target), ": ", why);
    };
    if (infer < 0) {
      if (static_only && in_n != out_n) return bad("the element counts differ");
    } else if (std::includes(in_syms.begin(), in_syms.end(), out_syms.begin(), out_syms.end())) {
      std::multiset<std::string> rest;
      std::set_difference(in_syms.begin(), in_syms.end(), out_syms.begin(), out_syms.end(),
                          std::inserter(rest, rest.begin()));
      if (out_n == 0) {
        if (static_only && in_n != 0) return bad("the other dimensions multiply to 0");
      } else if (in_n % out_n != 0) {
        if (static_only) return bad("the count is not a multiple of the other dimensions");
      } else if (rest.empty()) {
        out[infer] = Dim(in_n / out_n);
      } else if (rest.size() == 1 && in_n == out_n) {
        out[infer] = Dim::Symbol(*rest.begin());
      }
    }
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// Flatten(input; axis) -> [prod(d[:axis]), prod(d[axis:])].
Status Flatten(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  OCTET_ASSIGN_OR_RETURN(int64_t axis, ctx.Int("axis", 1));
  if (!ctx.input_has_shape(0)) {
    ctx.set_output(0, ctx.input_dtype(0), UnknownDims(2));
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  if (axis < -in.rank() || axis > in.rank())
    return ctx.Fail("axis ", axis, " is out of range for ", ctx.Describe(0));
  if (axis < 0) axis += in.rank();
  ctx.set_output(
      0, ctx.input_dtype(0),
      Shape({ProductOfDims(in.dims(), 0, axis), ProductOfDims(in.dims(), axis, in.dims().size())}));
  return Status::Ok();
}

Status Transpose(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1));
  const DType dtype = ctx.input_dtype(0);
  const Attribute* perm_attr = ctx.node().FindAttr("perm");
  if (!ctx.input_has_shape(0)) {
    if (perm_attr == nullptr) {
      ctx.set_output_unknown_rank(0, dtype);
      return Status::Ok();
    }
    OCTET_ASSIGN_OR_RETURN(auto perm, ctx.Ints("perm"));
    ctx.set_output(0, dtype, UnknownDims(static_cast<int>(perm.size())));
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::vector<int64_t> perm(in.rank());
  for (int i = 0; i < in.rank(); ++i) perm[i] = in.rank() - 1 - i;
  if (perm_attr != nullptr) {
    OCTET_ASSIGN_OR_RETURN(perm, ctx.Ints("perm"));
  }
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  bool valid = static_cast<int>(perm.size()) == in.rank();
  for (int i = 0; valid && i < in.rank(); ++i) valid = sorted[i] == i;
  if (!valid) {
    std::string p;
    for (int64_t v : perm) p += (p.empty() ? "" : ",") + std::to_string(v);
    return ctx.Fail("perm [", p, "] is not a permutation of the dimensions of ", ctx.Describe(0));
  }
  std::vector<Dim> out;
  for (int64_t p : perm) out.push_back(in[static_cast<int>(p)]);
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// Reads the axes of Squeeze/Unsqueeze into `out`, normalised against `rank`,
// rejecting duplicates; false when they are not known.
Expected<bool> ReadAxes(InferenceContext& ctx, int input, int rank, std::vector<int>* out) {
  std::optional<std::vector<int64_t>> axes = ctx.input_ints(input);
  if (!axes) return false;
  for (int64_t a : *axes) {
    OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, a, rank));
    if (std::find(out->begin(), out->end(), axis) != out->end())
      return ctx.Fail("axis ", a, " appears twice in the axes");
    out->push_back(axis);
  }
  return true;
}

Status Squeeze(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 2));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::vector<Dim> out;
  if (!ctx.has_input(1)) {  // drop every 1; a non-static dim might be 1 or not
    for (const Dim& d : in.dims()) {
      if (!d.is_static()) {
        ctx.set_output_unknown_rank(0, dtype);
        return Status::Ok();
      }
      if (d.value() != 1) out.push_back(d);
    }
    ctx.set_output(0, dtype, Shape(std::move(out)));
    return Status::Ok();
  }
  std::vector<int> axes;
  OCTET_ASSIGN_OR_RETURN(bool axes_known, ReadAxes(ctx, 1, in.rank(), &axes));
  if (!axes_known) {
    const int64_t n = StaticLength(ctx, 1);
    if (n >= 0 && n <= in.rank())
      ctx.set_output(0, dtype, UnknownDims(in.rank() - static_cast<int>(n)));
    else
      ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  for (int i = 0; i < in.rank(); ++i) {
    if (std::find(axes.begin(), axes.end(), i) == axes.end()) {
      out.push_back(in[i]);
    } else if (in[i].is_static() && in[i].value() != 1) {
      return ctx.Fail("cannot squeeze dimension ", i, " of ", ctx.Describe(0), ": its extent is ",
                      in[i].value(), ", not 1");
    }
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

Status Unsqueeze(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::optional<std::vector<int64_t>> raw = ctx.input_ints(1);
  const int64_t n = raw ? static_cast<int64_t>(raw->size()) : StaticLength(ctx, 1);
  if (n < 0) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const int rank = in.rank() + static_cast<int>(n);
  std::vector<int> axes;
  OCTET_ASSIGN_OR_RETURN(bool axes_known, ReadAxes(ctx, 1, rank, &axes));
  if (!axes_known) {
    ctx.set_output(0, dtype, UnknownDims(rank));
    return Status::Ok();
  }
  std::vector<Dim> out;
  int next = 0;
  for (int i = 0; i < rank; ++i) {
    if (std::find(axes.begin(), axes.end(), i) != axes.end())
      out.emplace_back(1);
    else
      out.push_back(in[next++]);
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

Status Concat(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1 << 20));
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node().GetInt("axis", std::nullopt));
  int first = -1;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.Fail("input ", i, " is missing");
    OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, i));
    if (first < 0 && ctx.input_has_shape(i)) first = i;
  }
  const DType dtype = ctx.input_dtype(0);
  if (first < 0) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const int rank = ctx.input_rank(first);
  if (rank == 0) return ctx.Fail("cannot concatenate scalars (", ctx.Describe(first), ")");
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, rank));
  std::vector<Dim> out = ctx.input_shape(first).dims();
  out[axis] = Dim(0);
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.input_has_shape(i)) {
      out[axis] = Dim();
      continue;
    }
    const Shape& s = ctx.input_shape(i);
    if (s.rank() != rank)
      return ctx.Fail("all inputs must have the same rank but ", ctx.Describe(first), " vs ",
                      ctx.Describe(i));
    for (int d = 0; d < rank; ++d) {
      if (d == axis) {
        out[d] = AddDims(out[d], s[d]);
        continue;
      }
      std::optional<Dim> u = UnifyDims(out[d], s[d]);
      if (!u)
        return ctx.Fail("inputs differ in dimension ", d, " (not the axis ", axis,
                        "): ", ctx.Describe(first), " vs ", ctx.Describe(i));
      out[d] = *u;
    }
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// Gather(data, indices; axis) -> data[:axis] + indices.shape + data[axis+1:].
Status Gather(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI32, DType::kI64}, "the indices"));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0) || !ctx.input_has_shape(1)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& data = ctx.input_shape(0);
  if (data.rank() == 0) return ctx.Fail("cannot gather from a scalar (", ctx.Describe(0), ")");
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.Int("axis", 0));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, data.rank()));
  if (const Tensor* idx = ctx.input_constant(1); idx != nullptr && data[axis].is_static()) {
    const int64_t extent = data[axis].value();
    for (int64_t k = 0; k < idx->numel(); ++k) {
      const int64_t i = idx->GetAsInt64(k);
      if (i < -extent || i >= extent)
        return ctx.Fail("index ", i, " is out of range for axis ", axis, " of ", ctx.Describe(0));
    }
  }
  std::vector<Dim> out(data.dims().begin(), data.dims().begin() + axis);
  for (const Dim& d : ctx.input_shape(1).dims()) out.push_back(d);
  for (int i = axis + 1; i < data.rank(); ++i) out.push_back(data[i]);
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

// Expand(input, shape): bidirectional broadcast of the input and the shape.
Status Expand(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI64}, "the shape"));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::optional<SymValue> target = ctx.input_value(1);
  if (!target) {
    const int64_t n = StaticLength(ctx, 1);
    if (n < 0) {
      ctx.set_output_unknown_rank(0, dtype);
      return Status::Ok();
    }
    // Each output dim is the input's unless that is 1 (then the shape decides).
    const int rank = std::max(in.rank(), static_cast<int>(n));
    std::vector<Dim> out(rank);
    for (int i = 0; i < in.rank(); ++i)
      if (in[i] != Dim(1)) out[rank - in.rank() + i] = in[i];
    ctx.set_output(0, dtype, Shape(std::move(out)));
    return Status::Ok();
  }
  std::vector<Dim> dims;
  for (const SymInt& e : *target) {
    if (e.is_number() && e.number < 0)
      return ctx.Fail("the shape ", ValueString(*target), " has a negative element");
    dims.push_back(e.ToDim());
  }
  OCTET_ASSIGN_OR_RETURN(Shape out, Broadcast(ctx, in, Shape(std::move(dims)), ctx.Describe(0),
                                              "the shape " + ValueString(*target)));
  ctx.set_output(0, dtype, std::move(out));
  return Status::Ok();
}

Status Tile(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckDType(1, {DType::kI64}, "the repeats"));
  const DType dtype = ctx.input_dtype(0);
  if (!ctx.input_has_shape(0)) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  const Shape& in = ctx.input_shape(0);
  std::optional<SymValue> repeats = ctx.input_value(1);
  if (!repeats) {
    ctx.set_output(0, dtype, UnknownDims(in.rank()));
    return Status::Ok();
  }
  if (static_cast<int>(repeats->size()) != in.rank())
    return ctx.Fail("repeats ", ValueString(*repeats), " must have one element per dimension of ",
                    ctx.Describe(0));
  std::vector<Dim> out;
  for (int i = 0; i < in.rank(); ++i) {
    const SymInt& r = (*repeats)[i];
    if (r.is_number() && r.number < 0)
      return ctx.Fail("repeats ", ValueString(*repeats), " has a negative element");
    out.push_back(MulDims(in[i], r.ToDim()));
  }
  ctx.set_output(0, dtype, Shape(std::move(out)));
  return Status::Ok();
}

}  // namespace

void AddTensorRules(RuleTable& t) {
  t["Reshape"] = Reshape;
  t["Flatten"] = Flatten;
  t["Transpose"] = Transpose;
  t["Squeeze"] = Squeeze;
  t["Unsqueeze"] = Unsqueeze;
  t["Concat"] = Concat;
  t["Gather"] = Gather;
  t["Expand"] = Expand;
  t["Tile"] = Tile;
}

}  // namespace octet::shape_inference
