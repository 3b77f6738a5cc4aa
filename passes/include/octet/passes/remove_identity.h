// Removes nodes that forward their input unchanged: Identity; Dropout in
// inference form (no training_mode, or a constant false one, and its mask
// unused); Cast/CastLike to the input's own dtype; Reshape and Expand whose
// output shape equals the input's (static, or the same symbols and no unknown
// dims); Transpose with the identity perm; Tile with all repeats 1; Slice that
// takes everything (steps 1, starts 0, ends at or past the extent; a bound of
// at least INT32_MAX counts as "to the end" for a non-static dim); Concat of
// one input; Pad with all-zero pads; and, for numeric dtypes, x*1, 1*x, x/1,
// x+0, 0+x and x-0 with a constant operand whose broadcast does not change
// x's shape.
//
// Exactness: x*1 and x/1 return x bit for bit (NaNs aside, which stay NaN).
// x+0 is exact except for the sign of zero: -0 + +0 is +0 in IEEE arithmetic,
// so removing an Add of +0 (or a Sub of -0) keeps a -0 that the model would
// have turned into +0. The two compare equal and quantize identically; only
// 1/x style consumers could tell them apart, and we accept that.
//
// Uses of the output are rewired to the input. When the output is a graph
// output its name is kept: the input's producer is rebuilt to produce a value
// of that name (freeing the name drops every value nothing uses, as DCE would).
// That needs the input to be a single-output node's result that is not itself
// a graph output; when the input is a graph input, a constant, a graph output
// or one of several outputs, the node stays.
#pragma once

#include <memory>
#include <string_view>

#include "octet/ir.h"
#include "octet/passes/pass.h"
#include "octet/status.h"

namespace octet {

// Returns whether anything was removed.
Expected<bool> RemoveIdentities(Graph& graph);

// The pass form: "remove-identity".
class RemoveIdentityPass : public Pass {
 public:
  std::string_view name() const override { return "remove-identity"; }
  Expected<bool> Run(Model& model) override { return RemoveIdentities(*model.graph); }
};

}  // namespace octet
