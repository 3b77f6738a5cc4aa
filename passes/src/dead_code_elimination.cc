// Pass "dce": removes nodes whose outputs are neither used nor graph outputs,
// and then values (including constants) that nothing uses any more.
#include "octet/passes/dead_code_elimination.h"

#include <algorithm>

namespace octet {
namespace {

bool IsDead(const Node& n) {
  return std::all_of(n.outputs().begin(), n.outputs().end(),
                     [](const Value* v) { return v->uses().empty() && !v->is_graph_output(); });
}

}  // namespace

Expected<bool> EliminateDeadCode(Graph& graph) {
  bool changed = false;
  // Consumers come after producers, so one backward sweep also removes the
  // producers that only dead nodes used.
  const std::vector<Node*> nodes = graph.nodes();
  for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
    if (!IsDead(**it)) continue;
    OCTET_RETURN_IF_ERROR(graph.RemoveNode(*it));
    changed = true;
  }
  const size_t constants_before = graph.constants().size();
  graph.RemoveDeadValues();
  return changed || graph.constants().size() != constants_before;
}

}  // namespace octet
