// QuantScheme: integer ranges, names, validation, and scale / zero point.
#include "octet/quant/scheme.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <random>

namespace octet::quant {
namespace {

QuantScheme Make(DType t, bool symmetric, bool reduce = false, bool narrow = false) {
  QuantScheme s;
  s.dtype = t;
  s.symmetric = symmetric;
  s.reduce_range = reduce;
  s.narrow_range = narrow;
  return s;
}

TEST(QuantSchemeTest, IntegerRanges) {
  struct Row {
    DType t;
    bool reduce, narrow;
    int64_t qmin, qmax;
  };
  const Row rows[] = {
      {DType::kU8, false, false, 0, 255},   {DType::kI8, false, false, -128, 127},
      {DType::kU4, false, false, 0, 15},    {DType::kI4, false, false, -8, 7},
      {DType::kU8, true, false, 0, 127},    {DType::kI8, true, false, -64, 63},
      {DType::kI8, false, true, -127, 127}, {DType::kI4, false, true, -7, 7},
  };
  for (const Row& r : rows) {
    const QuantScheme s = Make(r.t, /*symmetric=*/r.narrow, r.reduce, r.narrow);
    EXPECT_EQ(s.qmin(), r.qmin) << s.ToString();
    EXPECT_EQ(s.qmax(), r.qmax) << s.ToString();
  }
}

TEST(QuantSchemeTest, EqualityAndToString) {
  QuantScheme a = Make(DType::kU8, false);
  QuantScheme b = a;
  EXPECT_EQ(a, b);
  b.axis = 1;
  EXPECT_NE(a, b);
  EXPECT_EQ(a.ToString(), "u8 affine per-tensor static");

  QuantScheme g = Make(DType::kI4, false);
  g.granularity = Granularity::kPerGroup;
  g.group_size = 128;
  EXPECT_EQ(g.ToString(), "i4 affine per-group(128) axis=0 static");

  QuantScheme w = Make(DType::kI8, true, false, true);
  w.granularity = Granularity::kPerChannel;
  EXPECT_EQ(w.ToString(), "i8 symmetric per-channel axis=0 static narrow-range");
}

TEST(QuantSchemeTest, GranularityNames) {
  for (Granularity g : {Granularity::kPerTensor, Granularity::kPerChannel, Granularity::kPerToken,
                        Granularity::kPerGroup}) {
    Expected<Granularity> parsed = ParseGranularity(GranularityName(g));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, g);
  }
  EXPECT_STREQ(GranularityName(Granularity::kPerChannel), "per-channel");
  Expected<Granularity> bad = ParseGranularity("per-row");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("per-row"), std::string::npos);
}

TEST(QuantSchemeTest, Validate) {
  EXPECT_TRUE(ValidateScheme(Make(DType::kU8, false), "x").ok());
  EXPECT_TRUE(ValidateScheme(Make(DType::kI8, true, true, true), "x").ok());

  auto expect_error = [](const QuantScheme& s, const std::string& fragment) {
    Status st = ValidateScheme(s, "activation scheme of preset p");
    ASSERT_FALSE(st.ok()) << s.ToString();
    EXPECT_NE(st.message().find("activation scheme of preset p"), std::string::npos)
        << st.message();
    EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
  };
  expect_error(Make(DType::kF32, false), "f32");
  QuantScheme group = Make(DType::kI4, false);
  group.granularity = Granularity::kPerGroup;
  expect_error(group, "group_size");
  QuantScheme stray = Make(DType::kI8, true);
  stray.group_size = 32;
  expect_error(stray, "group_size");
  QuantScheme token = Make(DType::kI8, true);
  token.granularity = Granularity::kPerToken;
  expect_error(token, "dynamic");
  token.dynamic = true;
  EXPECT_TRUE(ValidateScheme(token, "x").ok());
  expect_error(Make(DType::kU8, false, false, true), "narrow_range");
  expect_error(Make(DType::kI4, true, true), "reduce_range");
}

TEST(ChooseScaleZeroPointTest, AffineU8) {
  const ScaleZeroPoint p = ChooseScaleZeroPoint(-1, 3, Make(DType::kU8, false));
  EXPECT_FLOAT_EQ(p.scale, 4.0f / 255);
  EXPECT_EQ(p.zero_point, 64);  // round(63.75)
}

