// Reference one-input element-wise kernels (math, activations, Clip) and
// Cast/CastLike/Identity/Dropout.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <vector>

#include "kernel_test_util.h"

namespace octet::reference {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<double> Map(const Tensor& x, const std::function<double(float)>& f) {
  std::vector<double> r;
  for (int64_t i = 0; i < x.numel(); ++i) r.push_back(f(x.data<float>()[i]));
  return r;
}

// The kernels evaluate in double and round once (<= 0.5 ulp from the true
// value); the test uses glibc's float functions, which are within 1 ulp. So
// the two agree to 1.5 ulps: 2 ulps of float is 2.4e-7 relative. Near a zero
// of the function relative error is meaningless, hence the 1e-7 absolute term.
TEST(UnaryTest, MathFunctionsMatchLibm) {
  const Tensor x = RandomF32({4, 50}, 7, -4, 4);
  const Tensor pos = RandomF32({4, 50}, 8, 0.01f, 10);
  const std::vector<std::tuple<std::string, Tensor, std::function<double(float)>>> cases = {
      {"Exp", x, [](float v) { return std::exp(v); }},
      {"Log", pos, [](float v) { return std::log(v); }},
      {"Sqrt", pos, [](float v) { return std::sqrt(v); }},
      {"Reciprocal", pos, [](float v) { return 1.0f / v; }},
      {"Sin", x, [](float v) { return std::sin(v); }},
      {"Cos", x, [](float v) { return std::cos(v); }},
      {"Tanh", x, [](float v) { return std::tanh(v); }},
      {"Erf", x, [](float v) { return std::erf(v); }},
      {"Neg", x, [](float v) { return -v; }},
      {"Abs", x, [](float v) { return std::fabs(v); }},
      {"Floor", x, [](float v) { return std::floor(v); }},
      {"Ceil", x, [](float v) { return std::ceil(v); }},
  };
  for (const auto& [op, in, f] : cases)
    ExpectClose(Run1(op, {in}), Map(in, f), {4, 50}, 2.4e-7, 1e-7, op);
}

// Closed forms evaluated in double (the kernels use other but equivalent
// formulas: branchy Sigmoid, log1p/expm1). The kernel rounds its double
// result once (0.5 ulp), so 2 ulps of float (2.4e-7 relative) is ample; near
// the functions' zeros the 1e-7 absolute term applies instead.
TEST(UnaryTest, ActivationsMatchClosedForms) {
  const Tensor x = RandomF32({3, 40}, 9, -6, 6);
  const double pi = 3.14159265358979323846;
  const std::vector<std::tuple<std::string, Attrs, std::function<double(double)>>> cases = {
      {"Relu", {}, [](double v) { return v > 0 ? v : 0.0; }},
      {"LeakyRelu", {{"alpha", 0.1f}}, [](double v) { return v > 0 ? v : 0.1 * v; }},
      {"LeakyRelu", {}, [](double v) { return v > 0 ? v : 0.01 * v; }},
      {"Sigmoid", {}, [](double v) { return 1.0 / (1.0 + std::exp(-v)); }},
      {"HardSigmoid",
       {{"alpha", 0.5f}, {"beta", 0.6f}},
       [](double v) { return std::fmax(0.0, std::fmin(1.0, 0.5 * v + 0.6)); }},
      {"HardSigmoid", {}, [](double v) { return std::fmax(0.0, std::fmin(1.0, 0.2 * v + 0.5)); }},
      {"HardSwish", {}, [](double v) { return v * std::fmax(0.0, std::fmin(1.0, v / 6 + 0.5)); }},
      {"Elu", {{"alpha", 2.0f}}, [](double v) { return v > 0 ? v : 2.0 * (std::exp(v) - 1); }},
      {"Elu", {}, [](double v) { return v > 0 ? v : std::exp(v) - 1; }},
      {"Softplus", {}, [](double v) { return std::log(std::exp(v) + 1.0); }},
      {"Gelu", {}, [](double v) { return v * 0.5 * std::erfc(-v / std::sqrt(2.0)); }},
      {"Gelu",
       {{"approximate", "tanh"}},
       [pi](double v) {
         return 0.5 * v * (1 + std::tanh(std::sqrt(2 / pi) * (v + 0.044715 * v * v * v)));
       }},
  };
  for (const auto& [op, attrs, f] : cases) {
    std::vector<double> e;
    for (int64_t i = 0; i < x.numel(); ++i) e.push_back(f(x.data<float>()[i]));
    ExpectClose(Run1(op, {x}, attrs), e, {3, 40}, 2.4e-7, 1e-7, op);
  }
  // Sigmoid and Softplus stay finite far out where a naive exp overflows.
  ExpectClose(Run1("Sigmoid", {F32({-1000, 1000}, {2})}), {0, 1}, {2}, 0, 0);
  ExpectClose(Run1("Softplus", {F32({-1000, 1000}, {2})}), {0, 1000}, {2}, 0, 0);
}

TEST(UnaryTest, RoundIsHalfToEven) {
  const Tensor x = F32({0.1f, 0.5f, 0.9f, 1.2f, 1.5f, 1.8f, 2.3f, 2.5f, 2.7f, -1.1f, -1.5f, -1.9f,
                        -2.2f, -2.5f, -2.8f},
                       {15});
  ExpectClose(Run1("Round", {x}), {0, 0, 1, 1, 2, 2, 2, 2, 3, -1, -2, -2, -2, -2, -3}, {15}, 0, 0);
}

TEST(UnaryTest, IntegerUnaryOps) {
  constexpr int8_t kMin = std::numeric_limits<int8_t>::min();
  const Tensor x = Make<int8_t>({-5, 0, 7, kMin}, {4});
  ExpectInts(Run1("Abs", {x}), {5, 0, 7, kMin}, {4});  // MIN wraps as in numpy
  ExpectInts(Run1("Neg", {x}), {5, 0, -7, kMin}, {4});
  ExpectInts(Run1("Sign", {x}), {-1, 0, 1, -1}, {4});
  ExpectInts(Run1("Relu", {x}), {0, 0, 7, 0}, {4});
  ExpectInts(Run1("Sign", {Make<uint32_t>({0, 9}, {2})}), {0, 1}, {2});
  const Tensor s = Run1("Sign", {F32({-2, 0, 3, kNaN}, {4})});
  EXPECT_EQ(s.data<float>()[0], -1);
  EXPECT_EQ(s.data<float>()[2], 1);
  EXPECT_TRUE(std::isnan(s.data<float>()[3]));
  Status st = RunError("Neg", {Make<uint8_t>({1}, {1})});
  EXPECT_TRUE(Contains(st, "u8")) << st.ToString();
  st = RunError("Sqrt", {Make<int32_t>({4}, {1})});
  EXPECT_TRUE(Contains(st, "i32") && Contains(st, "node_under_test")) << st.ToString();
}

TEST(UnaryTest, ClipBoundsAreOptionalInputs) {
  const Tensor x = F32({-3, -1, 0, 2, 5, kNaN}, {6});
  const Tensor lo = F32({-1.5f}, {}), hi = F32({2.5f}, {});
  ExpectClose(Run1("Clip", {x, lo, hi}), {-1.5, -1, 0, 2, 2.5, NAN}, {6}, 0, 0);
  ExpectClose(Run1("Clip", {x, lo}), {-1.5, -1, 0, 2, 5, NAN}, {6}, 0, 0);
  ExpectClose(Run1("Clip", {x, std::nullopt, hi}), {-3, -1, 0, 2, 2.5, NAN}, {6}, 0, 0);
  ExpectClose(Run1("Clip", {x}), {-3, -1, 0, 2, 5, NAN}, {6}, 0, 0);
  // min > max gives max everywhere (numpy's clip).
  ExpectClose(Run1("Clip", {F32({-9, 0, 9}, {3}), F32({2}, {}), F32({1}, {})}), {1, 1, 1}, {3}, 0,
              0);
  ExpectInts(Run1("Clip", {Make<int8_t>({-128, 5, 127}, {3}), Make<int8_t>({0}, {})}), {0, 5, 127},
             {3});
  const Status s = RunError("Clip", {x, F32({0, 1}, {2})});
  EXPECT_TRUE(Contains(s, "scalar")) << s.ToString();
}

Tensor CastTo(const Tensor& x, int64_t onnx_type, int64_t saturate = 1) {
  return Run1("Cast", {x}, {{"to", onnx_type}, {"saturate", saturate}});
}

TEST(CastTest, FloatToIntegerTruncatesAndSaturates) {
  const Tensor x = F32({-1.7f, -0.5f, 0.5f, 2.9f, 1e10f, -1e10f, kNaN, kInf}, {8});
  constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();
  constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min();
  ExpectInts(CastTo(x, 6), {-1, 0, 0, 2, kI32Max, kI32Min, 0, kI32Max}, {8});
  ExpectInts(CastTo(x, 2), {0, 0, 0, 2, 255, 0, 0, 255}, {8});
  ExpectInts(CastTo(x, 9), {1, 1, 1, 1, 1, 1, 1, 1}, {8});  // nonzero (NaN too) is true
  ExpectInts(CastTo(F32({0, -0.0f}, {2}), 9), {0, 0}, {2});
}

TEST(CastTest, IntegerConversionsWrap) {
  ExpectInts(CastTo(I64({300, -1, 128}), 3), {44, -1, -128}, {3});  // -> i8
  ExpectInts(CastTo(I64({300, -1, 128}), 2), {44, 255, 128}, {3});  // -> u8
  ExpectInts(CastTo(Make<uint64_t>({~0ull}, {1}), 7), {-1}, {1});   // -> i64
  ExpectInts(CastTo(Bool({true, false}, {2}), 6), {1, 0}, {2});
  const Tensor f = CastTo(I64({(int64_t{1} << 53) + 1}), 1);  // one rounding, to f32
  EXPECT_EQ(f.data<float>()[0], 9007199254740992.0f);
  const Tensor d = CastTo(I64({(int64_t{1} << 53) + 1}), 11);
  EXPECT_EQ(d.data<double>()[0], 9007199254740992.0);
}

TEST(CastTest, HalfFloatsRoundToNearestEven) {
  // f32 -> f16 / bf16 must agree with the IR's converters on random values.
  const Tensor x = RandomF32({500}, 17, -70000, 70000);
  const Tensor h = CastTo(x, 10), b = CastTo(x, 16);
  ASSERT_EQ(h.dtype(), DType::kF16);
  ASSERT_EQ(b.dtype(), DType::kBF16);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(h.data<uint16_t>()[i], FloatToHalf(x.data<float>()[i])) << x.data<float>()[i];
    EXPECT_EQ(b.data<uint16_t>()[i], FloatToBFloat16(x.data<float>()[i])) << x.data<float>()[i];
  }
  // f64 -> f16 rounds once: 1 + 2^-11 + 2^-40 lies just above the midpoint
  // between 1 and the next half, so it rounds up. Going through f32 would first
  // drop the 2^-40 and then round the exact tie to even (1.0).
  const Tensor d = Make<double>({1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)}, {1});
  EXPECT_EQ(CastTo(d, 10).data<uint16_t>()[0], 0x3c01);
  // Half -> f32 -> half round-trips exactly, subnormals and inf included.
  Tensor hs(DType::kF16, {4});
  const uint16_t bits[4] = {0x0001, 0x8400, 0x7c00, 0x3555};
  for (int i = 0; i < 4; ++i) hs.data<uint16_t>()[i] = bits[i];
  const Tensor back = CastTo(CastTo(hs, 1), 10);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(back.data<uint16_t>()[i], bits[i]);
}

