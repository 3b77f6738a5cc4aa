// Int8Pool2d against the QDQ graph it replaces,
//   DQ(x, s, zp) -> MaxPool | AveragePool | GlobalAveragePool [-> Clip(lo, hi)] -> Q(s, zp)
// (one s and zp on both sides: the quantizer's shared ops) run by the reference
// interpreter, and ClampCodes on its own.
#include <gtest/gtest.h>

#include <iostream>

#include "octet/x86/int8_kernels.h"
#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

struct PoolCase {
  std::string name;
  std::vector<int64_t> src_dims;  // N, C, H, W
  PoolKind kind = PoolKind::kMax;
  bool global = false;  // the reference runs GlobalAveragePool; the kernel's window is H x W
  std::array<int64_t, 2> kernel{1, 1}, strides{1, 1}, dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
  DType type = DType::kU8;
  int32_t zp = 0;
  bool clip = false;  // a Clip narrower than the codes before the Q
};

void PrintTo(const PoolCase& c, std::ostream* os) { *os << c.name; }

// Sum of the codes in each average-pooling window and the divisor (the
// window's size with count_include_pad, else the input positions in it), for
// the outputs in NCHW order. Padding is code 0.
std::pair<std::vector<int64_t>, std::vector<int64_t>> WindowSums(
    const Tensor& x, const Int8Pool2dConfig& c, const std::vector<int64_t>& out_dims) {
  const int64_t h = x.dim(2), w = x.dim(3), oh = out_dims[2], ow = out_dims[3];
  std::vector<int64_t> sums, counts;
  for (int64_t p = 0; p < out_dims[0] * out_dims[1]; ++p)
    for (int64_t y = 0; y < oh; ++y)
      for (int64_t xo = 0; xo < ow; ++xo) {
        int64_t sum = 0, count = 0;
        for (int64_t ky = 0; ky < c.kernel[0]; ++ky)
          for (int64_t kx = 0; kx < c.kernel[1]; ++kx) {
            const int64_t iy = y * c.strides[0] - c.pads[0] + ky;
            const int64_t ix = xo * c.strides[1] - c.pads[1] + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            sum += x.GetAsInt64((p * h + iy) * w + ix);
            ++count;
          }
        sums.push_back(sum);
        // No window reaches past the bottom/right padding here (floor mode).
        counts.push_back(c.kind == PoolKind::kAverageIncludePad ? c.kernel[0] * c.kernel[1]
                                                                : count);
      }
  return {sums, counts};
}

class Int8PoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(Int8PoolTest, MatchesQdqReference) {
  const PoolCase& k = GetParam();
  std::mt19937 rng(Seed(static_cast<uint32_t>(std::hash<std::string>{}(k.name))));
  const bool u8 = k.type == DType::kU8;
  const int qmin = u8 ? 0 : -128, qmax = u8 ? 255 : 127;
  const float scale = 0.0173f;

  Int8Pool2dConfig c;
  c.src_dims = k.src_dims;
  c.type = k.type;
  c.kind = k.kind;
  c.kernel = k.global ? std::array<int64_t, 2>{k.src_dims[2], k.src_dims[3]} : k.kernel;
  c.strides = k.strides;
  c.dilations = k.dilations;
  c.pads = k.pads;
  // The Clip's bounds are codes (what the quantizer's reduce_range Clip is);
  // in real units they are s * (code - zp).
  const int32_t clip_lo = qmin + 37, clip_hi = qmax - 61;
  if (k.clip) {
    c.clamp_lo = clip_lo;
    c.clamp_hi = clip_hi;
  }

  const Tensor x = u8 ? RandomInts<uint8_t>(k.src_dims, rng, qmin, qmax)
                      : RandomInts<int8_t>(k.src_dims, rng, qmin, qmax);

  QdqGraph g;
  Value* y = g.Dq(g.Input(x, "x"), k.type, scale, k.zp, "xf");
  const std::vector<int64_t> pads(k.pads.begin(), k.pads.end());
  const std::vector<int64_t> kernel_shape(c.kernel.begin(), c.kernel.end());
  const std::vector<int64_t> strides(k.strides.begin(), k.strides.end());
  if (k.global) {
    y = g.Node("GlobalAveragePool", {y}, "pool");
  } else if (k.kind == PoolKind::kMax) {
    y = g.Node("MaxPool", {y}, "pool",
               {{"kernel_shape", kernel_shape},
                {"strides", strides},
                {"pads", pads},
                {"dilations", std::vector<int64_t>(k.dilations.begin(), k.dilations.end())}});
  } else {
    y = g.Node("AveragePool", {y}, "pool",
               {{"kernel_shape", kernel_shape},
                {"strides", strides},
                {"pads", pads},
                {"count_include_pad", int64_t{k.kind == PoolKind::kAverageIncludePad ? 1 : 0}}});
  }
  if (k.clip) {
    y = g.Node("Clip",
               {y, g.Const(Tensor::Scalar<float>(scale * static_cast<float>(clip_lo - k.zp)), "lo"),
                g.Const(Tensor::Scalar<float>(scale * static_cast<float>(clip_hi - k.zp)), "hi")},
               "clip");
  }
  const std::vector<Tensor> ref = g.Run({g.Q(y, k.type, scale, k.zp, "q")});
  ASSERT_TRUE(ref[0].defined());