TEST(ChooseScaleZeroPointTest, SymmetricSignedAndUnsigned) {
  const ScaleZeroPoint n = ChooseScaleZeroPoint(-2, 1, Make(DType::kI8, true, false, true));
  EXPECT_FLOAT_EQ(n.scale, 2.0f / 127);
  EXPECT_EQ(n.zero_point, 0);
  const ScaleZeroPoint w = ChooseScaleZeroPoint(-1, 2, Make(DType::kI8, true));
  EXPECT_FLOAT_EQ(w.scale, 2.0f / 127.5f);
  EXPECT_EQ(w.zero_point, 0);
  const ScaleZeroPoint u = ChooseScaleZeroPoint(-1, 1, Make(DType::kU8, true));
  EXPECT_EQ(u.zero_point, 128);
  EXPECT_EQ(ChooseScaleZeroPoint(-1, 1, Make(DType::kU8, true, true)).zero_point, 64);
  EXPECT_EQ(ChooseScaleZeroPoint(-1, 1, Make(DType::kU4, true)).zero_point, 8);
}

TEST(ChooseScaleZeroPointTest, ReduceRange) {
  const ScaleZeroPoint p = ChooseScaleZeroPoint(0, 127, Make(DType::kU8, false, true));
  EXPECT_FLOAT_EQ(p.scale, 1.0f);
  EXPECT_EQ(p.zero_point, 0);
  const ScaleZeroPoint s = ChooseScaleZeroPoint(-6.4, 6.4, Make(DType::kI8, true, true));
  EXPECT_FLOAT_EQ(s.scale, 6.4f / 63.5f);
}

TEST(ChooseScaleZeroPointTest, ZeroAndOneSidedRanges) {
  for (bool sym : {false, true}) {
    const ScaleZeroPoint z = ChooseScaleZeroPoint(0, 0, Make(DType::kI8, sym));
    EXPECT_EQ(z.scale, 1.0f);
    EXPECT_TRUE(z.zero_point >= -128 && z.zero_point <= 127);
  }
  // [2, 5] is widened to [0, 5]: 0 must be exact.
  const ScaleZeroPoint pos = ChooseScaleZeroPoint(2, 5, Make(DType::kU8, false));
  EXPECT_FLOAT_EQ(pos.scale, 5.0f / 255);
  EXPECT_EQ(pos.zero_point, 0);
  const ScaleZeroPoint neg = ChooseScaleZeroPoint(-5, -2, Make(DType::kI8, false));
  EXPECT_FLOAT_EQ(neg.scale, 5.0f / 255);
  EXPECT_EQ(neg.zero_point, 127);
}

TEST(ChooseScaleZeroPointTest, TinyRangesStayValid) {
  for (double r : {1e-30, 1e-38, 1e-45, 1e-300}) {
    for (bool sym : {false, true}) {
      const QuantScheme s = Make(DType::kI8, sym);
      const ScaleZeroPoint p = ChooseScaleZeroPoint(-r, r, s);
      EXPECT_GE(p.scale, FLT_MIN) << r;
      EXPECT_TRUE(std::isfinite(1.0f / p.scale)) << r;
      EXPECT_GE(p.zero_point, s.qmin());
      EXPECT_LE(p.zero_point, s.qmax());
    }
  }
}

// Random ranges: 0 and both ends are representable within half a step, the
// zero point is in range and 0 maps exactly to it.
TEST(ChooseScaleZeroPointTest, RandomRangesProperties) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> mag(-6, 3);
  for (int it = 0; it < 2000; ++it) {
    const double lo = -std::pow(10.0, mag(rng)) * (it % 5 == 0 ? 0 : 1);
    const double hi = std::pow(10.0, mag(rng));
    for (DType t : {DType::kU8, DType::kI8, DType::kI4, DType::kU4}) {
      for (bool sym : {false, true}) {
        const QuantScheme s = Make(t, sym);
        const ScaleZeroPoint p = ChooseScaleZeroPoint(lo, hi, s);
        ASSERT_GE(p.zero_point, s.qmin());
        ASSERT_LE(p.zero_point, s.qmax());
        const double scale = p.scale;
        auto quant = [&](double x) {
          return std::clamp(std::nearbyint(x / scale) + p.zero_point, double(s.qmin()),
                            double(s.qmax()));
        };
        auto dequant = [&](double q) { return (q - p.zero_point) * scale; };
        EXPECT_EQ(dequant(quant(0.0)), 0.0);
        // Symmetric i8 (non-narrow) clips the positive end by less than one step.
        const double tol = scale * (sym ? 1.01 : 0.51);
        EXPECT_NEAR(dequant(quant(hi)), hi, tol) << s.ToString() << " " << lo << " " << hi;
        EXPECT_NEAR(dequant(quant(lo)), lo, tol) << s.ToString() << " " << lo << " " << hi;
      }
    }
  }
}

}  // namespace
}  // namespace octet::quant
