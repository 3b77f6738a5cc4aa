// BinaryF32 / UnaryF32 against host f32 arithmetic. Add, Sub, Mul, Div, Max,
// Min, Relu, Neg, Abs, Sqrt and Reciprocal are exact: IEEE f32 operations
// are correctly rounded on both sides (the kernels use the _rn intrinsics,
// and Pow with exponent 2 is x*x). Exp, Erf, Tanh, Sigmoid and general Pow
// use libdevice (within 2 ulp of the exact value, host libm within 1), so
// they are compared to double-precision results with a relative tolerance of
// 4 f32 ulps (4 * 2^-23 ~ 5e-7) plus a tiny absolute floor for values near 0.
#include "octet/cuda/elementwise.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "cuda_test_util.h"

namespace octet::cuda::testing {
namespace {

int64_t Numel(const std::vector<int64_t>& d) {
  return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>());
}

// Flat index of `dims` (right-aligned in the output's rank) at output index i.
int64_t BroadcastIndex(int64_t i, const std::vector<int64_t>& out, const std::vector<int64_t>& in) {
  int64_t idx = 0, stride = 1;
  for (int d = static_cast<int>(out.size()) - 1; d >= 0; --d) {
    const int64_t o = i % out[d];
    i /= out[d];
    const int k = d - static_cast<int>(out.size() - in.size());
    if (k < 0) continue;
    if (in[k] != 1) idx += o * stride;
    stride *= in[k];
  }
  return idx;
}

double HostBinary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd:
      return a + b;
    case BinaryOp::kSub:
      return a - b;
    case BinaryOp::kMul:
      return a * b;
    case BinaryOp::kDiv:
      return a / b;
    case BinaryOp::kPow:
      return b == 2.f ? a * a : std::pow(double{a}, double{b});
    case BinaryOp::kMax:
      return std::max(a, b);
    case BinaryOp::kMin:
      return std::min(a, b);
  }
  return 0;
}

bool Exact(BinaryOp op) { return op != BinaryOp::kPow; }

struct Case {
  std::vector<int64_t> a, b, out;
};

TEST(ElementwiseF32, BinaryOpsBroadcastLikeNumpy) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  const std::vector<Case> cases = {
      {{1000}, {1000}, {1000}},                                        // same shape, float4
      {{3, 7, 5}, {3, 7, 5}, {3, 7, 5}},                               // same shape, odd
      {{4, 16, 16, 16, 16}, {4, 16, 16, 16, 1}, {4, 16, 16, 16, 16}},  // SAM's rel-pos adds
      {{4, 16, 16, 16, 16}, {4, 16, 16, 1, 16}, {4, 16, 16, 16, 16}},
      {{1, 256, 16, 16}, {256, 1, 1}, {1, 256, 16, 16}},             // per-channel bias
      {{2, 7, 33}, {33}, {2, 7, 33}},                                // bias vector
      {{1, 1, 16, 16}, {}, {1, 1, 16, 16}},                          // scalar
      {{}, {5, 3}, {5, 3}},                                          // scalar first
      {{5, 1, 3}, {1, 4, 1}, {5, 4, 3}},                             // both broadcast
      {{2, 1, 3, 1, 5, 1}, {1, 4, 1, 6, 1, 7}, {2, 4, 3, 6, 5, 7}},  // rank 6, alternating
  };
  for (BinaryOp op : {BinaryOp::kAdd, BinaryOp::kSub, BinaryOp::kMul, BinaryOp::kDiv,
                      BinaryOp::kPow, BinaryOp::kMax, BinaryOp::kMin})
    for (const Case& c : cases) {
      std::vector<float> a = RandomFloats(Numel(c.a), rng, -4.f, 4.f);
      std::vector<float> b = RandomFloats(Numel(c.b), rng, -4.f, 4.f);
      if (op == BinaryOp::kPow) {
        for (float& v : a) v = std::fabs(v) + 0.1f;  // real results
        if (b.size() == 1) b[0] = 2.f;               // the x*x path
      }
      DeviceBuffer da = Upload(a), db = Upload(b), dy = Poisoned(Numel(c.out) * 4);
      Status s = BinaryF32(op, static_cast<const float*>(da.data()), c.a,
                           static_cast<const float*>(db.data()), c.b,
                           static_cast<float*>(dy.data()), c.out, nullptr);
      ASSERT_TRUE(s.ok()) << s.ToString();
      const std::vector<float> y = Download<float>(dy, Numel(c.out));
      for (int64_t i = 0; i < Numel(c.out); ++i) {
        const float av = a[BroadcastIndex(i, c.out, c.a)], bv = b[BroadcastIndex(i, c.out, c.b)];
        const double want = HostBinary(op, av, bv);
        if (Exact(op) || bv == 2.f)
          ASSERT_EQ(y[i], static_cast<float>(want)) << BinaryOpName(op) << " element " << i << ": "
                                                    << av << ", " << bv << ", seed " << seed;
        else
          ASSERT_NEAR(y[i], want, 5e-7 * std::fabs(want) + 1e-30)
              << BinaryOpName(op) << " element " << i << ", seed " << seed;
      }
    }
}

