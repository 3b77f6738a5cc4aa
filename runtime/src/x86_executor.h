// Executors for the x86 target's own kernel ids ("x86.*"), built only when the
// x86 backend (oneDNN) is (OCTET_HAVE_X86). Kept out of the public headers so
// that octet_runtime's users never see oneDNN or octet_x86.
#pragma once

#include <memory>
#include <vector>

#include "octet/module/module.h"
#include "octet/runtime/op_executor.h"

namespace octet::runtime {

// Whether `desc`'s requirements can be met on this CPU. A module that uses
// int8 kernels and was built without reduced-range activations is refused on
// a CPU without VNNI (its u8 x s8 products would saturate in int16).
Status CheckX86Requirements(const LoadedModule& module);

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
