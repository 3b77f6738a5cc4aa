// TensorConvert against the reference interpreter's QuantizeLinear and
// DequantizeLinear (per tensor) and against plain layout transposes.
#include "octet/x86/tensor_convert.h"

#include <gtest/gtest.h>

#include <cstring>
#include <iostream>
#include <thread>

#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

struct QuantizeCase {
  std::string name;
  std::vector<int64_t> dims;
  DType type = DType::kU8;
  BufferLayout layout = BufferLayout::kPlain;
  int32_t zp = 0;
  bool clamp = false;
};

void PrintTo(const QuantizeCase& c, std::ostream* os) { *os << c.name; }

// x / scale (in double) lies within 1e-4 of a half: the rounding there may
// depend on how x / scale is computed.
bool NearHalf(float x, float scale) {
  const double t = static_cast<double>(x) / static_cast<double>(scale);
  return std::fabs(t - std::floor(t) - 0.5) < 1e-4;
}

// Values that cover the codes and beyond: random ones past both ends (some
// saturate), exact multiples of the scale and halves between them, zeros and
// huge magnitudes.
std::vector<float> QuantizeInputs(int64_t n, float scale, int qmin, int qmax, int32_t zp,
                                  std::mt19937& rng) {
  const float lo = scale * static_cast<float>(qmin - zp - 20);
  const float hi = scale * static_cast<float>(qmax - zp + 20);
  std::vector<float> v = RandomFloats(static_cast<size_t>(n), rng, lo, hi);
  std::uniform_int_distribution<int> code(qmin - zp - 3, qmax - zp + 3);
  for (int64_t i = 0; i < n; ++i) {
    switch (i % 8) {
      case 1:  // a half
        v[i] = scale * (static_cast<float>(code(rng)) + 0.5f);
        break;
      case 3:  // a multiple
        v[i] = scale * static_cast<float>(code(rng));
        break;
      case 5:
        v[i] = (i / 8) % 2 ? 0.f : -0.f;
        break;
      case 7:
        v[i] = (i / 8) % 2 ? 1e6f : -1e6f;
        break;
      default:
        break;
    }
  }
  return v;
}

class TensorConvertQuantizeTest : public ::testing::TestWithParam<QuantizeCase> {};

TEST_P(TensorConvertQuantizeTest, MatchesQuantizeLinear) {
  const QuantizeCase& k = GetParam();
  std::mt19937 rng(Seed(static_cast<uint32_t>(std::hash<std::string>{}(k.name))));
  const bool u8 = k.type == DType::kU8;
  const int qmin = u8 ? 0 : -128, qmax = u8 ? 255 : 127;
  const float scale = 0.0173f;
  int64_t n = 1;
  for (int64_t d : k.dims) n *= d;
  const Tensor x = Tensor::FromVector(QuantizeInputs(n, scale, qmin, qmax, k.zp, rng), k.dims);

  TensorConvertConfig c;
  c.dims = k.dims;
  c.src_type = DType::kF32;
  c.dst_type = k.type;
  c.dst_layout = k.layout;
  c.scale = scale;
  c.zero_point = k.zp;
  // reduce_range-like: a range of codes, the Clip before the Q in the graph.
  const int32_t clamp_lo = u8 ? 0 : -64, clamp_hi = u8 ? 127 : 63;
  if (k.clamp) {
    c.clamp_lo = clamp_lo;
    c.clamp_hi = clamp_hi;
  }

  QdqGraph g;
  Value* y = g.Input(x, "x");
  if (k.clamp)
    y = g.Node(
        "Clip",
        {y, g.Const(Tensor::Scalar<float>(scale * static_cast<float>(clamp_lo - k.zp)), "lo"),
         g.Const(Tensor::Scalar<float>(scale * static_cast<float>(clamp_hi - k.zp)), "hi")},
        "clip");
  const std::vector<Tensor> ref = g.Run({g.Q(y, k.type, scale, k.zp, "q")});
  ASSERT_TRUE(ref[0].defined());

  auto conv = TensorConvert::Create(c);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  Tensor out(k.type, k.dims);
  Status s = conv->Run(x.raw(), out.raw());
  ASSERT_TRUE(s.ok()) << s.ToString();
  if (k.layout == BufferLayout::kNhwc) out = FromNhwc(out);

  // At (or within ulps of) a half the two may round to codes one apart:
  // oneDNN may multiply by 1 / scale where the reference divides (in f32),
  // and it rounds x / scale + zero_point where ONNX rounds x / scale and then
  // adds the zero point, so with an odd zero point every exact half goes to
  // the other code (ExactHalvesAndTheZeroPoint). Everywhere else they agree
  // exactly.
  int64_t bad = 0, halves_off = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t got = out.GetAsInt64(i), want = ref[0].GetAsInt64(i);
    if (k.clamp) {
      EXPECT_TRUE(got >= clamp_lo && got <= clamp_hi) << conv->description() << " " << i;
    }
    if (got == want) continue;
    const bool half = NearHalf(x.data<float>()[i], scale);
    halves_off += half;
    if ((!half || std::llabs(got - want) > 1) && ++bad <= 5)
      ADD_FAILURE() << conv->description() << " element " << i << ": x = " << x.data<float>()[i]
                    << " (x / scale = " << x.data<float>()[i] / scale << "), got " << got
                    << ", reference " << want;
  }
  if (halves_off > 0)
    std::cout << conv->description() << ": " << halves_off << " of " << n
              << " codes one apart at halves\n";
}

