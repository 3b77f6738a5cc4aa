// Int8Conv2d against the QDQ graph
//   DQ(x) -> Conv(DQ(w), bias) [-> Add(DQ(residual))] [-> Relu] [-> Q]
// run by the reference interpreter, and against the exact integer result,
// on random data at odd shapes, strides, pads, dilations and groups.
#include <gtest/gtest.h>

#include "octet/x86/int8_kernels.h"
#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

struct ConvCase {
  std::string name;
  std::vector<int64_t> src_dims;  // N, C, H, W
  int64_t out_channels = 0, kh = 0, kw = 0;
  std::array<int64_t, 2> strides{1, 1}, dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};
  int64_t groups = 1;
  Layout layout = Layout::kNHWC;
  DType src_type = DType::kU8;
  int32_t src_zp = 0;
  bool bias = true;
  std::vector<PostOp> post_ops;
  DType residual_type = DType::kU8;
  DType dst_type = DType::kU8;
  bool per_channel = true;
  // oneDNN has a vectorised kernel for it (false: its reference kernel is fine).
  bool expect_fast = true;
};

void PrintTo(const ConvCase& c, std::ostream* os) { *os << c.name; }

// Exact value of every output (NCHW) in double, and the magnitude of its terms.
void ExactConv(const Int8Conv2dConfig& c, const Tensor& x, const std::vector<int64_t>& out_dims,
               const Tensor& residual, std::vector<double>& value, std::vector<double>& mag) {
  const Tensor& w = c.weights;
  const int64_t n = out_dims[0], o = out_dims[1], oh = out_dims[2], ow = out_dims[3];
  const int64_t cg = w.dim(1), og = o / c.groups, h = x.dim(2), wd = x.dim(3);
  value.assign(n * o * oh * ow, 0);
  mag.assign(value.size(), 0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t oc = 0; oc < o; ++oc)
      for (int64_t y = 0; y < oh; ++y)
        for (int64_t xo = 0; xo < ow; ++xo) {
          int64_t acc = 0, acc_abs = 0;
          for (int64_t ic = 0; ic < cg; ++ic)
            for (int64_t ky = 0; ky < w.dim(2); ++ky)
              for (int64_t kx = 0; kx < w.dim(3); ++kx) {
                const int64_t iy = y * c.strides[0] - c.pads[0] + ky * c.dilations[0];
                const int64_t ix = xo * c.strides[1] - c.pads[1] + kx * c.dilations[1];
                if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                const int64_t ch = (oc / og) * cg + ic;
                const int64_t xv = x.GetAsInt64(((b * x.dim(1) + ch) * h + iy) * wd + ix);
                const int64_t wv = w.GetAsInt64(((oc * cg + ic) * w.dim(2) + ky) * w.dim(3) + kx);
                acc += (xv - c.src.zero_point) * wv;
                acc_abs += std::llabs((xv - c.src.zero_point) * wv);
              }
          const double s =
              double{c.src.scale} * c.weight_scales[c.weight_scales.size() > 1 ? oc : 0];
          const int64_t i = ((b * o + oc) * oh + y) * ow + xo;
          double v = acc * s, m = acc_abs * s;
          if (c.bias.defined()) {
            v += c.bias.data<float>()[oc];
            m += std::fabs(c.bias.data<float>()[oc]);
          }
          for (PostOp p : c.post_ops) {
            if (p == PostOp::kRelu) {
              v = std::max(v, 0.0);
            } else {
              const double r =
                  c.dst_type == DType::kF32
                      ? residual.GetAsDouble(i)
                      : c.residual.scale * (residual.GetAsDouble(i) - c.residual.zero_point);
              v += r;
              m += std::fabs(r);
            }
          }
          value[i] = v;
          mag[i] = m;
        }
}

class Int8ConvTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(Int8ConvTest, MatchesQdqReference) {
  const ConvCase& k = GetParam();
  std::mt19937 rng(Seed(static_cast<uint32_t>(std::hash<std::string>{}(k.name))));
  const bool s8_src = k.src_type == DType::kI8;
  const bool small_even = s8_src && S8SrcNeedsEvenSmallWeights();

