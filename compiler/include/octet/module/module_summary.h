// Human-readable description of a compiled module for `octet inspect`: target,
// requirements, metadata, inputs and outputs, arena and weight bytes, a kernel
// histogram and, on request, every op with its slots and attributes, so that a
// user can see what a backend fused and what runs unfused.
#pragma once

#include <string>

#include "octet/module/module.h"

namespace octet {

struct ModuleSummaryOptions {
  bool list_ops = false;  // one line per op (kernel, source node, inputs -> outputs, attrs)
};

std::string FormatModuleSummary(const LoadedModule& module,
                                const ModuleSummaryOptions& options = {});

// True when the file starts with the module magic ("OCTETMOD"); false when it
// cannot be read or holds something else (an ONNX model, say).
bool LooksLikeModuleFile(const std::string& path);

}  // namespace octet
