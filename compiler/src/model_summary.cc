#include "octet/model_summary.h"

#include <cstdio>

namespace octet {

ModelSummary Summarize(const Graph& graph) {
  ModelSummary s;
  for (const Node* n : graph.nodes()) {
    ++s.op_histogram[n->domain().empty() ? n->op_type() : n->domain() + "::" + n->op_type()];
    ++s.num_nodes;
  }
  for (const Value* c : graph.constants()) {
    s.num_parameters += c->constant().numel();
    s.parameter_bytes += c->constant().nbytes();
  }
  return s;
}

static std::string HumanBytes(int64_t bytes) {
  char buf[32];
  if (bytes >= (int64_t{1} << 30)) {
    std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / double(int64_t{1} << 30));
  } else if (bytes >= (1 << 20)) {
    std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / double(1 << 20));
  } else if (bytes >= 1024) {
    std::snprintf(buf, sizeof(buf), "%.2f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof(buf), "%lld B", static_cast<long long>(bytes));
  }
  return buf;
}

std::string FormatSummary(const Model& model, const std::string& title) {
  const Graph& g = *model.graph;
  const ModelSummary s = Summarize(g);
  std::string out = title + "\n";
  out += "  producer: " + (model.producer_name.empty() ? "(none)" : model.producer_name) + " " +
         model.producer_version + ", ir_version " + std::to_string(model.ir_version) + "\n";
  out += "  opsets:";
  for (const auto& [domain, version] : model.opset_imports)
    out += " " + (domain.empty() ? std::string("ai.onnx") : domain) + "=" + std::to_string(version);
  out += "\n  inputs:\n";
  for (const Value* v : g.inputs()) out += "    " + v->name() + " : " + v->type().ToString() + "\n";
  out += "  outputs:\n";
  for (const Value* v : g.outputs())
    out += "    " + v->name() + " : " + v->type().ToString() + "\n";
  out += "  nodes: " + std::to_string(s.num_nodes) + "\n";
  char line[160];
  for (const auto& [op, count] : s.op_histogram) {
    std::snprintf(line, sizeof(line), "    %-28s %6lld\n", op.c_str(),
                  static_cast<long long>(count));
    out += line;
  }
  out += "  parameters: " + std::to_string(s.num_parameters) + " (" +
         HumanBytes(s.parameter_bytes) + ")\n";
  return out;
}

}  // namespace octet