  Int8Conv2dConfig c;
  c.src_dims = k.src_dims;
  c.layout = k.layout;
  c.src_type = k.src_type;
  c.src = {0.0173f, k.src_zp};
  c.weights = RandomInts<int8_t>({k.out_channels, k.src_dims[1] / k.groups, k.kh, k.kw}, rng,
                                 small_even ? -64 : -127, small_even ? 64 : 127, small_even);
  c.weight_scales = RandomFloats(k.per_channel ? k.out_channels : 1, rng, 0.001f, 0.01f);
  if (k.bias)
    c.bias = Tensor::FromVector(RandomFloats(k.out_channels, rng, -2, 2), {k.out_channels});
  c.strides = k.strides;
  c.dilations = k.dilations;
  c.pads = k.pads;
  c.groups = k.groups;
  c.post_ops = k.post_ops;
  c.residual_type = k.dst_type == DType::kF32 ? DType::kF32 : k.residual_type;
  c.residual = {0.031f, c.residual_type == DType::kU8 ? 100 : -5};
  c.dst_type = k.dst_type;

  const Tensor x = s8_src ? RandomInts<int8_t>(k.src_dims, rng, -128, 127)
                          : RandomInts<uint8_t>(k.src_dims, rng, 0, U8ActivationMax());
  // Output dims as the kernel computes them; the residual has the same.
  auto probe = Int8Conv2d::Create(c);
  ASSERT_TRUE(probe.ok()) << probe.status().ToString();
  const std::vector<int64_t> out_dims = probe->dst_dims();
  Tensor residual;
  if (c.residual_type == DType::kF32)
    residual = Tensor::FromVector(
        RandomFloats(out_dims[0] * out_dims[1] * out_dims[2] * out_dims[3], rng, -3, 3), out_dims);
  else if (c.residual_type == DType::kU8)
    residual = RandomInts<uint8_t>(out_dims, rng, 0, 255);
  else
    residual = RandomInts<int8_t>(out_dims, rng, -128, 127);

  std::vector<double> exact, mag;
  ExactConv(c, x, out_dims, residual, exact, mag);
  // Requantize with a scale that makes a few percent of the outputs saturate.
  const auto [lo, hi] = std::minmax_element(exact.begin(), exact.end());
  const bool u8_dst = k.dst_type == DType::kU8;
  c.dst.scale = static_cast<float>(std::max(*hi - std::min(*lo, 0.0), 1e-3) / 240);
  c.dst.zero_point =
      u8_dst ? static_cast<int32_t>(std::lround(-std::min(*lo, 0.0) / c.dst.scale)) : 3;
  c.dst.zero_point = std::clamp(c.dst.zero_point, u8_dst ? 0 : -128, u8_dst ? 255 : 127);

  // The QDQ graph, always NCHW (ONNX).
  QdqGraph g;
  Value* xf = g.Dq(g.Input(x, "x"), k.src_type, c.src.scale, c.src.zero_point, "xf");
  // Per output channel: a [O] scale on axis 0; per tensor: a scalar scale.
  const Tensor w_scale = k.per_channel ? Tensor::FromVector(c.weight_scales, {k.out_channels})
                                       : Tensor::Scalar<float>(c.weight_scales[0]);
  Value* wf = g.Node("DequantizeLinear", {g.Const(c.weights, "w"), g.Const(w_scale, "w_scale")},
                     "wf", {{"axis", int64_t{0}}});
  std::vector<Value*> conv_in = {xf, wf};
  if (k.bias) conv_in.push_back(g.Const(c.bias, "bias"));
  Value* y = g.Node("Conv", conv_in, "conv",
                    {{"strides", std::vector<int64_t>{c.strides[0], c.strides[1]}},
                     {"dilations", std::vector<int64_t>{c.dilations[0], c.dilations[1]}},
                     {"pads", std::vector<int64_t>{c.pads[0], c.pads[1], c.pads[2], c.pads[3]}},
                     {"group", c.groups}});
  for (size_t i = 0; i < k.post_ops.size(); ++i) {
    const std::string id = std::to_string(i);
    if (k.post_ops[i] == PostOp::kRelu) {
      y = g.Node("Relu", {y}, "relu" + id);
    } else {
      Value* r = g.Input(residual, "residual");
      if (c.residual_type != DType::kF32)
        r = g.Dq(r, c.residual_type, c.residual.scale, c.residual.zero_point, "rf");
      y = g.Node("Add", {y, r}, "add" + id);
    }
  }
  const bool int8_dst = k.dst_type != DType::kF32;
  const std::vector<Tensor> ref =
      g.Run({int8_dst ? g.Q(y, k.dst_type, c.dst.scale, c.dst.zero_point, "q") : y});

