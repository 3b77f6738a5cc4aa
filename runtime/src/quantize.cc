// Preparation, calibration, statistics files and conversion (quantize.h).
// MeasureFidelity is in fidelity.cc.
#include "octet/runtime/quantize.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "octet/npy.h"
#include "octet/passes/fold_batchnorm.h"
#include "octet/passes/pipelines.h"
#include "octet/quant/convert.h"
#include "octet/reference/interpreter.h"
#ifdef OCTET_HAVE_X86
#include "octet/x86/float_provider.h"
#endif

namespace octet {
namespace {

constexpr int kStatsFormatVersion = 1;

// FNV-1a, 64 bit: a stable fingerprint (not a security boundary).
class Fnv64 {
 public:
  void Add(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 0x100000001b3ull;
  }
  void Add(const std::string& s) {
    Add(s.data(), s.size());
    Add("\0", 1);
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof(buf), "%016" PRIx64, h_);
    return buf;
  }

 private:
  uint64_t h_ = 0xcbf29ce484222325ull;
};

std::string Fingerprint(const Graph& g, const quant::QuantPlan& plan) {
  Fnv64 h;
  for (const Value* in : g.inputs()) h.Add(in->name() + ":" + in->type().ToString());
  for (const Node* n : g.nodes()) {
    h.Add(n->op_type() + "|" + n->name());
    for (const Value* v : n->inputs()) {
      h.Add(v == nullptr ? std::string("-") : v->name());
      if (v != nullptr && v->is_constant()) h.Add(v->constant().raw(), v->constant().nbytes());
    }
    for (const auto& [k, a] : n->attributes()) h.Add(k);
  }
  for (const quant::ActivationGroup& grp : plan.groups)
    if (!grp.scheme.dynamic) h.Add(grp.observed_value);
  return h.Hex();
}

int CountOps(const Graph& g, const std::string& op) {
  int n = 0;
  for (const Node* node : g.nodes()) n += node->op_type() == op;
  return n;
}

reference::InterpreterOptions InterpreterWith(int threads) {
  reference::InterpreterOptions o;
  o.num_threads = threads;
  return o;
}

// The nodes whose input the bias correction needs summed, and where.
std::map<std::string, quant::CorrectionInput> CorrectionInputs(const Graph& g,
                                                               const PreparedModel& p) {
  std::map<std::string, quant::CorrectionInput> out;
  if (!p.config.bias_correction) return out;
  for (const quant::WeightQuant& wq : p.plan.weights) {
    const Node* n = g.FindNode(wq.node);
    if (n == nullptr) continue;
    auto where = quant::BiasCorrectionInput(*n, wq);
    if (where.ok()) out.emplace(wq.node, *where);
  }
  return out;
}

}  // namespace

Tensor PadBatch(const Tensor& batch, int64_t size) {
  std::vector<int64_t> dims = batch.dims();
  dims[0] = size;
  Tensor out(batch.dtype(), dims);
  const int64_t n = batch.dim(0), bytes = batch.nbytes() / n;
  char* dst = static_cast<char*>(out.raw());
  std::memcpy(dst, batch.raw(), batch.nbytes());
  for (int64_t k = n; k < size; ++k)
    std::memcpy(dst + k * bytes, static_cast<const char*>(batch.raw()) + (n - 1) * bytes, bytes);
  return out;
}

int64_t StaticBatch(const Value& input) {
  const TensorType& t = input.type();
  return t.has_shape && t.shape.rank() >= 1 && t.shape[0].is_static() ? t.shape[0].value() : -1;
}

Expected<data::Batcher> BatcherFor(const Value& input, const data::DataSource& source,
                                   int64_t batch_size, int64_t max_samples,
                                   data::BadFilePolicy on_bad_file) {
  data::BatcherOptions bo;
  const int64_t fixed = StaticBatch(input);
  bo.batch_size = fixed > 0 ? fixed : batch_size;
  bo.on_bad_file = on_bad_file;
  bo.max_samples = max_samples;
  return data::Batcher::Create(source, bo);
}

Status CheckBatchFitsInput(const Value& input, const Tensor& batch, const std::string& where) {
  const TensorType& t = input.type();
  if (t.dtype != batch.dtype())
    return InvalidArgument(where, ": model input '", input.name(), "' is ", t.ToString(),
                           " but the data is ", DTypeName(batch.dtype()), batch.ShapeString());
  if (!t.has_shape) return Status::Ok();
  bool fits = t.shape.rank() == batch.rank();
  for (int d = 1; fits && d < t.shape.rank(); ++d)
    fits = !t.shape[d].is_static() || t.shape[d].value() == batch.dim(d);
  if (!fits)
    return InvalidArgument(where, ": model input '", input.name(), "' is ", t.ToString(),
                           " but a batch of the data is ", batch.ShapeString(),
                           " (check the preprocessing)");
  return Status::Ok();
}

