// Plumbing shared by the x86 executors (runtime/src/x86_executor*.cc).
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "octet/module/module.h"
#include "octet/status.h"
#include "octet/tensor.h"
#include "octet/x86/int8_kernels.h"  // PackedWeights

namespace octet::runtime::x86_internal {

// oneDNN primitives have fixed shapes: one kernel per input shape (usually
// per batch size), the planned one created at load and the others on first
// use, kept for later runs. Copies of a created kernel share its primitive
// and packed weights, so Get returns a copy.
template <typename Kernel>
class KernelCache {
 public:
  Expected<Kernel> Get(const std::vector<int64_t>& key,
                       const std::function<Expected<Kernel>()>& create) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kernels_.find(key);
    if (it != kernels_.end()) return it->second;
    OCTET_ASSIGN_OR_RETURN(Kernel k, create());
    kernels_.emplace(key, k);
    return k;
  }

 private:
  mutable std::mutex mu_;
  mutable std::map<std::vector<int64_t>, Kernel> kernels_;
};

// The dims of a slot at the plan's reference dims (symbols the plan does not
// name take 1); an error naming the op for unknown dims.
Expected<std::vector<int64_t>> PlannedDims(const ModuleDesc& desc, const ModuleOp& op, int slot);

// `out` itself when it already is a tensor of `dtype` and `dims` (the
// session's arena place), else a new tensor.
Tensor& PrepareOutput(Tensor& out, DType dtype, const std::vector<int64_t>& dims);

// "op 'name' (kernel): " for messages.
std::string OpPrefix(const ModuleOp& op);

// The op's prepacked weights, written by PrepackX86Weights (attributes
// "prepacked_slot", a constant u8 slot, and "prepacked_layout"), or none.
Expected<x86::PackedWeights> PrepackedWeightsOf(const ModuleDesc& desc, const ModuleOp& op,
                                                const std::vector<Tensor>& constants);

// Checks that inputs 1.. of `op` listed in `constant_inputs` are constants.
Status CheckConstantInputs(const ModuleDesc& desc, const ModuleOp& op,
                           const std::vector<int>& constant_inputs);

}  // namespace octet::runtime::x86_internal
