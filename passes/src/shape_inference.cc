// Pass "infer-shapes": sets the type (dtype and shape) of every node output,
// running the op's rule from the rule table and merging the result with the
// type the value already had. See shape_inference.h for the rules on symbols.
#include "octet/passes/shape_inference.h"

#include "shape_inference_rules.h"

namespace octet {
namespace {

using shape_inference::InferenceContext;
using shape_inference::RuleTable;
using shape_inference::ShapeRule;
using shape_inference::ValueTable;

const RuleTable& Rules() {
  static const RuleTable kTable = [] {
    RuleTable t;
    shape_inference::AddElementwiseRules(t);
    shape_inference::AddTensorRules(t);
    shape_inference::AddSliceRules(t);
    shape_inference::AddShapeRules(t);
    shape_inference::AddNnRules(t);
    shape_inference::AddLinalgRules(t);
    shape_inference::AddReduceRules(t);
    return t;
  }();
  return kTable;
}

ShapeRule FindRule(const Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return nullptr;
  auto it = Rules().find(n.op_type());
  return it == Rules().end() ? nullptr : it->second;
}

// Merges what a value already declared with what its producer's rule inferred.
Expected<TensorType> Merge(const Node& n, const Value& v, const TensorType& declared,
                           const TensorType& inferred) {
  auto conflict = [&](auto&&... what) {
    return InvalidArgument("node ", n.Describe(), ": output '", v.name(), "' is declared ",
                           declared.ToString(), " but inferred ", inferred.ToString(), " (",
                           what..., ")");
  };
  TensorType out = declared;
  if (inferred.dtype != DType::kUndefined) {
    if (declared.dtype != DType::kUndefined && declared.dtype != inferred.dtype)
      return conflict("element types differ");
    out.dtype = inferred.dtype;
  }
  if (!inferred.has_shape) return out;
  if (!declared.has_shape) {
    out.shape = inferred.shape;
    out.has_shape = true;
    return out;
  }
  if (declared.shape.rank() != inferred.shape.rank()) return conflict("ranks differ");
  for (int i = 0; i < inferred.shape.rank(); ++i) {
    const Dim& d = declared.shape[i];
    const Dim& f = inferred.shape[i];
    if (d.is_static() && f.is_static() && d.value() != f.value())
      return conflict("dimension ", i, " is ", d.value(), " vs ", f.value());
    if (f.is_static() || (f.is_symbolic() && !d.is_static())) out.shape[i] = f;
  }
  return out;
}

Status InferNode(Node& n, ValueTable& values, bool* changed) {
  for (int i = 0; i < n.num_inputs(); ++i) {
    const Value* in = n.input(i);
    if (in != nullptr && in->type().dtype == DType::kUndefined)
      return InvalidArgument("node ", n.Describe(), ": input '", in->name(),
                             "' has no known element type");
  }
  ShapeRule rule = FindRule(n);
  if (rule == nullptr) {
    for (const Value* out : n.outputs())
      if (out->type().dtype == DType::kUndefined || !out->type().has_shape)
        return Unimplemented("node ", n.Describe(), ": no shape inference for op '",
                             n.domain().empty() ? "" : n.domain() + "::", n.op_type(),
                             "' and output '", out->name(), "' has no declared type");
    return Status::Ok();
  }
  InferenceContext ctx(n, values);
  OCTET_RETURN_IF_ERROR(rule(ctx));
  shape_inference::PropagateValues(ctx);
  for (int i = 0; i < n.num_outputs(); ++i) {
    Value* out = n.output(i);
    OCTET_ASSIGN_OR_RETURN(TensorType merged, Merge(n, *out, out->type(), ctx.output(i)));
    if (merged != out->type()) {
      out->set_type(std::move(merged));
      *changed = true;
    }
    if (ctx.output_values()[i]) values[out] = std::move(*ctx.output_values()[i]);
  }
  return Status::Ok();
}

Expected<bool> InferAll(Graph& graph) {
  ValueTable values;
  bool changed = false;
  for (Node* n : graph.nodes()) OCTET_RETURN_IF_ERROR(InferNode(*n, values, &changed));
  return changed;
}

}  // namespace

Status InferShapes(Graph& graph) { return InferAll(graph).status(); }

bool HasShapeInference(std::string_view op_type) { return Rules().count(op_type) != 0; }

Expected<bool> InferShapesPass::Run(Model& model) { return InferAll(*model.graph); }

}  // namespace octet
