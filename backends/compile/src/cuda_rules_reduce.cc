// cuda rules for f32 reductions: ReduceSum / ReduceMean / ReduceMax over any
// set of axes (the axes attribute up to opset 17, the constant axes input
// from 18; ReduceSum's from 13) as cuda.reduce_sum / mean / max with attrs
// axes (non-negative, increasing) and keepdims; Softmax over the last axis as
// cuda.softmax.
#include <algorithm>
#include <optional>

#include "cuda_rules_util.h"

namespace octet::compile_internal {
namespace {

const char* ReduceKernel(const Node& n) {
  if (n.op_type() == "ReduceSum") return "cuda.reduce_sum";
  if (n.op_type() == "ReduceMean") return "cuda.reduce_mean";
  return "cuda.reduce_max";
}

struct ReduceArgs {
  std::vector<int64_t> axes;  // normalised, increasing; all axes when empty input
  bool keepdims = true;
  bool identity = false;  // no axes and noop_with_empty_axes: a copy
  std::string error;
};

ReduceArgs GetReduceArgs(const Node& n) {
  ReduceArgs r;
  const std::string k = ReduceKernel(n);
  const Value* x = n.input(0);
  const int64_t rank = x->type().shape.rank();
  std::vector<int64_t> axes;
  if (const Value* a = n.input(1); a != nullptr) {
    auto ints = CudaConstInts(a);
    if (!ints) {
      r.error =
          k + " needs axes ('" + a->name() + "') to be a constant integer tensor after folding";
      return r;
    }
    axes = *ints;
  } else {
    axes = CudaOr(n.GetInts("axes", std::vector<int64_t>{}), {});
  }
  r.keepdims = CudaOr(n.GetInt("keepdims", 1), int64_t{1}) != 0;
  if (axes.empty()) {
    if (CudaOr(n.GetInt("noop_with_empty_axes", 0), int64_t{0}) != 0) {
      r.identity = true;
      return r;
    }
    for (int64_t d = 0; d < rank; ++d) r.axes.push_back(d);
    return r;
  }
  for (int64_t a : axes) {
    auto na = CudaNormalizeAxis(a, rank);
    if (!na) {
      r.error =
          k + ": axis " + std::to_string(a) + " is out of range for rank " + std::to_string(rank);
      return r;
    }
    r.axes.push_back(*na);
  }
  std::sort(r.axes.begin(), r.axes.end());
  if (std::adjacent_find(r.axes.begin(), r.axes.end()) != r.axes.end())
    r.error = k + ": an axis is repeated";
  return r;
}

std::string WhyNotReduce(const Node& n) {
  const std::string k = ReduceKernel(n);
  const Value* x = n.input(0);
  if (x == nullptr) return k + " needs its input";
  if (x->type().dtype != DType::kF32 || n.output(0)->type().dtype != DType::kF32)
    return k + " reduces f32 only; got " + CudaShapeText(x->type());
  if (x->is_constant())
    return k + ": the input is a constant (constant folding should have removed this node)";
  return GetReduceArgs(n).error;
}

Status EmitReduce(const Node& n, ModuleBuilder& builder) {
  ReduceArgs r = GetReduceArgs(n);
  if (r.identity) return CudaEmitOp(n, "cuda.reshape", {n.input(0)}, {}, {{0, 0}}, builder);
  return CudaEmitOp(n, ReduceKernel(n), {n.input(0)},
                    {{"axes", r.axes}, {"keepdims", int64_t{r.keepdims ? 1 : 0}}}, {}, builder);
}

std::string WhyNotSoftmax(const Node& n) {
  const Value* x = n.input(0);
  if (x == nullptr) return "cuda.softmax needs its input";
  const int64_t rank = x->type().shape.rank();
  if (x->type().dtype != DType::kF32 || rank < 1)
    return "cuda.softmax takes f32 of rank >= 1, got " + CudaShapeText(x->type());
  if (x->is_constant())
    return "cuda.softmax: the input is a constant (constant folding should have removed this "
           "node)";
  auto axis = n.GetInt("axis", -1);
  if (!axis.ok() || CudaNormalizeAxis(*axis, rank) != std::optional<int64_t>(rank - 1))
    return "cuda.softmax normalises over the last axis only; got axis " +
           std::to_string(CudaOr(axis, int64_t{0})) + " of " + CudaShapeText(x->type()) +
           " (transpose the axis last first)";
  return "";
}

Status EmitSoftmax(const Node& n, ModuleBuilder& builder) {
  return CudaEmitOp(n, "cuda.softmax", {n.input(0)}, {}, {{0, 0}}, builder);
}

}  // namespace

void AddCudaReduceRules(CudaNodeRules& rules) {
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax"})
    rules[op] = {WhyNotReduce, EmitReduce};
  rules["Softmax"] = {WhyNotSoftmax, EmitSoftmax};
}

}  // namespace octet::compile_internal
