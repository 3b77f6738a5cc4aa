// Internal to octet_quant: histogram views and the clipping-range searches
// (entropy, MSE) behind ChooseRange.
//
// The statistics histogram lives on a dyadic grid: its bin width is a power of
// two and its lower edge an integer multiple of that width, so 0 is always a bin
// edge and coarsening by a power of two is exact. The views below rely on that.
#pragma once

#include <cstdint>
#include <vector>

#include "octet/quant/scheme.h"
#include "octet/quant/statistics.h"

namespace octet::quant::detail {

// Counts on a grid: bin b covers [(origin + b) * width, (origin + b + 1) * width).
struct BinnedCounts {
  std::vector<double> counts;
  double origin = 0;  // an integer
  double width = 0;
};

// The histogram of |x|, folded around 0 (exact: 0 is a bin edge), starting at
// 0 (origin 0), coarsened by a power of two to at most `max_bins` bins and
// ending at its last nonzero bin. Empty when no finite value was seen.
BinnedCounts MagnitudeHistogram(const TensorStatistics& stats, int64_t max_bins);

// The range minimising KL(P || Q) (kEntropy) or the expected quantize-dequantize
// squared error (kMse) under `scheme`. Both need stats.count() > 0 and return a
// range within [min, max] (symmetric: [-T, T] with T <= max |x|).
Range EntropyRange(const TensorStatistics& stats, const QuantScheme& scheme);
Range MseRange(const TensorStatistics& stats, const QuantScheme& scheme);

}  // namespace octet::quant::detail
