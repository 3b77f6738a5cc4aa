#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>

#include "commands.h"
#include "model_runner.h"

namespace octet::cli {
namespace {

struct BenchFlags {
  std::string model;
  int64_t batch = 1;
  int threads = 0;
  int warmup = 3;
  int iterations = 20;
  uint64_t seed = 0;
  std::string json;
  bool profile = false;
  int profile_rows = 15;
};

// Nearest-rank percentile of sorted values.
double Percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * sorted.size()));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

int Bench(const BenchFlags& f) {
  if (f.batch < 1 || f.iterations < 1 || f.warmup < 0)
    return Fail(InvalidArgument("--batch and --iterations must be >= 1 and --warmup >= 0"));
  auto opened = OpenModel(f.model, f.threads, f.profile);
  if (!opened.ok()) return Fail(opened.status());
  ModelRunner& runner = **opened;
  auto inputs = runner.RandomInputs(f.seed, f.batch);
  if (!inputs.ok()) return Fail(inputs.status());
  for (int i = 0; i < f.warmup; ++i) {
    auto out = runner.Run(*inputs);
    if (!out.ok()) return Fail(out.status());
  }
  runner.ResetProfile();  // the warm-up runs create primitives and plans
  // Wall clock per run: Run returns with its outputs on the host, so on a
  // device this includes the copies in and out and one synchronisation.
  std::vector<double> ms, device_ms;
  for (int i = 0; i < f.iterations; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto out = runner.Run(*inputs);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
    if (!out.ok()) return Fail(out.status());
    if (runner.LastDeviceMs() > 0) device_ms.push_back(runner.LastDeviceMs());
  }
  std::sort(device_ms.begin(), device_ms.end());
  double total = 0;
  for (double v : ms) total += v;
  const double mean = total / ms.size();
  std::sort(ms.begin(), ms.end());
  const double median = Percentile(ms, 50), p90 = Percentile(ms, 90), p99 = Percentile(ms, 99);
  // Throughput over the whole timed loop: samples (batch items) per second.
  const double throughput = total > 0 ? f.batch * ms.size() * 1000.0 / total : 0;
  std::printf("%s on %s, batch %lld, threads %d, %d warm-up + %d timed runs\n", f.model.c_str(),
              runner.Engine().c_str(), static_cast<long long>(f.batch), f.threads, f.warmup,
              f.iterations);
  std::printf("latency ms: median %.3f  p90 %.3f  p99 %.3f  mean %.3f  min %.3f  max %.3f\n",
              median, p90, p99, mean, ms.front(), ms.back());
  std::printf("throughput: %.1f samples/s\n", throughput);
  if (!device_ms.empty())
    std::printf(
        "device ms (CUDA events around the ops, copies excluded): median %.4f  p90 %.4f  "
        "min %.4f\n",
        Percentile(device_ms, 50), Percentile(device_ms, 90), device_ms.front());
  const int64_t device_bytes = runner.DeviceBytesSinceOpen();
  if (device_bytes >= 0)
    std::printf(
        "device memory: %.1f MiB more in use than before loading (weights, arena, kernel "
        "libraries; cudaMemGetInfo)\n",
        device_bytes / 1048576.0);
  if (f.profile) {
    const std::string table = runner.ProfileTable(f.profile_rows);
    std::printf("%s", table.empty() ? "profile: only compiled modules (.octet) are profiled\n"
                                    : table.c_str());
  }
  if (!f.json.empty()) {
    std::ofstream out(f.json);
    out << "{\"model\":" << JsonString(f.model) << ",\"engine\":" << JsonString(runner.Engine())
        << ",\"batch\":" << f.batch << ",\"threads\":" << f.threads << ",\"warmup\":" << f.warmup
        << ",\"iterations\":" << f.iterations << ",\"latency_ms\":{\"median\":" << median
        << ",\"p90\":" << p90 << ",\"p99\":" << p99 << ",\"mean\":" << mean
        << ",\"min\":" << ms.front() << ",\"max\":" << ms.back()
        << "},\"throughput_per_s\":" << throughput;
    if (!device_ms.empty())
      out << ",\"device_ms\":{\"median\":" << Percentile(device_ms, 50)
          << ",\"p90\":" << Percentile(device_ms, 90) << ",\"min\":" << device_ms.front() << "}";
    if (device_bytes >= 0) out << ",\"device_memory_mib\":" << device_bytes / 1048576.0;
    out << "}\n";
    out.close();
    if (!out) return Fail(IoError("cannot write '", f.json, "'"));
    std::printf("wrote %s\n", f.json.c_str());
  }
  return 0;
}

}  // namespace

Action AddBenchCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Time a model or compiled module on random inputs");
  auto f = std::make_shared<BenchFlags>();
  cmd->add_option("model", f->model, "ONNX model or compiled module (.octet)")->required();
  cmd->add_option("--batch", f->batch, "value of symbolic dims")->capture_default_str();
  cmd->add_option("--threads", f->threads, "worker threads (0: all cores)")->capture_default_str();
  cmd->add_option("--warmup", f->warmup, "untimed runs first")->capture_default_str();
  cmd->add_option("--iterations", f->iterations, "timed runs")->capture_default_str();
  cmd->add_option("--seed", f->seed, "seed for the random inputs")->capture_default_str();
  cmd->add_option("--json", f->json, "also write the numbers to this JSON file");
  cmd->add_flag("--profile", f->profile,
                "modules: time every op and print the slowest (adds a clock read per op)");
  cmd->add_option("--profile-rows", f->profile_rows, "ops listed by --profile")
      ->capture_default_str();
  return [f]() { return Bench(*f); };
}

}  // namespace octet::cli
