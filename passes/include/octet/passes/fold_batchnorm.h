// BatchNorm folding: an inference-mode BatchNormalization is a per-channel
// affine map y = x * s[c] + t[c], so when x comes from a linear op with
// constant weights the map can be folded into those weights and the BN node
// removed. Folded producers:
//
//   Conv           W [M, C/g, k...], optional bias [M]; channel = W's axis 0.
//   ConvTranspose  W [C, M/g, k...], optional bias [M]; output channel
//                  g * (M/g) + j for W[c, j, ...] with c in group g.
//   Gemm           constant B (transB honoured), output [N, M]; C absent or a
//                  constant that is constant along N (shape [], [1], [M],
//                  [1,1] or [1,M]). The folded Gemm has beta = 1.
//   MatMul         constant W [K, N] and a rank-2 output [batch, N], optionally
//                  followed by an Add of a constant bias ([], [1], [N], [1,1]
//                  or [1,N]); an Add is created when there is none.
//
// Conditions, each checked before anything changes (a BN that does not meet
// them stays, and is still correct): the BN is in the ai.onnx domain, has
// constant scale/B/mean/var of one element per channel, training_mode absent
// or 0 (and no legacy spatial=0), and its running-statistics outputs unused;
// the producer's output (and the Add's, for MatMul -> Add) has the BN (the
// Add) as its only user and is not a graph output; the weights and biases are
// constants of f32, f16, bf16 or f64 without quantization parameters. A
// constant used elsewhere as well is copied, not changed. Arithmetic is done
// in double and rounded to the weight's dtype.
//
// The folded value takes the BN output's place: its uses are rewired, and when
// the BN output is a graph output the folded value takes over its name, so the
// model's interface does not change. A created bias or Add output is named
// after the weight / the BN output. The BN's parameter constants, now
// unused, are left for DCE.
#pragma once

#include <string_view>

#include "octet/ir.h"
#include "octet/passes/pass.h"
#include "octet/status.h"

namespace octet {

// Folds every BatchNormalization it can. Returns whether anything was folded.
Expected<bool> FoldBatchNorm(Graph& graph);

// The pass form: "fold-batchnorm".
class FoldBatchNormPass : public Pass {
 public:
  std::string_view name() const override { return "fold-batchnorm"; }
  Expected<bool> Run(Model& model) override { return FoldBatchNorm(*model.graph); }
};

}  // namespace octet
