// TensorStatistics: bounded per-tensor calibration summary, its JSON form, and
// ChooseRange for the methods that need no search (min/max, moving average,
// percentile). The entropy and MSE searches are in range_search.cc.
//
// The histogram lives on a dyadic grid: the bin width is a power of two and
// the lower edge an integer multiple of it. Then floor(x / width) is exact (the
// division only changes the exponent), a value's bin never depends on rounding,
// 0 is always a bin edge, and growing the width by 2^d maps every old bin whole
// into one new bin. Re-binning is therefore exact, and the histogram after any
// sequence of batches equals the one built in one go on the final grid.
#include "octet/quant/statistics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "range_search.h"

namespace octet::quant {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kMinWidth = 0x1p-126;  // the smallest normal float
constexpr int kMinBins = 256, kMaxBins = 65536;
constexpr double kMaxExactCount = 0x1p53;  // counts are doubles holding integers

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Largest power of two <= v, for finite v > 0.
double Pow2Floor(double v) {
  int e = 0;
  std::frexp(v, &e);
  return std::ldexp(1.0, e - 1);
}

// Smallest power-of-two width >= at_least (itself 0 or a power of two) whose
// aligned grid of `bins` bins covers [lo, hi]. Besides covering the range, the
// width is at least 2^-30 of the largest magnitude so that grid indices stay
// below 2^31 (exact in doubles and int64) even for a near-constant tensor far
// from zero; that is still finer than a float's precision.
double FitWidth(double lo, double hi, double at_least, int64_t bins) {
  double w = std::max(at_least, kMinWidth);
  const double maxabs = std::max(std::fabs(lo), std::fabs(hi));
  if (maxabs > 0) w = std::max(w, std::ldexp(1.0, std::ilogb(maxabs) - 30));
  if (hi > lo) w = std::max(w, Pow2Floor((hi - lo) / static_cast<double>(bins)));
  while (std::floor(hi / w) - std::floor(lo / w) >= static_cast<double>(bins)) w *= 2;
  return w;
}

// Makes the grid (lo, width) cover [vmin, vmax]: the finest power-of-two width
// not below the current one that fits, and the lowest aligned start. Every old
// bin moves whole into the new bin that contains it (a shift by whole bins if
// the width stays, a merge of 2^d bins if it grows).
void CoverRange(std::vector<double>& hist, double& lo, double& width, double vmin, double vmax) {
  const int64_t bins = static_cast<int64_t>(hist.size());
  if (width > 0) {
    const double k = lo / width;
    if (std::floor(vmin / width) >= k && std::floor(vmax / width) < k + bins) return;
  }
  const double new_width = FitWidth(vmin, vmax, width, bins);
  const double new_k = std::floor(vmin / new_width);
  std::vector<double> out(hist.size(), 0.0);
  if (width > 0) {
    const double k = lo / width, ratio = width / new_width;  // ratio = 2^-d, exact
    for (int64_t b = 0; b < bins; ++b) {
      if (hist[b] == 0) continue;
      const double g = std::floor((k + static_cast<double>(b)) * ratio) - new_k;
      assert(g >= 0 && g < static_cast<double>(bins));
      out[static_cast<size_t>(g)] += hist[b];
    }
  }
  hist.swap(out);
  lo = new_k * new_width;
  width = new_width;
}

int ValidBins(int bins) {
  int b = kMinBins;
  while (b < bins && b < kMaxBins) b *= 2;
  return b;
}

}  // namespace

const char* CalibrationMethodName(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kMinMax:
      return "minmax";
    case CalibrationMethod::kMovingAverage:
      return "moving-average";
    case CalibrationMethod::kPercentile:
      return "percentile";
    case CalibrationMethod::kEntropy:
      return "entropy";
    case CalibrationMethod::kMse:
      return "mse";
  }
  return "unknown";
}

