// Value propagation for shape computations: tracks the elements of small
// integer tensors (rank 0 or 1) through the ops that exporters use to compute
// shapes at run time, so that Shape(x) -> Gather -> Unsqueeze -> Concat ->
// Reshape gives the Reshape an exact shape even when x has symbolic dims.
// Elements are numbers, symbols (a symbolic dim's run-time value) or unknown.
#include <algorithm>
#include <functional>
#include <map>

#include "shape_inference_rules.h"

namespace octet::shape_inference {
namespace {

using Propagator = std::function<std::optional<SymValue>(InferenceContext&)>;

std::optional<SymValue> ShapeValue(InferenceContext& ctx) {
  if (!ctx.input_has_shape(0)) return std::nullopt;
  const std::vector<Dim>& dims = ctx.input_shape(0).dims();
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t start = ctx.Int("start", 0).ok() ? *ctx.Int("start", 0) : 0;
  int64_t end = ctx.Int("end", rank).ok() ? *ctx.Int("end", rank) : rank;
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, 0, rank);
  SymValue out;
  for (int64_t i = start; i < end; ++i) out.push_back(SymInt::FromDim(dims[i]));
  return out;
}

std::optional<SymValue> SizeValue(InferenceContext& ctx) {
  if (!ctx.input_has_shape(0)) return std::nullopt;
  const Dim n = ProductOfDims(ctx.input_shape(0).dims(), 0, ctx.input_rank(0));
  return SymValue{SymInt::FromDim(n)};
}

// Ops that keep the elements in order (only the shape changes).
std::optional<SymValue> PassThrough(InferenceContext& ctx) {
  if (ctx.node().op_type() == "Cast" && !IsInteger(ctx.output(0).dtype)) return std::nullopt;
  return ctx.input_value(0);
}

std::optional<SymValue> GatherValue(InferenceContext& ctx) {
  std::optional<SymValue> data = ctx.input_value(0);
  std::optional<std::vector<int64_t>> indices = ctx.input_ints(1);
  if (!data || !indices || ctx.input_rank(0) != 1) return std::nullopt;
  const int64_t n = static_cast<int64_t>(data->size());
  SymValue out;
  for (int64_t i : *indices) {
    if (i < -n || i >= n) return std::nullopt;
    out.push_back((*data)[i < 0 ? i + n : i]);
  }
  return out;
}

std::optional<SymValue> ConcatValue(InferenceContext& ctx) {
  SymValue out;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    std::optional<SymValue> v = ctx.input_value(i);
    if (!v) return std::nullopt;
    out.insert(out.end(), v->begin(), v->end());
  }
  return out;
}

std::optional<SymValue> SliceValue(InferenceContext& ctx) {
  std::optional<SymValue> data = ctx.input_value(0);
  std::optional<std::vector<int64_t>> starts = ctx.input_ints(1), ends = ctx.input_ints(2);
  std::optional<std::vector<int64_t>> axes =
      ctx.has_input(3) ? ctx.input_ints(3) : std::vector<int64_t>{0};
  std::optional<std::vector<int64_t>> steps =
      ctx.has_input(4) ? ctx.input_ints(4) : std::vector<int64_t>{1};
  if (!data || !starts || !ends || !axes || !steps || starts->size() != 1 || ends->size() != 1 ||
      axes->size() != 1 || steps->size() != 1 || ((*axes)[0] != 0 && (*axes)[0] != -1) ||
      (*steps)[0] == 0)
    return std::nullopt;
  const int64_t n = static_cast<int64_t>(data->size()), step = (*steps)[0];
  int64_t start = (*starts)[0], end = (*ends)[0];
  if (start < 0) start += n;
  if (end < 0) end += n;
  SymValue out;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, n);
    end = std::clamp<int64_t>(end, 0, n);
    for (int64_t i = start; i < end; i += step) out.push_back((*data)[i]);
  } else if (n > 0) {
    start = std::clamp<int64_t>(start, 0, n - 1);
    end = std::clamp<int64_t>(end, -1, n - 1);
    for (int64_t i = start; i > end; i += step) out.push_back((*data)[i]);
  }
  return out;
}

// One element of integer Add/Sub/Mul/Div; symbols survive x+0, x-0, x*1, x/1.
SymInt Arith(char op, const SymInt& a, const SymInt& b) {
  if (a.is_number() && b.is_number()) {
    const int64_t x = a.number, y = b.number;
    int64_t r = 0;
    bool overflow = false;
    switch (op) {
      case '+':
        overflow = __builtin_add_overflow(x, y, &r);
        break;
      case '-':
        overflow = __builtin_sub_overflow(x, y, &r);
        break;
      case '*':
        overflow = __builtin_mul_overflow(x, y, &r);
        break;
      default:  // only where truncating and flooring division agree
        if (y <= 0 || x < 0) return SymInt();
        r = x / y;
    }
    return overflow ? SymInt() : SymInt::Number(r);
  }
  const bool b_neutral = b.is_number() && b.number == ((op == '*' || op == '/') ? 1 : 0);
  if (a.is_symbol() && b_neutral) return a;
  if (op == '+' && a.is_number() && a.number == 0 && b.is_symbol()) return b;
  if (op == '*' && a.is_number() && a.number == 1 && b.is_symbol()) return b;
  return SymInt();
}

std::optional<SymValue> ArithValue(InferenceContext& ctx) {
  if (!IsInteger(ctx.output(0).dtype)) return std::nullopt;
  std::optional<SymValue> a = ctx.input_value(0), b = ctx.input_value(1);
  if (!a || !b || (a->size() != b->size() && a->size() != 1 && b->size() != 1)) return std::nullopt;
  const std::string& op_type = ctx.node().op_type();
  const char op = op_type == "Add" ? '+' : op_type == "Sub" ? '-' : op_type == "Mul" ? '*' : '/';
  SymValue out;
  for (size_t i = 0; i < std::max(a->size(), b->size()); ++i)
    out.push_back(Arith(op, (*a)[a->size() == 1 ? 0 : i], (*b)[b->size() == 1 ? 0 : i]));
  return out;
}

const std::map<std::string, Propagator, std::less<>>& Propagators() {
  static const std::map<std::string, Propagator, std::less<>> kTable = {
      {"Shape", ShapeValue},      {"Size", SizeValue},      {"Identity", PassThrough},
      {"Cast", PassThrough},      {"Reshape", PassThrough}, {"Squeeze", PassThrough},
      {"Unsqueeze", PassThrough}, {"Gather", GatherValue},  {"Concat", ConcatValue},
      {"Slice", SliceValue},      {"Add", ArithValue},      {"Sub", ArithValue},
      {"Mul", ArithValue},        {"Div", ArithValue},
  };
  return kTable;
}

}  // namespace

void PropagateValues(InferenceContext& ctx) {
  if (ctx.num_outputs() < 1) return;
  const TensorType& out = ctx.output(0);
  if (!IsInteger(out.dtype) || !out.has_shape || out.shape.rank() > 1) return;
  auto it = Propagators().find(ctx.node().op_type());
  if (it == Propagators().end()) return;
  std::optional<SymValue> v = it->second(ctx);
  if (!v || static_cast<int64_t>(v->size()) > kMaxTrackedElements) return;
  // The element count must agree with the inferred shape.
  const int64_t expected = out.shape.rank() == 0      ? 1
                           : out.shape[0].is_static() ? out.shape[0].value()
                                                      : -1;
  if (expected >= 0 && expected != static_cast<int64_t>(v->size())) return;
  ctx.output_values()[0] = std::move(*v);
}

}  // namespace octet::shape_inference
