// MeasureFidelity (quantize.h): runs the float and the quantized model over
// the same batches and compares them layer by layer.
//
// "Alone" SQNR of a layer: its quantized node evaluated on the float model's
// own values, i.e. the QDQ graph's nodes between the float values and the
// layer (its input Q/DQ pairs, weight DQ, per-token scale computation) are
// evaluated on fp32 inputs captured during the float run. "In model" SQNR:
// the layer's output in the quantized run against the float run. Float layer
// outputs of one batch are held until the quantized run reaches them.
#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>

#include "octet/data/classification.h"
#include "octet/quant/convert.h"
#include "octet/reference/interpreter.h"
#include "octet/runtime/quantize.h"

namespace octet {
namespace {

// What it takes to evaluate one quantized layer on float inputs.
struct LayerProbe {
  std::string name;  // node name (same in both graphs)
  const Node* qnode = nullptr;
  std::vector<const Node*> chain;  // QDQ-graph nodes feeding qnode, in graph order
  std::set<std::string> leaves;    // float-graph values the chain reads
  AgreementAccumulator alone, in_model;
};

bool IsFloatValue(const Graph& float_graph, const Value* v) {
  return v != nullptr && !v->is_constant() && float_graph.FindValue(v->name()) != nullptr;
}

// Walks back from `n`'s inputs through nodes that only exist in the quantized
// graph, collecting them and the float values they start from.
void CollectChain(const Graph& float_graph, const Node* n, std::set<const Node*>& chain,
                  std::set<std::string>& leaves) {
  for (const Value* v : n->inputs()) {
    if (v == nullptr || v->is_constant()) continue;
    if (IsFloatValue(float_graph, v)) {
      leaves.insert(v->name());
      continue;
    }
    const Node* p = v->producer();
    if (p != nullptr && chain.insert(p).second) CollectChain(float_graph, p, chain, leaves);
  }
}

std::string SchemeLine(const PreparedModel& prepared, const quant::QuantizedNode& q) {
  std::string s;
  for (int g : q.activation_groups)
    s += (s.empty() ? "act " : ", act ") + prepared.plan.groups[g].scheme.ToString();
  for (const quant::WeightQuant& w : prepared.plan.weights)
    if (w.node == q.node) s += (s.empty() ? "w " : "; w ") + w.scheme.ToString();
  for (const quant::BiasQuant& b : prepared.plan.biases)
    if (b.node == q.node) s += "; bias i32";
  return s;
}

int64_t ConstantBytes(const Graph& g) {
  int64_t n = 0;
  for (const Value* v : g.constants())
    if (!v->uses().empty()) n += v->constant().nbytes();
  return n;
}

// Evaluates the layer's quantized node on float leaf values.
Expected<Tensor> EvaluateAlone(const LayerProbe& p,
                               const std::unordered_map<std::string, Tensor>& leaves, int threads) {
  std::unordered_map<const Value*, Tensor> env;
  auto arg = [&](const Value* v) -> Expected<const Tensor*> {
    if (v == nullptr) return static_cast<const Tensor*>(nullptr);
    if (v->is_constant()) return &v->constant();
    if (auto it = env.find(v); it != env.end()) return &it->second;
    if (auto it = leaves.find(v->name()); it != leaves.end()) return &it->second;
    return Internal("layer '", p.name, "': value '", v->name(), "' was not captured");
  };
  auto eval = [&](const Node* n) -> Expected<std::vector<Tensor>> {
    std::vector<const Tensor*> args;
    for (const Value* v : n->inputs()) {
      OCTET_ASSIGN_OR_RETURN(const Tensor* t, arg(v));
      args.push_back(t);
    }
    return reference::EvaluateNode(*n, args, threads);
  };
  for (const Node* n : p.chain) {
    OCTET_ASSIGN_OR_RETURN(std::vector<Tensor> outs, eval(n));
    for (int i = 0; i < n->num_outputs(); ++i) env[n->output(i)] = std::move(outs[i]);
  }
  OCTET_ASSIGN_OR_RETURN(std::vector<Tensor> outs, eval(p.qnode));
  return std::move(outs[0]);
}

}  // namespace

Expected<FidelityReport> MeasureFidelity(const PreparedModel& prepared, const Model& quantized,
                                         const data::DataSource& source, const FidelityRun& run) {
  const Graph& fg = *prepared.model.graph;
  const Graph& qg = *quantized.graph;
  FidelityReport report;
  report.eval_data = source.Describe();
  report.float_bytes = ConstantBytes(fg);
  report.quantized_bytes = ConstantBytes(qg);
  report.quantized_layers = static_cast<int64_t>(prepared.plan.nodes.size());

  // Probes for every quantized layer, in graph order.
  std::vector<LayerProbe> probes;
  std::unordered_map<std::string, size_t> probe_of;
  const std::vector<Node*> qnodes = qg.nodes();
  std::unordered_map<const Node*, size_t> qpos;
  for (size_t i = 0; i < qnodes.size(); ++i) qpos[qnodes[i]] = i;
  for (const quant::QuantizedNode& q : prepared.plan.nodes) {
    LayerProbe p;
    p.name = q.node;
    p.qnode = qg.FindNode(q.node);
    if (p.qnode == nullptr || fg.FindNode(q.node) == nullptr)
      return Internal("quantized layer '", q.node, "' is missing from a graph");
    std::set<const Node*> chain;
    CollectChain(fg, p.qnode, chain, p.leaves);
    p.chain.assign(chain.begin(), chain.end());
    std::sort(p.chain.begin(), p.chain.end(),
              [&](const Node* a, const Node* b) { return qpos.at(a) < qpos.at(b); });
    probe_of[q.node] = probes.size();
    probes.push_back(std::move(p));
  }
  // How many layers read each leaf, so captured leaves are freed when done.
  std::unordered_map<std::string, int> leaf_readers;
  for (const LayerProbe& p : probes)
    for (const std::string& l : p.leaves) ++leaf_readers[l];

  const Value& input = *fg.inputs()[0];
  const int64_t static_batch = StaticBatch(input);
  OCTET_ASSIGN_OR_RETURN(data::Batcher batcher, BatcherFor(input, source, run.batch_size,
                                                           run.max_samples, run.on_bad_file));

  // Per batch state.
  std::unordered_map<std::string, Tensor> captured;   // leaf values of the float run
  std::unordered_map<std::string, int> pending;       // leaf readers left this batch
  std::unordered_map<std::string, Tensor> float_out;  // layer outputs of the float run
  const int threads = run.num_threads;

  reference::InterpreterOptions fopts;
  fopts.num_threads = threads;
  fopts.after_node = [&](const Node& n, const std::vector<const Tensor*>&,
                         const std::vector<Tensor>& outs) -> Status {
    for (int i = 0; i < n.num_outputs(); ++i)
      if (leaf_readers.count(n.output(i)->name())) captured[n.output(i)->name()] = outs[i];
    auto it = probe_of.find(n.name());
    if (it == probe_of.end()) return Status::Ok();
    LayerProbe& p = probes[it->second];
    auto alone = EvaluateAlone(p, captured, threads);
    if (!alone.ok()) return alone.status().WithContext("layer '" + p.name + "' alone");
    OCTET_RETURN_IF_ERROR(p.alone.Add(outs[0], *alone, "layer '" + p.name + "'"));
    float_out[p.name] = outs[0];
    for (const std::string& l : p.leaves)
      if (--pending[l] == 0) captured.erase(l);
    return Status::Ok();
  };
  reference::InterpreterOptions qopts;
  qopts.num_threads = threads;
  qopts.after_node = [&](const Node& n, const std::vector<const Tensor*>&,
                         const std::vector<Tensor>& outs) -> Status {
    auto it = probe_of.find(n.name());
    if (it == probe_of.end()) return Status::Ok();
    LayerProbe& p = probes[it->second];
    auto f = float_out.find(p.name);
    if (f == float_out.end()) return Internal("layer '", p.name, "' has no float output");
    OCTET_RETURN_IF_ERROR(p.in_model.Add(f->second, outs[0], "layer '" + p.name + "'"));
    float_out.erase(f);
    return Status::Ok();
  };
  reference::Interpreter float_run(fg, fopts), quant_run(qg, qopts);

  std::vector<AgreementAccumulator> outputs(fg.outputs().size());
  data::ClassificationCounts float_counts, quant_counts;
  ClassificationFidelity cls;
  bool classifier = fg.outputs().size() == 1;
  const int64_t planned = batcher.planned();
  while (true) {
    OCTET_ASSIGN_OR_RETURN(std::optional<data::Batch> batch, batcher.Next());
    if (!batch) break;
    const std::string where = "evaluation sample '" + batch->sources.front() + "'";
    OCTET_RETURN_IF_ERROR(CheckBatchFitsInput(input, batch->data, where));
    const int64_t n = batch->data.dim(0);
    Tensor x =
        static_batch > 0 && n != static_batch ? PadBatch(batch->data, static_batch) : batch->data;
    captured.clear();
    float_out.clear();
    pending = leaf_readers;
    for (const std::string& l : {input.name()})
      if (leaf_readers.count(l)) captured[l] = x;
    auto fres = float_run.Run({{input.name(), x}});
    if (!fres.ok()) return fres.status().WithContext(where + " (float model)");
    auto qres = quant_run.Run({{input.name(), x}});
    if (!qres.ok()) return qres.status().WithContext(where + " (quantized model)");
    for (size_t i = 0; i < fg.outputs().size(); ++i) {
      const std::string& name = fg.outputs()[i]->name();
      auto qit = qres->find(name);
      if (qit == qres->end()) return Internal("quantized model has no output '", name, "'");
      OCTET_RETURN_IF_ERROR(outputs[i].Add(fres->at(name), qit->second, "output '" + name + "'"));
    }
    if (classifier) {
      const Tensor& fl = fres->begin()->second;
      const Tensor& ql = qres->at(fres->begin()->first);
      if (fl.rank() != 2 || fl.dim(1) < 2 || !IsFloat(fl.dtype())) {
        classifier = false;
      } else {
        std::vector<int64_t> labels(batch->labels), fp, qp;
        labels.resize(n, -1);
        OCTET_RETURN_IF_ERROR(data::AccumulateClassification(fl, labels, &float_counts, &fp));
        OCTET_RETURN_IF_ERROR(data::AccumulateClassification(ql, labels, &quant_counts, &qp));
        for (int64_t k = 0; k < n; ++k) {
          cls.top1_agreement += fp[k] == qp[k];
          cls.labelled += labels[k] >= 0;
        }
        cls.samples += n;
      }
    }
    report.eval_samples += n;
    if (run.progress) run.progress(batcher.delivered(), planned);
  }
  if (report.eval_samples == 0)
    return InvalidArgument("evaluation data ", source.Describe(), ": no usable sample (",
                           batcher.skipped().size(), " skipped)");
  for (size_t i = 0; i < fg.outputs().size(); ++i)
    report.outputs.emplace_back(fg.outputs()[i]->name(), outputs[i].Result());
  if (classifier && cls.samples > 0) {
    cls.float_correct = float_counts.top1;
    cls.quantized_correct = quant_counts.top1;
    report.classification = cls;
  }
  int64_t index = 0;
  for (const quant::QuantizedNode& q : prepared.plan.nodes) {
    const LayerProbe& p = probes[probe_of.at(q.node)];
    LayerFidelity l;
    l.node = q.node;
    l.graph_index = index++;
    l.op_type = q.op_type;
    l.output = fg.FindNode(q.node)->output(0)->name();
    l.scheme = SchemeLine(prepared, q);
    l.sqnr_alone_db = p.alone.Result().sqnr_db;
    const Agreement in_model = p.in_model.Result();
    l.sqnr_in_model_db = in_model.sqnr_db;
    l.cosine_in_model = in_model.cosine;
    report.layers.push_back(std::move(l));
  }
  std::stable_sort(report.layers.begin(), report.layers.end(),
                   [](const LayerFidelity& a, const LayerFidelity& b) {
                     return a.sqnr_in_model_db < b.sqnr_in_model_db;
                   });
  return report;
}

}  // namespace octet
