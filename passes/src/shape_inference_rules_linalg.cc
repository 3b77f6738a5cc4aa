// Shape rules for matrix products: MatMul (and its integer and QLinear forms),
// Gemm and Einsum.
#include <algorithm>
#include <cctype>
#include <map>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

// Numpy matmul of inputs `a` and `b` (1-D operands are promoted and the
// promoted dim dropped again). nullopt if a rank is unknown.
Expected<std::optional<Shape>> MatMulShape(const InferenceContext& ctx, int a, int b) {
  if (!ctx.input_has_shape(a) || !ctx.input_has_shape(b)) return std::optional<Shape>();
  std::vector<Dim> da = ctx.input_shape(a).dims(), db = ctx.input_shape(b).dims();
  if (da.empty() || db.empty())
    return ctx.Fail("matrix product of a scalar: ", ctx.Describe(a), " and ", ctx.Describe(b));
  const bool a_vec = da.size() == 1, b_vec = db.size() == 1;
  if (a_vec) da.insert(da.begin(), Dim(1));
  if (b_vec) db.push_back(Dim(1));
  const Dim& ka = da[da.size() - 1];
  const Dim& kb = db[db.size() - 2];
  if (!UnifyDims(ka, kb))
    return ctx.Fail("inner dimensions do not match: ", ctx.Describe(a), " vs ", ctx.Describe(b),
                    " (", ka.ToString(), " vs ", kb.ToString(), ")");
  OCTET_ASSIGN_OR_RETURN(
      Shape batch,
      Broadcast(ctx, Shape(std::vector<Dim>(da.begin(), da.end() - 2)),
                Shape(std::vector<Dim>(db.begin(), db.end() - 2)),
                "the batch dimensions of " + ctx.Describe(a), "those of " + ctx.Describe(b)));
  std::vector<Dim> out = batch.dims();
  if (!a_vec) out.push_back(da[da.size() - 2]);
  if (!b_vec) out.push_back(db.back());
  return std::optional<Shape>(Shape(std::move(out)));
}

Status SetMatMul(InferenceContext& ctx, int a, int b, DType dtype) {
  OCTET_ASSIGN_OR_RETURN(std::optional<Shape> shape, MatMulShape(ctx, a, b));
  if (shape)
    ctx.set_output(0, dtype, *shape);
  else
    ctx.set_output_unknown_rank(0, dtype);
  return Status::Ok();
}

Status MatMul(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  return SetMatMul(ctx, 0, 1, ctx.input_dtype(0));
}

// MatMulInteger(A, B, a_zero_point?, b_zero_point?) -> i32.
Status MatMulInteger(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 4));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(1, 3));
  return SetMatMul(ctx, 0, 1, DType::kI32);
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp) -> y_zp's type.
Status QLinearMatMul(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(8, 8));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(3, 5));
  return SetMatMul(ctx, 0, 3, ctx.input_dtype(7));
}

// Gemm(A, B, C?; transA, transB) -> [M, N]; C broadcasts to [M, N].
Status Gemm(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(2, 3));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 1));
  OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, 2));
  const DType dtype = ctx.input_dtype(0);
  for (int i = 0; i < 2; ++i)
    if (ctx.input_has_shape(i) && ctx.input_rank(i) != 2)
      return ctx.Fail("A and B must be 2-D but got ", ctx.Describe(i));
  OCTET_ASSIGN_OR_RETURN(int64_t trans_a, ctx.Int("transA", 0));
  OCTET_ASSIGN_OR_RETURN(int64_t trans_b, ctx.Int("transB", 0));
  const Shape a = ctx.input_has_shape(0) ? ctx.input_shape(0) : UnknownDims(2);
  const Shape b = ctx.input_has_shape(1) ? ctx.input_shape(1) : UnknownDims(2);
  const Dim m = a[trans_a ? 1 : 0], ka = a[trans_a ? 0 : 1];
  const Dim kb = b[trans_b ? 1 : 0], n = b[trans_b ? 0 : 1];
  if (!UnifyDims(ka, kb))
    return ctx.Fail("inner dimensions do not match: ", ctx.Describe(0), " (transA=", trans_a,
                    ") vs ", ctx.Describe(1), " (transB=", trans_b, ") (", ka.ToString(), " vs ",
                    kb.ToString(), ")");
  const Shape out({m, n});
  if (ctx.has_input(2) && ctx.input_has_shape(2)) {
    OCTET_ASSIGN_OR_RETURN(Shape bc, Broadcast(ctx, out, ctx.input_shape(2),
                                               "the product " + out.ToString(), ctx.Describe(2)));
    if (bc.rank() != 2)
      return ctx.Fail("C must broadcast to ", out.ToString(), " but got ", ctx.Describe(2));
  }
  ctx.set_output(0, dtype, out);
  return Status::Ok();
}

// One side of an Einsum equation: its letters and where "..." stands (-1: none).
struct EinsumTerm {
  std::string letters;
  int ellipsis = -1;
};