Expected<PreparedModel> PrepareForQuantization(Model float_model,
                                               const quant::QuantizerConfig& config,
                                               int num_threads) {
  PreparedModel p;
  p.config = config;
  OCTET_RETURN_IF_ERROR(RunStandardPipeline(
      float_model, [num_threads](const Node& n, const std::vector<const Tensor*>& in) {
        return reference::EvaluateNode(n, in, num_threads);
      }));
  if (config.fold_batchnorm) {
    const int before = CountOps(*float_model.graph, "BatchNormalization");
    OCTET_ASSIGN_OR_RETURN(bool changed, FoldBatchNorm(*float_model.graph));
    (void)changed;
    p.folded_batchnorms = before - CountOps(*float_model.graph, "BatchNormalization");
  }
  if (float_model.graph->inputs().size() != 1)
    return Unimplemented("quantization needs a model with one input; this one has ",
                         float_model.graph->inputs().size());
  OCTET_ASSIGN_OR_RETURN(p.plan, quant::AnnotateForQuantization(*float_model.graph, config));
  if (p.plan.nodes.empty()) {
    std::string why;
    for (const auto& [node, reason] : p.plan.skipped) why += "\n  " + node + ": " + reason;
    return InvalidArgument(
        "nothing to quantize: no node matches the configuration (ops:",
        [&] {
          std::string s;
          for (const std::string& op : config.ops) s += " " + op;
          return s;
        }(),
        ")", why);
  }
  p.fingerprint = Fingerprint(*float_model.graph, p.plan);
  p.model = std::move(float_model);
  return p;
}

Expected<CalibrationStats> Calibrate(const PreparedModel& prepared, const data::DataSource& source,
                                     const CalibrationRun& run) {
  const auto start = std::chrono::steady_clock::now();
  CalibrationStats stats;
  stats.fingerprint = prepared.fingerprint;
  stats.histogram_bins = prepared.config.calibration.histogram_bins;
  stats.summary.data = source.Describe();
  stats.summary.method = quant::CalibrationMethodName(prepared.config.calibration.method);
  if (source.size() == 0)
    return InvalidArgument("calibration data ", source.Describe(), " holds no samples");

  std::unique_ptr<Graph> graph = prepared.model.graph->Clone();
  OCTET_RETURN_IF_ERROR(quant::InsertObservers(*graph, prepared.plan));
  std::vector<quant::TensorStatistics*> by_group(prepared.plan.groups.size(), nullptr);
  for (const quant::ActivationGroup& g : prepared.plan.groups) {
    if (g.scheme.dynamic) continue;
    auto [it, inserted] = stats.tensors.emplace(
        g.observed_value,
        quant::TensorStatistics(prepared.config.calibration.histogram_bins,
                                prepared.config.calibration.moving_average_constant));
    by_group[g.id] = &it->second;
  }
  stats.summary.observed_tensors = static_cast<int64_t>(stats.tensors.size());
  const std::map<std::string, quant::CorrectionInput> summed = CorrectionInputs(*graph, prepared);
  for (const auto& [node, where] : summed) stats.input_sums[node];

  const Value& input = *graph->inputs()[0];
  const int64_t static_batch = StaticBatch(input);
  OCTET_ASSIGN_OR_RETURN(data::Batcher batcher, BatcherFor(input, source, run.batch_size,
                                                           run.max_samples, run.on_bad_file));

  reference::InterpreterOptions opts = InterpreterWith(run.num_threads);
#ifdef OCTET_HAVE_X86
  // The float model's Conv, MatMul, Gemm, Softmax and LayerNormalization on
  // oneDNN: the same values to fp32 rounding, faster (resnet18's convolutions
  // 1.6x on the 2-core AVX2 machine). The provider lives (and dies) with
  // `graph`. MeasureFidelity keeps the reference kernels: its per-layer
  // reference evaluations interleave with the float run and share the cores
  // with oneDNN's spinning OpenMP threads, which made it slower.
  opts.kernels = x86::MakeFloatKernelProvider();
#endif
  opts.after_node = [&](const Node& n, const std::vector<const Tensor*>& in,
                        const std::vector<Tensor>&) -> Status {
    if (!summed.empty()) {
      if (auto it = summed.find(n.name()); it != summed.end())
        return stats.input_sums[n.name()]
            .Observe(*in[it->second.input], it->second.axis)
            .WithContext("summing the input of " + n.Describe());
    }
    if (n.domain() != quant::kOctetDomain || n.op_type() != quant::kObserverOp) return Status::Ok();
    OCTET_ASSIGN_OR_RETURN(int64_t g, n.GetInt("group", std::nullopt));
    if (g < 0 || g >= static_cast<int64_t>(by_group.size()) || by_group[g] == nullptr)
      return Internal(n.Describe(), ": no statistics for group ", g);
    return by_group[g]->Observe(*in[0]).WithContext("observing '" + n.input(0)->name() + "'");
  };
  reference::Interpreter interpreter(*graph, opts);
  const int64_t planned = batcher.planned();
  while (true) {
    OCTET_ASSIGN_OR_RETURN(std::optional<data::Batch> batch, batcher.Next());
    if (!batch) break;
    const std::string where = "calibration sample '" + batch->sources.front() + "'";
    OCTET_RETURN_IF_ERROR(CheckBatchFitsInput(input, batch->data, where));
    Tensor x = batch->data;
    if (static_batch > 0 && x.dim(0) != static_batch) {
      // A partial last batch of a fixed-batch model: padding would count the
      // repeated sample twice, so it is left out and said so.
      for (const std::string& s : batch->sources)
        stats.summary.skipped.push_back(s +
                                        ": left out (partial batch of a model with static batch " +
                                        std::to_string(static_batch) + ")");
      continue;
    }
    auto out = interpreter.Run({{input.name(), x}});
    if (!out.ok()) return out.status().WithContext(where);
    stats.summary.samples += x.dim(0);
    ++stats.summary.batches;
    if (run.progress) run.progress(batcher.delivered(), planned);
  }
  for (const data::SkippedSample& s : batcher.skipped())
    stats.summary.skipped.push_back(s.source + ": " + s.reason);
  if (stats.summary.samples == 0)
    return InvalidArgument("calibration data ", source.Describe(), ": no usable sample (",
                           stats.summary.skipped.size(), " skipped)");
  for (const auto& [name, s] : stats.tensors)
    if (s.nan_count() || s.inf_count())
      stats.summary.nonfinite.push_back(name + ": " + std::to_string(s.nan_count()) + " NaN, " +
                                        std::to_string(s.inf_count()) + " Inf");
  stats.summary.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return stats;
}

