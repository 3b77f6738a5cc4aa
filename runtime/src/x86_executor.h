// Executors for the x86 target's own kernel ids ("x86.*"), built only when the
// x86 backend (oneDNN) is (OCTET_HAVE_X86). Kept out of the public headers so
// that octet_runtime's users never see oneDNN or octet_x86.
#pragma once

#include <memory>
#include <vector>

#include "octet/module/module.h"
#include "octet/runtime/op_executor.h"
#include "octet/x86/int8_kernels.h"  // PackedWeights

namespace octet::runtime {

// Whether `desc`'s requirements can be met on this CPU. A module that uses
// int8 kernels and was built without reduced-range activations is refused on
// a CPU without VNNI (its u8 x s8 products would saturate in int16).
Status CheckX86Requirements(const LoadedModule& module);

// An executor whose kernel packs constant weights into oneDNN's layout at
// load (int8 convolution and matmuls); PrepackX86Weights (prepack.h) asks it
// for the bytes, to store them in the module.
class PackingExecutor {
 public:
  virtual ~PackingExecutor() = default;
  // The weights of the planned shape's kernel as its primitive holds them;
  // Unimplemented when the executor's path on this CPU packs none.
  virtual Expected<x86::PackedWeights> PlannedPackedWeights() const = 0;
};

// One per kernel id; x86_executor_conv.cc and x86_executor_convert.cc.
Expected<std::unique_ptr<OpExecutor>> CreateInt8ConvExecutor(const ModuleDesc& desc,
                                                             const ModuleOp& op,
                                                             const std::vector<Tensor>& constants);
Expected<std::unique_ptr<OpExecutor>> CreateInt8PoolExecutor(const ModuleDesc& desc,
                                                             const ModuleOp& op);
Expected<std::unique_ptr<OpExecutor>> CreateConvertExecutor(const ModuleDesc& desc,
                                                            const ModuleOp& op);
Expected<std::unique_ptr<OpExecutor>> CreateDynamicInt8MatMulExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants);

Expected<std::unique_ptr<OpExecutor>> CreateAttentionExecutor(const ModuleDesc& desc,
                                                              const ModuleOp& op,
                                                              const std::vector<Tensor>& constants);

Expected<std::unique_ptr<OpExecutor>> CreateX86Executor(const ModuleDesc& desc, const ModuleOp& op,
                                                        const std::vector<Tensor>& constants);

}  // namespace octet::runtime