TEST(ElementwiseF32, OutputMayBeAnOperandsPlace) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  std::vector<float> a = RandomFloats(4099, rng, -1.f, 1.f), b = RandomFloats(4099, rng, -1, 1);
  DeviceBuffer da = Upload(a), db = Upload(b);
  auto* pa = static_cast<float*>(da.data());
  ASSERT_TRUE(BinaryF32(BinaryOp::kMul, pa, {4099}, static_cast<const float*>(db.data()), {4099},
                        pa, {4099}, nullptr)
                  .ok());
  const std::vector<float> y = Download<float>(da, 4099);
  for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], a[i] * b[i]) << i << ", seed " << seed;
}

TEST(ElementwiseF32, UnaryOps) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  for (UnaryOp op : {UnaryOp::kRelu, UnaryOp::kSqrt, UnaryOp::kErf, UnaryOp::kExp, UnaryOp::kNeg,
                     UnaryOp::kSigmoid, UnaryOp::kTanh, UnaryOp::kReciprocal, UnaryOp::kAbs})
    for (int64_t n : {1, 7, 4096, 100003}) {
      std::vector<float> x = RandomFloats(n, rng, -6.f, 6.f);
      if (op == UnaryOp::kSqrt)
        for (float& v : x) v = std::fabs(v);
      DeviceBuffer dx = Upload(x), dy = Poisoned(n * 4);
      ASSERT_TRUE(UnaryF32(op, static_cast<const float*>(dx.data()), static_cast<float*>(dy.data()),
                           n, nullptr)
                      .ok());
      const std::vector<float> y = Download<float>(dy, n);
      for (int64_t i = 0; i < n; ++i) {
        const float v = x[i];
        const double d = v;
        switch (op) {
          case UnaryOp::kRelu:
            ASSERT_EQ(y[i], v > 0 ? v : 0.f);
            break;
          case UnaryOp::kNeg:
            ASSERT_EQ(y[i], -v);
            break;
          case UnaryOp::kAbs:
            ASSERT_EQ(y[i], std::fabs(v));
            break;
          case UnaryOp::kSqrt:
            ASSERT_EQ(y[i], std::sqrt(v)) << v;
            break;
          case UnaryOp::kReciprocal:
            ASSERT_EQ(y[i], 1.f / v) << v;
            break;
          default: {
            const double want = op == UnaryOp::kErf    ? std::erf(d)
                                : op == UnaryOp::kExp  ? std::exp(d)
                                : op == UnaryOp::kTanh ? std::tanh(d)
                                                       : 1.0 / (1.0 + std::exp(-d));
            ASSERT_NEAR(y[i], want, 5e-7 * std::fabs(want) + 1e-9)
                << UnaryOpName(op) << "(" << v << "), seed " << seed;
          }
        }
      }
    }
}

TEST(ElementwiseF32, RejectsShapesThatDoNotBroadcast) {
  float a = 0, b = 0, y = 0;
  EXPECT_FALSE(BinaryF32(BinaryOp::kAdd, &a, {3}, &b, {4}, &y, {4}, nullptr).ok());
  EXPECT_FALSE(BinaryF32(BinaryOp::kAdd, &a, {3}, &b, {1}, &y, {4}, nullptr).ok());
  EXPECT_FALSE(BinaryF32(BinaryOp::kAdd, &a, {1}, &b, {1}, &y, {4}, nullptr).ok());
  EXPECT_FALSE(BinaryF32(BinaryOp::kAdd, &a, {2, 3}, &b, {3}, &y, {3}, nullptr).ok());
}

}  // namespace
}  // namespace octet::cuda::testing
