// The fp32 kernels (float_kernels.h) against the reference interpreter, each
// on a tiny ONNX graph (LayerNormalization, Softmax, Gelu / Relu / Sigmoid /
// Tanh / Exp, MatMul [+ Add] [+ act] [+ Add residual], Conv [+ Relu],
// Add / Sub / Mul / Div) with fresh seeded random inputs at odd shapes.
//
// Tolerances, with u = 2^-24 (f32 unit roundoff):
//  - MatMul / Conv: oneDNN and the reference both sum K products in f32 (FMA
//    or not), each within (K + 1) u * mag of the exact value, where mag =
//    sum |a_k b_k| + |bias| (+ |residual|) is computed by the reference on
//    |A|, |B|. So they differ by at most 2 (K + 3) u mag; an activation after
//    them scales that by its largest slope (GELU: 1.13) and adds its own
//    approximation error (below).
//  - LayerNorm: mean and variance summed in f32 over C terms (each within
//    about C u, relative to mean|x| and to the variance), the rest a few
//    roundings: |dy| <= (C + 16) u (|gamma| inv_std (mean|x| + |x - mean|) +
//    |beta|); the reference works in double.
//  - Softmax: x - max rounds (R u relative in exp's result, R = max |x - max|
//    of the row), exp is oneDNN's polynomial (kExpRel below), the row sum of C
//    positive terms is within (C - 1) u, the division u:
//    |dy| <= ((C + R + 2) u + 2 kExpRel) |y|.
//  - Elementwise: oneDNN approximates exp, erf, tanh with polynomials; the
//    constants below bound what they may differ from the double-precision
//    reference (measured maxima on AVX2 in the comments). On AVX2, gelu_erf
//    uses Abramowitz & Stegun 7.1.26 (|erf error| <= 1.5e-7), so its error is
//    absolute: 0.5 |x| * kErfAbs.
//  - Binary: one correctly rounded f32 operation in both: bitwise equal.
// OCTET_X86_TEST_REPORT=1 prints each check's largest error / tolerance.
#include "octet/x86/float_kernels.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

constexpr double kU = 0x1p-24;
// oneDNN's exp: x = n ln2 + r, then a polynomial for exp(r). The polynomial
// costs a few u; the reduction, with ln2 in f32, costs about |x| u more (exp's
// condition number is |x|: any rounding of x does that). Measured largest
// relative errors at |x| <= 80: 5.3 u on AVX2 (FMA), 58 u at x = 80 with
// ONEDNN_MAX_CPU_ISA=SSE41 or AVX (no FMA).
constexpr double kExpRel = 8 * kU;  // for |x| <= a few units
double ExpRel(double x) { return kExpRel + std::fabs(x) * kU; }
// tanh and sigmoid: relative error of oneDNN's approximations, plus an
// absolute floor for tanh near 0 where it switches to a polynomial.
constexpr double kTanhRel = 8 * kU;
// erf: A&S 7.1.26 is within 1.5e-7; its f32 evaluation adds a few u.
constexpr double kErfAbs = 1.5e-7 + 8 * kU;
// Largest slope of GELU (at x ~ 1.5), for errors in its input.
constexpr double kGeluSlope = 1.13;

Tensor RandomF32(std::vector<int64_t> dims, std::mt19937& rng, float lo, float hi) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return Tensor::FromVector(RandomFloats(n, rng, lo, hi), std::move(dims));
}

Tensor Abs(const Tensor& t) {
  Tensor out = t.Clone();
  for (int64_t i = 0; i < out.numel(); ++i) out.data<float>()[i] = std::fabs(out.data<float>()[i]);
  return out;
}

