// ChooseRange: what each calibration method picks on data with known answers
// (Gaussian with outliers, ReLU outputs, uniform, constant, empty).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "octet/quant/statistics.h"

namespace octet::quant {
namespace {

const CalibrationMethod kAllMethods[] = {
    CalibrationMethod::kMinMax, CalibrationMethod::kMovingAverage, CalibrationMethod::kPercentile,
    CalibrationMethod::kEntropy, CalibrationMethod::kMse};

QuantScheme AffineU8() { return QuantScheme{}; }
QuantScheme SymmetricI8() {
  QuantScheme s;
  s.dtype = DType::kI8;
  s.symmetric = true;
  return s;
}

TensorStatistics Observe(const std::vector<float>& v, int batch = 10000) {
  TensorStatistics s(2048);
  for (size_t i = 0; i < v.size(); i += static_cast<size_t>(batch))
    s.Observe(v.data() + i, std::min<int64_t>(batch, static_cast<int64_t>(v.size() - i)));
  return s;
}

Range Choose(const TensorStatistics& s, CalibrationMethod m, const QuantScheme& scheme) {
  CalibrationOptions o;
  o.method = m;
  Expected<Range> r = ChooseRange(s, o, scheme);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : Range{};
}

// Mean squared error of quantize-dequantize of `v` with the parameters that
// ChooseScaleZeroPoint gives for `r`, computed directly on the data.
double QdqMse(const std::vector<float>& v, Range r, const QuantScheme& s) {
  const ScaleZeroPoint p = ChooseScaleZeroPoint(r.lo, r.hi, s);
  const double scale = p.scale, qmin = double(s.qmin()), qmax = double(s.qmax());
  double sum = 0;
  for (float x : v) {
    const double q = std::clamp(std::nearbyint(x / scale) + p.zero_point, qmin, qmax);
    const double e = (q - p.zero_point) * scale - x;
    sum += e * e;
  }
  return sum / static_cast<double>(v.size());
}

std::vector<float> Gaussian(uint32_t seed, size_t n, float sigma = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// N(0, 1) with six large outliers (around +-40 sigma).
std::vector<float> GaussianWithOutliers(uint32_t seed) {
  std::vector<float> v = Gaussian(seed, 200000);
  for (int i = 0; i < 3; ++i) {
    v[static_cast<size_t>(1000 + 7 * i)] = 38.0f + static_cast<float>(i);
    v[static_cast<size_t>(5000 + 7 * i)] = -40.0f - static_cast<float>(i);
  }
  return v;
}

TEST(ChooseRangeTest, GaussianWithOutliers) {
  for (uint32_t seed : {1u, 2u}) {
    const std::vector<float> v = GaussianWithOutliers(seed);
    const TensorStatistics s = Observe(v);
    for (const QuantScheme& scheme : {AffineU8(), SymmetricI8()}) {
      SCOPED_TRACE(scheme.ToString());
      const Range minmax = Choose(s, CalibrationMethod::kMinMax, scheme);
      EXPECT_EQ(minmax.lo, -42.0);
      EXPECT_EQ(minmax.hi, 40.0);
      // Percentile and entropy ignore the outliers: the clip sits in the
      // Gaussian's tail.
      for (CalibrationMethod m : {CalibrationMethod::kPercentile, CalibrationMethod::kEntropy}) {
        const Range r = Choose(s, m, scheme);
        SCOPED_TRACE(CalibrationMethodName(m));
        EXPECT_LT(r.lo, -2.0);
        EXPECT_GT(r.lo, -8.0);
        EXPECT_GT(r.hi, 2.0);
        EXPECT_LT(r.hi, 8.0);
        if (scheme.symmetric) {
          EXPECT_EQ(r.lo, -r.hi);
        }
      }
      // MSE weighs each outlier's squared clipping error (~1000 sigma^2)
      // against the rounding noise of 200000 values, so it clips only part of
      // the way; what it must do is beat min/max on the actual error.
      const Range mse = Choose(s, CalibrationMethod::kMse, scheme);
      EXPECT_GT(mse.lo, minmax.lo);
      EXPECT_LT(mse.hi, minmax.hi);
      EXPECT_LT(QdqMse(v, mse, scheme), 0.9 * QdqMse(v, minmax, scheme));
    }
  }
}

// With outliers rare enough that clipping them is worth it, MSE clips inside
// a few sigma too.
TEST(ChooseRangeTest, MseClipsRareOutliers) {
  std::vector<float> v = Gaussian(4, 1 << 20);
  v[10] = 12.0f;
  v[20] = -11.0f;
  const TensorStatistics s = Observe(v, 1 << 16);
  for (const QuantScheme& scheme : {AffineU8(), SymmetricI8()}) {
    const Range r = Choose(s, CalibrationMethod::kMse, scheme);
    EXPECT_GT(r.lo, -8.0) << scheme.ToString();
    EXPECT_LT(r.hi, 8.0) << scheme.ToString();
    EXPECT_LT(r.lo, -3.0) << scheme.ToString();
    EXPECT_GT(r.hi, 3.0) << scheme.ToString();
  }
}

// The MSE method's threshold is as good as a direct scan of thresholds on the
// data (symmetric), and at least as good as min/max and percentile (affine).
TEST(ChooseRangeTest, MseMatchesDirectSearch) {
  for (uint32_t seed : {5u, 6u}) {
    std::vector<float> v = GaussianWithOutliers(seed);
    v.resize(30000);  // keep the direct scans quick; outliers are in the prefix
    const TensorStatistics s = Observe(v);
    const QuantScheme sym = SymmetricI8();
    double best = INFINITY;
    for (double t = 1; t <= 42; t *= 1.005) best = std::min(best, QdqMse(v, {-t, t}, sym));
    const double chosen = QdqMse(v, Choose(s, CalibrationMethod::kMse, sym), sym);
    EXPECT_LE(chosen, 1.02 * best) << seed;

    const QuantScheme aff = AffineU8();
    const double affine = QdqMse(v, Choose(s, CalibrationMethod::kMse, aff), aff);
    EXPECT_LE(affine, QdqMse(v, Choose(s, CalibrationMethod::kMinMax, aff), aff));
    EXPECT_LE(affine, QdqMse(v, Choose(s, CalibrationMethod::kPercentile, aff), aff));
    // Direct 2-D scan: coarse, then fine around the coarse optimum.
    Range coarse{-42, 40};
    double best_affine = QdqMse(v, coarse, aff);
    for (double lo = -42; lo <= -1; lo /= 1.1)
      for (double hi = 1; hi <= 40; hi *= 1.1) {
        const double e = QdqMse(v, {lo, hi}, aff);
        if (e < best_affine) best_affine = e, coarse = {lo, hi};
      }
    for (double lo = coarse.lo * 1.1; lo <= coarse.lo / 1.1; lo /= 1.01)
      for (double hi = coarse.hi / 1.1; hi <= coarse.hi * 1.1; hi *= 1.01)
        best_affine = std::min(best_affine, QdqMse(v, {lo, hi}, aff));
    EXPECT_LE(affine, 1.02 * best_affine) << seed;
  }
}

TEST(ChooseRangeTest, ReluOutputsKeepZeroLowerEnd) {
  std::vector<float> v = Gaussian(8, 200000, 2.0f);
  for (float& x : v) x = std::max(x, 0.0f);
  v[123] = 50.0f;
  const TensorStatistics s = Observe(v);
  for (CalibrationMethod m : kAllMethods) {
    const Range r = Choose(s, m, AffineU8());
    // Searches keep the 0 end; the percentile interpolates inside the bin of 0.
    EXPECT_GE(r.lo, 0.0) << CalibrationMethodName(m);
    EXPECT_LT(r.lo, m == CalibrationMethod::kPercentile ? 1e-3 : 1e-300)
        << CalibrationMethodName(m);
    EXPECT_GT(r.hi, 4.0) << CalibrationMethodName(m);
    if (m == CalibrationMethod::kPercentile || m == CalibrationMethod::kEntropy) {
      EXPECT_LT(r.hi, 16.0) << CalibrationMethodName(m);
    }
  }
  // Half the values are exactly 0 and quantize exactly; the MSE search must
  // not charge them rounding noise (that would make it clip too hard).
  const QuantScheme sym = SymmetricI8();
  double best = INFINITY;
  for (double t = 2; t <= 50; t *= 1.01) best = std::min(best, QdqMse(v, {-t, t}, sym));
  EXPECT_LE(QdqMse(v, Choose(s, CalibrationMethod::kMse, sym), sym), 1.02 * best);
}

TEST(ChooseRangeTest, UniformDataKeepsNearlyTheFullRange) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> d(-1.0f, 3.0f);
  std::vector<float> v(200000);
  for (float& x : v) x = d(rng);
  const TensorStatistics s = Observe(v);
  for (CalibrationMethod m : {CalibrationMethod::kEntropy, CalibrationMethod::kMse}) {
    const Range a = Choose(s, m, AffineU8());
    EXPECT_LT(a.lo, -0.98) << CalibrationMethodName(m);
    EXPECT_GT(a.hi, 2.95) << CalibrationMethodName(m);
    const Range y = Choose(s, m, SymmetricI8());
    EXPECT_GT(y.hi, 2.95) << CalibrationMethodName(m);
    EXPECT_EQ(y.lo, -y.hi);
  }
}

TEST(ChooseRangeTest, ConstantTensorGivesAValidRange) {
  const std::vector<float> v(5000, 5.0f);
  const TensorStatistics s = Observe(v, 1000);
  for (CalibrationMethod m : kAllMethods) {
    for (const QuantScheme& scheme : {AffineU8(), SymmetricI8()}) {
      const Range r = Choose(s, m, scheme);
      SCOPED_TRACE(std::string(CalibrationMethodName(m)) + " " + scheme.ToString());
      ASSERT_TRUE(std::isfinite(r.lo) && std::isfinite(r.hi));
      EXPECT_LE(r.lo, r.hi);
      EXPECT_GE(r.hi, 5.0);
      // 5.0 survives quantize-dequantize to within one step.
      const ScaleZeroPoint p = ChooseScaleZeroPoint(r.lo, r.hi, scheme);
      EXPECT_LT(std::sqrt(QdqMse(v, r, scheme)), p.scale);
    }
  }
}

TEST(ChooseRangeTest, NoFiniteValuesGiveZeroRange) {
  TensorStatistics empty;
  const std::vector<float> bad = {NAN, INFINITY};
  TensorStatistics only_bad;
  only_bad.Observe(bad.data(), 2);
  for (const TensorStatistics* s : {&empty, &only_bad}) {
    for (CalibrationMethod m : kAllMethods) {
      const Range r = Choose(*s, m, AffineU8());
      EXPECT_EQ(r.lo, 0.0);
      EXPECT_EQ(r.hi, 0.0);
    }
  }
}

TEST(ChooseRangeTest, PercentileOfOneSidedAndSymmetric) {
  // 0..9999 once each: the 99% quantile is 9900 (within a bin).
  std::vector<float> v(10000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i);
  const TensorStatistics s = Observe(v);
  CalibrationOptions o;
  o.method = CalibrationMethod::kPercentile;
  o.percentile = 99;
  Expected<Range> r = ChooseRange(s, o, AffineU8());
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->lo, 100, 8);
  EXPECT_NEAR(r->hi, 9900, 8);
  // Symmetric: the quantile of |x| (here the same values).
  r = ChooseRange(s, o, SymmetricI8());
  ASSERT_TRUE(r.ok());
  EXPECT_NEAR(r->hi, 9900, 8);
  EXPECT_EQ(r->lo, -r->hi);
  o.percentile = 100;
  r = ChooseRange(s, o, AffineU8());
  EXPECT_EQ(r->lo, 0.0);
  EXPECT_EQ(r->hi, 9999.0);
}

TEST(ChooseRangeTest, RejectsInvalidOptionsAndSchemes) {
  const TensorStatistics s = Observe(Gaussian(1, 1000));
  CalibrationOptions o;
  o.percentile = 20;
  EXPECT_FALSE(ChooseRange(s, o, AffineU8()).ok());
  QuantScheme f32;
  f32.dtype = DType::kF32;
  EXPECT_FALSE(ChooseRange(s, CalibrationOptions{}, f32).ok());
}

}  // namespace
}  // namespace octet::quant