QuantizeCase QCase(std::string name, std::vector<int64_t> dims, DType type, BufferLayout layout,
                   int32_t zp, bool clamp) {
  return {std::move(name), std::move(dims), type, layout, zp, clamp};
}

std::vector<QuantizeCase> QuantizeCases() {
  const DType kU8 = DType::kU8, kI8 = DType::kI8;
  const BufferLayout kPlain = BufferLayout::kPlain, kNhwc = BufferLayout::kNhwc;
  return {
      QCase("u8_plain_rank2", {37, 29}, kU8, kPlain, 0, false),
      QCase("u8_plain_rank2_zp_clamp", {5, 300}, kU8, kPlain, 131, true),
      QCase("i8_plain_rank2_zp", {1, 517}, kI8, kPlain, -17, false),
      QCase("i8_plain_rank2_clamp", {64, 33}, kI8, kPlain, 0, true),
      QCase("u8_plain_rank4_zp", {1, 17, 9, 7}, kU8, kPlain, 60, false),
      QCase("i8_plain_rank4_batch5_clamp_zp", {5, 3, 8, 11}, kI8, kPlain, 9, true),
      QCase("u8_nhwc", {1, 64, 7, 7}, kU8, kNhwc, 0, false),
      QCase("u8_nhwc_batch5_zp_clamp", {5, 17, 6, 5}, kU8, kNhwc, 128, true),
      QCase("i8_nhwc_batch5", {5, 3, 9, 9}, kI8, kNhwc, 0, false),
      QCase("i8_nhwc_zp_clamp", {1, 33, 5, 7}, kI8, kNhwc, -100, true),
      QCase("i8_nhwc_zp", {1, 16, 14, 14}, kI8, kNhwc, 25, false),
  };
}

INSTANTIATE_TEST_SUITE_P(TensorConvert, TensorConvertQuantizeTest,
                         ::testing::ValuesIn(QuantizeCases()),
                         [](const auto& info) { return info.param.name; });

// With a power-of-two scale x / scale is exact in any arithmetic, so at exact
// halves only the rounding rule is left. ONNX: round_half_even(x / s) + zp.
// oneDNN's reorder rounds x / s + zp (half to even): the same code for an even
// zero point, the other neighbour for an odd one. Pinned here so a change in
// either shows.
TEST(TensorConvertQuantize, ExactHalvesAndTheZeroPoint) {
  const float scale = 0.25f;
  std::vector<float> x;
  for (int k = -20; k < 20; ++k) x.push_back(scale * (static_cast<float>(k) + 0.5f));
  const int64_t n = static_cast<int64_t>(x.size());
  const Tensor xt = Tensor::FromVector(x, {1, n});
  for (DType t : {DType::kU8, DType::kI8}) {
    for (int32_t zp : {0, 64, 1, 25}) {
      TensorConvertConfig c;
      c.dims = {1, n};
      c.dst_type = t;
      c.scale = scale;
      c.zero_point = zp;
      auto conv = TensorConvert::Create(c);
      ASSERT_TRUE(conv.ok()) << conv.status().ToString();
      Tensor out(t, {1, n});
      ASSERT_TRUE(conv->Run(xt.raw(), out.raw()).ok());
      QdqGraph g;
      const std::vector<Tensor> ref = g.Run({g.Q(g.Input(xt, "x"), t, scale, zp, "q")});
      ASSERT_TRUE(ref[0].defined());
      const double qmin = t == DType::kU8 ? 0 : -128, qmax = t == DType::kU8 ? 255 : 127;
      for (int64_t i = 0; i < n; ++i) {
        const double half = static_cast<double>(x[i]) / scale;  // exact
        const int64_t onnx =
            static_cast<int64_t>(std::clamp(std::nearbyint(half) + zp, qmin, qmax));
        const int64_t onednn =
            static_cast<int64_t>(std::clamp(std::nearbyint(half + zp), qmin, qmax));
        EXPECT_EQ(ref[0].GetAsInt64(i), onnx) << "reference, x / s = " << half << ", zp " << zp;
        EXPECT_EQ(out.GetAsInt64(i), onednn)
            << conv->description() << ", x / s = " << half << ", zp " << zp;
        if (zp % 2 == 0) {
          EXPECT_EQ(out.GetAsInt64(i), onnx) << conv->description() << ", x / s = " << half;
        }
      }
    }
  }
}