// |got - want| <= tol(i) for every element (NaN fails); reports the first few.
template <typename Tol>
void ExpectWithin(const float* got, const Tensor& want, const Tol& tol, const std::string& what) {
  ASSERT_TRUE(want.defined()) << what;
  int64_t bad = 0;
  double worst = 0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double g = got[i], w = want.data<float>()[i], t = tol(i), err = std::fabs(g - w);
    if (!(err <= t)) {
      if (++bad <= 5)
        ADD_FAILURE() << what << " element " << i << ": got " << g << ", reference " << w
                      << ", error " << err << " > tolerance " << t;
    } else if (err > 0) {
      worst = std::max(worst, t > 0 ? err / t : 1.0);
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << want.numel() << " out of tolerance";
  if (std::getenv("OCTET_X86_TEST_REPORT"))
    std::printf("  %s: largest error / tolerance %.3g\n", what.c_str(), worst);
}

void ExpectBitwise(const float* got, const Tensor& want, const std::string& what) {
  ExpectWithin(
      got, want, [](int64_t) { return 0.0; }, what);
}

#define FLOAT_ASSERT_OK_AND_ASSIGN(lhs, expr)                 \
  auto lhs##_or = (expr);                                     \
  ASSERT_TRUE(lhs##_or.ok()) << lhs##_or.status().ToString(); \
  auto lhs = std::move(*lhs##_or)

// ------------------------------------------------------------------ LayerNorm

TEST(FloatLayerNorm, MatchesReference) {
  struct Case {
    int64_t rows, c;
    bool beta, in_place;
    float eps, offset;
  };
  const Case cases[] = {{7, 65, true, false, 1e-5f, 0.f},
                        {1, 768, true, false, 1e-6f, 3.f},
                        {64, 1280, false, true, 1e-5f, 0.f},
                        {5, 1, true, false, 1e-5f, 0.f},
                        {3, 4099, true, true, 1e-3f, -2.f}};
  for (const Case& t : cases) {
    const std::string name = "rows " + std::to_string(t.rows) + " C " + std::to_string(t.c);
    SCOPED_TRACE(name);
    std::mt19937 rng(Seed(100 + static_cast<uint32_t>(t.c)));
    Tensor x = RandomF32({t.rows, t.c}, rng, t.offset - 1.5f, t.offset + 1.5f);
    const Tensor gamma = RandomF32({t.c}, rng, -2.f, 2.f);
    const Tensor beta = t.beta ? RandomF32({t.c}, rng, -1.f, 1.f) : Tensor();

    QdqGraph g;
    std::vector<Value*> ins = {g.Input(x, "x"), g.Const(gamma, "gamma")};
    if (t.beta) ins.push_back(g.Const(beta, "beta"));
    const Tensor want = g.Run(
        {g.Node("LayerNormalization", ins, "y", {{"axis", int64_t{-1}}, {"epsilon", t.eps}})})[0];

    FLOAT_ASSERT_OK_AND_ASSIGN(ln, F32LayerNorm::Create({t.rows, t.c, gamma, beta, t.eps}));
    Tensor out(DType::kF32, {t.rows, t.c});
    Tensor keep = x.Clone();
    float* dst = t.in_place ? x.data<float>() : out.data<float>();
    ASSERT_TRUE(ln.Run(x.data<float>(), dst).ok());
    std::vector<double> tol(want.numel());
    for (int64_t r = 0; r < t.rows; ++r) {
      const float* xr = keep.data<float>() + r * t.c;
      double sum = 0, abs_sum = 0, sq = 0;
      for (int64_t k = 0; k < t.c; ++k) sum += xr[k], abs_sum += std::fabs(xr[k]);
      const double mean = sum / t.c;
      for (int64_t k = 0; k < t.c; ++k) sq += (xr[k] - mean) * (xr[k] - mean);
      const double inv = 1 / std::sqrt(sq / t.c + t.eps);
      for (int64_t k = 0; k < t.c; ++k)
        tol[r * t.c + k] =
            (t.c + 16) * kU *
            (std::fabs(gamma.data<float>()[k]) * inv * (abs_sum / t.c + std::fabs(xr[k] - mean)) +
             (t.beta ? std::fabs(beta.data<float>()[k]) : 0.0));
    }
    ExpectWithin(
        dst, want, [&](int64_t i) { return tol[i]; }, ln.description());
  }
}

// ------------------------------------------------------------------ Softmax

TEST(FloatSoftmax, MatchesReference) {
  struct Case {
    int64_t rows, c;
    bool in_place;
  };
  for (const Case& t : {Case{7, 65, false}, Case{1, 1, false}, Case{37, 64, true},
                        Case{16, 1000, true}, Case{3, 4097, false}}) {
    SCOPED_TRACE("rows " + std::to_string(t.rows) + " C " + std::to_string(t.c));
    std::mt19937 rng(Seed(200 + static_cast<uint32_t>(t.c)));
    Tensor x = RandomF32({t.rows, t.c}, rng, -8.f, 8.f);
    // Row 0 near 100: exp would overflow f32 without subtracting the max.
    for (int64_t k = 0; k < t.c; ++k) x.data<float>()[k] += 100.f;
    QdqGraph g;
    const Tensor want =
        g.Run({g.Node("Softmax", {g.Input(x, "x")}, "y", {{"axis", int64_t{-1}}})})[0];
    std::vector<double> range(t.rows);  // R: largest max - x of each row
    for (int64_t r = 0; r < t.rows; ++r) {
      const float* xr = x.data<float>() + r * t.c;
      range[r] = *std::max_element(xr, xr + t.c) - *std::min_element(xr, xr + t.c);
    }

    FLOAT_ASSERT_OK_AND_ASSIGN(sm, F32Softmax::Create({t.rows, t.c}));
    Tensor out(DType::kF32, {t.rows, t.c});
    float* dst = t.in_place ? x.data<float>() : out.data<float>();
    ASSERT_TRUE(sm.Run(x.data<float>(), dst).ok());
    ExpectWithin(
        dst, want,
        [&](int64_t i) {
          const double y = std::fabs(want.data<float>()[i]);
          return ((t.c + range[i / t.c] + 2) * kU + 2 * kExpRel) * y +
                 std::numeric_limits<float>::min();
        },
        sm.description());
  }
}

// ------------------------------------------------------------------ Eltwise

TEST(FloatEltwise, MatchesReference) {
  struct Case {
    UnaryOp op;
    const char* onnx_op;
    const char* approximate;  // for Gelu
  };
  const Case cases[] = {
      {UnaryOp::kGeluErf, "Gelu", "none"}, {UnaryOp::kGeluTanh, "Gelu", "tanh"},
      {UnaryOp::kRelu, "Relu", nullptr},   {UnaryOp::kSigmoid, "Sigmoid", nullptr},
      {UnaryOp::kTanh, "Tanh", nullptr},   {UnaryOp::kExp, "Exp", nullptr},
      {UnaryOp::kSquare, "Pow", nullptr}};
  for (const Case& t : cases) {
    for (bool in_place : {false, true}) {
      SCOPED_TRACE(std::string(UnaryOpName(t.op)) + (in_place ? " in place" : ""));
      std::mt19937 rng(Seed(300 + static_cast<uint32_t>(t.op)));
      std::vector<float> v = RandomFloats(1037, rng, -6.f, 6.f);
      for (float s :
           {0.f, -0.f, 1e-3f, -1e-3f, 1e-20f, 0.5f, -0.5f, 10.f, -10.f, 20.f, -20.f, 80.f, -80.f})
        v.push_back(s);
      Tensor x = Tensor::FromVector(v, {static_cast<int64_t>(v.size())});
      const Tensor keep = x.Clone();
      QdqGraph g;
      std::map<std::string, Attribute> attrs;
      if (t.approximate) attrs["approximate"] = t.approximate;
      std::vector<Value*> inputs{g.Input(x, "x")};
      if (t.op == UnaryOp::kSquare) inputs.push_back(g.Const(Tensor::Scalar(2.f), "two"));
      const Tensor want = g.Run({g.Node(t.onnx_op, inputs, "y", attrs)})[0];

      FLOAT_ASSERT_OK_AND_ASSIGN(el, F32Eltwise::Create({t.op, x.numel()}));
      Tensor out(DType::kF32, x.dims());
      float* dst = in_place ? x.data<float>() : out.data<float>();
      ASSERT_TRUE(el.Run(x.data<float>(), dst).ok());
      ExpectWithin(
          dst, want,
          [&](int64_t i) -> double {
            const double xi = keep.data<float>()[i], y = std::fabs(want.data<float>()[i]);
            switch (t.op) {
              case UnaryOp::kRelu:
                return 0;
              case UnaryOp::kSquare:  // one rounding in each (the reference may use pow)
                return kU * y;
              case UnaryOp::kExp:
                return ExpRel(xi) * y;
              case UnaryOp::kSigmoid:  // 1 / (1 + exp(-x))
                return (ExpRel(xi) + 3 * kU) * y;
              case UnaryOp::kTanh:
                return kTanhRel * y;
              case UnaryOp::kGeluErf:
                return 0.5 * std::fabs(xi) * kErfAbs + 4 * kU * y;
              case UnaryOp::kGeluTanh:  // tanh's error, absolute (|tanh| <= 1)
                return 0.5 * std::fabs(xi) * (kTanhRel + 8 * kU) + 4 * kU * y;
            }
            return 0;
          },
          el.description());
    }
  }
}

// ------------------------------------------------------------------ MatMul

struct MatMulCase {
  std::string name;
  int64_t batch, m, k, n;
  bool broadcast_a = false, broadcast_b = false, transpose_b = false;
  bool constant_b = false, weights_2d = false, bias = false;
  std::vector<F32PostOp> post_ops = {};
};

void PrintTo(const MatMulCase& c, std::ostream* os) { *os << c.name; }

std::vector<MatMulCase> MatMulCases() {
  using P = F32PostOp;
  return {
      {"m1_k768_const_bias_gelu",
       1,
       1,
       768,
       33,
       false,
       false,
       false,
       true,
       true,
       true,
       {P::kGeluErf}},
      {"m37_k3_batch4_transposed", 4, 37, 3, 65, false, false, true},
      {"m64_k64_broadcast_a", 3, 64, 64, 64, true},
      {"m37_k768_const_transposed_bias_residual",
       2,
       37,
       768,
       129,
       false,
       true,
       true,
       true,
       false,
       true,
       {P::kSum}},
      {"m7_k17_sum_then_relu",
       1,
       7,
       17,
       5,
       false,
       false,
       false,
       false,
       false,
       false,
       {P::kSum, P::kRelu}},
      {"m64_k65_const_gelu_tanh",
       1,
       64,
       65,
       31,
       false,
       false,
       false,
       true,
       true,
       true,
       {P::kGeluTanh}},
      // An activation before the sum: oneDNN 3.2 runs it in ref:any.
      {"m5_k9_gelu_then_sum",
       1,
       5,
       9,
       7,
       false,
       false,
       false,
       true,
       true,
       true,
       {P::kGeluErf, P::kSum}},
      {"m37_k64_qkT_broadcast_b", 3, 37, 64, 37, false, true, true},
      {"m1_k1_n1", 1, 1, 1, 1},
  };
}

class FloatMatMulTest : public ::testing::TestWithParam<MatMulCase> {};

TEST_P(FloatMatMulTest, MatchesReference) {
  const MatMulCase& t = GetParam();
  std::mt19937 rng(Seed(static_cast<uint32_t>(std::hash<std::string>{}(t.name))));
  const int64_t ba = t.broadcast_a ? 1 : t.batch, bb = t.broadcast_b ? 1 : t.batch;
  const Tensor a = RandomF32({ba, t.m, t.k}, rng, -1.f, 1.f);
  std::vector<int64_t> b_dims =
      t.transpose_b ? std::vector<int64_t>{bb, t.n, t.k} : std::vector<int64_t>{bb, t.k, t.n};
  if (t.weights_2d) b_dims.erase(b_dims.begin());
  const Tensor b = RandomF32(b_dims, rng, -1.f, 1.f);
  const Tensor bias = t.bias ? RandomF32({t.n}, rng, -1.f, 1.f) : Tensor();
  bool has_sum = false;
  for (F32PostOp p : t.post_ops) has_sum |= p == F32PostOp::kSum;
  const Tensor residual = RandomF32({t.batch, t.m, t.n}, rng, -2.f, 2.f);

  // Reference: MatMul(A, [Transpose] B) [+ bias], post-ops in order; and the
  // same on |A|, |B|, |bias|, |residual| for the magnitude.
  auto build = [&](QdqGraph& g, const Tensor& a_t, const Tensor& b_t, const Tensor& bias_t,
                   const Tensor& res_t, bool magnitude) {
    Value* bv = t.constant_b ? g.Const(b_t, "b") : g.Input(b_t, "b");
    if (t.transpose_b)
      bv = g.Node(
          "Transpose", {bv}, "bt",
          {{"perm", t.weights_2d ? std::vector<int64_t>{1, 0} : std::vector<int64_t>{0, 2, 1}}});
    Value* y = g.Node("MatMul", {g.Input(a_t, "a"), bv}, "mm");
    if (t.bias) y = g.Node("Add", {y, g.Const(bias_t, "bias")}, "biased");
    int i = 0;
    for (F32PostOp p : t.post_ops) {
      const std::string id = std::to_string(i++);
      if (p == F32PostOp::kSum) {
        y = g.Node("Add", {y, g.Input(res_t, "res")}, "sum" + id);
      } else if (!magnitude) {
        std::map<std::string, Attribute> attrs;
        if (p != F32PostOp::kRelu)
          attrs["approximate"] = p == F32PostOp::kGeluTanh ? "tanh" : "none";
        y = g.Node(p == F32PostOp::kRelu ? "Relu" : "Gelu", {y}, "act" + id, attrs);
      }
    }
    return g.Run({y})[0];
  };
  QdqGraph g, gm;
  const Tensor want = build(g, a, b, bias, residual, false);
  const Tensor mag = build(gm, Abs(a), Abs(b), t.bias ? Abs(bias) : Tensor(), Abs(residual), true);

  F32MatMulConfig c;
  c.batch = t.batch;
  c.m = t.m;
  c.k = t.k;
  c.n = t.n;
  c.broadcast_a = t.broadcast_a;
  c.broadcast_b = t.broadcast_b;
  c.transpose_b = t.transpose_b;
  if (t.constant_b) c.weights = b;
  c.bias = bias;
  c.post_ops = t.post_ops;
  FLOAT_ASSERT_OK_AND_ASSIGN(mm, F32MatMul::Create(c));
  Tensor out = has_sum ? residual.Clone() : Tensor(DType::kF32, {t.batch, t.m, t.n});
  ASSERT_TRUE(
      mm.Run(a.data<float>(), t.constant_b ? nullptr : b.data<float>(), out.data<float>()).ok());
  bool gelu = false;
  for (F32PostOp p : t.post_ops) gelu |= p == F32PostOp::kGeluErf || p == F32PostOp::kGeluTanh;
  ExpectWithin(
      out.data<float>(), want,
      [&](int64_t i) {
        const double m = mag.data<float>()[i];
        // The GELU's own error is at most 0.5 |x| kErfAbs with |x| <= mag.
        return (gelu ? kGeluSlope : 1.0) * 2 * (t.k + 3) * kU * m +
               (gelu ? 0.5 * m * kErfAbs + 4 * kU * m : 0.0);
      },
      mm.description() + " [" + mm.implementation() + "]");
}

INSTANTIATE_TEST_SUITE_P(Float, FloatMatMulTest, ::testing::ValuesIn(MatMulCases()),
                         [](const auto& info) { return info.param.name; });

// ------------------------------------------------------------------ Conv2d

struct ConvCase {
  std::string name;
  std::vector<int64_t> src;  // N, C, H, W
  std::vector<int64_t> w;    // O, C/g, kH, kW
  std::array<int64_t, 2> strides{1, 1}, dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
  int64_t groups = 1;
  bool bias = true, relu = false;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

std::vector<ConvCase> ConvCases() {
  return {
      {"patch_embed_16x16_stride16", {1, 3, 32, 48}, {16, 3, 16, 16}, {16, 16}},
      {"3x3_pad1", {2, 8, 11, 9}, {12, 8, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {"stride2_asym_pads_dilation2_groups4_relu",
       {1, 8, 11, 9},
       {12, 2, 3, 3},
       {2, 2},
       {2, 2},
       {1, 0, 2, 1},
       4,
       true,
       true},
      {"depthwise_7x5", {1, 16, 7, 5}, {16, 1, 3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 16},
      {"1x1_no_bias", {1, 64, 9, 9}, {32, 64, 1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, false},
  };
}

class FloatConvTest : public ::testing::TestWithParam<std::tuple<ConvCase, Layout>> {};

TEST_P(FloatConvTest, MatchesReference) {
  const ConvCase& t = std::get<0>(GetParam());
  const Layout layout = std::get<1>(GetParam());
  std::mt19937 rng(Seed(static_cast<uint32_t>(std::hash<std::string>{}(t.name))));
  const Tensor x = RandomF32(t.src, rng, -1.f, 1.f);
  const Tensor w = RandomF32(t.w, rng, -1.f, 1.f);
  const Tensor bias = t.bias ? RandomF32({t.w[0]}, rng, -1.f, 1.f) : Tensor();
  auto run_ref = [&](const Tensor& xt, const Tensor& wt, const Tensor& bt, bool relu) {
    QdqGraph g;
    std::vector<Value*> ins = {g.Input(xt, "x"), g.Const(wt, "w")};
    if (t.bias) ins.push_back(g.Const(bt, "b"));
    Value* y = g.Node("Conv", ins, "conv",
                      {{"strides", std::vector<int64_t>(t.strides.begin(), t.strides.end())},
                       {"dilations", std::vector<int64_t>(t.dilations.begin(), t.dilations.end())},
                       {"pads", std::vector<int64_t>(t.pads.begin(), t.pads.end())},
                       {"group", t.groups}});
    if (relu) y = g.Node("Relu", {y}, "relu");
    return g.Run({y})[0];
  };
  const Tensor want = run_ref(x, w, bias, t.relu);
  const Tensor mag = run_ref(Abs(x), Abs(w), t.bias ? Abs(bias) : Tensor(), false);

  F32Conv2dConfig c;
  c.src_dims = t.src;
  c.layout = layout;
  c.weights = w;
  c.bias = bias;
  c.strides = t.strides;
  c.dilations = t.dilations;
  c.pads = t.pads;
  c.groups = t.groups;
  c.relu = t.relu;
  FLOAT_ASSERT_OK_AND_ASSIGN(conv, F32Conv2d::Create(c));
  ASSERT_EQ(conv.dst_dims(), want.dims());
  const bool nhwc = layout == Layout::kNHWC;
  const Tensor src = nhwc ? ToNhwc(x) : x;
  Tensor out(DType::kF32, conv.dst_dims());
  ASSERT_TRUE(conv.Run(src.data<float>(), out.data<float>()).ok());
  if (nhwc) out = FromNhwc(out);
  const int64_t k = t.w[1] * t.w[2] * t.w[3];
  ExpectWithin(
      out.data<float>(), want, [&](int64_t i) { return 2 * (k + 3) * kU * mag.data<float>()[i]; },
      conv.description() + " [" + conv.implementation() + "]");
}

INSTANTIATE_TEST_SUITE_P(Float, FloatConvTest,
                         ::testing::Combine(::testing::ValuesIn(ConvCases()),
                                            ::testing::Values(Layout::kNCHW, Layout::kNHWC)),
                         [](const auto& info) {
                           return std::get<0>(info.param).name +
                                  (std::get<1>(info.param) == Layout::kNHWC ? "_nhwc" : "_nchw");
                         });

// ------------------------------------------------------------------ Binary

TEST(FloatBinary, BroadcastsLikeNumpyExactly) {
  struct Case {
    BinaryOp op;
    std::vector<int64_t> a, b;
  };
  const Case cases[] = {
      {BinaryOp::kAdd, {3, 5, 7}, {3, 5, 7}},
      {BinaryOp::kAdd, {2, 3, 4, 5}, {1, 3, 1, 1}},
      {BinaryOp::kAdd, {1, 5}, {4, 5}},        // a broadcast: swapped
      {BinaryOp::kMul, {4, 1, 6}, {1, 5, 6}},  // both broadcast
      {BinaryOp::kSub, {1, 1, 7}, {3, 5, 7}},  // a broadcast, not commutative
      {BinaryOp::kDiv, {3, 5, 7}, {3, 5, 1}},
      {BinaryOp::kDiv, {3, 1, 7}, {3, 5, 7}},
      {BinaryOp::kSub, {2, 3, 4}, {1, 1, 1}},
      // SAM's relative-position terms; axes collapse to [160, 5] + [160, 1] and
      // [40, 4, 5] + [40, 1, 5], which oneDNN's jit kernel takes.
      {BinaryOp::kAdd, {2, 4, 5, 4, 5}, {2, 4, 5, 4, 1}},
      {BinaryOp::kAdd, {2, 4, 5, 4, 5}, {2, 4, 5, 1, 5}},
      {BinaryOp::kMul, {6, 20, 1}, {6, 1, 1}},
      {BinaryOp::kDiv, {1, 1, 1}, {1, 1, 1}},
      {BinaryOp::kMul, {33}, {1}},
  };
  const char* onnx[] = {"Add", "Sub", "Mul", "Div"};
  for (const Case& t : cases) {
    std::mt19937 rng(Seed(400 + static_cast<uint32_t>(t.a.size() * 10 + t.a[0])));
    const Tensor a = RandomF32(t.a, rng, -4.f, 4.f);
    Tensor b = RandomF32(t.b, rng, 0.25f, 4.f);  // away from 0 for Div
    for (int64_t i = 0; i < b.numel(); i += 2) b.data<float>()[i] = -b.data<float>()[i];
    QdqGraph g;
    const Tensor want =
        g.Run({g.Node(onnx[static_cast<int>(t.op)], {g.Input(a, "a"), g.Input(b, "b")}, "c")})[0];
    FLOAT_ASSERT_OK_AND_ASSIGN(bin, F32Binary::Create({t.op, t.a, t.b}));
    ASSERT_EQ(bin.dst_dims(), want.dims());
    Tensor out(DType::kF32, want.dims());
    ASSERT_TRUE(bin.Run(a.data<float>(), b.data<float>(), out.data<float>()).ok());
    ExpectBitwise(out.data<float>(), want, bin.description() + " [" + bin.implementation() + "]");
    // Only a broadcast a that cannot swap places with b needs ref:any (slow).
    const bool commutes = t.op == BinaryOp::kAdd || t.op == BinaryOp::kMul;
    if (t.a == want.dims() || (commutes && t.b == want.dims())) {
      EXPECT_NE(bin.implementation().rfind("ref", 0), 0u) << bin.description();
    }
    // In place into whichever operand has the output's dims (b only for add and mul).
    if (t.a == want.dims()) {
      Tensor a2 = a.Clone();
      ASSERT_TRUE(bin.Run(a2.data<float>(), b.data<float>(), a2.data<float>()).ok());
      ExpectBitwise(a2.data<float>(), want, bin.description() + " in place (a)");
    }
    if (t.b == want.dims()) {
      Tensor b2 = b.Clone();
      Status s = bin.Run(a.data<float>(), b2.data<float>(), b2.data<float>());
      if (commutes) {
        ASSERT_TRUE(s.ok()) << s.ToString();
        ExpectBitwise(b2.data<float>(), want, bin.description() + " in place (b)");
      } else {
        EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << bin.description();
      }
    }
  }
}

// ------------------------------------------------------------------ Errors

void ExpectError(const Status& s, const std::vector<std::string>& parts) {
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  for (const std::string& p : parts)
    EXPECT_NE(s.message().find(p), std::string::npos) << "'" << p << "' not in: " << s.message();
}

TEST(FloatKernelErrors, BadConfigsNameTheShapes) {
  std::mt19937 rng(Seed(500));
  const Tensor v64 = RandomF32({64}, rng, -1, 1), v65 = RandomF32({65}, rng, -1, 1);
  ExpectError(F32LayerNorm::Create({7, 65, v64, Tensor(), 1e-5f}).status(),
              {"F32LayerNorm [7,65]", "gamma must be f32 [65], got f32[64]"});
  ExpectError(F32LayerNorm::Create({7, 65, v65, v64, 1e-5f}).status(),
              {"beta must be f32 [65], got f32[64]"});
  ExpectError(F32LayerNorm::Create({7, 65, v65, Tensor(), -1.f}).status(), {"epsilon"});
  ExpectError(F32Softmax::Create({0, 65}).status(), {"F32Softmax [0,65]", "positive"});
  ExpectError(F32Eltwise::Create({UnaryOp::kGeluErf, 0}).status(),
              {"F32Eltwise gelu_erf [0]", "positive"});

  F32MatMulConfig mc;
  mc.batch = 2;
  mc.m = 37;
  mc.k = 768;
  mc.n = 33;
  mc.weights = RandomF32({64, 33}, rng, -1, 1);
  ExpectError(F32MatMul::Create(mc).status(), {"F32MatMul A[2,37,768] * W[2,768,33]",
                                               "weights f32[64,33] do not match B [2,768,33]"});
  mc.broadcast_b = true;
  mc.transpose_b = true;
  mc.weights = RandomF32({768, 33}, rng, -1, 1);  // not transposed
  ExpectError(F32MatMul::Create(mc).status(),
              {"W^T[1,33,768]", "weights f32[768,33] do not match B [1,33,768]"});
  mc.weights = RandomF32({33, 768}, rng, -1, 1);
  mc.bias = v64;
  ExpectError(F32MatMul::Create(mc).status(), {"bias must be f32 [33], got f32[64]"});
  mc.bias = Tensor();
  mc.post_ops = {F32PostOp::kSum, F32PostOp::kSum};
  ExpectError(F32MatMul::Create(mc).status(), {"at most one kSum"});
  mc.post_ops = {};
  mc.broadcast_a = true;
  ExpectError(F32MatMul::Create(mc).status(), {"broadcast_a and broadcast_b with batch 2"});

  F32Conv2dConfig cc;
  cc.src_dims = {1, 8, 9, 9};
  cc.weights = RandomF32({12, 3, 3, 3}, rng, -1, 1);
  cc.groups = 4;
  ExpectError(F32Conv2d::Create(cc).status(),
              {"F32Conv2d [1,8,9,9] nchw * f32[12,3,3,3]",
               "weights f32[12,3,3,3] with groups 4 do not match 8 input channels"});
  cc.weights = RandomF32({12, 2, 11, 3}, rng, -1, 1);
  ExpectError(F32Conv2d::Create(cc).status(), {"kernel extent 11 exceeds the padded input 9"});

  ExpectError(F32Binary::Create({BinaryOp::kAdd, {2, 3, 5}, {2, 4, 5}}).status(),
              {"F32Binary add [2,3,5] [2,4,5]", "do not broadcast (axis 1: 3 vs 4)"});
  ExpectError(F32Binary::Create({BinaryOp::kMul, {2, 3}, {3}}).status(), {"same rank"});
}

TEST(FloatKernelErrors, BadRunArguments) {
  std::mt19937 rng(Seed(501));
  F32MatMulConfig mc;
  mc.m = 4;
  mc.k = 8;
  mc.n = 6;
  mc.weights = RandomF32({8, 6}, rng, -1, 1);
  FLOAT_ASSERT_OK_AND_ASSIGN(mm, F32MatMul::Create(mc));
  std::vector<float> a(32, 1.f), b(48, 1.f), c(24);
  ExpectError(mm.Run(a.data(), b.data(), c.data()), {"b must be null"});
  ExpectError(mm.Run(a.data(), nullptr, a.data()), {"c must not be a or b"});
  mc.weights = Tensor();
  FLOAT_ASSERT_OK_AND_ASSIGN(mm2, F32MatMul::Create(mc));
  ExpectError(mm2.Run(a.data(), nullptr, c.data()), {"b is required"});

  FLOAT_ASSERT_OK_AND_ASSIGN(sub, F32Binary::Create({BinaryOp::kSub, {1, 6}, {4, 6}}));
  std::vector<float> x(6, 1.f), y(24, 2.f);
  // a is broadcast: it cannot be the output; sub does not commute: nor can b.
  ExpectError(sub.Run(x.data(), y.data(), x.data()), {"c may be a only when"});
  ExpectError(sub.Run(x.data(), y.data(), y.data()), {"c may be a only when"});
  ExpectError(sub.Run(nullptr, y.data(), y.data()), {"must not be null"});
}

// ------------------------------------------------------------------ Threads

// A created kernel is immutable and Run is reentrant: 4 threads x 50 runs of
// one kernel (and of a copy, which shares the primitive and packed weights)
// reproduce the single-threaded result bit for bit.
constexpr int kThreads = 4, kRuns = 50;

template <typename RunFn>
void ExpectSameResultFromThreads(const Tensor& want, const RunFn& run) {
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Tensor out(DType::kF32, want.dims());
      for (int i = 0; i < kRuns; ++i) {
        if (!run(t, out).ok() || !out.BitwiseEquals(want)) ++mismatches[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(FloatConcurrency, OneMatMulManyThreads) {
  std::mt19937 rng(Seed(600));
  F32MatMulConfig c;
  c.batch = 2;
  c.m = 37;
  c.k = 96;
  c.n = 72;
  c.broadcast_b = true;
  c.transpose_b = true;
  c.weights = RandomF32({72, 96}, rng, -1, 1);
  c.bias = RandomF32({72}, rng, -1, 1);
  c.post_ops = {F32PostOp::kGeluErf};
  FLOAT_ASSERT_OK_AND_ASSIGN(mm, F32MatMul::Create(c));
  const F32MatMul copy = mm;
  const Tensor a = RandomF32({2, 37, 96}, rng, -1, 1);
  Tensor want(DType::kF32, {2, 37, 72});
  ASSERT_TRUE(mm.Run(a.data<float>(), nullptr, want.data<float>()).ok());
  ExpectSameResultFromThreads(want, [&](int t, Tensor& out) {
    return (t % 2 ? copy : mm).Run(a.data<float>(), nullptr, out.data<float>());
  });
}

TEST(FloatConcurrency, OneLayerNormManyThreads) {
  std::mt19937 rng(Seed(601));
  FLOAT_ASSERT_OK_AND_ASSIGN(ln, F32LayerNorm::Create({33, 257, RandomF32({257}, rng, -1, 1),
                                                       RandomF32({257}, rng, -1, 1), 1e-6f}));
  const Tensor x = RandomF32({33, 257}, rng, -3, 3);
  Tensor want(DType::kF32, x.dims());
  ASSERT_TRUE(ln.Run(x.data<float>(), want.data<float>()).ok());
  ExpectSameResultFromThreads(
      want, [&](int, Tensor& out) { return ln.Run(x.data<float>(), out.data<float>()); });
}

}  // namespace
}  // namespace octet::x86::testing
