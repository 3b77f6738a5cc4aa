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
//
// ChooseRange turns the statistics into the [lo, hi] that will be quantized:
//   kMinMax         observed min and max
//   kMovingAverage  exponential moving average of per-batch min/max (PyTorch's
//                   MovingAverageMinMaxObserver, averaging constant 0.01)
//   kPercentile     the `percentile` and 100-`percentile` quantiles of the
//                   histogram (interpolated within a bin)
//   kEntropy        the clipping range whose quantized histogram is closest to
//                   the observed one in KL divergence (TensorRT's entropy
//                   calibration, extended to one-sided and asymmetric ranges)
//   kMse            the clipping range minimising the expected squared error of
//                   quantize-dequantize (rounding noise inside, clipping
//                   error outside), from the histogram
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
  double percentile = 99.99;        // kPercentile: in (50, 100]
  double moving_average_constant = 0.01;  // kMovingAverage: weight of each new batch
  int histogram_bins = 2048;        // power of two, >= 256
};
Status ValidateCalibrationOptions(const CalibrationOptions& o);

struct Range {
  double lo = 0, hi = 0;
};

class TensorStatistics {
 public:
  explicit TensorStatistics(int histogram_bins = 2048, double moving_average_constant = 0.01);

  // One batch of values (any float dtype the tensor has: f32, f16, bf16, f64).
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

  // JSON object with every field (doubles printed round-trip exact) and back.
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