Status SaveCalibrationStats(const CalibrationStats& stats, const std::string& path) {
  nlohmann::json j;
  j["format"] = "octet-calibration-stats";
  j["version"] = kStatsFormatVersion;
  j["fingerprint"] = stats.fingerprint;
  j["histogram_bins"] = stats.histogram_bins;
  j["data"] = stats.summary.data;
  j["samples"] = stats.summary.samples;
  j["batches"] = stats.summary.batches;
  j["skipped"] = stats.summary.skipped;
  nlohmann::json tensors = nlohmann::json::object();
  for (const auto& [name, s] : stats.tensors) tensors[name] = nlohmann::json::parse(s.ToJson());
  j["tensors"] = std::move(tensors);
  nlohmann::json sums = nlohmann::json::object();
  for (const auto& [node, s] : stats.input_sums)
    sums[node] = {{"count", s.count}, {"sums", s.sums}};
  j["input_sums"] = std::move(sums);
  return WriteFileAtomically(path, j.dump());
}

Expected<CalibrationStats> LoadCalibrationStats(const std::string& path,
                                                const PreparedModel& prepared) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open calibration statistics '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument("'", path, "' is not valid JSON: ", e.what());
  }
  CalibrationStats stats;
  try {
    if (j.at("format").get<std::string>() != "octet-calibration-stats")
      return InvalidArgument("'", path, "' is not an Octet calibration statistics file");
    if (j.at("version").get<int>() != kStatsFormatVersion)
      return InvalidArgument("'", path, "' has statistics format version ", j.at("version").dump(),
                             "; this Octet reads version ", kStatsFormatVersion);
    stats.fingerprint = j.at("fingerprint").get<std::string>();
    stats.histogram_bins = j.at("histogram_bins").get<int>();
    stats.summary.data = j.at("data").get<std::string>();
    stats.summary.samples = j.at("samples").get<int64_t>();
    stats.summary.batches = j.at("batches").get<int64_t>();
    stats.summary.skipped = j.at("skipped").get<std::vector<std::string>>();
    for (auto it = j.at("tensors").begin(); it != j.at("tensors").end(); ++it) {
      auto s = quant::TensorStatistics::FromJson(it.value().dump());
      if (!s.ok()) return s.status().WithContext("'" + path + "' tensor '" + it.key() + "'");
      stats.tensors.emplace(it.key(), std::move(*s));
    }
    if (j.contains("input_sums"))  // absent in files written without bias correction
      for (auto it = j.at("input_sums").begin(); it != j.at("input_sums").end(); ++it) {
        quant::ChannelSums s;
        s.count = it.value().at("count").get<int64_t>();
        s.sums = it.value().at("sums").get<std::vector<double>>();
        stats.input_sums.emplace(it.key(), std::move(s));
      }
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument("'", path, "': malformed calibration statistics: ", e.what());
  }
  if (stats.fingerprint != prepared.fingerprint)
    return InvalidArgument("'", path, "' holds statistics for another graph (fingerprint ",
                           stats.fingerprint, ", this model and configuration give ",
                           prepared.fingerprint, "): calibrate again");
  if (stats.histogram_bins != prepared.config.calibration.histogram_bins)
    return InvalidArgument("'", path, "' was collected with ", stats.histogram_bins,
                           " histogram bins but the configuration asks for ",
                           prepared.config.calibration.histogram_bins);
  for (const quant::ActivationGroup& g : prepared.plan.groups)
    if (!g.scheme.dynamic && stats.tensors.count(g.observed_value) == 0)
      return InvalidArgument("'", path, "' has no statistics for '", g.observed_value, "'");
  for (const auto& [node, where] : CorrectionInputs(*prepared.model.graph, prepared))
    if (stats.input_sums.count(node) == 0)
      return InvalidArgument("'", path, "' has no input sums for '", node,
                             "' (collected without bias correction): calibrate again, or turn "
                             "bias correction off");
  stats.summary.method = quant::CalibrationMethodName(prepared.config.calibration.method);
  stats.summary.observed_tensors = static_cast<int64_t>(stats.tensors.size());
  for (const auto& [name, s] : stats.tensors)
    if (s.nan_count() || s.inf_count())
      stats.summary.nonfinite.push_back(name + ": " + std::to_string(s.nan_count()) + " NaN, " +
                                        std::to_string(s.inf_count()) + " Inf");
  return stats;
}

