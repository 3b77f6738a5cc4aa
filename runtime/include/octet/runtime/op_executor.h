// How the runtime calls a compiled op. Each op of a module gets an executor
// once, at load; backends plug in by kernel-id prefix ("ref."; "x86." when
// built with oneDNN; "cuda." later) in runtime/src/op_executor.cc.
#pragma once

#include <memory>
#include <vector>

#include "octet/module/module.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::runtime {

class OpExecutor {
 public:
  virtual ~OpExecutor() = default;
  // `inputs`: one per op input, nullptr for an absent optional one.
  // `outputs`: one per op output. On entry each is either undefined or a
  // tensor of the slot's planned dtype and dims placed in the session's arena;
  // an executor that can write there does (no copy), otherwise it replaces the
  // tensor with its own (the session then copies it into place).
  // Const and free of shared mutable state: many sessions call it at once.
  virtual Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
                     int num_threads) const = 0;
};

// The executor of op `op_index` of `module`. `constants` holds the constant
// slots' tensors (undefined for other slots). Unknown kernel ids are errors.
Expected<std::unique_ptr<OpExecutor>> CreateOpExecutor(const ModuleDesc& desc, int op_index,
                                                       const std::vector<Tensor>& constants);

}  // namespace octet::runtime