struct DequantizeCase {
  std::string name;
  std::vector<int64_t> dims;
  DType type = DType::kU8;
  BufferLayout layout = BufferLayout::kPlain;  // of the codes; the f32 result is plain
  int32_t zp = 0;
};

void PrintTo(const DequantizeCase& c, std::ostream* os) { *os << c.name; }

class TensorConvertDequantizeTest : public ::testing::TestWithParam<DequantizeCase> {};

TEST_P(TensorConvertDequantizeTest, BitExactScaleTimesCodeMinusZeroPoint) {
  const DequantizeCase& k = GetParam();
  std::mt19937 rng(Seed(static_cast<uint32_t>(std::hash<std::string>{}(k.name))));
  const bool u8 = k.type == DType::kU8;
  const float scale = 0.0173f;
  const Tensor q =
      u8 ? RandomInts<uint8_t>(k.dims, rng, 0, 255) : RandomInts<int8_t>(k.dims, rng, -128, 127);

  TensorConvertConfig c;
  c.dims = k.dims;
  c.src_type = k.type;
  c.src_layout = k.layout;
  c.dst_type = DType::kF32;
  c.scale = scale;
  c.zero_point = k.zp;
  auto conv = TensorConvert::Create(c);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  const Tensor q_in = k.layout == BufferLayout::kNhwc ? ToNhwc(q) : q;
  Tensor out(DType::kF32, k.dims);
  Status s = conv->Run(q_in.raw(), out.raw());
  ASSERT_TRUE(s.ok()) << s.ToString();

  QdqGraph g;
  const std::vector<Tensor> ref = g.Run({g.Dq(g.Input(q, "q"), k.type, scale, k.zp, "x")});
  ASSERT_TRUE(ref[0].defined());
  int bad = 0;
  for (int64_t i = 0; i < out.numel() && bad < 5; ++i) {
    const float want = static_cast<float>(q.GetAsInt64(i) - k.zp) * scale;
    const float got = out.data<float>()[i];
    if (std::memcmp(&got, &want, sizeof got) != 0 ||
        std::memcmp(&got, ref[0].data<float>() + i, sizeof got) != 0) {
      ++bad;
      ADD_FAILURE() << conv->description() << " element " << i << ": code " << q.GetAsInt64(i)
                    << ", got " << got << ", want " << want << ", reference "
                    << ref[0].data<float>()[i];
    }
  }
}

std::vector<DequantizeCase> DequantizeCases() {
  const DType kU8 = DType::kU8, kI8 = DType::kI8;
  const BufferLayout kPlain = BufferLayout::kPlain, kNhwc = BufferLayout::kNhwc;
  return {
      {"u8_plain_rank2", {37, 29}, kU8, kPlain, 0},
      {"u8_plain_rank2_zp", {5, 300}, kU8, kPlain, 131},
      {"i8_plain_rank2_zp", {1, 517}, kI8, kPlain, -17},
      {"i8_plain_rank4_batch5", {5, 3, 8, 11}, kI8, kPlain, 0},
      {"u8_plain_rank4_zp", {1, 17, 9, 7}, kU8, kPlain, 255},
      {"u8_nhwc", {1, 64, 7, 7}, kU8, kNhwc, 0},
      {"u8_nhwc_batch5_zp", {5, 17, 6, 5}, kU8, kNhwc, 128},
      {"i8_nhwc_batch5_zp", {5, 3, 9, 9}, kI8, kNhwc, -128},
      {"i8_nhwc", {1, 33, 5, 7}, kI8, kNhwc, 0},
  };
}

INSTANTIATE_TEST_SUITE_P(TensorConvert, TensorConvertDequantizeTest,
                         ::testing::ValuesIn(DequantizeCases()),
                         [](const auto& info) { return info.param.name; });