  auto pool = Int8Pool2d::Create(c);
  ASSERT_TRUE(pool.ok()) << pool.status().ToString();
  ASSERT_EQ(pool->dst_dims(), ref[0].dims()) << pool->description();
  const Tensor x_nhwc = ToNhwc(x);
  Tensor out_nhwc(k.type, pool->dst_dims());
  Status s = pool->Run(x_nhwc.raw(), out_nhwc.raw());
  ASSERT_TRUE(s.ok()) << s.ToString();
  const Tensor out = FromNhwc(out_nhwc);
  const std::string what = pool->description() + " [" + pool->implementation() + "]";

  if (k.kind == PoolKind::kMax) {
    // Max commutes with dequantization and the Clip with both (monotone):
    // bit-exact.
    EXPECT_TRUE(out.BitwiseEquals(ref[0])) << what;
    for (int64_t i = 0, bad = 0; i < out.numel(); ++i)
      if (out.GetAsInt64(i) != ref[0].GetAsInt64(i) && ++bad <= 5)
        ADD_FAILURE() << what << " element " << i << ": got " << out.GetAsInt64(i) << ", reference "
                      << ref[0].GetAsInt64(i);
    return;
  }

  // Average. The kernel sums codes exactly and rounds sum / count once,
  // halves to even. The reference dequantizes each code to the f32 s * (q -
  // zp), averages those (in double, stored as f32), divides that f32 average
  // by s and rounds the quotient; the
  // f32 products and the division leave a few ulps of error (~1e-5 codes).
  // Where sum / count is at least 1 / (2 count) >= 0.01 codes from a half
  // both are exact, so they must agree. Where it is exactly a half the
  // reference's ulps decide the rounding (and with an odd zero point even the
  // exact QDQ value, round_half_even(sum / count - zp) + zp, is the other
  // code than round_half_even(sum / count)), so one code apart is allowed
  // there. Halves are not rare: a quarter of all 2x2 windows (sum = 2 mod 4),
  // and the padded 4- and 6-element windows at the borders of a 3x3 window;
  // the fraction of differing codes among the outputs that are not halves
  // must be 0 (< 2% overall is not a bound that holds for 2x2 windows).
  const auto [sums, counts] = WindowSums(x, c, pool->dst_dims());
  int64_t halves = 0, differing = 0, bad = 0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const int64_t got = out.GetAsInt64(i), want = ref[0].GetAsInt64(i);
    const bool half = (2 * sums[i]) % counts[i] == 0 && ((2 * sums[i]) / counts[i]) % 2 != 0;
    halves += half;
    // What the kernel computes: round_half_even(sum / count), clamped.
    int64_t ideal = static_cast<int64_t>(
        std::nearbyint(static_cast<double>(sums[i]) / static_cast<double>(counts[i])));
    if (k.clip) ideal = std::clamp<int64_t>(ideal, clip_lo, clip_hi);
    if (got != ideal && ++bad <= 5)
      ADD_FAILURE() << what << " element " << i << ": got " << got << ", round(" << sums[i] << " / "
                    << counts[i] << ") = " << ideal;
    if (got == want) continue;
    ++differing;
    if ((!half || std::llabs(got - want) > 1) && ++bad <= 5)
      ADD_FAILURE() << what << " element " << i << ": got " << got << ", reference " << want
                    << " (sum " << sums[i] << " / count " << counts[i] << ")";
  }
  if (differing > 0)
    std::cout << what << ": " << differing << " of " << out.numel() << " codes one apart, "
              << halves << " halves\n";
}

// A case: u8, zero point 0, no clip; each entry below changes what it tests.
PoolCase Case(std::string name, std::vector<int64_t> src_nchw, PoolKind kind, int64_t kernel,
              int64_t stride, int64_t pad) {
  PoolCase c;
  c.name = std::move(name);
  c.src_dims = std::move(src_nchw);
  c.kind = kind;
  c.kernel = {kernel, kernel};
  c.strides = {stride, stride};
  c.pads = {pad, pad, pad, pad};
  return c;
}

PoolCase Global(std::string name, std::vector<int64_t> src_nchw) {
  PoolCase c = Case(std::move(name), std::move(src_nchw), PoolKind::kAverageExcludePad, 1, 1, 0);
  c.global = true;
  return c;
}

