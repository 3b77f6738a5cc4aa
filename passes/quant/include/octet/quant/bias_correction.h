// Bias correction for weight rounding: the empirical bias correction of Nagel
// et al., "Data-Free Quantization Through Weight Equalization and Bias
// Correction" (2019).
//
// Rounding a weight W to Wq changes y = x W + b by x (Wq - W). Over the data
// that error has the mean E[x] (Wq - W): a shift of each output channel. It
// does not average out along the reduction axis when x has a non-zero mean (a
// GELU's output, a residual stream), and it compounds through a deep network:
// SAM vit_h's 4-bit per-group weights lose cosine 0.988 against fp32 without
// it and keep 0.996 with it (docs/quantization.md). Subtracting the shift from
// the bias removes it; what is left of the error has zero mean over the
// calibration data.
//
// Covers MatMul (constant weight as the second operand, rank 2) and Gemm. The
// bias is the Gemm's C, or the constant of the Add that alone reads the
// MatMul's output; a node without one gets a new Add whose output keeps the
// node's output name, so consumers and comparisons by name are unchanged.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "octet/ir.h"
#include "octet/quant/annotate.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::quant {

// Per-channel sums of an activation over a calibration stream (the input mean
// the correction needs); bounded memory, one double per channel.
struct ChannelSums {
  std::vector<double> sums;  // one per channel
  int64_t count = 0;         // values seen per channel

  // Adds a batch; `axis` is the channel axis of x (non-negative). Float
  // dtypes only; a channel count that differs from earlier batches is an error.
  Status Observe(const Tensor& x, int axis);
  std::vector<double> Means() const;
};

// Where a node's correction reads its input mean: the activation input's index
// and its reduction (channel) axis, resolved for that input's rank.
struct CorrectionInput {
  int input = 0;
  int axis = 0;
};
// Fails with the reason when the node cannot be corrected (op type, weight
// position or rank, unknown input rank).
Expected<CorrectionInput> BiasCorrectionInput(const Node& node, const WeightQuant& wq);

struct BiasCorrectionResult {
  std::vector<std::string> corrected;                        // node names
  std::vector<std::pair<std::string, std::string>> skipped;  // node, reason
};

// Adjusts the biases of `plan`'s weight-quantized MatMul/Gemm nodes in `graph`
// (the float graph that ConvertToQdq will rewrite next, so the weight is
// rounded exactly as the correction assumes). `input_means[node]` holds the
// node's BiasCorrectionInput mean per channel; a missing or wrongly sized entry
// is an error naming the node. Nodes the correction does not cover are
// returned in `skipped` with the reason.
Expected<BiasCorrectionResult> CorrectBiasForWeightRounding(
    Graph& graph, const QuantPlan& plan,
    const std::map<std::string, std::vector<double>>& input_means);

}  // namespace octet::quant
