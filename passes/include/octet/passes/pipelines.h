// Ready-made pass sequences.
#pragma once

#include "octet/ir.h"
#include "octet/passes/constant_folding.h"
#include "octet/passes/pass.h"
#include "octet/status.h"

namespace octet {

// The clean-up every model gets before quantization: infer-shapes,
// fold-constants, remove-identity, dce, infer-shapes. Errors name the pass.
Status RunStandardPipeline(Model& model, NodeEvaluator evaluate, PassManagerOptions options = {});

}  // namespace octet
