// Calibration statistics of one tensor and the clipping range chosen from them.
//
// TensorStatistics sees the tensor batch after batch and keeps a bounded
// summary: exact min/max, a moving average of per-batch min/max, counts of
// NaN/Inf (which are excluded from everything else), and a histogram of fixed
// bin count whose range grows to cover every value seen. Memory does not grow
// with the number of batches. Range growth re-bins exactly: the bin width only
// ever grows by an integer factor and bin edges stay on the old grid, so old
// counts move into new bins without splitting; the result depends only on the
// values seen and their order, never on timing (calibration is deterministic).
// Concretely the grid is dyadic: bin_width() is a power of two and
// histogram_lo() an integer multiple of it, so value x is in bin
// floor(x / bin_width()) - histogram_lo() / bin_width() (both exact), 0 is
// always a bin edge, and the histogram equals the one built in one go on the
// final grid. The width is the finest power of two that covers [min, max]
// (but at least 2^-30 of max |x|, which keeps bin indices exact).
//
// ChooseRange turns the statistics into the [lo, hi] that will be quantized:
//   kMinMax         observed min and max
//   kMovingAverage  exponential moving average of per-batch min/max (PyTorch's
//                   MovingAverageMinMaxObserver, averaging constant 0.01)
//   kPercentile     the `percentile` and 100-`percentile` quantiles of the
//                   histogram (interpolated within a bin); symmetric schemes:
//                   [-T, T] with T the `percentile` quantile of |x|
//   kEntropy        the clipping range whose quantized histogram is closest to
//                   the observed one in KL divergence (TensorRT's entropy
//                   calibration, extended to one-sided and asymmetric ranges)
//   kMse            the clipping range minimising the expected squared error of
//                   quantize-dequantize (rounding noise inside, clipping
//                   error outside), from the histogram
// Entropy and MSE search one threshold T for symmetric schemes ([-T, T]) and
// for one-sided data under affine schemes (min >= 0 keeps lo = min, max <= 0
// keeps hi = max), and both ends otherwise; see src/range_search.cc.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "octet/quant/scheme.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::quant {

enum class CalibrationMethod : uint8_t { kMinMax, kMovingAverage, kPercentile, kEntropy, kMse };

const char* CalibrationMethodName(CalibrationMethod m);  // "minmax", "moving-average", ...
Expected<CalibrationMethod> ParseCalibrationMethod(const std::string& name);

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;              // kPercentile: in (50, 100]
  double moving_average_constant = 0.01;  // kMovingAverage: weight of each new batch
  int histogram_bins = 2048;              // power of two, >= 256
};
Status ValidateCalibrationOptions(const CalibrationOptions& o);

struct Range {
  double lo = 0, hi = 0;
};

class TensorStatistics {
 public:
  // Arguments are expected to pass ValidateCalibrationOptions; others are made
  // valid (bins rounded up to a power of two in [256, 65536], a constant
  // outside (0, 1] replaced by 0.01) rather than aborting.
  explicit TensorStatistics(int histogram_bins = 2048, double moving_average_constant = 0.01);

  // One batch of values (any float dtype the tensor has: f32, f16, bf16, f64).
  // Values are taken at float precision (scales are floats); f64 values beyond
  // the float range count as Inf. Other dtypes are an InvalidArgument error.
  Status Observe(const Tensor& batch);
  void Observe(const float* values, int64_t n);

  int64_t count() const { return count_; }  // finite values seen
  int64_t nan_count() const { return nan_count_; }
  int64_t inf_count() const { return inf_count_; }
  int64_t batches() const { return batches_; }
  // Of finite values; both 0 before any finite value was seen.
  double min() const { return min_; }
  double max() const { return max_; }
  double moving_average_min() const { return ema_min_; }
  double moving_average_max() const { return ema_max_; }
  // Histogram over [histogram_lo(), histogram_lo() + bins * bin_width()).
  const std::vector<double>& histogram() const { return hist_; }
  double histogram_lo() const { return hist_lo_; }
  double bin_width() const { return bin_width_; }

  // JSON object with every field (doubles printed round-trip exact, counts as
  // integers) and back. FromJson checks types and consistency (bin count, grid,
  // counts summing to count, min/max inside the histogram) and names the
  // offending field.
  std::string ToJson() const;
  static Expected<TensorStatistics> FromJson(const std::string& json);
  bool operator==(const TensorStatistics& o) const;

 private:
  // ... implementation fields
  int64_t count_ = 0, nan_count_ = 0, inf_count_ = 0, batches_ = 0;
  double min_ = 0, max_ = 0, ema_min_ = 0, ema_max_ = 0;
  double moving_average_constant_ = 0.01;
  std::vector<double> hist_;
  double hist_lo_ = 0, bin_width_ = 0;
};

// The range to quantize under `scheme` (symmetric schemes make the search
// symmetric about 0). With no finite values seen, the range is [0, 0].
Expected<Range> ChooseRange(const TensorStatistics& stats, const CalibrationOptions& options,
                            const QuantScheme& scheme);

}  // namespace octet::quant