  // The kernel, on buffers in its layout.
  auto conv = Int8Conv2d::Create(c);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  const bool nhwc = k.layout == Layout::kNHWC;
  const Tensor x_in = nhwc ? ToNhwc(x) : x;
  Tensor out(k.dst_type, out_dims);
  Tensor r_in = residual.defined() ? (nhwc ? ToNhwc(residual) : residual.Clone()) : Tensor();
  const bool has_sum = std::count(k.post_ops.begin(), k.post_ops.end(), PostOp::kSum) > 0;
  Status s = conv->Run(x_in.raw(), out.raw(), has_sum ? r_in.raw() : nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  if (nhwc) out = FromNhwc(out);
  const std::string what = conv->description() + " [" + conv->implementation() + "]";
  // A reference kernel here would mean a configuration oneDNN has no fast path for.
  if (k.expect_fast) {
    EXPECT_EQ(conv->implementation().find("ref"), std::string::npos) << what;
  }
  if (int8_dst) {
    ExpectInt8Matches(out, ref[0], what);
  } else {
    const int64_t taps = c.weights.dim(1) * k.kh * k.kw;
    ExpectF32Matches(out, exact, mag, ref[0], taps, what);
  }
}

// A case: square kernel k, stride 1, no padding, u8 in, u8 out, bias, per-channel
// weight scales; each entry below changes what it tests.
ConvCase Case(std::string name, std::vector<int64_t> src_nchw, int64_t out_channels, int64_t k) {
  ConvCase c;
  c.name = std::move(name);
  c.src_dims = std::move(src_nchw);
  c.out_channels = out_channels;
  c.kh = c.kw = k;
  return c;
}

std::vector<ConvCase> Cases() {
  using P = PostOp;
  std::vector<ConvCase> v;
  ConvCase c = Case("k3_pad1_relu_u8", {1, 3, 7, 5}, 8, 3);
  c.pads = {1, 1, 1, 1};
  c.src_zp = 7;
  c.post_ops = {P::kRelu};
  v.push_back(c);
  c = Case("k3_stride2_odd_f32", {2, 16, 9, 7}, 33, 3);
  c.strides = {2, 2};
  c.pads = {1, 0, 1, 1};
  c.dst_type = DType::kF32;
  v.push_back(c);
  c = Case("k3_stride2_nchw_f32", {1, 5, 7, 5}, 6, 3);
  c.strides = {2, 2};
  c.pads = {1, 1, 1, 1};
  c.layout = Layout::kNCHW;
  c.src_zp = 11;
  c.dst_type = DType::kF32;
  v.push_back(c);
  c = Case("groups4_dilation2_u8", {1, 8, 7, 5}, 12, 3);
  c.dilations = {2, 2};
  c.pads = {2, 2, 2, 2};
  c.groups = 4;
  c.src_zp = 3;
  c.post_ops = {P::kRelu};
  c.expect_fast = false;  // 2 channels per group: AVX2 has only ref:any for it
  v.push_back(c);
  c = Case("depthwise_stride2_s8dst", {1, 16, 8, 8}, 16, 3);
  c.strides = {2, 2};
  c.pads = {1, 1, 1, 1};
  c.groups = 16;
  c.dst_type = DType::kI8;
  v.push_back(c);
  c = Case("k1_stride2_downsample_per_tensor_w", {2, 24, 7, 5}, 40, 1);
  c.strides = {2, 2};
  c.bias = false;
  c.per_channel = false;
  v.push_back(c);
  c = Case("residual_sum_relu_u8", {1, 16, 7, 7}, 16, 3);
  c.pads = {1, 1, 1, 1};
  c.post_ops = {P::kSum, P::kRelu};
  v.push_back(c);
  c = Case("residual_s8_into_u8_nchw", {1, 8, 5, 7}, 8, 1);
  c.layout = Layout::kNCHW;
  c.src_zp = 9;
  c.post_ops = {P::kSum, P::kRelu};
  c.residual_type = DType::kI8;
  v.push_back(c);
  c = Case("relu_then_sum_f32", {1, 8, 6, 5}, 10, 3);
  c.pads = {1, 1, 1, 1};
  c.post_ops = {P::kRelu, P::kSum};
  c.dst_type = DType::kF32;
  v.push_back(c);
  c = Case("s8_src_zp_s8dst", {1, 12, 7, 5}, 20, 3);
  c.pads = {1, 1, 1, 1};
  c.src_type = DType::kI8;
  c.src_zp = -4;
  c.dst_type = DType::kI8;
  v.push_back(c);
  c = Case("s8_src_f32_k5_nchw", {1, 4, 11, 9}, 7, 5);
  c.strides = {2, 1};
  c.pads = {2, 2, 2, 2};
  c.layout = Layout::kNCHW;
  c.src_type = DType::kI8;
  c.post_ops = {P::kRelu};
  c.dst_type = DType::kF32;
  v.push_back(c);
  c = Case("resnet_stem_like", {1, 3, 32, 30}, 16, 7);
  c.strides = {2, 2};
  c.pads = {3, 3, 3, 3};
  c.post_ops = {P::kRelu};
  v.push_back(c);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Shapes, Int8ConvTest, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param.name; });

