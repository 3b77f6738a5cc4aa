// Quantization kernels: exact integer results against hand-computed values
// (ties round half to even, saturation at both ends) and against naive loops.
#include <gtest/gtest.h>

#include "linalg_test_util.h"

namespace octet::testing_linalg {
namespace {

template <typename T>
Tensor T1(std::vector<T> v, std::vector<int64_t> dims) {
  return Tensor::FromVector<T>(v, std::move(dims));
}

// A tensor of a packed 4-bit (or any) dtype from values.
Tensor Make(DType t, std::vector<int64_t> dims, const std::vector<double>& values) {
  Tensor out(t, std::move(dims));
  for (size_t i = 0; i < values.size(); ++i) out.SetFromDouble(static_cast<int64_t>(i), values[i]);
  return out;
}

std::vector<int64_t> Ints(const Tensor& t) {
  std::vector<int64_t> v;
  for (int64_t i = 0; i < t.numel(); ++i) v.push_back(t.GetAsInt64(i));
  return v;
}

Tensor RunOne(const std::string& op, const std::vector<Tensor>& ins, const Attrs& attrs = {}) {
  auto out = RunOp(op, ins, attrs);
  EXPECT_TRUE(out.ok()) << op << ": " << out.status().ToString();
  return out.ok() ? (*out)[0] : Tensor();
}

TEST(QuantizeLinearTest, PerTensorRoundsHalfToEvenAndSaturates) {
  // x / 0.5 = 0.5, 1.5, -0.5, 2.5, 400, -20, 4, 7.5 -> 0, 2, -0, 2, 400, -20, 4, 8; + 10.
  const Tensor y =
      RunOne("QuantizeLinear", {T1<float>({0.25f, 0.75f, -0.25f, 1.25f, 200, -10, 2, 3.75f}, {8}),
                                Tensor::Scalar<float>(0.5f), Tensor::Scalar<uint8_t>(10)});
  EXPECT_EQ(y.dtype(), DType::kU8);
  EXPECT_EQ(Ints(y), (std::vector<int64_t>{10, 12, 10, 12, 255, 0, 14, 18}));
  // i8: x / 2 = 0.5, 1.5, -2.5, 150, -150, 2.5 -> 0, 2, -2, 150, -150, 2; - 3.
  const Tensor z = RunOne("QuantizeLinear", {T1<float>({1, 3, -5, 300, -300, 5}, {6}),
                                             Tensor::Scalar<float>(2), Tensor::Scalar<int8_t>(-3)});
  EXPECT_EQ(z.dtype(), DType::kI8);
  EXPECT_EQ(Ints(z), (std::vector<int64_t>{-3, -1, -5, 127, -128, -1}));
}

TEST(QuantizeLinearTest, DefaultsToUint8WithoutZeroPoint) {
  const Tensor y =
      RunOne("QuantizeLinear", {T1<float>({-1, 0.5f, 1.5f, 999}, {4}), Tensor::Scalar<float>(1)});
  EXPECT_EQ(y.dtype(), DType::kU8);
  EXPECT_EQ(Ints(y), (std::vector<int64_t>{0, 0, 2, 255}));
}

TEST(QuantizeLinearTest, PerAxis) {
  const Tensor x = T1<float>({1.5f, 2.5f, 3, 5, -2, 6, 0.5f, -1, 1, 700, 2, 10}, {2, 3, 2});
  const Tensor scale = T1<float>({1, 2, 4}, {3});
  const Tensor zp = T1<uint8_t>({0, 10, 100}, {3});
  // Channel 0: x/1 -> 2, 2, 0, -1(->0); channel 1: x/2 = 1.5, 2.5, 0.5, 350 -> 2, 2, 0, 350,
  // + 10; channel 2: x/4 = -0.5, 1.5, 0.5, 2.5 -> 0, 2, 0, 2, + 100.
  const std::vector<int64_t> want = {2, 2, 12, 12, 100, 102, 0, 0, 10, 255, 100, 102};
  EXPECT_EQ(Ints(RunOne("QuantizeLinear", {x, scale, zp})), want);  // axis defaults to 1
  EXPECT_EQ(Ints(RunOne("QuantizeLinear", {x, scale, zp}, {{"axis", int64_t{-2}}})), want);
}

TEST(QuantizeLinearTest, PerBlock) {
  const Tensor x = T1<float>({0.5f, 1.5f, 3, 5, 2, 6, 0.25f, 0.75f}, {2, 4});
  const Tensor scale = T1<float>({1, 2, 4, 0.5f}, {2, 2});
  const Tensor zp = T1<int8_t>({0, 1, -1, 2}, {2, 2});
  const Attrs attrs = {{"axis", int64_t{1}}, {"block_size", int64_t{2}}};
  EXPECT_EQ(Ints(RunOne("QuantizeLinear", {x, scale, zp}, attrs)),
            (std::vector<int64_t>{0, 2, 3, 3, -1, 1, 2, 4}));
  // A ragged last block: 5 elements in blocks of 2 use 3 scales.
  const Tensor y =
      RunOne("QuantizeLinear",
             {T1<float>({1, 1, 1, 1, 1}, {1, 5}), T1<float>({1, 0.5f, 0.25f}, {1, 3})}, attrs);
  EXPECT_EQ(Ints(y), (std::vector<int64_t>{1, 1, 2, 2, 4}));
}

TEST(QuantizeLinearTest, SixteenAndFourBitTypes) {
  const Tensor u16 =
      RunOne("QuantizeLinear", {T1<float>({40000, -50000, 1.5f}, {3}), Tensor::Scalar<float>(1),
                                Tensor::Scalar<uint16_t>(30000)});
  EXPECT_EQ(u16.dtype(), DType::kU16);
  EXPECT_EQ(Ints(u16), (std::vector<int64_t>{65535, 0, 30002}));
  const Tensor i16 =
      RunOne("QuantizeLinear", {T1<float>({40000, -50000, -2.5f}, {3}), Tensor::Scalar<float>(1),
                                Tensor::Scalar<int16_t>(0)});
  EXPECT_EQ(Ints(i16), (std::vector<int64_t>{32767, -32768, -2}));
  // i4 in [-8, 7]: 6.5 -> 6 + 1 = 7; 7 + 1 = 8 -> 7; -9 + 1 = -8; -10 + 1 -> -8; 0.5 -> 0 + 1.
  const Tensor i4 = RunOne("QuantizeLinear", {T1<float>({6.5f, 7, -9, -10, 0.5f}, {5}),
                                              Tensor::Scalar<float>(1), Make(DType::kI4, {}, {1})});
  EXPECT_EQ(i4.dtype(), DType::kI4);
  EXPECT_EQ(Ints(i4), (std::vector<int64_t>{7, 7, -8, -8, 1}));
  // u4 chosen by output_dtype (TensorProto UINT4 = 21): 15.5 -> 16 -> 15, 14.5 -> 14.
  const Tensor u4 =
      RunOne("QuantizeLinear", {T1<float>({15.5f, 14.5f, -1, 3}, {4}), Tensor::Scalar<float>(1)},
             {{"output_dtype", int64_t{21}}});
  EXPECT_EQ(u4.dtype(), DType::kU4);
  EXPECT_EQ(Ints(u4), (std::vector<int64_t>{15, 14, 0, 3}));
}

TEST(QuantizeLinearTest, ScaleShapeMismatchNamesNodeAndShapes) {
  auto out = RunOp("QuantizeLinear",
                   {Tensor(DType::kF32, {2, 3}), T1<float>({1, 2}, {2}), T1<uint8_t>({0, 0}, {2})});
  ASSERT_FALSE(out.ok());
  const std::string msg = out.status().message();
  EXPECT_NE(msg.find("node_QuantizeLinear"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2]"), std::string::npos) << msg;
}

TEST(DequantizeLinearTest, Granularities) {
  auto values = [](const Tensor& t) { return AsDoubles(t); };
  EXPECT_EQ(values(RunOne("DequantizeLinear",
                          {T1<uint8_t>({0, 10, 255, 128}, {4}), Tensor::Scalar<float>(0.5f),
                           Tensor::Scalar<uint8_t>(128)})),
            (std::vector<double>{-64, -59, 63.5, 0}));
  EXPECT_EQ(values(RunOne("DequantizeLinear",
                          {T1<uint8_t>({2, 3, 12, 0, 100, 255}, {1, 3, 2}),
                           T1<float>({1, 2, 4}, {3}), T1<uint8_t>({0, 10, 100}, {3})})),
            (std::vector<double>{2, 3, 4, -20, 0, 620}));
  EXPECT_EQ(values(RunOne("DequantizeLinear",
                          {T1<int32_t>({-1000000, 7}, {2}), Tensor::Scalar<float>(0.25f)})),
            (std::vector<double>{-250000, 1.75}));
  EXPECT_EQ(
      values(RunOne("DequantizeLinear", {Make(DType::kI4, {3}, {-8, 7, 0}),
                                         Tensor::Scalar<float>(2), Make(DType::kI4, {}, {-1})})),
      (std::vector<double>{-14, 16, 2}));
  EXPECT_EQ(values(RunOne("DequantizeLinear",
                          {T1<int8_t>({0, 2, 3, 3, -1, 1, 2, 4}, {2, 4}),
                           T1<float>({1, 2, 4, 0.5f}, {2, 2}), T1<int8_t>({0, 1, -1, 2}, {2, 2})},
                          {{"axis", int64_t{1}}, {"block_size", int64_t{2}}})),
            (std::vector<double>{0, 2, 4, 4, 0, 8, 0, 1}));
  const Tensor half =
      RunOne("DequantizeLinear", {T1<uint8_t>({3}, {1}), Make(DType::kF16, {}, {0.5})});
  EXPECT_EQ(half.dtype(), DType::kF16);
  EXPECT_EQ(half.GetAsDouble(0), 1.5);
}

TEST(DynamicQuantizeLinearTest, SpecFormulasInFloat32) {
  struct Case {
    std::vector<float> x;
    float scale;
    int64_t zp;
    std::vector<int64_t> y;
  };
  // Worked in float32: {-1, 0, 1, 2}: scale 3/255, -min/scale = 85 exactly.
  // {-1, 1}: scale 2/255 and -min/scale = 127.49999 in float32, so zp = 127
  // (not 128) and 1/scale + 127 = 254.
  // {0.5, 1, 2.55}: min clamps to 0, so zp = 0 and scale = 2.55/255 = 0.01.
  const std::vector<Case> cases = {
      {{-1, 0, 1, 2}, 3.0f / 255.0f, 85, {0, 85, 170, 255}},
      {{-1, 1}, 2.0f / 255.0f, 127, {0, 254}},
      {{0.5f, 1, 2.55f}, 2.55f / 255.0f, 0, {50, 100, 255}},
  };
  for (const Case& c : cases) {
    auto out =
        RunOp("DynamicQuantizeLinear", {T1<float>(c.x, {static_cast<int64_t>(c.x.size())})}, {}, 3);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ(Ints((*out)[0]), c.y);
    EXPECT_EQ((*out)[1].data<float>()[0], c.scale);
    EXPECT_EQ((*out)[2].GetAsInt64(0), c.zp);
  }
}

// Naive int64 matmul of (a - azp[row]) x (b - bzp[col]) for 2-D operands.
std::vector<int64_t> NaiveIntMatMul(const Tensor& a, const Tensor& b,
                                    const std::vector<int64_t>& azp,
                                    const std::vector<int64_t>& bzp) {
  const int64_t m = a.dim(0), k = a.dim(1), n = b.dim(1);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (a.GetAsInt64(i * k + p) - azp[azp.size() == 1 ? 0 : i]) *
             (b.GetAsInt64(p * n + j) - bzp[bzp.size() == 1 ? 0 : j]);
      out.push_back(s);
    }
  return out;
}

TEST(MatMulIntegerTest, HandComputedZeroPoints) {
  const Tensor a = T1<uint8_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = T1<uint8_t>({7, 8, 9, 10, 11, 12}, {3, 2});
  // (A - 1) x (B - [2, 4]) = {{0,1,2},{3,4,5}} x {{5,4},{7,6},{9,8}}.
  EXPECT_EQ(
      Ints(RunOne("MatMulInteger", {a, b, Tensor::Scalar<uint8_t>(1), T1<uint8_t>({2, 4}, {2})})),
      (std::vector<int64_t>{25, 22, 88, 76}));
  // Per-row A zero points {1, 2}.
  const Tensor y =
      RunOne("MatMulInteger", {a, b, T1<uint8_t>({1, 2}, {2}), T1<uint8_t>({2, 4}, {2})});
  EXPECT_EQ(y.dtype(), DType::kI32);
  EXPECT_EQ(Ints(y), (std::vector<int64_t>{25, 22, 67, 58}));
}

TEST(MatMulIntegerTest, RandomSignedAndUnsigned) {
  std::mt19937 rng(21);
  const Tensor a = RandomTensor(rng, DType::kI8, {37, 300}, -128, 127.99);
  const Tensor b = RandomTensor(rng, DType::kU8, {300, 19}, 0, 255.99);
  const Tensor azp = T1<int8_t>({-7}, {});
  const Tensor bzp = RandomTensor(rng, DType::kU8, {19}, 0, 255.99);
  std::vector<int64_t> bz;
  for (int64_t j = 0; j < 19; ++j) bz.push_back(bzp.GetAsInt64(j));
  EXPECT_EQ(Ints(RunOne("MatMulInteger", {a, b, azp, bzp})), NaiveIntMatMul(a, b, {-7}, bz));
}

TEST(QLinearMatMulTest, TieAndRandomPerAxisScales) {
  // acc = 3*1 + 1*2 = 5; multiplier 0.5 * 1 / 1 = 0.5; 2.5 rounds to 2.
  const Tensor tie =
      RunOne("QLinearMatMul",
             {T1<uint8_t>({3, 1}, {1, 2}), Tensor::Scalar<float>(0.5f), Tensor::Scalar<uint8_t>(0),
              T1<uint8_t>({1, 2}, {2, 1}), Tensor::Scalar<float>(1), Tensor::Scalar<uint8_t>(0),
              Tensor::Scalar<float>(1), Tensor::Scalar<uint8_t>(0)});
  EXPECT_EQ(Ints(tie), (std::vector<int64_t>{2}));

  std::mt19937 rng(4);
  const int64_t m = 9, k = 40, n = 7;
  const Tensor a = RandomTensor(rng, DType::kU8, {m, k}, 0, 255.99);
  const Tensor b = RandomTensor(rng, DType::kI8, {k, n}, -128, 127.99);
  const Tensor a_scale = RandomTensor(rng, DType::kF32, {m}, 0.001, 0.01);
  const Tensor b_scale = RandomTensor(rng, DType::kF32, {n}, 0.001, 0.01);
  const Tensor a_zp = RandomTensor(rng, DType::kU8, {m}, 100, 150);
  const Tensor b_zp = RandomTensor(rng, DType::kI8, {n}, -5, 5);
  const float y_scale = 0.02f;
  const Tensor y =
      RunOne("QLinearMatMul", {a, a_scale, a_zp, b, b_scale, b_zp, Tensor::Scalar<float>(y_scale),
                               Tensor::Scalar<int8_t>(3)});
  EXPECT_EQ(y.dtype(), DType::kI8);
  std::vector<int64_t> az, bz;
  for (int64_t i = 0; i < m; ++i) az.push_back(a_zp.GetAsInt64(i));
  for (int64_t j = 0; j < n; ++j) bz.push_back(b_zp.GetAsInt64(j));
  const std::vector<int64_t> acc = NaiveIntMatMul(a, b, az, bz);
  std::vector<int64_t> want;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      const float mult = (a_scale.data<float>()[i] * b_scale.data<float>()[j]) / y_scale;
      const double v = std::nearbyint(static_cast<double>(acc[i * n + j]) * mult) + 3;
      want.push_back(static_cast<int64_t>(std::clamp(v, -128.0, 127.0)));
    }
  EXPECT_EQ(Ints(y), want);
}

// Exact integer convolution through the float test helper: values are small
// integers, so double sums are exact.
std::vector<double> NaiveIntConv(const Tensor& x, int64_t x_zp, const Tensor& w,
                                 const std::vector<int64_t>& w_zp, const std::vector<int64_t>& pads,
                                 const std::vector<int64_t>& strides, std::vector<int64_t>* dims) {
  Tensor xd(DType::kF64, x.dims()), wd(DType::kF64, w.dims());
  for (int64_t i = 0; i < x.numel(); ++i) xd.SetFromDouble(i, x.GetAsDouble(i) - x_zp);
  const int64_t per = w.numel() / w.dim(0);
  for (int64_t i = 0; i < w.numel(); ++i)
    wd.SetFromDouble(i, w.GetAsDouble(i) - w_zp[w_zp.size() == 1 ? 0 : i / per]);
  const int64_t n = x.dim(0), c = x.dim(1), h = x.dim(2), wi = x.dim(3);
  const int64_t m = w.dim(0), kh = w.dim(2), kw = w.dim(3);
  const int64_t oh = (h + pads[0] + pads[2] - kh) / strides[0] + 1;
  const int64_t ow = (wi + pads[1] + pads[3] - kw) / strides[1] + 1;
  *dims = {n, m, oh, ow};
  std::vector<double> out;
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t z = 0; z < ow; ++z) {
          double s = 0;
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v) {
                const int64_t iy = y * strides[0] - pads[0] + u, iz = z * strides[1] - pads[1] + v;
                if (iy < 0 || iy >= h || iz < 0 || iz >= wi) continue;
                s += xd.GetAsDouble(((b * c + ci) * h + iy) * wi + iz) *
                     wd.GetAsDouble(((o * c + ci) * kh + u) * kw + v);
              }
          out.push_back(s);
        }
  return out;
}

