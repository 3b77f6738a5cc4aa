// Clipping-range searches over the calibration histogram: entropy (KL
// divergence, TensorRT's method) and expected quantize-dequantize MSE.
//
// Both search the same candidates, ranges whose ends are bin edges:
//  * one threshold T for symmetric schemes and for one-sided data under affine
//    schemes (min >= 0 after ReLU, or max <= 0), over the histogram of |x|
//    starting at 0: every T from the smallest meaningful one up to the largest
//    (O(bins) candidates). One-sided affine ranges keep their 0 end because
//    ChooseScaleZeroPoint widens every range to contain 0 anyway.
//  * two ends [lo, hi] for affine schemes on data on both sides of 0: start
//    from the full range and greedily move in whichever end lowers the cost
//    more, remembering the best range seen (O(bins) candidates). Neither end
//    crosses 0.
// Each candidate costs O(1) (MSE) or O(levels) (KL) thanks to prefix sums; MSE
// moves one bin at a time, KL by ~0.2% of the width. A 2048-bin tensor takes
// well under 1 ms (MSE) or a few ms (KL).
//
// The histogram is first upsampled (each bin split into 2^j sub-bins with a
// linear density) to about kWorkFactor times its bin count over the occupied
// span. That lets the threshold land between the original bins and, for KL,
// lets a range narrower than `levels` original bins be evaluated at all
// (TensorRT's fixed 2048 bins over [0, max |x|] have the same role).
#include "range_search.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace octet::quant::detail {
namespace {

constexpr int64_t kWorkFactor = 4;
constexpr double kInf = std::numeric_limits<double>::infinity();
// Probability given to an empty quantization level that P still needs (its
// edge bins hold clipped outliers), in counts: MXNet / TensorRT smooth zero
// bins with 1e-4.
constexpr double kSmoothCount = 1e-4;

// Splits each bin into r = 2^j sub-bins (r as large as fits in target_bins),
// keeping each bin's count but giving it a linear density whose slope comes
// from its neighbours (limited so that no sub-bin goes negative). A flat split
// would make Q equal P exactly whenever a quantization level spans whole
// original bins, and KL would then favour those ranges for no real reason.
// `mirrored`: the counts are of |x|, so bin 0's left neighbour is itself.
BinnedCounts Upsample(const double* counts, int64_t n, double origin, double width,
                      int64_t target_bins, bool mirrored) {
  int64_t r = 1;
  while (n * r * 2 <= target_bins) r *= 2;
  BinnedCounts out;
  out.counts.resize(static_cast<size_t>(n * r));
  const double rd = static_cast<double>(r);
  for (int64_t b = 0; b < n; ++b) {
    const double c = counts[b];
    const double left = b > 0 ? counts[b - 1] : (mirrored ? c : 0.0);
    const double right = b + 1 < n ? counts[b + 1] : 0.0;
    const double slope = std::clamp((right - left) / 2, -c, c);
    for (int64_t s = 0; s < r; ++s) {
      const double pos = (static_cast<double>(s) + 0.5) / rd - 0.5;  // in (-1/2, 1/2)
      out.counts[static_cast<size_t>(b * r + s)] = (c + slope * pos) / rd;
    }
  }
  out.origin = origin * rd;
  out.width = width / rd;
  return out;
}

double XLogX(double x) { return x > 0 ? x * std::log(x) : 0.0; }

// Costs of the candidate range [i, j) (bin edges of `h`) with prefix sums.
// [zero_lo, zero_hi) are the bins that came from the original bins touching 0
// (each `zero_width` bins wide), see Mse.
class Costs {
 public:
  Costs(const std::vector<double>& h, int64_t zero_lo, int64_t zero_hi, double zero_width)
      : h_(h),
        n_(static_cast<int64_t>(h.size())),
        zero_lo_(zero_lo),
        zero_hi_(zero_hi),
        zero_width_(zero_width) {
    const size_t m = h.size() + 1;
    c_.assign(m, 0);
    s1_.assign(m, 0);
    s2_.assign(m, 0);
    nz_.assign(m, 0);
    hl_.assign(m, 0);
    for (size_t b = 0; b < h.size(); ++b) {
      const double u = static_cast<double>(b) + 0.5;  // bin centre, in bins
      c_[b + 1] = c_[b] + h[b];
      s1_[b + 1] = s1_[b] + h[b] * u;
      s2_[b + 1] = s2_[b] + h[b] * u * u;
      nz_[b + 1] = nz_[b] + (h[b] > 0 ? 1 : 0);
      hl_[b + 1] = hl_[b] + XLogX(h[b]);
    }
    total_ = c_[h.size()];
  }