TEST(Int8ConvErrors, BadConfigsNameTheKernelAndWhatIsWrong) {
  Int8Conv2dConfig c;
  c.src_dims = {1, 6, 5, 5};
  c.weights = Tensor(DType::kI8, {4, 3, 3, 3});
  c.weight_scales = {0.1f};
  auto r = Int8Conv2d::Create(c);  // 3 input channels per group, but groups = 1
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("Int8Conv2d u8[1,6,5,5]"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("groups 1"), std::string::npos) << r.status().message();

  c.groups = 2;
  c.weight_scales = {0.1f, 0.2f};  // neither 1 nor O = 4
  r = Int8Conv2d::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("expected 1 or 4"), std::string::npos);

  c.weight_scales = {0.1f};
  c.src.zero_point = 300;
  r = Int8Conv2d::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("outside the range of u8"), std::string::npos);

  c.src.zero_point = 0;
  c.post_ops = {PostOp::kSum};
  c.dst_type = DType::kF32;
  c.residual_type = DType::kU8;  // an f32 dst needs an f32 residual
  r = Int8Conv2d::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("residual_type"), std::string::npos);
}

TEST(Int8ConvErrors, RunChecksTheResidualArgument) {
  Int8Conv2dConfig c;
  c.src_dims = {1, 4, 3, 3};
  c.weights = Tensor(DType::kI8, {4, 4, 1, 1});
  c.weight_scales = {0.1f};
  c.post_ops = {PostOp::kSum};
  auto conv = Int8Conv2d::Create(c);
  ASSERT_TRUE(conv.ok()) << conv.status().ToString();
  std::vector<uint8_t> src(36), dst(36);
  Status s = conv->Run(src.data(), dst.data());
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("needs a residual"), std::string::npos) << s.message();
  EXPECT_TRUE(conv->Run(src.data(), dst.data(), dst.data()).ok());  // in place
}

}  // namespace
}  // namespace octet::x86::testing
