#include <algorithm>
#include <thread>

#include "octet/reference/kernel.h"

namespace octet::reference {

static std::string Key(const std::string& domain, const std::string& op_type) {
  return (domain == "ai.onnx" ? std::string() : domain) + "::" + op_type;
}

const KernelRegistry& KernelRegistry::Get() {
  static const KernelRegistry registry = [] {
    KernelRegistry r;
    RegisterElementwiseKernels(r);
    RegisterReductionKernels(r);
    RegisterNormalizationKernels(r);
    RegisterLinalgKernels(r);
    RegisterConvPoolKernels(r);
    RegisterQuantKernels(r);
    RegisterDataMovementKernels(r);
    // Calibration observers (octet/quant/convert.h) only mark a value; the
    // statistics are taken by the interpreter's after_node hook.
    r.Register(
        "Observer", [](KernelContext&) { return Status::Ok(); }, "ai.octet");
    return r;
  }();
  return registry;
}

void KernelRegistry::Register(const std::string& op_type, KernelFn fn, const std::string& domain) {
  kernels_.emplace_back(Key(domain, op_type), std::move(fn));
}

const KernelFn* KernelRegistry::Find(const std::string& domain, const std::string& op_type) const {
  const std::string key = Key(domain, op_type);
  for (const auto& [k, fn] : kernels_)
    if (k == key) return &fn;
  return nullptr;
}

std::vector<std::string> KernelRegistry::OpTypes() const {
  std::vector<std::string> out;
  for (const auto& [k, fn] : kernels_) out.push_back(k.substr(k.find("::") + 2));
  return out;
}

void ParallelFor(int64_t n, int num_threads, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  const int64_t threads = std::max<int64_t>(1, std::min<int64_t>(num_threads, n));
  if (threads == 1) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> workers;
  workers.reserve(threads - 1);
  const int64_t chunk = (n + threads - 1) / threads;
  for (int64_t t = 1; t < threads; ++t) {
    const int64_t begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin < end) workers.emplace_back([&fn, begin, end] { fn(begin, end); });
  }
  fn(0, std::min(n, chunk));
  for (auto& w : workers) w.join();
}

}  // namespace octet::reference