Expected<CalibrationMethod> ParseCalibrationMethod(const std::string& name) {
  for (CalibrationMethod m :
       {CalibrationMethod::kMinMax, CalibrationMethod::kMovingAverage,
        CalibrationMethod::kPercentile, CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    if (name == CalibrationMethodName(m)) return m;
  }
  return InvalidArgument("unknown calibration method '", name,
                         "' (expected minmax, moving-average, percentile, entropy or mse)");
}

Status ValidateCalibrationOptions(const CalibrationOptions& o) {
  if (static_cast<int>(o.method) > static_cast<int>(CalibrationMethod::kMse))
    return InvalidArgument("calibration: unknown method ", static_cast<int>(o.method));
  // Written as !(in range) so that NaN is rejected too.
  if (!(o.percentile > 50 && o.percentile <= 100))
    return InvalidArgument("calibration: percentile must be in (50, 100], found ", o.percentile);
  if (!(o.moving_average_constant > 0 && o.moving_average_constant <= 1))
    return InvalidArgument("calibration: moving average constant must be in (0, 1], found ",
                           o.moving_average_constant);
  if (!IsPowerOfTwo(o.histogram_bins) || o.histogram_bins < kMinBins || o.histogram_bins > kMaxBins)
    return InvalidArgument("calibration: histogram bins must be a power of two in [", kMinBins,
                           ", ", kMaxBins, "], found ", o.histogram_bins);
  return Status::Ok();
}

// Invalid arguments (callers check them with ValidateCalibrationOptions) are
// replaced by valid ones rather than aborting: bins round up to the next power
// of two in [256, 65536], a constant outside (0, 1] becomes 0.01.
TensorStatistics::TensorStatistics(int histogram_bins, double moving_average_constant)
    : moving_average_constant_(moving_average_constant > 0 && moving_average_constant <= 1
                                   ? moving_average_constant
                                   : 0.01),
      hist_(static_cast<size_t>(ValidBins(histogram_bins)), 0.0) {}

Status TensorStatistics::Observe(const Tensor& batch) {
  const int64_t n = batch.numel();
  std::vector<float> converted;
  switch (batch.dtype()) {
    case DType::kF32:
      Observe(batch.data<float>(), n);
      return Status::Ok();
    case DType::kF16:
    case DType::kBF16:
    case DType::kF64:
      // Scales are floats, so statistics are kept at float precision; f64
      // values beyond the float range count as Inf.
      converted.resize(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) converted[i] = static_cast<float>(batch.GetAsDouble(i));
      Observe(converted.data(), n);
      return Status::Ok();
    default:
      return InvalidArgument("calibration statistics need a float tensor (f32, f16, bf16 or f64), ",
                             "found ", batch.defined() ? batch.ShapeString() : "undefined");
  }
}

void TensorStatistics::Observe(const float* values, int64_t n) {
  ++batches_;
  // Pass 1: count and bound the finite values, so the grid can grow once.
  float bmin = std::numeric_limits<float>::infinity(), bmax = -bmin;
  int64_t finite = 0, nans = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    if (std::isfinite(v)) {
      ++finite;
      bmin = std::min(bmin, v);
      bmax = std::max(bmax, v);
    } else if (std::isnan(v)) {
      ++nans;
    }
  }
  nan_count_ += nans;
  inf_count_ += n - finite - nans;
  if (finite == 0) return;
  if (count_ == 0) {
    min_ = ema_min_ = bmin;
    max_ = ema_max_ = bmax;
  } else {
    min_ = std::min(min_, double{bmin});
    max_ = std::max(max_, double{bmax});
    ema_min_ += moving_average_constant_ * (bmin - ema_min_);
    ema_max_ += moving_average_constant_ * (bmax - ema_max_);
  }
  CoverRange(hist_, hist_lo_, bin_width_, min_, max_);

  // Pass 2: bin. v * inv is exact (inv is a power of two) and below 2^31 in
  // magnitude, so the integer floor below is exact too.
  const double inv = 1.0 / bin_width_;
  const int64_t k = static_cast<int64_t>(hist_lo_ * inv);
  double* h = hist_.data();
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i];
    if (!std::isfinite(v)) continue;
    const double t = v * inv;
    int64_t g = static_cast<int64_t>(t);  // truncates toward zero
    if (static_cast<double>(g) > t) --g;  // floor for negative t
    h[g - k] += 1;
  }
  count_ += finite;
}

bool TensorStatistics::operator==(const TensorStatistics& o) const {
  return count_ == o.count_ && nan_count_ == o.nan_count_ && inf_count_ == o.inf_count_ &&
         batches_ == o.batches_ && min_ == o.min_ && max_ == o.max_ && ema_min_ == o.ema_min_ &&
         ema_max_ == o.ema_max_ && moving_average_constant_ == o.moving_average_constant_ &&
         hist_ == o.hist_ && hist_lo_ == o.hist_lo_ && bin_width_ == o.bin_width_;
}

