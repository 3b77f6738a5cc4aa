// The standard clean-up pipeline (see pipelines.h).
#include "octet/passes/pipelines.h"

#include <memory>

#include "octet/passes/dead_code_elimination.h"
#include "octet/passes/remove_identity.h"
#include "octet/passes/shape_inference.h"

namespace octet {

Status RunStandardPipeline(Model& model, NodeEvaluator evaluate, PassManagerOptions options) {
  PassManager pm(options);
  pm.Add(std::make_unique<InferShapesPass>())
      .Add(std::make_unique<ConstantFoldingPass>(std::move(evaluate)))
      .Add(std::make_unique<RemoveIdentityPass>())
      .Add(std::make_unique<DeadCodeEliminationPass>())
      .Add(std::make_unique<InferShapesPass>());
  return pm.Run(model);
}

}  // namespace octet
