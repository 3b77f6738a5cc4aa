#include "model_runner.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>

#include "octet/module/module_format.h"
#include "octet/runtime/module.h"
#include "octet/runtime/reference_session.h"

namespace octet::cli {
namespace {

class OnnxRunner : public ModelRunner {
 public:
  explicit OnnxRunner(ReferenceSession s) : s_(std::move(s)) {}
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& in) override {
    return s_.Run(in);
  }
  Expected<std::map<std::string, Tensor>> RandomInputs(uint64_t seed, int64_t batch) override {
    return s_.MakeRandomInputs(seed, batch);
  }
  std::vector<std::string> InputNames() const override {
    std::vector<std::string> names;
    for (const Value* v : s_.model().graph->inputs()) names.push_back(v->name());
    return names;
  }
  std::string Engine() const override { return "reference interpreter"; }

 private:
  ReferenceSession s_;
};

class ModuleRunner : public ModelRunner {
 public:
  ModuleRunner(std::unique_ptr<runtime::Session> s, int64_t device_bytes_before)
      : s_(std::move(s)), device_bytes_before_(device_bytes_before) {}
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& in) override {
    return s_->Run(in);
  }
  Expected<std::map<std::string, Tensor>> RandomInputs(uint64_t seed, int64_t batch) override {
    return s_->module().MakeRandomInputs(seed, batch);
  }
  std::vector<std::string> InputNames() const override {
    std::vector<std::string> names;
    for (const runtime::TensorInfo& t : s_->module().inputs()) names.push_back(t.name);
    return names;
  }
  std::string Engine() const override {
    return "compiled module (target " + s_->module().target() + ")";
  }
  void ResetProfile() override { s_->ResetProfile(); }
  std::string ProfileTable(int rows) const override { return FormatProfile(s_->profile(), rows); }
  double LastDeviceMs() const override {
    const runtime::Session::DeviceRunInfo* info = s_->last_device_run();
    return info != nullptr ? info->device_ms : -1;
  }
  int64_t DeviceBytesSinceOpen() const override {
    if (!s_->module().on_device() || device_bytes_before_ < 0) return -1;
    auto now = runtime::DeviceMemoryInUse();
    return now.ok() ? *now - device_bytes_before_ : -1;
  }

 private:
  // The slowest ops, then the time by kernel id; ms per run.
  static std::string FormatProfile(const std::vector<runtime::Session::OpProfile>& ops, int rows) {
    if (ops.empty() || ops[0].calls == 0) return "";
    double total = 0;
    std::map<std::string, std::pair<double, int>> by_kernel;
    for (const auto& op : ops) {
      total += op.total_ms;
      by_kernel[op.kernel].first += op.total_ms;
      by_kernel[op.kernel].second += 1;
    }
    std::vector<const runtime::Session::OpProfile*> sorted;
    for (const auto& op : ops) sorted.push_back(&op);
    std::sort(sorted.begin(), sorted.end(),
              [](const auto* a, const auto* b) { return a->total_ms > b->total_ms; });
    const double runs = static_cast<double>(ops[0].calls);
    std::string out;
    char line[512];
    std::snprintf(line, sizeof(line),
                  "profile: %.3f ms per run in %zu ops (%g runs)\n%6s %9s  %-24s %s\n",
                  total / runs, ops.size(), runs, "share", "ms/run", "kernel", "op");
    out += line;
    for (int i = 0; i < rows && i < static_cast<int>(sorted.size()); ++i) {
      std::snprintf(line, sizeof(line), "%5.1f%% %9.3f  %-24s %s\n",
                    100 * sorted[i]->total_ms / total, sorted[i]->total_ms / runs,
                    sorted[i]->kernel.c_str(), sorted[i]->name.c_str());
      out += line;
    }
    out += "by kernel:\n";
    for (const auto& [kernel, v] : by_kernel) {
      std::snprintf(line, sizeof(line), "%5.1f%% %9.3f  %-24s %d ops\n", 100 * v.first / total,
                    v.first / runs, kernel.c_str(), v.second);
      out += line;
    }
    return out;
  }

  std::unique_ptr<runtime::Session> s_;
  int64_t device_bytes_before_ = -1;
};

}  // namespace

bool IsCompiledModule(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[kModuleMagicSize] = {};
  in.read(magic, kModuleMagicSize);
  return in.gcount() == static_cast<std::streamsize>(kModuleMagicSize) &&
         std::memcmp(magic, kModuleMagic, kModuleMagicSize) == 0;
}

Expected<std::unique_ptr<ModelRunner>> OpenModel(const std::string& path, int threads,
                                                 bool profile) {
  if (IsCompiledModule(path)) {
    // Device memory before the module (-1 without CUDA or a GPU): what it
    // costs on the device is the difference after its runs.
    auto before = runtime::DeviceMemoryInUse();
    OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const runtime::Module> m, runtime::Module::Load(path));
    runtime::SessionOptions options;
    options.num_threads = threads;
    options.profile = profile;
    OCTET_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Session> s,
                           runtime::Session::Create(m, options));
    return std::unique_ptr<ModelRunner>(
        new ModuleRunner(std::move(s), before.ok() ? *before : int64_t{-1}));
  }
  ReferenceSessionOptions options;
  options.num_threads = threads;
  OCTET_ASSIGN_OR_RETURN(ReferenceSession s, ReferenceSession::FromOnnxFile(path, options));
  return std::unique_ptr<ModelRunner>(new OnnxRunner(std::move(s)));
}

}  // namespace octet::cli
