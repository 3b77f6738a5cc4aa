// Pass "fold-constants": replaces nodes whose outputs can be computed at
// compile time (all inputs constant, or Shape/Size of a static shape) by
// constants, re-inferring shapes between rounds until nothing changes.
#include "octet/passes/constant_folding.h"

#include <algorithm>

#include "octet/passes/shape_inference.h"

namespace octet {
namespace {

bool IsNonDeterministic(const Node& n) {
  static const std::set<std::string> kRandom = {"RandomNormal",     "RandomUniform",
                                                "RandomNormalLike", "RandomUniformLike",
                                                "Multinomial",      "Bernoulli"};
  if (kRandom.count(n.op_type())) return true;
  if (n.op_type() == "Dropout" && n.input(2) != nullptr) {  // training_mode
    const Value* mode = n.input(2);
    return !mode->is_constant() || mode->constant().numel() != 1 ||
           mode->constant().GetAsInt64(0) != 0;
  }
  return false;
}

bool ProducesGraphOutput(const Node& n) {
  return std::any_of(n.outputs().begin(), n.outputs().end(),
                     [](const Value* v) { return v->is_graph_output(); });
}

// Bytes the outputs will take if their types are static; -1 if unknown.
int64_t KnownOutputBytes(const Node& n) {
  int64_t total = 0;
  for (const Value* v : n.outputs()) {
    const TensorType& t = v->type();
    if (t.dtype == DType::kUndefined || !t.has_shape || !t.shape.is_static()) return -1;
    Expected<int64_t> count = t.shape.NumElements();
    if (!count.ok()) return -1;
    total += DTypeStorageBytes(t.dtype, *count);
  }
  return total;
}

// Shape and Size of a value with a static shape; nullopt otherwise.
std::optional<Tensor> FoldShapeOf(const Node& n) {
  const Value* in = n.input(0);
  if (!n.domain().empty() || in == nullptr || !in->type().has_shape ||
      !in->type().shape.is_static())
    return std::nullopt;
  const std::vector<int64_t> dims = in->type().shape.static_dims();
  const int64_t rank = static_cast<int64_t>(dims.size());
  if (n.op_type() == "Size") {
    Expected<int64_t> count = in->type().shape.NumElements();
    if (!count.ok()) return std::nullopt;
    return Tensor::Scalar<int64_t>(*count);
  }
  Expected<int64_t> start_attr = n.GetInt("start", 0);
  Expected<int64_t> end_attr = n.GetInt("end", rank);
  if (!start_attr.ok() || !end_attr.ok()) return std::nullopt;
  int64_t start = *start_attr, end = *end_attr;
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = std::clamp<int64_t>(start, 0, rank);
  end = std::clamp<int64_t>(end, start, rank);
  std::vector<int64_t> slice(dims.begin() + start, dims.begin() + end);
  return Tensor::FromVector<int64_t>(slice, {end - start});
}

// The evaluated tensor must agree with what shape inference declared.
Status CheckAgainstType(const Node& n, const Value& v, const Tensor& t) {
  const TensorType& type = v.type();
  bool ok = type.dtype == DType::kUndefined || type.dtype == t.dtype();
  if (ok && type.has_shape) {
    ok = type.shape.rank() == t.rank();
    for (int i = 0; ok && i < t.rank(); ++i)
      ok = !type.shape[i].is_static() || type.shape[i].value() == t.dim(i);
  }
  if (ok) return Status::Ok();
  return Internal("folding node ", n.Describe(), ": output '", v.name(), "' was inferred as ",
                  type.ToString(), " but evaluates to ", t.ShapeString());
}

// Folds `n` if it can; returns whether it did.
Expected<bool> TryFold(Graph& graph, Node& n, const NodeEvaluator& evaluate,
                       const ConstantFoldingOptions& options) {
  if (ProducesGraphOutput(n) || IsNonDeterministic(n)) return false;
  const bool onnx_domain = n.domain().empty() || n.domain() == "ai.onnx";
  if (onnx_domain && options.keep_ops.count(n.op_type())) return false;
  std::vector<Tensor> results;
  std::optional<Tensor> shape_of;
  if (onnx_domain && (n.op_type() == "Shape" || n.op_type() == "Size")) shape_of = FoldShapeOf(n);
  if (shape_of) {
    results.push_back(std::move(*shape_of));
  } else {
    std::vector<const Tensor*> args;
    for (const Value* in : n.inputs()) {
      if (in != nullptr && !in->is_constant()) return false;
      args.push_back(in == nullptr ? nullptr : &in->constant());
    }
    const int64_t known = KnownOutputBytes(n);
    if (known > options.max_output_bytes) return false;
    Expected<std::vector<Tensor>> out = evaluate(n, args);
    if (!out.ok()) {
      if (out.status().code() == StatusCode::kUnimplemented) return false;
      return out.status().WithContext("while folding constants");
    }
    results = std::move(out).value();
  }
  if (static_cast<int>(results.size()) != n.num_outputs())
    return Internal("folding node ", n.Describe(), ": the evaluator returned ", results.size(),
                    " tensors for ", n.num_outputs(), " outputs");
  int64_t bytes = 0;
  for (int i = 0; i < n.num_outputs(); ++i) {
    if (n.output(i)->uses().empty()) continue;
    if (!results[i].defined())
      return Internal("folding node ", n.Describe(), ": output ", i, " was not computed");
    OCTET_RETURN_IF_ERROR(CheckAgainstType(n, *n.output(i), results[i]));
    bytes += results[i].nbytes();
  }
  if (bytes > options.max_output_bytes) return false;
  for (int i = 0; i < n.num_outputs(); ++i)
    if (!n.output(i)->uses().empty()) graph.MakeConstant(n.output(i), std::move(results[i]));
  OCTET_RETURN_IF_ERROR(graph.RemoveNode(&n));
  return true;
}

}  // namespace

Expected<bool> FoldConstants(Graph& graph, const NodeEvaluator& evaluate,
                             const ConstantFoldingOptions& options) {
  bool changed = false;
  for (bool round_changed = true; round_changed;) {
    round_changed = false;
    // Fresh types let Shape fold behind Reshapes whose targets were just folded.
    OCTET_RETURN_IF_ERROR(InferShapes(graph));
    for (Node* n : graph.nodes()) {
      OCTET_ASSIGN_OR_RETURN(bool folded, TryFold(graph, *n, evaluate, options));
      round_changed |= folded;
    }
    changed |= round_changed;
  }
  return changed;
}

Expected<bool> ConstantFoldingPass::Run(Model& model) {
  return FoldConstants(*model.graph, evaluate_, options_);
}

}  // namespace octet
