// Runs a graph node by node with the reference kernels. It is the ground truth
// that every optimised backend is compared against, and the evaluator that
// constant folding uses.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::reference {

class KernelProvider;  // kernel.h

struct InterpreterOptions {
  int num_threads = 0;  // 0: hardware concurrency
  // Keep every intermediate value (for per-layer comparisons) instead of freeing
  // each one after its last use.
  bool keep_intermediates = false;
  // Called after each node runs with its inputs (nullptr for absent ones) and
  // outputs: calibration observers and per-layer comparisons hook in here. An
  // error stops the run and is returned by Run().
  std::function<Status(const Node&, const std::vector<const Tensor*>& inputs,
                       const std::vector<Tensor>& outputs)>
      after_node;
  // Kernels tried before the reference ones (null: reference kernels only, the
  // ground truth). A provider may cache per node, so it must not outlive the
  // graph it runs.
  std::shared_ptr<const KernelProvider> kernels;
};

class Interpreter {
 public:
  explicit Interpreter(const Graph& graph, InterpreterOptions options = {});

  // Inputs by graph input name. Checks dtype and shape against the declared
  // types (symbolic dims bind consistently) and returns outputs by name.
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& inputs);
  // Values kept by the last Run when keep_intermediates was set.
  const std::map<std::string, Tensor>& intermediates() const { return intermediates_; }

 private:
  const Graph& graph_;
  InterpreterOptions options_;
  std::map<std::string, Tensor> intermediates_;
};

// Evaluates a single node on concrete inputs (constant folding uses this).
Expected<std::vector<Tensor>> EvaluateNode(const Node& node,
                                           const std::vector<const Tensor*>& inputs,
                                           int num_threads = 1);

// Checks a run-time tensor against a declared type; `what` names it in errors.
// Symbol bindings ("N" -> 8) are recorded in/checked against `symbols`.
Status CheckTensorMatchesType(const Tensor& t, const TensorType& type, const std::string& what,
                              std::map<std::string, int64_t>& symbols);

}  // namespace octet::reference
