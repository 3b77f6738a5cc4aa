// Compiling a graph into a module (docs/module-format.md) that the runtime
// loads. The reference target maps every node to one op whose kernel id names
// a reference kernel, "ref.<domain>::<OpType>" (the ONNX default domain is
// written "ai.onnx"), so any model the interpreter runs can be compiled;
// optimised targets will later replace groups of nodes by their own kernels.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/module/module.h"
#include "octet/status.h"

namespace octet {

struct CompileOptions {
  // Run the standard simplification pipeline (shape inference, constant
  // folding, ...) first, as ReferenceSession does, so the module computes
  // exactly what `octet run MODEL.onnx` computes.
  bool simplify = true;
  int num_threads = 0;  // for constant folding
  // Values of symbolic dims the arena is planned for. Symbols of the graph
  // inputs not listed here take `default_symbol_value` (a batch of 1); other
  // batch sizes still run, with per-run allocation (see runtime/module.h).
  std::map<std::string, int64_t> reference_dims;
  int64_t default_symbol_value = 1;
  std::map<std::string, std::string> metadata;  // copied into the module
};

struct CompiledModule {
  ModuleDesc desc;
  std::vector<WeightSection> weights;
};

// The kernel id of a node on the reference target and its inverse.
std::string ReferenceKernelId(const std::string& domain, const std::string& op_type);
// False when `kernel` is not a reference kernel id.
bool ParseReferenceKernelId(const std::string& kernel, std::string* domain, std::string* op_type);

// Float or QDQ model -> module for the reference target. Errors name the node:
// ops without a reference kernel, tensor- or string-list-valued attributes
// (which the module format cannot hold), graph outputs that are inputs or
// constants, and values of unknown rank at the graph boundary.
Expected<CompiledModule> CompileForReference(Model model, const CompileOptions& options = {});

}  // namespace octet
