// `octet eval`: top-1 / top-5 accuracy of a classifier over a labelled data
// source, on the reference interpreter (Octet's fp32 ground truth).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>

#include "commands.h"
#include "data_flags.h"
#include "octet/data/batcher.h"
#include "octet/data/classification.h"
#include "octet/data/data_source.h"
#include "octet/npy.h"
#include "octet/runtime/quantize.h"
#include "octet/runtime/reference_session.h"

namespace octet::cli {
namespace {

struct EvalFlags {
  std::string model, data, json, predictions;
  DataFlags data_flags;
  std::string on_bad_file = "fail";
  int64_t batch = 64;
  int64_t limit = -1;
  int threads = 0;
  bool batch_given = false;
};

int Eval(const EvalFlags& f) {
  const auto start = std::chrono::steady_clock::now();
  auto seconds_since = [](std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
  };
  ReferenceSessionOptions session_options;
  session_options.num_threads = f.threads;
  auto session = ReferenceSession::FromOnnxFile(f.model, session_options);
  if (!session.ok()) return Fail(session.status());
  const Graph& graph = *session->model().graph;
  if (graph.inputs().size() != 1 || graph.outputs().empty())
    return Fail(InvalidArgument("'", f.model, "': eval needs a model with one input, got ",
                                graph.inputs().size()));
  const Value& input = *graph.inputs()[0];
  const Value& output = *graph.outputs()[0];

  auto options = MakeSourceOptions(f.data_flags, f.data);
  if (!options.ok()) return Fail(options.status());
  auto source = data::OpenDataSource(f.data, *options);
  if (!source.ok()) return Fail(source.status());
  if (!(*source)->has_labels())
    return Fail(InvalidArgument("data '", f.data, "' has no labels: use an idx: spec with a ",
                                "labels file, --class-subdirs, or --labels FILE.npy"));
  auto policy = data::ParseBadFilePolicy(f.on_bad_file);
  if (!policy.ok()) return Fail(policy.status().WithContext("--on-bad-file"));

  // A static batch dim fixes the batch; a symbolic or unknown one allows any.
  int64_t model_batch = -1;
  const TensorType& in_type = input.type();
  if (in_type.has_shape && in_type.shape.rank() >= 1 && in_type.shape[0].is_static())
    model_batch = in_type.shape[0].value();
  data::BatcherOptions batcher_options;
  batcher_options.batch_size = model_batch > 0 ? model_batch : f.batch;
  batcher_options.on_bad_file = *policy;
  batcher_options.max_samples = f.limit;
  if (model_batch > 0 && f.batch_given && f.batch != model_batch)
    std::fprintf(stderr, "note: model input '%s' has static batch %lld; ignoring --batch %lld\n",
                 input.name().c_str(), static_cast<long long>(model_batch),
                 static_cast<long long>(f.batch));
  auto batcher = data::Batcher::Create(**source, batcher_options);
  if (!batcher.ok()) return Fail(batcher.status());

  std::printf("model:   %s\n", f.model.c_str());
  std::printf("data:    %s\n", (*source)->Describe().c_str());
  data::ClassificationCounts counts;
  std::vector<int64_t> predictions;
  double run_seconds = 0;
  const bool progress = ::isatty(2) != 0;
  while (true) {
    auto next = batcher->Next();
    if (!next.ok()) return Fail(next.status());
    if (!next->has_value()) break;
    data::Batch& batch = **next;
    Status fits = CheckBatchFitsInput(input, batch.data, "data '" + f.data + "'");
    if (!fits.ok()) return Fail(fits);
    const int64_t n = batch.data.dim(0);
    Tensor x = model_batch > n ? PadBatch(batch.data, model_batch) : batch.data;
    const auto run_start = std::chrono::steady_clock::now();
    auto outputs = session->Run({{input.name(), x}});
    run_seconds += seconds_since(run_start);
    if (!outputs.ok())
      return Fail(outputs.status().WithContext("batch starting at '" + batch.sources[0] + "'"));
    Status s = data::AccumulateClassification(outputs->at(output.name()), batch.labels, &counts,
                                              f.predictions.empty() ? nullptr : &predictions);
    if (!s.ok()) return Fail(s.WithContext("output '" + output.name() + "'"));
    if (progress)
      std::fprintf(stderr, "\r  %lld / %lld", static_cast<long long>(counts.samples),
                   static_cast<long long>(batcher->planned()));
  }
  if (progress) std::fprintf(stderr, "\n");
  const double total_seconds = seconds_since(start);

  const auto& skipped = batcher->skipped();
  const double top1 = counts.samples ? static_cast<double>(counts.top1) / counts.samples : 0;
  const double top5 = counts.samples ? static_cast<double>(counts.top5) / counts.samples : 0;
  std::printf("samples: %lld evaluated, %zu skipped\n", static_cast<long long>(counts.samples),
              skipped.size());
  std::printf("top-1:   %.4f (%lld / %lld)\n", top1, static_cast<long long>(counts.top1),
              static_cast<long long>(counts.samples));
  if (counts.classes >= 5)
    std::printf("top-5:   %.4f (%lld / %lld)\n", top5, static_cast<long long>(counts.top5),
                static_cast<long long>(counts.samples));
  std::printf("time:    %.2f s total, %.2f s in the model (batch %lld, reference interpreter)\n",
              total_seconds, run_seconds, static_cast<long long>(batcher_options.batch_size));
  if (!skipped.empty()) {
    std::printf("skipped files:\n");
    for (const auto& k : skipped) std::printf("  %s: %s\n", k.source.c_str(), k.reason.c_str());
  }

  if (!f.predictions.empty()) {
    Status s = WriteNpy(
        f.predictions,
        Tensor::FromVector<int64_t>(predictions, {static_cast<int64_t>(predictions.size())}));
    if (!s.ok()) return Fail(s);
  }
  if (!f.json.empty()) {
    std::string j = "{\n";
    j += "  \"model\": " + JsonString(f.model) + ",\n";
    j += "  \"data\": " + JsonString(f.data) + ",\n";
    j += "  \"source\": " + JsonString((*source)->Describe()) + ",\n";
    j += "  \"samples\": " + std::to_string(counts.samples) + ",\n";
    j += "  \"top1_correct\": " + std::to_string(counts.top1) + ",\n";
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6f", top1);
    j += "  \"top1\": " + std::string(buf) + ",\n";
    if (counts.classes >= 5) {
      std::snprintf(buf, sizeof(buf), "%.6f", top5);
      j += "  \"top5\": " + std::string(buf) + ",\n";
    }
    std::snprintf(buf, sizeof(buf), "%.3f", total_seconds);
    j += "  \"seconds\": " + std::string(buf) + ",\n";
    j += "  \"batch\": " + std::to_string(batcher_options.batch_size) + ",\n";
    j += "  \"skipped\": [";
    for (size_t i = 0; i < skipped.size(); ++i)
      j += std::string(i ? "," : "") + "\n    {\"source\": " + JsonString(skipped[i].source) +
           ", \"reason\": " + JsonString(skipped[i].reason) + "}";
    j += skipped.empty() ? "]\n}\n" : "\n  ]\n}\n";
    Status s = WriteFileAtomically(f.json, j);
    if (!s.ok()) return Fail(s);
  }
  return 0;
}

}  // namespace

Action AddEvalCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Top-1/top-5 accuracy of a classifier over labelled data (reference interpreter)");
  auto f = std::make_shared<EvalFlags>();
  cmd->add_option("model", f->model, "ONNX model file")->required();
  cmd->add_option("--data,-d", f->data, "images:DIR, npy:DIR, idx:IMAGES[:LABELS] (.gz ok) or DIR")
      ->required();
  AddDataFlags(cmd, &f->data_flags);
  auto* batch =
      cmd->add_option("--batch,-b", f->batch, "batch size when the model's batch dim is symbolic");
  batch->capture_default_str();
  cmd->add_option("--limit", f->limit, "evaluate at most this many samples (-1: all)")
      ->capture_default_str();
  cmd->add_option("--on-bad-file", f->on_bad_file,
                  "fail: stop at the first unreadable sample; skip: skip and list it")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "worker threads (0: all cores)")->capture_default_str();
  cmd->add_option("--json", f->json, "also write the results to this JSON file");
  cmd->add_option("--predictions", f->predictions,
                  "write the predicted classes (int64, evaluated samples in order) to this .npy");
  return [f, batch]() {
    f->batch_given = batch->count() > 0;
    return Eval(*f);
  };
}

}  // namespace octet::cli