  // Expected squared error (in bins^2, summed over values) with `steps`
  // quantization steps across [i, j): rounding noise step^2 / 12 for each value
  // inside, squared distance to the clip edge for each value outside (at its
  // bin centre). Values next to 0 are the exception: 0 is always on the
  // quantization grid, so values spread evenly over [0, W) with W < step / 2
  // round to 0 with mean error W^2 / 3, not step^2 / 12. That matters: after
  // ReLU half the values are exactly 0, and charging them the full noise would
  // make the search clip far too hard.
  double Mse(int64_t i, int64_t j, double steps) const {
    const double di = static_cast<double>(i), dj = static_cast<double>(j);
    const double step = (dj - di) / steps;
    const double noise = step * step / 12;
    double inside = c_[j] - c_[i], near_zero = 0;
    if (i <= zero_lo_ && zero_hi_ <= j) {
      near_zero = c_[zero_hi_] - c_[zero_lo_];
      inside -= near_zero;
    }
    const double left = di * di * c_[i] - 2 * di * s1_[i] + s2_[i];
    const double right =
        (s2_[n_] - s2_[j]) - 2 * dj * (s1_[n_] - s1_[j]) + dj * dj * (total_ - c_[j]);
    return inside * noise + near_zero * std::min(zero_width_ * zero_width_ / 3, noise) +
           std::max(left, 0.0) + std::max(right, 0.0);
  }

  // KL(P || Q), TensorRT style. P: the bins of [i, j), with the counts outside
  // added to the two edge bins. Q: the bins of [i, j) without the outliers,
  // merged into `levels` equal groups of bins, each group's sum spread evenly
  // over its bins where P is nonzero. Needs j - i >= levels >= 2.
  double Kl(int64_t i, int64_t j, int64_t levels) const {
    const int64_t nb = j - i;
    const double left = c_[i], right = total_ - c_[j], inside = c_[j] - c_[i];
    if (inside <= 0) return kInf;
    const double first = h_[i] + left, last = h_[j - 1] + right;
    // Sum of P log P: interior bins unchanged, the edge bins carry the outliers.
    const double plogp = XLogX(first) + XLogX(last) + (hl_[j - 1] - hl_[i + 1]);
    double cross = 0;  // sum of P log q, q the probability Q gives each bin
    for (int64_t l = 0; l < levels; ++l) {
      const int64_t s = i + l * nb / levels, e = i + (l + 1) * nb / levels;
      const double qsum = c_[e] - c_[s];
      double psum = qsum, nonzero = nz_[e] - nz_[s];
      if (s == i) {
        psum += left;
        if (h_[i] == 0 && left > 0) nonzero += 1;
      }
      if (e == j) {
        psum += right;
        if (h_[j - 1] == 0 && right > 0) nonzero += 1;
      }
      if (psum == 0) continue;
      const double q = qsum > 0 ? qsum / (nonzero * inside) : kSmoothCount / inside;
      cross += psum * std::log(q);
    }
    // sum p log(p / q) with p = P / total.
    return (plogp - cross) / total_ - std::log(total_);
  }

