#include "octet/verifier.h"

#include <algorithm>
#include <set>

namespace octet {

Status VerifyGraph(const Graph& graph) {
  std::set<const Value*> defined;
  std::set<std::string> names;
  auto define = [&](const Value* v, const std::string& by) -> Status {
    if (!defined.insert(v).second)
      return Internal("value '", v->name(), "' is defined twice (second time by ", by, ")");
    if (!names.insert(v->name()).second) return Internal("two values are named '", v->name(), "'");
    return Status::Ok();
  };
  for (const Value* in : graph.inputs()) {
    if (in->producer() != nullptr || in->is_constant())
      return Internal("graph input '", in->name(), "' has a producer or constant data");
    OCTET_RETURN_IF_ERROR(define(in, "graph input"));
  }
  for (const Value* c : graph.constants()) {
    const Tensor& t = c->constant();
    if (c->type().dtype != t.dtype() || !c->type().has_shape ||
        c->type().shape != Shape::FromStatic(t.dims()))
      return Internal("constant '", c->name(), "' has type ", c->type().ToString(),
                      " but its data is ", t.ShapeString());
    OCTET_RETURN_IF_ERROR(define(c, "constant"));
  }
  for (const Node* n : graph.nodes()) {
    for (int i = 0; i < n->num_inputs(); ++i) {
      const Value* v = n->input(i);
      if (v == nullptr) continue;
      if (defined.count(v) == 0)
        return InvalidArgument("node ", n->Describe(), " uses '", v->name(),
                               "' before it is defined (the graph has a cycle or is not in "
                               "topological order, or the value is undefined)");
      const auto& uses = v->uses();
      if (std::find(uses.begin(), uses.end(), Use{const_cast<Node*>(n), i}) == uses.end())
        return Internal("use-list of '", v->name(), "' misses input ", i, " of ", n->Describe());
    }
    for (int i = 0; i < n->num_outputs(); ++i) {
      const Value* out = n->output(i);
      if (out->producer() != n || out->producer_output_index() != i)
        return Internal("output ", i, " of ", n->Describe(), " ('", out->name(),
                        "') does not point back at its producer");
      if (out->is_constant())
        return Internal("output '", out->name(), "' of ", n->Describe(), " is also a constant");
      OCTET_RETURN_IF_ERROR(define(out, n->Describe()));
    }
  }
  // Every use recorded on a defined value must be a live node input.
  for (const Value* v : defined) {
    for (const Use& u : v->uses()) {
      if (u.input_index >= u.node->num_inputs() || u.node->input(u.input_index) != v)
        return Internal("use-list of '", v->name(), "' has a stale entry for ", u.node->Describe());
    }
  }
  for (const Value* out : graph.outputs())
    if (defined.count(out) == 0)
      return InvalidArgument("graph output '", out->name(), "' is not defined");
  return Status::Ok();
}

}  // namespace octet
