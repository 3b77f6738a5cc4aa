#include "octet/reference/interpreter.h"

#include <thread>
#include <unordered_map>

#include "octet/reference/kernel.h"

namespace octet::reference {

Status CheckTensorMatchesType(const Tensor& t, const TensorType& type, const std::string& what,
                              std::map<std::string, int64_t>& symbols) {
  if (type.dtype != DType::kUndefined && t.dtype() != type.dtype)
    return InvalidArgument(what, ": expected dtype ", DTypeName(type.dtype), " but got ",
                           DTypeName(t.dtype()));
  if (!type.has_shape) return Status::Ok();
  const Shape& s = type.shape;
  if (t.rank() != s.rank())
    return InvalidArgument(what, ": expected shape ", type.ToString(), " (rank ", s.rank(),
                           ") but got ", t.ShapeString(), " (rank ", t.rank(), ")");
  for (int i = 0; i < s.rank(); ++i) {
    const Dim& d = s[i];
    if (d.is_static() && d.value() != t.dim(i))
      return InvalidArgument(what, ": expected shape ", type.ToString(), " but got ",
                             t.ShapeString(), " (dimension ", i, ")");
    if (d.is_symbolic()) {
      auto [it, inserted] = symbols.emplace(d.symbol(), t.dim(i));
      if (!inserted && it->second != t.dim(i))
        return InvalidArgument(what, ": dimension ", i, " is '", d.symbol(), "' which is ",
                               it->second, " elsewhere, but got ", t.dim(i));
    }
  }
  return Status::Ok();
}

static int ResolveThreads(int n) {
  if (n > 0) return n;
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

namespace {

// `provider`'s kernel for the node when it has one, else the reference kernel.
Expected<std::vector<Tensor>> RunNode(const Node& node, const std::vector<const Tensor*>& inputs,
                                      int num_threads, const KernelProvider* provider) {
  const KernelFn* fn = provider != nullptr ? provider->Find(node) : nullptr;
  if (fn == nullptr) fn = KernelRegistry::Get().Find(node.domain(), node.op_type());
  if (fn == nullptr)
    return Unimplemented("no reference kernel for op ", node.op_type(),
                         node.domain().empty() ? "" : " in domain " + node.domain(), " (node '",
                         node.name(), "')");
  KernelContext ctx{node, inputs, std::vector<Tensor>(node.num_outputs()),
                    ResolveThreads(num_threads)};
  OCTET_RETURN_IF_ERROR((*fn)(ctx));
  for (int i = 0; i < ctx.num_outputs(); ++i)
    if (!ctx.outputs[i].defined() && !node.output(i)->uses().empty())
      return Internal(node.Describe(), ": kernel did not produce output ", i);
  return std::move(ctx.outputs);
}

}  // namespace

Expected<std::vector<Tensor>> EvaluateNode(const Node& node,
                                           const std::vector<const Tensor*>& inputs,
                                           int num_threads) {
  return RunNode(node, inputs, num_threads, nullptr);
}

Interpreter::Interpreter(const Graph& graph, InterpreterOptions options)
    : graph_(graph), options_(options) {}

Expected<std::map<std::string, Tensor>> Interpreter::Run(
    const std::map<std::string, Tensor>& inputs) {
  intermediates_.clear();
  std::unordered_map<const Value*, Tensor> env;
  std::map<std::string, int64_t> symbols;
  for (const Value* in : graph_.inputs()) {
    auto it = inputs.find(in->name());
    if (it == inputs.end()) return InvalidArgument("missing input '", in->name(), "'");
    OCTET_RETURN_IF_ERROR(
        CheckTensorMatchesType(it->second, in->type(), "input '" + in->name() + "'", symbols));
    env[in] = it->second;
  }
  for (const auto& [name, t] : inputs) {
    const Value* v = graph_.FindValue(name);
    if (v == nullptr || !v->is_graph_input())
      return InvalidArgument("'", name, "' is not an input of the graph");
  }
  // Remaining uses per value, so each intermediate is freed after its last use.
  std::unordered_map<const Value*, int> remaining;
  const std::vector<Node*> nodes = graph_.nodes();
  for (const Node* n : nodes)
    for (const Value* v : n->inputs())
      if (v != nullptr) ++remaining[v];
  const int threads = ResolveThreads(options_.num_threads);
  for (const Node* n : nodes) {
    std::vector<const Tensor*> args;
    args.reserve(n->num_inputs());
    for (const Value* v : n->inputs()) {
      if (v == nullptr) {
        args.push_back(nullptr);
      } else if (v->is_constant()) {
        args.push_back(&v->constant());
      } else {
        auto it = env.find(v);
        if (it == env.end())
          return Internal(n->Describe(), ": input '", v->name(), "' was not computed");
        args.push_back(&it->second);
      }
    }
    auto outs = RunNode(*n, args, threads, options_.kernels.get());
    if (!outs.ok()) return outs.status();
    if (options_.after_node) OCTET_RETURN_IF_ERROR(options_.after_node(*n, args, *outs));
    for (int i = 0; i < n->num_outputs(); ++i) env[n->output(i)] = std::move((*outs)[i]);
    for (const Value* v : n->inputs()) {
      if (v == nullptr || v->is_constant()) continue;
      if (--remaining[v] == 0 && !v->is_graph_output() && !options_.keep_intermediates)
        env.erase(v);
    }
  }
  if (options_.keep_intermediates)
    for (auto& [v, t] : env) intermediates_[v->name()] = t;
  std::map<std::string, Tensor> outputs;
  for (const Value* out : graph_.outputs()) {
    if (out->is_constant()) {
      outputs[out->name()] = out->constant();
      continue;
    }
    auto it = env.find(out);
    if (it == env.end()) return Internal("graph output '", out->name(), "' was not computed");
    outputs[out->name()] = it->second;
  }
  return outputs;
}

}  // namespace octet::reference
