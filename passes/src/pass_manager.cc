#include <chrono>
#include <cstdio>

#include "octet/passes/pass.h"
#include "octet/verifier.h"

namespace octet {

Status PassManager::Run(Model& model) {
  timings_.clear();
  for (auto& pass : passes_) {
    const auto start = std::chrono::steady_clock::now();
    Expected<bool> changed = pass->Run(model);
    const auto end = std::chrono::steady_clock::now();
    if (!changed.ok()) return changed.status().WithContext("pass " + std::string(pass->name()));
    timings_.push_back({std::string(pass->name()),
                        std::chrono::duration<double, std::milli>(end - start).count(), *changed});
    if (options_.verify_after_each_pass) {
      Status s = VerifyGraph(*model.graph);
      if (!s.ok())
        return Internal("the graph is invalid after pass ", pass->name(), ": ", s.message());
    }
  }
  return Status::Ok();
}

std::string PassManager::TimingReport() const {
  std::string out;
  char line[256];
  for (const PassTiming& t : timings_) {
    std::snprintf(line, sizeof(line), "  %-32s %9.2f ms %s\n", t.name.c_str(), t.milliseconds,
                  t.changed ? "changed" : "");
    out += line;
  }
  return out;
}

}  // namespace octet
