// Constant folding: evaluates nodes whose inputs are all constants and turns
// their outputs into constants. Shape and Size of a value whose shape is static
// fold too, even though that value is computed at run time; together with shape
// inference (re-run between rounds) this resolves the Shape -> Gather ->
// Unsqueeze -> Concat -> Reshape chains that PyTorch exports. Folding repeats
// until nothing changes. Folded nodes are removed; their now-unused inputs are
// left for DCE.
//
// Not folded: ops that are not deterministic (Random*, Multinomial, Bernoulli,
// Dropout in training mode), DequantizeLinear (folding it would turn quantized
// weights of a QDQ model back into floats), nodes whose outputs would take more
// than `max_output_bytes`, nodes that produce a graph output (a graph output
// stays a node output), and nodes the evaluator reports as Unimplemented.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/passes/pass.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

// Runs one node on concrete inputs (nullptr for an absent optional input) and
// returns one tensor per node output. The tools pass octet::reference::EvaluateNode.
using NodeEvaluator = std::function<Expected<std::vector<Tensor>>(
    const Node& node, const std::vector<const Tensor*>& inputs)>;

struct ConstantFoldingOptions {
  // Skip a node whose outputs together would exceed this many bytes.
  int64_t max_output_bytes = int64_t{64} << 20;
  // ai.onnx ops never folded, in addition to the non-deterministic ones.
  std::set<std::string> keep_ops = {"DequantizeLinear"};
};

// Folds to a fixed point. Returns whether anything was folded. Errors from
// the evaluator other than Unimplemented are returned, naming the node.
Expected<bool> FoldConstants(Graph& graph, const NodeEvaluator& evaluate,
                             const ConstantFoldingOptions& options = {});

// The pass form: "fold-constants".
class ConstantFoldingPass : public Pass {
 public:
  explicit ConstantFoldingPass(NodeEvaluator evaluate, ConstantFoldingOptions options = {})
      : evaluate_(std::move(evaluate)), options_(std::move(options)) {}
  std::string_view name() const override { return "fold-constants"; }
  Expected<bool> Run(Model& model) override;

 private:
  NodeEvaluator evaluate_;
  ConstantFoldingOptions options_;
};

}  // namespace octet