Expected<EinsumTerm> ParseTerm(const InferenceContext& ctx, const std::string& term,
                               const std::string& equation) {
  EinsumTerm t;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term.compare(i, 3, "...") == 0 && t.ellipsis < 0) {
      t.ellipsis = static_cast<int>(t.letters.size());
      i += 2;
    } else if (std::isalpha(static_cast<unsigned char>(term[i]))) {
      t.letters += term[i];
    } else {
      return ctx.Fail("cannot parse the einsum equation '", equation, "' at '", term.substr(i),
                      "'");
    }
  }
  return t;
}

Status Einsum(InferenceContext& ctx) {
  OCTET_RETURN_IF_ERROR(ctx.CheckArity(1, 1 << 20));
  OCTET_ASSIGN_OR_RETURN(std::string raw, ctx.node().GetString("equation", std::nullopt));
  std::string eq;
  for (char c : raw)
    if (c != ' ') eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<EinsumTerm> terms;
  for (size_t begin = 0;;) {
    const size_t comma = lhs.find(',', begin);
    OCTET_ASSIGN_OR_RETURN(EinsumTerm t, ParseTerm(ctx, lhs.substr(begin, comma - begin), raw));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    begin = comma + 1;
  }
  if (static_cast<int>(terms.size()) != ctx.num_inputs())
    return ctx.Fail("the equation '", raw, "' has ", terms.size(), " operands but the node has ",
                    ctx.num_inputs(), " inputs");
  std::map<char, Dim> dims;
  std::map<char, int> count;
  std::optional<Shape> ellipsis = Shape();
  bool all_known = true;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    OCTET_RETURN_IF_ERROR(ctx.CheckSameDType(0, i));
    const EinsumTerm& t = terms[i];
    for (char c : t.letters) ++count[c];
    if (!ctx.input_has_shape(i)) {
      all_known = false;
      continue;
    }
    const Shape& s = ctx.input_shape(i);
    const int n_ell = s.rank() - static_cast<int>(t.letters.size());
    if (n_ell < 0 || (t.ellipsis < 0 && n_ell != 0))
      return ctx.Fail("operand ", i, " of '", raw, "' has ", t.letters.size(), " letters but is ",
                      ctx.Describe(i));
    for (int k = 0; k < static_cast<int>(t.letters.size()); ++k) {
      const Dim& d = s[k < t.ellipsis || t.ellipsis < 0 ? k : k + n_ell];
      auto [it, inserted] = dims.emplace(t.letters[k], d);
      if (inserted || d == Dim(1)) continue;
      std::optional<Dim> u = it->second == Dim(1) ? d : UnifyDims(it->second, d);
      if (!u)
        return ctx.Fail("letter '", t.letters[k], "' of '", raw, "' is ", it->second.ToString(),
                        " in one operand but ", d.ToString(), " in ", ctx.Describe(i));
      it->second = *u;
    }
    if (t.ellipsis >= 0) {
      Shape part(
          std::vector<Dim>(s.dims().begin() + t.ellipsis, s.dims().begin() + t.ellipsis + n_ell));
      OCTET_ASSIGN_OR_RETURN(
          Shape b, Broadcast(ctx, *ellipsis, part, "the '...' dimensions", ctx.Describe(i)));
      ellipsis = std::move(b);
    }
  }
  EinsumTerm out;
  if (arrow != std::string::npos) {
    OCTET_ASSIGN_OR_RETURN(out, ParseTerm(ctx, eq.substr(arrow + 2), raw));
  } else {  // implicit: "..." first, then letters used once, in alphabetical order
    bool any_ellipsis = false;
    for (const EinsumTerm& t : terms) any_ellipsis |= t.ellipsis >= 0;
    if (any_ellipsis) out.ellipsis = 0;
    for (const auto& [c, n] : count)
      if (n == 1) out.letters += c;
  }
  const DType dtype = ctx.input_dtype(0);
  if (!all_known && out.ellipsis >= 0) {
    ctx.set_output_unknown_rank(0, dtype);
    return Status::Ok();
  }
  std::vector<Dim> result;
  for (int k = 0; k <= static_cast<int>(out.letters.size()); ++k) {
    if (k == out.ellipsis)
      for (const Dim& d : ellipsis->dims()) result.push_back(d);
    if (k == static_cast<int>(out.letters.size())) break;
    const char c = out.letters[k];
    if (count.count(c) == 0)
      return ctx.Fail("output letter '", c, "' of '", raw, "' appears in no operand");
    result.push_back(dims.count(c) ? dims[c] : Dim());
  }
  ctx.set_output(0, dtype, Shape(std::move(result)));
  return Status::Ok();
}

}  // namespace

void AddLinalgRules(RuleTable& t) {
  t["MatMul"] = MatMul;
  t["MatMulInteger"] = MatMulInteger;
  t["QLinearMatMul"] = QLinearMatMul;
  t["Gemm"] = Gemm;
  t["Einsum"] = Einsum;
}

}  // namespace octet::shape_inference
