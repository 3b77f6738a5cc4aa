// GeluErf (octet/cuda/gelu_erf.h), the GELU of the GEMM epilogues, against
// the erf form in double precision, on the host (the same expression as on the
// GPU, where t and the exponential are approximate to about 2^-22 more:
// int8_gemm_test.cc checks the kernels' values). Runs without a GPU.
#include "octet/cuda/gelu_erf.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace octet::cuda {
namespace {

// 1 + erf(x) = erfc(-x), which does not cancel for x < 0 (1 + erf does, even
// in double, below x = -5.9).
double GeluReference(double v) { return 0.5 * v * std::erfc(-v / std::sqrt(2.0)); }

// Every v = +-i / 4096 up to 16 and a coarser sweep to 1e4: relative error
// below 4e-7 + 2^-21 z^2 (z = |v| / sqrt 2), or absolute below 1e-30 (f32's
// denormals). 4e-7: the fit's 1.2e-7 plus f32 rounding of t, P and the
// products; z^2 2^-21: the exponent -z^2 + P is rounded in f32 (with z and
// log2 e), an absolute error of a few ulp of z^2 that becomes a relative one
// on exp (any f32 evaluation of exp(-z^2) has it). The erf form computed with
// erff in f32 is far worse on the negative side (1 + erf(x) cancels:
// relative 1e-1 at v = -5, 1 below -5.5); the test prints both.
TEST(GeluErfTest, MatchesTheErfFormOnADenseGrid) {
  double worst = 0.0, worst_at = 0.0, worst_erff = 0.0;
  auto check = [&](double v) {
    const float f = static_cast<float>(v);
    const double ref = GeluReference(f);
    const double z2 = 0.5 * static_cast<double>(f) * f;
    const double bound = (4e-7 + std::ldexp(z2, -21)) * std::fabs(ref) + 1e-30;
    const double err = std::fabs(static_cast<double>(GeluErf(f)) - ref) / bound;
    if (err > worst) worst = err, worst_at = f;
    const float erff_form = 0.5f * f * (1.f + std::erf(f * 0.70710678118654752f));
    worst_erff = std::max(worst_erff, std::fabs(static_cast<double>(erff_form) - ref) / bound);
  };
  for (int i = -16 * 4096; i <= 16 * 4096; ++i) check(i / 4096.0);
  for (double v = 16.0; v < 1e4; v *= 1.001) check(v), check(-v);
  EXPECT_LE(worst, 1.0) << "worst at v = " << worst_at;
  std::printf("GeluErf: worst error %.3g of the bound (at v = %g); the erff form: %.3g\n", worst,
              worst_at, worst_erff);
}

TEST(GeluErfTest, SpecialValuesAsTheErfForm) {
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(GeluErf(inf), inf);
  EXPECT_TRUE(std::isnan(GeluErf(-inf)));  // -inf * 0, as 0.5 v (1 + erf) gives
  EXPECT_TRUE(std::isnan(GeluErf(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(GeluErf(0.f), 0.f);
  EXPECT_EQ(GeluErf(-100.f), 0.f);
  EXPECT_EQ(GeluErf(100.f), 100.f);
}

}  // namespace
}  // namespace octet::cuda
