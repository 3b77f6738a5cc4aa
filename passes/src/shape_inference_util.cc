// The inference context and the helpers shared by the shape rule files.
#include <algorithm>
#include <limits>

#include "shape_inference_rules.h"

namespace octet::shape_inference {

SymInt SymInt::FromDim(const Dim& d) {
  if (d.is_static()) return Number(d.value());
  if (d.is_symbolic()) return Symbol(d.symbol());
  return SymInt();
}

Dim SymInt::ToDim() const {
  if (is_number() && number >= 0) return Dim(number);
  if (is_symbol()) return Dim::Symbol(symbol);
  return Dim::Unknown();
}

// ---- InferenceContext --------------------------------------------------------

InferenceContext::InferenceContext(const Node& node, const ValueTable& values)
    : node_(node),
      values_(values),
      outputs_(node.num_outputs()),
      output_values_(node.num_outputs()) {}

const TensorType& InferenceContext::input_type(int i) const {
  static const TensorType kAbsent;
  const Value* v = node_.input(i);
  return v == nullptr ? kAbsent : v->type();
}

const Tensor* InferenceContext::input_constant(int i) const {
  const Value* v = node_.input(i);
  return v != nullptr && v->is_constant() ? &v->constant() : nullptr;
}

std::optional<SymValue> InferenceContext::input_value(int i) const {
  const Value* v = node_.input(i);
  if (v == nullptr) return std::nullopt;
  if (v->is_constant()) {
    const Tensor& t = v->constant();
    if (!IsInteger(t.dtype()) || t.rank() > 1 || t.numel() > kMaxTrackedElements)
      return std::nullopt;
    SymValue out;
    for (int64_t k = 0; k < t.numel(); ++k) out.push_back(SymInt::Number(t.GetAsInt64(k)));
    return out;
  }
  auto it = values_.find(v);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::vector<int64_t>> InferenceContext::input_ints(int i) const {
  std::optional<SymValue> v = input_value(i);
  if (!v) return std::nullopt;
  std::vector<int64_t> out;
  for (const SymInt& s : *v) {
    if (!s.is_number()) return std::nullopt;
    out.push_back(s.number);
  }
  return out;
}

std::string InferenceContext::Describe(int input) const {
  const Value* v = node_.input(input);
  if (v == nullptr) return "input " + std::to_string(input) + " (absent)";
  return "input '" + v->name() + "' " + v->type().ToString();
}

void InferenceContext::set_output_unknown_rank(int i, DType dtype) {
  outputs_[i] = UnknownRank(dtype);
}

Status InferenceContext::CheckArity(int required, int max_inputs, int min_outputs,
                                    int max_outputs) const {
  for (int i = 0; i < required; ++i)
    if (!has_input(i))
      return Fail("expected at least ", required, " inputs but input ", i, " is missing");
  if (num_inputs() > max_inputs)
    return Fail("expected at most ", max_inputs, " inputs but got ", num_inputs());
  if (num_outputs() < min_outputs || num_outputs() > max_outputs)
    return Fail("expected ", min_outputs, "..", max_outputs, " outputs but got ", num_outputs());
  return Status::Ok();
}

Status InferenceContext::CheckSameDType(int a, int b) const {
  if (!has_input(a) || !has_input(b) || input_dtype(a) == input_dtype(b)) return Status::Ok();
  return Fail("inputs must have the same element type but ", Describe(a), " vs ", Describe(b));
}

Status InferenceContext::CheckDType(int i, std::initializer_list<DType> allowed,
                                    const char* what) const {
  if (!has_input(i)) return Status::Ok();
  if (std::find(allowed.begin(), allowed.end(), input_dtype(i)) != allowed.end())
    return Status::Ok();
  std::string names;
  for (DType d : allowed) names += (names.empty() ? "" : "/") + std::string(DTypeName(d));
  return Fail(what, " must be ", names, " but got ", Describe(i));
}

// ---- shapes and dims ------------------------------------------------------------

Expected<Shape> Broadcast(const InferenceContext& ctx, const Shape& a, const Shape& b,
                          const std::string& a_what, const std::string& b_what) {
  const int rank = std::max(a.rank(), b.rank());
  std::vector<Dim> out(rank);
  for (int i = 0; i < rank; ++i) {
    const int ia = i - (rank - a.rank());
    const int ib = i - (rank - b.rank());
    const Dim da = ia < 0 ? Dim(1) : a[ia];
    const Dim db = ib < 0 ? Dim(1) : b[ib];
    if (da == db || db == Dim(1)) {
      out[i] = da;
    } else if (da == Dim(1)) {
      out[i] = db;
    } else if (da.is_static() && db.is_static()) {
      return ctx.Fail("cannot broadcast ", a_what, " and ", b_what, ": dimension ", i, " is ",
                      da.value(), " vs ", db.value());
    } else if (da.is_static() || db.is_static()) {
      out[i] = da.is_static() ? da : db;  // the other must equal it at run time
    } else {
      out[i] = Dim::Unknown();  // N vs M, N vs ?: either could be 1
    }
  }
  return Shape(std::move(out));
}

Expected<std::optional<Shape>> BroadcastInputs(const InferenceContext& ctx, int first, int last) {
  std::optional<Shape> acc;
  std::string acc_what;
  for (int i = first; i <= last; ++i) {
    if (!ctx.has_input(i)) continue;
    if (!ctx.input_has_shape(i)) return std::optional<Shape>();
    if (!acc) {
      acc = ctx.input_shape(i);
      acc_what = ctx.Describe(i);
      continue;
    }
    OCTET_ASSIGN_OR_RETURN(Shape s,
                           Broadcast(ctx, *acc, ctx.input_shape(i), acc_what, ctx.Describe(i)));
    acc = std::move(s);
    acc_what = "the broadcast of the inputs before it " + acc->ToString();
  }
  return acc;
}

std::optional<Dim> UnifyDims(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) {
    if (a.value() != b.value()) return std::nullopt;
    return a;
  }
  if (a.is_static()) return a;
  if (b.is_static()) return b;
  if (a.is_symbolic()) return a;
  return b;
}

Dim MulDims(const Dim& a, const Dim& b) {
  if (a.is_static() && b.is_static()) {
    if (a.value() != 0 && b.value() > std::numeric_limits<int64_t>::max() / a.value())
      return Dim::Unknown();
    return Dim(a.value() * b.value());
  }
  if (a == Dim(0) || b == Dim(0)) return Dim(0);
  if (a == Dim(1)) return b;
  if (b == Dim(1)) return a;
  return Dim::Unknown();
}

Dim AddDims(const Dim& a, const Dim& b) {
  int64_t sum = 0;
  if (a.is_static() && b.is_static())
    return __builtin_add_overflow(a.value(), b.value(), &sum) ? Dim::Unknown() : Dim(sum);
  if (a == Dim(0)) return b;
  if (b == Dim(0)) return a;
  return Dim::Unknown();
}

Dim ProductOfDims(const std::vector<Dim>& dims, size_t begin, size_t end) {
  Dim p(1);
  for (size_t i = begin; i < end && i < dims.size(); ++i) p = MulDims(p, dims[i]);
  return p;
}

Expected<int> NormalizeAxis(const InferenceContext& ctx, int64_t axis, int rank, const char* what) {
  if (axis < -rank || axis >= rank)
    return ctx.Fail(what, " ", axis, " is out of range for rank ", rank, " (", ctx.Describe(0),
                    ")");
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

std::string ValueString(const SymValue& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ",";
    s += v[i].is_number() ? std::to_string(v[i].number) : v[i].is_symbol() ? v[i].symbol : "?";
  }
  return s + "]";
}

int64_t StaticLength(const InferenceContext& ctx, int input) {
  if (!ctx.has_input(input) || !ctx.input_has_shape(input)) return -1;
  const Shape& s = ctx.input_shape(input);
  return s.rank() == 1 && s[0].is_static() ? s[0].value() : -1;
}

TensorType UnknownRank(DType dtype) {
  TensorType t;
  t.dtype = dtype;
  t.has_shape = false;
  return t;
}

Shape UnknownDims(int rank) { return Shape(std::vector<Dim>(std::max(rank, 0))); }

}  // namespace octet::shape_inference