// Layout changes of int8 codes (the same type, scale and zero point on both
// sides): plain transposes, bit-exact.
TEST(TensorConvertLayout, Int8NhwcAndPlainBothWays) {
  std::mt19937 rng(Seed(21));
  for (DType t : {DType::kU8, DType::kI8}) {
    for (const std::vector<int64_t>& dims :
         std::vector<std::vector<int64_t>>{{1, 17, 9, 7}, {5, 3, 8, 11}, {1, 64, 7, 7}}) {
      const Tensor plain = t == DType::kU8 ? RandomInts<uint8_t>(dims, rng, 0, 255)
                                           : RandomInts<int8_t>(dims, rng, -128, 127);
      const Tensor nhwc = ToNhwc(plain);
      for (bool to_nhwc : {true, false}) {
        TensorConvertConfig c;
        c.dims = dims;
        c.src_type = c.dst_type = t;
        c.src_layout = to_nhwc ? BufferLayout::kPlain : BufferLayout::kNhwc;
        c.dst_layout = to_nhwc ? BufferLayout::kNhwc : BufferLayout::kPlain;
        c.scale = 0.05f;
        c.zero_point = t == DType::kU8 ? 128 : -3;
        auto conv = TensorConvert::Create(c);
        ASSERT_TRUE(conv.ok()) << conv.status().ToString();
        Tensor out(t, dims);
        ASSERT_TRUE(conv->Run((to_nhwc ? plain : nhwc).raw(), out.raw()).ok());
        EXPECT_TRUE(out.BitwiseEquals(to_nhwc ? nhwc : plain)) << conv->description();
      }
    }
  }
}

void ExpectError(const TensorConvertConfig& c, const std::string& what) {
  auto r = TensorConvert::Create(c);
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  EXPECT_NE(r.status().message().find("TensorConvert"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(what), std::string::npos) << r.status().message();
}

TEST(TensorConvertErrors, BadConfigsNameTheProblem) {
  TensorConvertConfig good;
  good.dims = {2, 3, 4, 5};
  good.dst_layout = BufferLayout::kNhwc;
  good.scale = 0.1f;
  good.zero_point = 10;
  ASSERT_TRUE(TensorConvert::Create(good).ok());

  TensorConvertConfig c = good;
  c.dst_type = DType::kF32;
  ExpectError(c, "f32 to f32");

  c = good;
  c.src_type = DType::kU8;
  c.dst_type = DType::kI8;
  ExpectError(c, "int8 to int8 conversions keep the type");

  c = good;
  c.dims = {6, 20};
  ExpectError(c, "nhwc layout needs 4-D dims");
  c.dst_layout = BufferLayout::kPlain;
  c.src_type = DType::kU8;
  c.src_layout = BufferLayout::kNhwc;
  c.dst_type = DType::kF32;
  ExpectError(c, "nhwc layout needs 4-D dims");

  c = good;
  c.scale = 0.f;
  ExpectError(c, "scale must be finite and > 0");
  c.scale = std::numeric_limits<float>::quiet_NaN();
  ExpectError(c, "scale must be finite and > 0");
  c.scale = -0.5f;
  ExpectError(c, "scale must be finite and > 0");

  c = good;
  c.zero_point = 256;
  ExpectError(c, "zero point 256 is outside the range of u8");
  c.dst_type = DType::kI8;
  c.zero_point = 128;
  ExpectError(c, "zero point 128 is outside the range of i8");
  c.src_type = DType::kI8;  // dequantize: the source's range
  c.dst_type = DType::kF32;
  c.zero_point = -129;
  ExpectError(c, "zero point -129 is outside the range of i8");

  c = good;
  c.dst_type = DType::kI32;
  ExpectError(c, "types must be f32, u8 or i8");

  auto conv = TensorConvert::Create(good);
  ASSERT_TRUE(conv.ok());
  std::vector<float> src(120);
  Status s = conv->Run(src.data(), nullptr);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("must not be null"), std::string::npos) << s.message();
}

TEST(TensorConvertConcurrency, OneConvertManyThreads) {
  constexpr int kThreads = 4, kRuns = 50;
  std::mt19937 rng(Seed(22));
  TensorConvertConfig c;
  c.dims = {5, 17, 9, 7};
  c.dst_type = DType::kU8;
  c.dst_layout = BufferLayout::kNhwc;
  c.scale = 0.0173f;
  c.zero_point = 100;
  c.clamp_lo = 0;
  c.clamp_hi = 127;
  auto conv = TensorConvert::Create(c);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  const Tensor x =
      Tensor::FromVector(QuantizeInputs(5 * 17 * 9 * 7, c.scale, 0, 255, 100, rng), c.dims);
  Tensor want(DType::kU8, c.dims);
  ASSERT_TRUE(conv->Run(x.raw(), want.raw()).ok());

  const TensorConvert copy = *conv;
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const TensorConvert& k = t % 2 ? copy : *conv;
      Tensor out(DType::kU8, want.dims());
      for (int i = 0; i < kRuns; ++i) {
        std::memset(out.raw(), 0xAB, static_cast<size_t>(out.numel()));
        if (!k.Run(x.raw(), out.raw()).ok() || !out.BitwiseEquals(want)) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

}  // namespace
}  // namespace octet::x86::testing