TEST(ConvIntegerTest, RandomWithZeroPointsAndPadding) {
  std::mt19937 rng(31);
  const Tensor x = RandomTensor(rng, DType::kU8, {2, 3, 7, 6}, 0, 255.99);
  const Tensor w = RandomTensor(rng, DType::kI8, {4, 3, 3, 3}, -128, 127.99);
  const std::vector<int64_t> pads = {1, 0, 2, 1}, strides = {2, 1};
  const Tensor w_zp = T1<int8_t>({1, -2, 0, 5}, {4});
  auto y = RunOne("ConvInteger", {x, w, Tensor::Scalar<uint8_t>(131), w_zp},
                  {{"pads", pads}, {"strides", strides}});
  std::vector<int64_t> dims;
  const std::vector<double> want = NaiveIntConv(x, 131, w, {1, -2, 0, 5}, pads, strides, &dims);
  EXPECT_EQ(y.dtype(), DType::kI32);
  ExpectNear(y, dims, want, std::vector<double>(want.size(), 0.0), "ConvInteger");
}

TEST(QLinearConvTest, TiesSaturationAndRandomPerChannel) {
  auto run = [](const Tensor& x, const Tensor& bias) {
    std::vector<Tensor> ins = {x,
                               Tensor::Scalar<float>(1),
                               Tensor::Scalar<uint8_t>(0),
                               T1<uint8_t>({1}, {1, 1, 1, 1}),
                               Tensor::Scalar<float>(0.5f),
                               Tensor::Scalar<uint8_t>(0),
                               Tensor::Scalar<float>(1),
                               Tensor::Scalar<uint8_t>(10),
                               bias};
    return Ints(RunOne("QLinearConv", ins));
  };
  // acc * 0.5 = 1.5, 2.5, 3.5, 127.5 -> 2, 2, 4, 128 (half to even), + 10. With bias -1:
  // 1, 2, 3, 127 + 10. With bias 1000 everything saturates at 255.
  const Tensor x = T1<uint8_t>({3, 5, 7, 255}, {1, 1, 1, 4});
  EXPECT_EQ(run(x, Tensor()), (std::vector<int64_t>{12, 12, 14, 138}));
  EXPECT_EQ(run(x, T1<int32_t>({-1}, {1})), (std::vector<int64_t>{11, 12, 13, 137}));
  EXPECT_EQ(run(x, T1<int32_t>({1000}, {1})), (std::vector<int64_t>{255, 255, 255, 255}));

  std::mt19937 rng(12);
  const Tensor xr = RandomTensor(rng, DType::kU8, {1, 4, 6, 5}, 0, 255.99);
  const Tensor wr = RandomTensor(rng, DType::kI8, {3, 4, 3, 3}, -128, 127.99);
  const Tensor w_scale = RandomTensor(rng, DType::kF32, {3}, 0.001, 0.004);
  const Tensor bias = T1<int32_t>({-500, 0, 1234}, {3});
  const float x_scale = 0.02f, y_scale = 0.05f;
  const std::vector<int64_t> pads = {1, 1, 1, 1}, strides = {1, 1};
  const Tensor y = RunOne("QLinearConv",
                          {xr, Tensor::Scalar<float>(x_scale), Tensor::Scalar<uint8_t>(128), wr,
                           w_scale, T1<int8_t>({0, 0, 0}, {3}), Tensor::Scalar<float>(y_scale),
                           Tensor::Scalar<int8_t>(-4), bias},
                          {{"pads", pads}});
  std::vector<int64_t> dims;
  const std::vector<double> acc = NaiveIntConv(xr, 128, wr, {0}, pads, strides, &dims);
  std::vector<double> want;
  const int64_t plane = dims[2] * dims[3];
  for (size_t i = 0; i < acc.size(); ++i) {
    const int64_t m = static_cast<int64_t>(i) / plane % 3;
    const float mult = (x_scale * w_scale.data<float>()[m]) / y_scale;
    const double v = std::nearbyint((acc[i] + bias.data<int32_t>()[m]) * mult) - 4;
    want.push_back(std::clamp(v, -128.0, 127.0));
  }
  ExpectNear(y, dims, want, std::vector<double>(want.size(), 0.0), "QLinearConv");
}

}  // namespace
}  // namespace octet::testing_linalg