// nlohmann prints doubles with enough digits to read back the same double.
std::string TensorStatistics::ToJson() const {
  Json j;
  j["version"] = 1;
  j["count"] = count_;
  j["nan_count"] = nan_count_;
  j["inf_count"] = inf_count_;
  j["batches"] = batches_;
  j["min"] = min_;
  j["max"] = max_;
  j["moving_average_min"] = ema_min_;
  j["moving_average_max"] = ema_max_;
  j["moving_average_constant"] = moving_average_constant_;
  j["histogram_lo"] = hist_lo_;
  j["bin_width"] = bin_width_;
  Json counts = Json::array();
  for (double c : hist_) counts.push_back(static_cast<uint64_t>(c));
  j["histogram"] = std::move(counts);
  return j.dump();
}

Expected<TensorStatistics> TensorStatistics::FromJson(const std::string& text) {
  auto bad = [](auto&&... parts) {
    return InvalidArgument("tensor statistics JSON: ", std::forward<decltype(parts)>(parts)...);
  };
  Json j;
  try {
    j = Json::parse(text);
  } catch (const Json::exception& e) {
    return bad(e.what());
  }
  if (!j.is_object()) return bad("expected an object, found ", j.type_name());
  static const char* const kFields[] = {"version",
                                        "count",
                                        "nan_count",
                                        "inf_count",
                                        "batches",
                                        "min",
                                        "max",
                                        "moving_average_min",
                                        "moving_average_max",
                                        "moving_average_constant",
                                        "histogram_lo",
                                        "bin_width",
                                        "histogram"};
  for (const auto& item : j.items()) {
    if (std::find_if(std::begin(kFields), std::end(kFields),
                     [&](const char* f) { return item.key() == f; }) == std::end(kFields))
      return bad("unknown field '", item.key(), "'");
  }
  for (const char* f : kFields)
    if (!j.contains(f)) return bad("field '", f, "' is missing");

  auto get_count = [&](const char* f, int64_t* out) -> Status {
    const Json& v = j[f];
    if (!v.is_number_unsigned() || v.get<uint64_t>() > static_cast<uint64_t>(kMaxExactCount))
      return bad("field '", f, "' must be a non-negative integer, found ", v.dump());
    *out = v.get<int64_t>();
    return Status::Ok();
  };
  auto get_double = [&](const char* f, double* out) -> Status {
    const Json& v = j[f];
    if (!v.is_number() || !std::isfinite(v.get<double>()))
      return bad("field '", f, "' must be a finite number, found ", v.dump());
    *out = v.get<double>();
    return Status::Ok();
  };
  int64_t version = 0;
  OCTET_RETURN_IF_ERROR(get_count("version", &version));
  if (version != 1) return bad("unsupported version ", version, " (expected 1)");

  const Json& hist = j["histogram"];
  if (!hist.is_array()) return bad("field 'histogram' must be an array, found ", hist.type_name());
  const int64_t bins = static_cast<int64_t>(hist.size());
  if (!IsPowerOfTwo(bins) || bins < kMinBins || bins > kMaxBins)
    return bad("histogram has ", bins, " bins; expected a power of two in [", kMinBins, ", ",
               kMaxBins, "]");
  double constant = 0;
  OCTET_RETURN_IF_ERROR(get_double("moving_average_constant", &constant));
  if (!(constant > 0 && constant <= 1))
    return bad("moving_average_constant must be in (0, 1], found ", constant);

  TensorStatistics s(static_cast<int>(bins), constant);
  OCTET_RETURN_IF_ERROR(get_count("count", &s.count_));
  OCTET_RETURN_IF_ERROR(get_count("nan_count", &s.nan_count_));
  OCTET_RETURN_IF_ERROR(get_count("inf_count", &s.inf_count_));
  OCTET_RETURN_IF_ERROR(get_count("batches", &s.batches_));
  OCTET_RETURN_IF_ERROR(get_double("min", &s.min_));
  OCTET_RETURN_IF_ERROR(get_double("max", &s.max_));
  OCTET_RETURN_IF_ERROR(get_double("moving_average_min", &s.ema_min_));
  OCTET_RETURN_IF_ERROR(get_double("moving_average_max", &s.ema_max_));
  OCTET_RETURN_IF_ERROR(get_double("histogram_lo", &s.hist_lo_));
  OCTET_RETURN_IF_ERROR(get_double("bin_width", &s.bin_width_));
  double sum = 0;
  for (int64_t b = 0; b < bins; ++b) {
    const Json& c = hist[static_cast<size_t>(b)];
    if (!c.is_number_unsigned() || c.get<uint64_t>() > static_cast<uint64_t>(kMaxExactCount))
      return bad("histogram bin ", b, " must be a non-negative integer, found ", c.dump());
    s.hist_[b] = static_cast<double>(c.get<uint64_t>());
    sum += s.hist_[b];
  }

  // Consistency, so that a hand-edited or truncated file fails here rather
  // than producing a silently wrong range.
  if (sum != static_cast<double>(s.count_))
    return bad("histogram counts sum to ", sum, " but count is ", s.count_);
  if (s.count_ == 0) {
    if (s.min_ != 0 || s.max_ != 0 || s.ema_min_ != 0 || s.ema_max_ != 0 || s.hist_lo_ != 0 ||
        s.bin_width_ != 0)
      return bad("count is 0 but min, max, moving averages, histogram_lo or bin_width is not 0");
    return s;
  }
  if (!(s.bin_width_ >= kMinWidth) || Pow2Floor(s.bin_width_) != s.bin_width_)
    return bad("bin_width must be a power of two >= 2^-126, found ", s.bin_width_);
  const double k = s.hist_lo_ / s.bin_width_;
  if (k != std::floor(k) || std::fabs(k) > 0x1p52)
    return bad("histogram_lo ", s.hist_lo_, " is not an integer multiple of bin_width ",
               s.bin_width_);
  if (s.min_ > s.max_) return bad("min ", s.min_, " is greater than max ", s.max_);
  const double first = std::floor(s.min_ / s.bin_width_) - k;
  const double last = std::floor(s.max_ / s.bin_width_) - k;
  if (first < 0 || last >= static_cast<double>(bins))
    return bad("[min, max] = [", s.min_, ", ", s.max_, "] is outside the histogram range");
  for (int64_t b = 0; b < bins; ++b) {
    const bool inside = b >= first && b <= last;
    if (!inside && s.hist_[b] != 0)
      return bad("histogram bin ", b, " is nonzero but outside [min, max]");
  }
  if (s.hist_[static_cast<size_t>(first)] == 0 || s.hist_[static_cast<size_t>(last)] == 0)
    return bad("the histogram bins holding min and max are empty");
  return s;
}