 private:
  const std::vector<double>& h_;
  int64_t n_, zero_lo_, zero_hi_;
  double zero_width_;
  std::vector<double> c_, s1_, s2_, nz_, hl_;
  double total_ = 0;
};

enum class Objective { kEntropy, kMse };

// The histogram without the bins that touch 0, for the KL objective. Values
// there round to 0 whatever the clipping range (0 is always on the grid), so
// they say nothing about the choice; left in, the spike of exact zeros after a
// ReLU (often half of all values) dominates KL(P || Q) and drives the search to
// clip far too hard (fashion_resnet lost 6 points of accuracy that way).
std::vector<double> WithoutZeroBins(const std::vector<double>& counts, int64_t lo, int64_t hi) {
  std::vector<double> out = counts;
  for (int64_t b = lo; b < hi; ++b) out[static_cast<size_t>(b)] = 0;
  return out;
}

// How far a search moves an end of a range `width` bins wide: one bin, or for
// the costlier KL objective about 0.2% of the width (finer than the histogram
// can resolve anyway), which makes it several times faster on wide spans.
int64_t StepBins(int64_t width, bool coarse) {
  return coarse ? std::max<int64_t>(1, width / 512) : 1;
}

// Best T (in bins) for ranges [0, T) with T in [t_min, n]; ties keep the wider.
template <typename Cost>
int64_t SearchThreshold(int64_t n, int64_t t_min, bool coarse, const Cost& cost) {
  int64_t best_t = n;
  double best = cost(0, n);
  for (int64_t t = n - StepBins(n, coarse); t >= t_min; t -= StepBins(t, coarse)) {
    const double c = cost(0, t);
    if (c < best) best = c, best_t = t;
  }
  return best_t;
}

// Best [i, j) found by shrinking [0, n) from whichever end costs less, never
// past the edge `zero` and never narrower than min_width.
template <typename Cost>
std::pair<int64_t, int64_t> SearchTwoSided(int64_t n, int64_t zero, int64_t min_width, bool coarse,
                                           const Cost& cost) {
  int64_t i = 0, j = n, best_i = 0, best_j = n;
  double best = cost(0, n);
  while (j - i > min_width && (i < zero || j > zero)) {
    const int64_t step = std::min(StepBins(j - i, coarse), j - i - min_width);
    const int64_t sl = std::min(step, zero - i), sr = std::min(step, j - zero);
    const double cl = sl > 0 ? cost(i + sl, j) : kInf;
    const double cr = sr > 0 ? cost(i, j - sr) : kInf;
    const bool go_left = sl > 0 && (sr <= 0 || cl <= cr);
    go_left ? i += sl : j -= sr;
    const double c = go_left ? cl : cr;
    if (c < best) best = c, best_i = i, best_j = j;
  }
  return {best_i, best_j};
}

Range Search(const TensorStatistics& stats, const QuantScheme& scheme, Objective objective) {
  const int64_t bins = static_cast<int64_t>(stats.histogram().size());
  const double lo = stats.min(), hi = stats.max();
  const double qrange = static_cast<double>(scheme.qmax() - scheme.qmin());
  const int64_t qlevels = scheme.qmax() - scheme.qmin() + 1;

  if (scheme.symmetric || lo >= 0 || hi <= 0) {
    // One threshold on |x|. Symmetric schemes spend half the levels on each
    // side of 0; one-sided affine data gets all of them on [0, T].
    const BinnedCounts mag = MagnitudeHistogram(stats, bins);
    const BinnedCounts w = Upsample(mag.counts.data(), static_cast<int64_t>(mag.counts.size()), 0,
                                    mag.width, kWorkFactor * bins, /*mirrored=*/true);
    const int64_t n = static_cast<int64_t>(w.counts.size());
    const int64_t r = static_cast<int64_t>(mag.width / w.width);  // upsampling factor
    const Costs costs(w.counts, 0, std::min(r, n), static_cast<double>(r));
    const std::vector<double> kl_counts = WithoutZeroBins(w.counts, 0, std::min(r, n));
    const Costs kl_costs(kl_counts, 0, std::min(r, n), static_cast<double>(r));
    int64_t t = n;
    if (objective == Objective::kMse) {
      const double steps = scheme.symmetric ? qrange / 2 : qrange;
      t = SearchThreshold(n, 1, false,
                          [&](int64_t i, int64_t j) { return costs.Mse(i, j, steps); });
    } else {
      const int64_t levels = scheme.symmetric ? qlevels / 2 : qlevels;
      if (n > levels)
        t = SearchThreshold(n, levels, true,
                            [&](int64_t i, int64_t j) { return kl_costs.Kl(i, j, levels); });
    }
    const double maxabs = std::max(std::fabs(lo), std::fabs(hi));
    const double T = std::min(static_cast<double>(t) * w.width, maxabs);
    if (scheme.symmetric) return Range{-T, T};
    if (lo >= 0) return Range{lo, std::max(T, lo)};
    return Range{std::min(-T, hi), hi};
  }

  // Data on both sides of 0 under an affine scheme: search both ends over the
  // occupied span of the histogram (0 is a bin edge inside it).
  const std::vector<double>& h = stats.histogram();
  int64_t first = 0, last = bins - 1;
  while (h[first] == 0) ++first;
  while (h[last] == 0) --last;
  const double k = stats.histogram_lo() / stats.bin_width();
  const BinnedCounts w =
      Upsample(h.data() + first, last - first + 1, k + static_cast<double>(first),
               stats.bin_width(), kWorkFactor * bins, /*mirrored=*/false);
  const int64_t n = static_cast<int64_t>(w.counts.size());
  const int64_t zero = static_cast<int64_t>(-w.origin);                 // edge index of the value 0
  const int64_t r = static_cast<int64_t>(stats.bin_width() / w.width);  // upsampling factor
  const Costs costs(w.counts, std::max<int64_t>(zero - r, 0), std::min(zero + r, n),
                    static_cast<double>(r));
  const std::vector<double> kl_counts =
      WithoutZeroBins(w.counts, std::max<int64_t>(zero - r, 0), std::min(zero + r, n));
  const Costs kl_costs(kl_counts, std::max<int64_t>(zero - r, 0), std::min(zero + r, n),
                       static_cast<double>(r));
  std::pair<int64_t, int64_t> best{0, n};
  if (objective == Objective::kMse) {
    best = SearchTwoSided(n, zero, 1, false,
                          [&](int64_t i, int64_t j) { return costs.Mse(i, j, qrange); });
  } else if (n > qlevels) {
    best = SearchTwoSided(n, zero, qlevels, true,
                          [&](int64_t i, int64_t j) { return kl_costs.Kl(i, j, qlevels); });
  }
  return Range{std::max((w.origin + static_cast<double>(best.first)) * w.width, lo),
               std::min((w.origin + static_cast<double>(best.second)) * w.width, hi)};
}

}  // namespace

