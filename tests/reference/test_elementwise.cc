// Reference broadcasting element-wise kernels with two or more inputs:
// arithmetic, Mod, Pow, Min/Max/Sum/Mean, comparisons, logic and Where.
// Expected values come from a naive per-element loop that maps every output
// index to its inputs with explicit index arithmetic (kernel_test_util.h),
// independent of the kernels' collapsed-stride walker.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "kernel_test_util.h"

namespace octet::reference {
namespace {

using namespace testing;  // NOLINT: test helpers

// out[i] = f(a[bcast(i)], b[bcast(i)]) for float inputs.
std::vector<double> NaiveBinary(const Tensor& a, const Tensor& b, const std::vector<int64_t>& out,
                                const std::function<float(float, float)>& f) {
  int64_t n = 1;
  for (int64_t d : out) n *= d;
  std::vector<double> r(n);
  for (int64_t i = 0; i < n; ++i) {
    const auto idx = Unravel(i, out);
    r[i] = f(a.data<float>()[BroadcastFlat(idx, a.dims())],
             b.data<float>()[BroadcastFlat(idx, b.dims())]);
  }
  return r;
}

// A single IEEE operation is correctly rounded, so the kernel and the naive
// loop (both doing the same one float operation) must agree exactly.
TEST(ElementwiseTest, ArithmeticBroadcastsExactly) {
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> shapes = {
      {{2, 3, 4}, {2, 3, 4}}, {{2, 3, 4}, {4}}, {{2, 3, 4}, {3, 1}},
      {{2, 1, 4}, {1, 3, 1}}, {{5}, {}},        {{}, {2, 2}},
      {{1, 1}, {1}},          {{0, 3}, {3}},
  };
  const std::vector<std::pair<std::string, std::function<float(float, float)>>> ops = {
      {"Add", std::plus<float>()},
      {"Sub", std::minus<float>()},
      {"Mul", std::multiplies<float>()},
      {"Div", std::divides<float>()},
  };
  uint32_t seed = 1;
  for (const auto& [sa, sb] : shapes) {
    const Tensor a = RandomF32(sa, seed++), b = RandomF32(sb, seed++, 0.5f, 2.0f);
    const std::vector<int64_t> out_dims = NaiveBroadcast(sa, sb);
    for (const auto& [op, f] : ops)
      ExpectClose(Run1(op, {a, b}), NaiveBinary(a, b, out_dims, f), out_dims, 0, 0, op);
  }
}

// Large enough to be split over threads; the result must not depend on it.
TEST(ElementwiseTest, MultiThreadedMatchesNaive) {
  const Tensor a = RandomF32({300, 257}, 11), b = RandomF32({257}, 12);
  ExpectClose(Run1("Mul", {a, b}, {}, 4), NaiveBinary(a, b, {300, 257}, std::multiplies<float>()),
              {300, 257}, 0, 0);
  const Tensor c = RandomF32({3, 1, 70000}, 13), d = RandomF32({2, 1}, 14);
  ExpectClose(Run1("Sub", {c, d}, {}, 3), NaiveBinary(c, d, {3, 2, 70000}, std::minus<float>()),
              {3, 2, 70000}, 0, 0);
}

TEST(ElementwiseTest, IntegerArithmeticWrapsAndTruncates) {
  ExpectInts(Run1("Add", {Make<uint8_t>({250, 3}, {2}), Make<uint8_t>({10, 4}, {2})}), {4, 7}, {2});
  ExpectInts(Run1("Mul", {Make<uint16_t>({65535}, {1}), Make<uint16_t>({65535}, {1})}), {1}, {1});
  constexpr int32_t kMin = std::numeric_limits<int32_t>::min();
  ExpectInts(Run1("Sub", {Make<int32_t>({kMin}, {1}), Make<int32_t>({1}, {1})}),
             {std::numeric_limits<int32_t>::max()}, {1});
  // Division truncates toward zero (as ONNX's numpy reference does when it
  // casts its quotient back), and MIN / -1 wraps rather than trapping.
  ExpectInts(Run1("Div", {Make<int32_t>({-7, 7, -7, 7, kMin}, {5}),
                          Make<int32_t>({2, 2, -2, -2, -1}, {5})}),
             {-3, 3, 3, -3, kMin}, {5});
  ExpectInts(Run1("Div", {Make<uint8_t>({16, 6, 0}, {3}), Make<uint8_t>({11, 5, 23}, {3})}),
             {1, 1, 0}, {3});
  ExpectInts(Run1("Div", {Make<int64_t>({9, -9, 10}, {3}), Make<int64_t>({4}, {})}), {2, -2, 2},
             {3});
}

TEST(ElementwiseTest, IntegerDivisionByZeroIsAnError) {
  const Status s = RunError("Div", {Make<int32_t>({1, 2}, {2}), Make<int32_t>({1, 0}, {2})});
  EXPECT_TRUE(Contains(s, "node_under_test")) << s.ToString();
  EXPECT_TRUE(Contains(s, "division by zero")) << s.ToString();
  (void)RunError("Mod", {Make<int8_t>({1}, {1}), Make<int8_t>({0}, {1})});
  // Floats divide by zero the IEEE way.
  const Tensor f = Run1("Div", {F32({1, -1, 0}, {3}), F32({0}, {})});
  EXPECT_EQ(f.data<float>()[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(f.data<float>()[1], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(f.data<float>()[2]));
}

TEST(ElementwiseTest, ModSignConventions) {
  // Values from ONNX's test_mod_mixed_sign_* tests.
  const Tensor x = Make<int32_t>({-4, 7, 5, 4, -7, 8}, {6});
  const Tensor y = Make<int32_t>({2, -3, 8, -2, 3, 5}, {6});
  ExpectInts(Run1("Mod", {x, y}), {0, -2, 5, 0, 2, 3}, {6});  // sign of the divisor
  ExpectInts(Run1("Mod", {x, y}, {{"fmod", int64_t{1}}}), {0, 1, 5, 0, -1, 3}, {6});
  ExpectInts(Run1("Mod", {Make<int8_t>({-128}, {1}), Make<int8_t>({-1}, {1})}), {0}, {1});
  // Floats use C fmod (sign of the dividend).
  const Tensor xf = F32({-4.3f, 7.2f, 5.0f, 4.3f, -7.2f, 8.0f}, {6});
  const Tensor yf = F32({2.1f, -3.4f, 8.0f, -2.1f, 3.4f, 5.0f}, {6});
  std::vector<double> e;
  for (int i = 0; i < 6; ++i) e.push_back(std::fmod(xf.data<float>()[i], yf.data<float>()[i]));
  ExpectClose(Run1("Mod", {xf, yf}, {{"fmod", int64_t{1}}}), e, {6}, 0, 0);
  ExpectClose(Run1("Mod", {Make<uint16_t>({10, 3}, {2}), Make<uint16_t>({4}, {1})}), {2, 3}, {2}, 0,
              0);
}

TEST(ElementwiseTest, PowMixedTypes) {
  // float ** float: the kernel evaluates pow in double and rounds once, the
  // test uses float powf (within 1 ulp), so allow 2 ulps (2.4e-7 relative).
  const Tensor x = RandomF32({3, 4}, 21, 0.1f, 3.0f), y = RandomF32({4}, 22, -2.0f, 2.0f);
  ExpectClose(Run1("Pow", {x, y}),
              NaiveBinary(x, y, {3, 4}, [](float p, float q) { return std::pow(p, q); }), {3, 4},
              2.4e-7, 0);
  // int ** float truncates the float result; int ** int is exact (beyond 2^53).
  ExpectInts(Run1("Pow", {I64({1, 2, 3}), F32({4, 5, 6}, {3})}), {1, 32, 729}, {3});
  ExpectInts(Run1("Pow", {Make<int32_t>({2, -3, 7}, {3}), Make<int32_t>({10, 3, 0}, {3})}),
             {1024, -27, 1}, {3});
  ExpectInts(Run1("Pow", {I64({3}), I64({39})}), {4052555153018976267}, {1});
  // float ** int.
  ExpectClose(Run1("Pow", {F32({2, -2, 0.5f}, {3}), I64({3, 2, -2})}), {8, 4, 4}, {3}, 0, 0);
  ExpectClose(Run1("Pow", {F32({2, 3}, {2}), Make<uint32_t>({10, 2}, {2})}), {1024, 9}, {2}, 0, 0);
}

TEST(ElementwiseTest, HalfFloatsRoundOnce) {
  // f16 arithmetic is done in f32 and rounded to f16 once; for + and * of two
  // f16 values the f32 result is exact or correctly rounded well below f16
  // precision, so it equals the correctly rounded f16 result.
  const Tensor a32 = RandomF32({40}, 31, -100, 100), b32 = RandomF32({40}, 32, -100, 100);
  Tensor a(DType::kF16, {40}), b(DType::kF16, {40});
  for (int i = 0; i < 40; ++i) {
    a.data<uint16_t>()[i] = FloatToHalf(a32.data<float>()[i]);
    b.data<uint16_t>()[i] = FloatToHalf(b32.data<float>()[i]);
  }
  const Tensor sum = Run1("Add", {a, b});
  ASSERT_EQ(sum.dtype(), DType::kF16);
  for (int i = 0; i < 40; ++i) {
    const float e = HalfToFloat(a.data<uint16_t>()[i]) + HalfToFloat(b.data<uint16_t>()[i]);
    EXPECT_EQ(sum.data<uint16_t>()[i], FloatToHalf(e)) << i;
  }
  Tensor c(DType::kBF16, {2});
  c.data<uint16_t>()[0] = FloatToBFloat16(3.0f);
  c.data<uint16_t>()[1] = FloatToBFloat16(-1.5f);
  const Tensor m = Run1("Max", {c, c});
  ASSERT_EQ(m.dtype(), DType::kBF16);
  EXPECT_EQ(BFloat16ToFloat(m.data<uint16_t>()[1]), -1.5f);
}

TEST(ElementwiseTest, VariadicOpsBroadcastAndFold) {
  const Tensor a = RandomF32({2, 1, 4}, 41), b = RandomF32({3, 1}, 42), c = RandomF32({4}, 43);
  const std::vector<int64_t> dims = {2, 3, 4};
  auto fold = [&](const std::function<float(float, float)>& f) {
    std::vector<double> r(24);
    for (int64_t i = 0; i < 24; ++i) {
      const auto idx = Unravel(i, dims);
      const float x = a.data<float>()[BroadcastFlat(idx, a.dims())];
      const float y = b.data<float>()[BroadcastFlat(idx, b.dims())];
      const float z = c.data<float>()[BroadcastFlat(idx, c.dims())];
      r[i] = f(f(x, y), z);
    }
    return r;
  };
  auto fmin = [](float p, float q) { return std::min(p, q); };
  auto fmax = [](float p, float q) { return std::max(p, q); };
  ExpectClose(Run1("Min", {a, b, c}), fold(fmin), dims, 0, 0, "Min");
  ExpectClose(Run1("Max", {a, b, c}), fold(fmax), dims, 0, 0, "Max");
  ExpectClose(Run1("Sum", {a, b, c}), fold(std::plus<float>()), dims, 0, 0, "Sum");
  // Mean = ((a + b) + c) / 3 in float, the order numpy's reference uses.
  std::vector<double> mean = fold(std::plus<float>());
  for (double& v : mean) v = static_cast<float>(v) / 3.0f;
  ExpectClose(Run1("Mean", {a, b, c}), mean, dims, 0, 0, "Mean");
  // One input is returned as is.
  ExpectClose(Run1("Max", {F32({1, -2}, {2})}), {1, -2}, {2}, 0, 0);
  ExpectInts(Run1("Min", {Make<uint64_t>({5, 1ull << 63}, {2}), Make<uint64_t>({7, 3}, {2})}),
             {5, 3}, {2});
}

TEST(ElementwiseTest, MinMaxPropagateNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor a = F32({nan, 1, 2}, {3}), b = F32({0, nan, 1}, {3});
  for (const char* op : {"Min", "Max"}) {
    const Tensor r = Run1(op, {a, b});
    EXPECT_TRUE(std::isnan(r.data<float>()[0])) << op;
    EXPECT_TRUE(std::isnan(r.data<float>()[1])) << op;
  }
}

TEST(ElementwiseTest, ComparisonsWriteBool) {
  const Tensor a = RandomInt<int32_t>({3, 4}, 51, -3, 3), b = RandomInt<int32_t>({4}, 52, -3, 3);
  const std::vector<std::pair<std::string, std::function<bool(int32_t, int32_t)>>> ops = {
      {"Equal", std::equal_to<int32_t>()},
      {"Less", std::less<int32_t>()},
      {"LessOrEqual", std::less_equal<int32_t>()},
      {"Greater", std::greater<int32_t>()},
      {"GreaterOrEqual", std::greater_equal<int32_t>()},
  };
  for (const auto& [op, f] : ops) {
    std::vector<int64_t> e;
    for (int64_t i = 0; i < 12; ++i) e.push_back(f(a.data<int32_t>()[i], b.data<int32_t>()[i % 4]));
    const Tensor r = Run1(op, {a, b});
    EXPECT_EQ(r.dtype(), DType::kBool) << op;
    ExpectInts(r, e, {3, 4}, op);
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  ExpectInts(Run1("Equal", {F32({nan, 1}, {2}), F32({nan, 1}, {2})}), {0, 1}, {2});
  ExpectInts(Run1("Equal", {Bool({true, false, true}, {3}), Bool({true}, {1})}), {1, 0, 1}, {3});
  const Status s = RunError("Less", {Bool({true}, {1}), Bool({true}, {1})});
  EXPECT_TRUE(Contains(s, "bool")) << s.ToString();
}

TEST(ElementwiseTest, LogicOps) {
  const Tensor a = Bool({true, true, false, false}, {2, 2}), b = Bool({true, false}, {2});
  ExpectInts(Run1("And", {a, b}), {1, 0, 0, 0}, {2, 2});
  ExpectInts(Run1("Or", {a, b}), {1, 1, 1, 0}, {2, 2});
  ExpectInts(Run1("Xor", {a, b}), {0, 1, 1, 0}, {2, 2});
  ExpectInts(Run1("Not", {a}), {0, 0, 1, 1}, {2, 2});
  const Status s = RunError("And", {F32({1}, {1}), F32({1}, {1})});
  EXPECT_TRUE(Contains(s, "f32")) << s.ToString();
}

TEST(ElementwiseTest, WhereBroadcastsThreeWays) {
  const Tensor c = Bool({true, false, true}, {3, 1, 1});
  const Tensor x = RandomInt<int64_t>({2, 1}, 61, -100, 100);
  const Tensor y = RandomInt<int64_t>({1, 4}, 62, -100, 100);
  const std::vector<int64_t> dims = {3, 2, 4};
  std::vector<int64_t> e;
  for (int64_t i = 0; i < 24; ++i) {
    const auto idx = Unravel(i, dims);
    e.push_back(c.data<uint8_t>()[idx[0]] ? x.data<int64_t>()[idx[1]] : y.data<int64_t>()[idx[2]]);
  }
  ExpectInts(Run1("Where", {c, x, y}), e, dims);
  // Any element size works, f16 included (copied, not converted).
  Tensor h(DType::kF16, {2});
  h.data<uint16_t>()[0] = 0x3c00;
  h.data<uint16_t>()[1] = 0xc000;
  const Tensor r = Run1("Where", {Bool({false, true}, {2}), h, h});
  EXPECT_EQ(r.dtype(), DType::kF16);
  EXPECT_EQ(r.data<uint16_t>()[1], 0xc000);
}

TEST(ElementwiseTest, ErrorsNameTheNodeAndTheShapes) {
  Status s = RunError("Add", {RandomF32({2, 3}, 1), RandomF32({4}, 2)});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Contains(s, "node_under_test")) << s.ToString();
  EXPECT_TRUE(Contains(s, "[2,3]") && Contains(s, "[4]")) << s.ToString();
  s = RunError("Mul", {RandomF32({2}, 1), Make<int32_t>({1, 2}, {2})});
  EXPECT_TRUE(Contains(s, "f32") && Contains(s, "i32")) << s.ToString();
  s = RunError("Add", {Bool({true}, {1}), Bool({true}, {1})});
  EXPECT_TRUE(Contains(s, "bool")) << s.ToString();
  s = RunError("Where", {Bool({true}, {1}), RandomF32({3}, 1), RandomF32({2}, 2)});
  EXPECT_TRUE(Contains(s, "[3]") && Contains(s, "[2]")) << s.ToString();
  s = RunError("Sum", {RandomF32({2}, 1), Make<int32_t>({1, 2}, {2})});
  EXPECT_TRUE(Contains(s, "input 1")) << s.ToString();
  s = RunError("Sum", {Make<int32_t>({1, 2}, {2})});  // Sum/Mean are float-only in ONNX
  EXPECT_TRUE(Contains(s, "i32")) << s.ToString();
}

}  // namespace
}  // namespace octet::reference