namespace {

// The value below which a fraction q of the counts lie, interpolated linearly
// within its bin (counts assumed spread evenly over a bin).
double Quantile(const std::vector<double>& h, double origin, double width, double q) {
  double total = 0;
  for (double c : h) total += c;
  const double target = q * total;
  double cum = 0;
  int64_t last = 0;
  for (size_t b = 0; b < h.size(); ++b) {
    if (h[b] == 0) continue;
    if (cum + h[b] >= target)
      return (origin + static_cast<double>(b) + (target - cum) / h[b]) * width;
    cum += h[b];
    last = static_cast<int64_t>(b);
  }
  return (origin + static_cast<double>(last + 1)) * width;  // q = 1 with rounding
}

}  // namespace

Expected<Range> ChooseRange(const TensorStatistics& stats, const CalibrationOptions& options,
                            const QuantScheme& scheme) {
  OCTET_RETURN_IF_ERROR(ValidateCalibrationOptions(options));
  OCTET_RETURN_IF_ERROR(ValidateScheme(scheme, "quantization scheme"));
  if (stats.count() == 0) return Range{};
  const double lo = stats.min(), hi = stats.max();
  switch (options.method) {
    case CalibrationMethod::kMinMax:
      return Range{lo, hi};
    case CalibrationMethod::kMovingAverage:
      return Range{stats.moving_average_min(), stats.moving_average_max()};
    case CalibrationMethod::kPercentile: {
      const double q = options.percentile / 100;
      if (scheme.symmetric) {
        // One threshold: the quantile of |x|, so that 1 - q of all values clip.
        const detail::BinnedCounts mag =
            detail::MagnitudeHistogram(stats, static_cast<int64_t>(stats.histogram().size()));
        const double t =
            std::min(Quantile(mag.counts, 0, mag.width, q), std::max(std::fabs(lo), std::fabs(hi)));
        return Range{-t, t};
      }
      const double origin = stats.histogram_lo() / stats.bin_width();
      const auto& h = stats.histogram();
      return Range{std::clamp(Quantile(h, origin, stats.bin_width(), 1 - q), lo, hi),
                   std::clamp(Quantile(h, origin, stats.bin_width(), q), lo, hi)};
    }
    case CalibrationMethod::kEntropy:
      return detail::EntropyRange(stats, scheme);
    case CalibrationMethod::kMse:
      return detail::MseRange(stats, scheme);
  }
  return Internal("ChooseRange: unhandled calibration method");
}

}  // namespace octet::quant
