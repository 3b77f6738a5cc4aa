// Dead code elimination: removes nodes none of whose outputs is used or is a
// graph output, then every value left without producer or use (unused
// constants included). Graph inputs are kept even when unused: they are the
// model's interface.
#pragma once

#include <memory>
#include <string_view>

#include "octet/ir.h"
#include "octet/passes/pass.h"
#include "octet/status.h"

namespace octet {

// Returns whether anything was removed.
Expected<bool> EliminateDeadCode(Graph& graph);

// The pass form: "dce".
class DeadCodeEliminationPass : public Pass {
 public:
  std::string_view name() const override { return "dce"; }
  Expected<bool> Run(Model& model) override { return EliminateDeadCode(*model.graph); }
};

}  // namespace octet