std::vector<PoolCase> Cases() {
  const PoolKind kMax = PoolKind::kMax, kInc = PoolKind::kAverageIncludePad,
                 kExc = PoolKind::kAverageExcludePad;
  const DType kI8 = DType::kI8;
  std::vector<PoolCase> v;
  // Max: resnet's stem pool (3x3, stride 2, pads 1), 2x2 stride 2, dilation 2.
  PoolCase c = Case("max_k3s2p1_u8", {1, 64, 15, 14}, kMax, 3, 2, 1);
  v.push_back(c);
  c = Case("max_k3s2p1_u8_zp_batch3", {3, 17, 9, 11}, kMax, 3, 2, 1);
  c.zp = 131;
  v.push_back(c);
  c = Case("max_k3s2p1_i8", {1, 3, 10, 9}, kMax, 3, 2, 1);
  c.type = kI8;
  v.push_back(c);
  c = Case("max_k3s2p1_i8_zp_batch3", {3, 64, 8, 7}, kMax, 3, 2, 1);
  c.type = kI8;
  c.zp = -9;
  v.push_back(c);
  c = Case("max_k2s2_u8_zp_odd", {1, 3, 9, 7}, kMax, 2, 2, 0);
  c.zp = 5;
  v.push_back(c);
  c = Case("max_k2s2_i8", {3, 17, 8, 8}, kMax, 2, 2, 0);
  c.type = kI8;
  v.push_back(c);
  c = Case("max_dilation2_u8", {1, 17, 11, 9}, kMax, 3, 1, 1);
  c.dilations = {2, 2};
  c.zp = 20;
  v.push_back(c);
  c = Case("max_dilation2_stride2_i8", {3, 3, 12, 10}, kMax, 2, 2, 0);
  c.dilations = {2, 2};
  c.type = kI8;
  c.zp = 4;
  v.push_back(c);
  c = Case("max_clip_u8_zp", {1, 64, 15, 14}, kMax, 3, 2, 1);
  c.zp = 10;
  c.clip = true;
  v.push_back(c);
  c = Case("max_clip_i8_zp_batch3", {3, 17, 9, 11}, kMax, 2, 2, 0);
  c.type = kI8;
  c.zp = -3;
  c.clip = true;
  v.push_back(c);
  // Average, counting the padding (zero point 0 only: padding is code 0).
  c = Case("avg_include_pad_k3s2p1_u8", {1, 64, 15, 14}, kInc, 3, 2, 1);
  v.push_back(c);
  c = Case("avg_include_pad_k3s2p1_i8_batch3", {3, 17, 9, 11}, kInc, 3, 2, 1);
  c.type = kI8;
  v.push_back(c);
  // Average over the input only.
  c = Case("avg_exclude_pad_k3s2p1_u8_zp", {1, 64, 15, 14}, kExc, 3, 2, 1);
  c.zp = 117;
  v.push_back(c);
  c = Case("avg_exclude_pad_k3s2p1_i8_zp_batch3", {3, 3, 10, 9}, kExc, 3, 2, 1);
  c.type = kI8;
  c.zp = -7;
  v.push_back(c);
  c = Case("avg_k2s2_u8", {3, 17, 8, 9}, kExc, 2, 2, 0);
  v.push_back(c);
  c = Case("avg_k2s2_i8_zp", {1, 64, 8, 8}, kExc, 2, 2, 0);
  c.type = kI8;
  c.zp = 12;
  v.push_back(c);
  c = Case("avg_clip_u8_zp", {1, 17, 15, 14}, kExc, 3, 2, 1);
  c.zp = 100;
  c.clip = true;
  v.push_back(c);
  // Global average (the lowering's GlobalAveragePool: one window of H x W).
  v.push_back(Global("global_7x7_u8", {1, 64, 7, 7}));
  c = Global("global_7x7_i8_zp_batch3", {3, 64, 7, 7});
  c.type = kI8;
  c.zp = -20;
  v.push_back(c);
  c = Global("global_5x3_u8_zp", {3, 17, 5, 3});
  c.zp = 77;
  v.push_back(c);
  c = Global("global_5x3_i8", {1, 3, 5, 3});
  c.type = kI8;
  v.push_back(c);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Int8Pool, Int8PoolTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

void ExpectError(const Int8Pool2dConfig& c, const std::string& what) {
  auto r = Int8Pool2d::Create(c);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("Int8Pool2d"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
}

TEST(Int8PoolErrors, BadConfigsNameTheProblem) {
  Int8Pool2dConfig good;
  good.src_dims = {1, 8, 6, 6};
  good.kernel = {3, 3};
  good.strides = {2, 2};
  good.pads = {1, 1, 1, 1};
  ASSERT_TRUE(Int8Pool2d::Create(good).ok());

  Int8Pool2dConfig c = good;
  c.src_dims = {8, 6, 6};
  ExpectError(c, "src_dims must be N,C,H,W");

  c = good;
  c.pads = {0, 3, 0, 0};  // = the kernel
  ExpectError(c, "pads must be smaller than the kernel");
  c.pads = {1, 1, 4, 1};
  ExpectError(c, "pads must be smaller than the kernel");

  c = good;
  c.type = DType::kI32;
  ExpectError(c, "type must be u8 or i8");

  c = good;
  c.kind = PoolKind::kAverageExcludePad;
  c.dilations = {2, 1};
  ExpectError(c, "dilations apply to max pooling only");
  c.kind = PoolKind::kAverageIncludePad;
  ExpectError(c, "dilations apply to max pooling only");

  c = good;
  c.kernel = {9, 3};  // 9 > 6 + 1 + 1 padded rows
  c.pads = {1, 1, 1, 1};
  ExpectError(c, "exceeds the padded input");

  auto pool = Int8Pool2d::Create(good);
  ASSERT_TRUE(pool.ok());
  std::vector<uint8_t> buf(8 * 6 * 6);
  Status s = pool->Run(nullptr, buf.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("must not be null"), std::string::npos) << s.message();
}

TEST(Int8PoolClampCodes, U8) {
  std::vector<uint8_t> v(256);
  for (int i = 0; i < 256; ++i) v[i] = static_cast<uint8_t>(i);
  std::vector<uint8_t> w = v;
  ClampCodes(w.data(), DType::kU8, 256, 10, 200);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], std::clamp(i, 10, 200)) << i;
  // Bounds outside u8 are cut to it.
  w = v;
  ClampCodes(w.data(), DType::kU8, 256, -5, 100);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], std::min(i, 100)) << i;
  w = v;
  ClampCodes(w.data(), DType::kU8, 256, 3, 1000);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], std::max(i, 3)) << i;
  // Only the first n codes.
  w = v;
  ClampCodes(w.data(), DType::kU8, 100, 50, 60);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], i < 100 ? std::clamp(i, 50, 60) : i) << i;
}