BinnedCounts MagnitudeHistogram(const TensorStatistics& stats, int64_t max_bins) {
  BinnedCounts out;
  if (stats.count() == 0) return out;
  const std::vector<double>& h = stats.histogram();
  const double k = stats.histogram_lo() / stats.bin_width();
  // Bin b covers [g, g + 1) * width with g = k + b; |x| then lies in bin g for
  // g >= 0 and in bin -g - 1 for g < 0 (0 is an edge, so no bin straddles it).
  auto magnitude_index = [&](size_t b) {
    const double g = k + static_cast<double>(b);
    return g >= 0 ? g : -g - 1;
  };
  double top = 0;
  for (size_t b = 0; b < h.size(); ++b)
    if (h[b] != 0) top = std::max(top, magnitude_index(b));
  // Coarsen by 2^d until it fits; exact since both grids are dyadic.
  double scale = 1;
  while (std::floor(top * scale) + 1 > static_cast<double>(max_bins)) scale /= 2;
  out.counts.assign(static_cast<size_t>(std::floor(top * scale)) + 1, 0.0);
  for (size_t b = 0; b < h.size(); ++b)
    if (h[b] != 0) out.counts[static_cast<size_t>(std::floor(magnitude_index(b) * scale))] += h[b];
  out.origin = 0;
  out.width = stats.bin_width() / scale;
  return out;
}

Range EntropyRange(const TensorStatistics& stats, const QuantScheme& scheme) {
  return Search(stats, scheme, Objective::kEntropy);
}

Range MseRange(const TensorStatistics& stats, const QuantScheme& scheme) {
  return Search(stats, scheme, Objective::kMse);
}

}  // namespace octet::quant::detail