// fp8 tensors are compared as raw bytes (Tensor's numeric getters do not
// decode fp8).
void ExpectBytes(const Tensor& t, const std::vector<uint8_t>& bytes) {
  ASSERT_EQ(t.numel(), static_cast<int64_t>(bytes.size()));
  for (size_t i = 0; i < bytes.size(); ++i)
    EXPECT_EQ(t.data<uint8_t>()[i], bytes[i]) << "element " << i;
}

TEST(CastTest, Float8FollowsTheSaturateTable) {
  // E4M3FN: bias 7, max 448 (0x7e), NaN 0x7f, no inf. 17 and 1.5 * 2^-9 (a
  // subnormal) are ties that round to the even neighbours 16 and 2 * 2^-9.
  const Tensor x = F32({0.5f, 448, 1000, -kInf, kNaN, 0.0029296875f, 17}, {7});
  ExpectBytes(CastTo(x, 17), {0x30, 0x7e, 0x7e, 0xfe, 0x7f, 0x02, 0x58});
  ExpectBytes(CastTo(x, 17, 0), {0x30, 0x7e, 0x7f, 0xff, 0x7f, 0x02, 0x58});
  // E5M2: bias 15, max 57344 (0x7b), inf 0x7c.
  const Tensor y = F32({1, 57344, 1e6f, kInf, -0.0f}, {5});
  ExpectBytes(CastTo(y, 19), {0x3c, 0x7b, 0x7b, 0x7b, 0x80});
  ExpectBytes(CastTo(y, 19, 0), {0x3c, 0x7b, 0x7c, 0x7c, 0x80});
  // Decoding: every finite E4M3FN value survives fp8 -> f32 -> fp8.
  Tensor all(DType::kF8E4M3, {256});
  for (int i = 0; i < 256; ++i) all.data<uint8_t>()[i] = static_cast<uint8_t>(i);
  const Tensor f = CastTo(all, 1);
  EXPECT_EQ(f.data<float>()[0x38], 1.0f);
  EXPECT_EQ(f.data<float>()[0x01], std::ldexp(1.0f, -9));  // smallest subnormal
  EXPECT_TRUE(std::isnan(f.data<float>()[0x7f]));
  const Tensor again = CastTo(f, 17);
  for (int i = 0; i < 256; ++i) {
    if ((i & 0x7f) == 0x7f) continue;  // NaN encodings
    EXPECT_EQ(again.data<uint8_t>()[i], i) << i;
  }
}

