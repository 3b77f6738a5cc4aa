// The reference backend's kernel interface. A kernel reads its node's
// attributes and input tensors and fills the output tensors. Kernels are
// correct and readable first; Conv and MatMul/Gemm are multi-threaded because
// whole models run through them in the tests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::reference {

struct KernelContext {
  const Node& node;
  // One entry per node input; nullptr for an absent optional input.
  std::vector<const Tensor*> inputs;
  // One entry per node output, undefined on entry; the kernel creates each one.
  std::vector<Tensor> outputs;
  int num_threads = 1;

  const Tensor* input(int i) const {
    return i < static_cast<int>(inputs.size()) ? inputs[i] : nullptr;
  }
  int num_inputs() const { return static_cast<int>(inputs.size()); }
  int num_outputs() const { return static_cast<int>(outputs.size()); }
  // Error helper that names the node: "Conv 'conv1': <message>".
  template <typename... Args>
  Status Fail(Args&&... parts) const {
    return InvalidArgument(node.Describe(), ": ", std::forward<Args>(parts)...);
  }
};

using KernelFn = std::function<Status(KernelContext&)>;

// Kernels that replace reference ones for some nodes (the x86 backend's oneDNN
// fp32 kernels, x86/float_provider.h), looked up before the registry.
class KernelProvider {
 public:
  virtual ~KernelProvider() = default;
  // The kernel to run for `node` instead of the reference one, or null. It is
  // called like a reference kernel and must succeed wherever the reference
  // kernel would.
  virtual const KernelFn* Find(const Node& node) const = 0;
};

class KernelRegistry {
 public:
  // The registry with every reference kernel.
  static const KernelRegistry& Get();
  void Register(const std::string& op_type, KernelFn fn, const std::string& domain = "");
  const KernelFn* Find(const std::string& domain, const std::string& op_type) const;
  std::vector<std::string> OpTypes() const;

 private:
  std::vector<std::pair<std::string, KernelFn>> kernels_;  // key: domain + "::" + op_type
};

// Each kernel file registers its kernels through one of these.
void RegisterElementwiseKernels(KernelRegistry& r);
void RegisterReductionKernels(KernelRegistry& r);
void RegisterNormalizationKernels(KernelRegistry& r);
void RegisterLinalgKernels(KernelRegistry& r);
void RegisterConvPoolKernels(KernelRegistry& r);
void RegisterQuantKernels(KernelRegistry& r);
void RegisterDataMovementKernels(KernelRegistry& r);

// Runs fn(begin, end) over [0, n) split into at most `num_threads` chunks.
void ParallelFor(int64_t n, int num_threads, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace octet::reference