Expected<Model> ConvertToQuantized(const PreparedModel& prepared, const CalibrationStats& stats) {
  std::vector<quant::ScaleZeroPoint> params(prepared.plan.groups.size());
  for (const quant::ActivationGroup& g : prepared.plan.groups) {
    if (g.scheme.dynamic) continue;
    auto it = stats.tensors.find(g.observed_value);
    if (it == stats.tensors.end())
      return InvalidArgument("no calibration statistics for '", g.observed_value, "'");
    auto range = quant::ChooseRange(it->second, prepared.config.calibration, g.scheme);
    if (!range.ok()) return range.status().WithContext("range of '" + g.observed_value + "'");
    params[g.id] = quant::ChooseScaleZeroPoint(range->lo, range->hi, g.scheme);
  }
  Model m = prepared.model.Clone();
  if (prepared.config.bias_correction) {
    std::string done = "off: no calibration data";
    if (!stats.input_sums.empty()) {
      std::map<std::string, std::vector<double>> means;
      for (const auto& [node, s] : stats.input_sums) means[node] = s.Means();
      OCTET_ASSIGN_OR_RETURN(quant::BiasCorrectionResult r,
                             quant::CorrectBiasForWeightRounding(*m.graph, prepared.plan, means));
      done = std::to_string(r.corrected.size()) + " of " +
             std::to_string(prepared.plan.weights.size()) + " nodes";
      // The first few nodes left as they are, with the reason.
      for (size_t i = 0; i < r.skipped.size() && i < 3; ++i)
        done += "; not " + r.skipped[i].first + " (" + r.skipped[i].second + ")";
      if (r.skipped.size() > 3) done += "; " + std::to_string(r.skipped.size() - 3) + " more not";
    }
    m.metadata["octet.quantization.bias_correction"] = done;
  }
  OCTET_RETURN_IF_ERROR(quant::ConvertToQdq(m, prepared.plan, params));
  m.producer_name = "octet";
  m.metadata["octet.quantization.preset"] = prepared.config.preset;
  m.metadata["octet.quantization.config"] = quant::ConfigToJson(prepared.config);
  return m;
}

}  // namespace octet