TEST(CastTest, FourBitTypesRoundAndSaturate) {
  const Tensor x = F32({-9.5f, 2.5f, 3.5f, 7.6f, -0.4f}, {5});
  ExpectInts(CastTo(x, 22), {-8, 2, 4, 7, 0}, {5});  // int4
  ExpectInts(CastTo(x, 21), {0, 2, 4, 8, 0}, {5});   // uint4
  ExpectInts(CastTo(CastTo(I64({-3, 20}), 22), 7), {-3, 7}, {2});
}

TEST(CastTest, CastLikeAndErrors) {
  const Tensor r = Run1("CastLike", {F32({1.9f, -2.9f}, {2}), Make<int16_t>({0}, {1})});
  EXPECT_EQ(r.dtype(), DType::kI16);
  ExpectInts(r, {1, -2}, {2});
  Status s = RunError("Cast", {F32({1}, {1})}, {{"to", int64_t{8}}});
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "STRING")) << s.ToString();
  s = RunError("Cast", {F32({1}, {1})});
  EXPECT_TRUE(Contains(s, "'to'")) << s.ToString();
  s = RunError("Cast", {F32({1}, {1})}, {{"to", int64_t{14}}});  // complex64
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
}

TEST(CastTest, IdentityAndDropout) {
  const Tensor x = RandomF32({2, 3}, 5);
  EXPECT_TRUE(Run1("Identity", {x}).BitwiseEquals(x));
  auto r = RunOp("Dropout", {x, F32({0.5f}, {})}, {}, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE((*r)[0].BitwiseEquals(x));
  ExpectInts((*r)[1], std::vector<int64_t>(6, 1), {2, 3});
  EXPECT_TRUE(Run1("Dropout", {x, std::nullopt, Bool({false}, {})}).BitwiseEquals(x));
  const Status s = RunError("Dropout", {x, std::nullopt, Bool({true}, {})});
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "training_mode")) << s.ToString();
  // Training with ratio 0 drops nothing, so it is supported.
  EXPECT_TRUE(Run1("Dropout", {x, F32({0}, {}), Bool({true}, {})}).BitwiseEquals(x));
}

}  // namespace
}  // namespace octet::reference
