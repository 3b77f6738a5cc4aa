// Facts about a model for `octet inspect` and reports: op histogram, parameter
// count and bytes.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "octet/ir.h"

namespace octet {

struct ModelSummary {
  std::map<std::string, int64_t> op_histogram;  // "Conv" -> 20 ("domain::Op" outside ai.onnx)
  int64_t num_nodes = 0;
  int64_t num_parameters = 0;   // elements of all constants
  int64_t parameter_bytes = 0;  // storage bytes of all constants
};

ModelSummary Summarize(const Graph& graph);
// Human-readable text: opsets, inputs/outputs with types, op histogram, parameters.
std::string FormatSummary(const Model& model, const std::string& title);

}  // namespace octet