TEST(Int8PoolClampCodes, I8) {
  std::vector<int8_t> v(256);
  for (int i = 0; i < 256; ++i) v[i] = static_cast<int8_t>(i - 128);
  std::vector<int8_t> w = v;
  ClampCodes(w.data(), DType::kI8, 256, -20, 50);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], std::clamp(i - 128, -20, 50)) << i;
  w = v;
  ClampCodes(w.data(), DType::kI8, 256, -1000, 0);
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], std::min(i - 128, 0)) << i;
  w = v;
  ClampCodes(w.data(), DType::kI8, 256, 0, 255);  // the u8 range, as i8: [0, 127]
  for (int i = 0; i < 256; ++i) EXPECT_EQ(w[i], std::max(i - 128, 0)) << i;
}

TEST(Int8PoolClampCodes, NoOpRangesLeaveTheCodes) {
  std::vector<uint8_t> u(256);
  for (int i = 0; i < 256; ++i) u[i] = static_cast<uint8_t>(i);
  std::vector<int8_t> s(256);
  for (int i = 0; i < 256; ++i) s[i] = static_cast<int8_t>(i - 128);
  const std::vector<std::pair<int32_t, int32_t>> ranges = {
      {-128, 255}, {0, 255}, {-128, 127}, {-100000, 100000}};
  for (const auto& [lo, hi] : ranges) {
    std::vector<uint8_t> wu = u;
    if (lo <= 0 && hi >= 255) {
      ClampCodes(wu.data(), DType::kU8, 256, lo, hi);
      EXPECT_EQ(wu, u) << "u8 [" << lo << ", " << hi << "]";
    }
    std::vector<int8_t> ws = s;
    if (lo <= -128 && hi >= 127) {
      ClampCodes(ws.data(), DType::kI8, 256, lo, hi);
      EXPECT_EQ(ws, s) << "i8 [" << lo << ", " << hi << "]";
    }
  }
  // The config's default range is a no-op for both types.
  const Int8Pool2dConfig defaults;
  std::vector<uint8_t> wu = u;
  ClampCodes(wu.data(), DType::kU8, 256, defaults.clamp_lo, defaults.clamp_hi);
  EXPECT_EQ(wu, u);
  std::vector<int8_t> ws = s;
  ClampCodes(ws.data(), DType::kI8, 256, defaults.clamp_lo, defaults.clamp_hi);
  EXPECT_EQ(ws, s);
  ClampCodes(nullptr, DType::kU8, 0, 10, 20);  // n = 0 touches nothing
}

}  // namespace
}  // namespace octet::x86::testing
