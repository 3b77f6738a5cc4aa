// Conv, ConvTranspose and pooling reference kernels against direct loops
// written here (no im2col, no GEMM), on seeded random inputs.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <limits>

#include "linalg_test_util.h"

namespace octet::testing_linalg {
namespace {

struct Window {
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: begins then ends
};

// Decodes a flat row-major index into per-dimension indices.
std::vector<int64_t> Unflatten(int64_t flat, const std::vector<int64_t>& dims) {
  std::vector<int64_t> idx(dims.size());
  for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
    idx[d] = flat % dims[d];
    flat /= dims[d];
  }
  return idx;
}

int64_t Flatten(const std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  int64_t flat = 0;
  for (size_t d = 0; d < dims.size(); ++d) flat = flat * dims[d] + idx[d];
  return flat;
}

// Output extents per the spec's formulas, with explicit pads (already resolved).
std::vector<int64_t> ForwardOut(const std::vector<int64_t>& in, const Window& w, bool ceil_mode) {
  const size_t r = in.size();
  std::vector<int64_t> out(r);
  for (size_t d = 0; d < r; ++d) {
    const double span = static_cast<double>((w.kernel[d] - 1) * w.dilations[d] + 1);
    const double v = (in[d] + w.pads[d] + w.pads[d + r] - span) / w.strides[d] + 1;
    out[d] = static_cast<int64_t>(ceil_mode ? std::ceil(v) : std::floor(v));
    if (ceil_mode && (out[d] - 1) * w.strides[d] >= in[d] + w.pads[d]) --out[d];
  }
  return out;
}

// Direct convolution: y[n, m, o] = b[m] + sum_{c, k} x[n, g*Cg + c, o*s - p + k*d] w[m, c, k].
struct ConvRef {
  std::vector<int64_t> dims;
  std::vector<double> values, tol;
};
ConvRef NaiveConv(const Tensor& x, const Tensor& w, const Tensor* b, const Window& win,
                  int64_t group) {
  const int64_t n_batch = x.dim(0), c_in = x.dim(1), m_out = w.dim(0);
  const int64_t cg = c_in / group, mg = m_out / group;
  const std::vector<int64_t> in(x.dims().begin() + 2, x.dims().end());
  const std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
  const std::vector<int64_t> out = ForwardOut(in, win, false);
  const size_t r = in.size();
  ConvRef ref;
  ref.dims = {n_batch, m_out};
  ref.dims.insert(ref.dims.end(), out.begin(), out.end());
  const int64_t out_size = NumElements(out), k_size = NumElements(kernel);
  const int64_t in_size = NumElements(in);
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t m = 0; m < m_out; ++m)
      for (int64_t op = 0; op < out_size; ++op) {
        const std::vector<int64_t> o = Unflatten(op, out);
        double s = b != nullptr ? b->GetAsDouble(m) : 0.0, abs_s = std::fabs(s);
        const int64_t g = m / mg;
        for (int64_t c = 0; c < cg; ++c)
          for (int64_t kp = 0; kp < k_size; ++kp) {
            const std::vector<int64_t> k = Unflatten(kp, kernel);
            std::vector<int64_t> i(r);
            bool inside = true;
            for (size_t d = 0; d < r; ++d) {
              i[d] = o[d] * win.strides[d] - win.pads[d] + k[d] * win.dilations[d];
              inside = inside && i[d] >= 0 && i[d] < in[d];
            }
            if (!inside) continue;
            const double xv = x.GetAsDouble((n * c_in + g * cg + c) * in_size + Flatten(i, in));
            const double wv = w.GetAsDouble((m * cg + c) * k_size + kp);
            s += xv * wv;
            abs_s += std::fabs(xv * wv);
          }
        ref.values.push_back(s);
        ref.tol.push_back(Fp32DotTolerance(cg * k_size + 1, abs_s));
      }
  return ref;
}

struct ConvCase {
  std::string name;
  std::vector<int64_t> x_dims;  // [N, C, spatial...]
  int64_t m, group;
  Window win;
  std::string auto_pad;
  bool bias;
  bool give_kernel_shape;
  std::vector<int64_t> resolved_pads;  // for auto_pad cases: the pads the spec implies
};

ConvCase Case(std::string name, std::vector<int64_t> x_dims, int64_t m, int64_t group, Window win,
              std::string auto_pad = "NOTSET", bool bias = true, bool give_kernel_shape = true) {
  return {std::move(name),
          std::move(x_dims),
          m,
          group,
          std::move(win),
          std::move(auto_pad),
          bias,
          give_kernel_shape,
          {}};
}

TEST(ConvTest, MatchesDirectConvolution) {
  std::mt19937 rng(1234);
  const std::vector<ConvCase> cases = {
      Case("basic 3x3 pad 1", {2, 3, 7, 9}, 4, 1, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}),
      Case("stride 2 asymmetric pads", {1, 3, 10, 11}, 5, 1,
           {{3, 3}, {2, 2}, {1, 1}, {1, 0, 2, 1}}),
      Case("dilation 2", {1, 2, 12, 10}, 3, 1, {{3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}}),
      Case("groups", {2, 4, 8, 8}, 6, 2, {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}),
      Case("depthwise stride 2", {1, 5, 9, 9}, 5, 5, {{3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}}),
      Case("pointwise", {2, 7, 5, 6}, 9, 1, {{1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}}),
      Case("pointwise stride 2", {1, 7, 5, 6}, 3, 1, {{1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}}),
      Case("rectangular kernel", {1, 2, 9, 13}, 4, 1, {{2, 5}, {1, 3}, {1, 1}, {0, 2, 1, 2}}),
      Case("1-D", {2, 3, 17}, 4, 1, {{5}, {2}, {1}, {2, 1}}),
      Case("3-D", {1, 2, 5, 6, 7}, 3, 1, {{3, 2, 3}, {1, 2, 1}, {1, 1, 2}, {1, 0, 1, 1, 1, 2}}),
      Case("medium, ragged GEMM tiles", {1, 24, 14, 14}, 50, 1,
           {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}),
      // More than one GEMM row block of output channels: im2col is built once.
      Case("many output channels", {2, 6, 9, 8}, 100, 1, {{3, 3}, {2, 1}, {1, 1}, {1, 1, 0, 1}}),
      Case("many output channels, groups", {1, 4, 6, 6}, 200, 2,
           {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}}),
      Case("no bias, kernel_shape inferred", {1, 3, 6, 6}, 2, 1,
           {{3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}}, "NOTSET", false, false),
      Case("SAME_UPPER stride 2", {1, 2, 8, 7}, 3, 1, {{3, 4}, {2, 2}, {1, 1}, {}}, "SAME_UPPER"),
      Case("SAME_LOWER", {1, 2, 6, 6}, 3, 1, {{4, 4}, {1, 1}, {1, 1}, {}}, "SAME_LOWER"),
      Case("VALID", {1, 2, 7, 8}, 3, 1, {{3, 3}, {2, 2}, {1, 1}, {}}, "VALID"),
  };
  for (ConvCase c : cases) {
    const int r = static_cast<int>(c.x_dims.size()) - 2;
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") {
      // Independent statement of the spec: out = ceil(in / stride), total pad =
      // (out - 1) * stride + span - in, the odd one at the end for SAME_UPPER.
      c.resolved_pads.assign(2 * r, 0);
      for (int d = 0; d < r; ++d) {
        const int64_t in = c.x_dims[d + 2], s = c.win.strides[d];
        const int64_t out = (in + s - 1) / s;
        const int64_t span = (c.win.kernel[d] - 1) * c.win.dilations[d] + 1;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + span - in);
        const int64_t small = total / 2, big = total - small;
        c.resolved_pads[d] = c.auto_pad == "SAME_UPPER" ? small : big;
        c.resolved_pads[d + r] = c.auto_pad == "SAME_UPPER" ? big : small;
      }
    }
    std::vector<int64_t> w_dims = {c.m, c.x_dims[1] / c.group};
    w_dims.insert(w_dims.end(), c.win.kernel.begin(), c.win.kernel.end());
    const Tensor x = RandomTensor(rng, DType::kF32, c.x_dims);
    const Tensor w = RandomTensor(rng, DType::kF32, w_dims);
    const Tensor b = c.bias ? RandomTensor(rng, DType::kF32, {c.m}) : Tensor();
    Attrs attrs = {{"strides", c.win.strides},
                   {"dilations", c.win.dilations},
                   {"group", c.group},
                   {"auto_pad", c.auto_pad}};
    if (c.auto_pad == "NOTSET") attrs["pads"] = c.win.pads;
    if (c.give_kernel_shape) attrs["kernel_shape"] = c.win.kernel;
    auto out = RunOp("Conv", {x, w, b}, attrs);
    ASSERT_TRUE(out.ok()) << c.name << ": " << out.status().ToString();
    Window resolved = c.win;
    if (c.auto_pad == "VALID") resolved.pads.assign(2 * r, 0);
    if (c.auto_pad == "SAME_UPPER" || c.auto_pad == "SAME_LOWER") resolved.pads = c.resolved_pads;
    const ConvRef ref = NaiveConv(x, w, c.bias ? &b : nullptr, resolved, c.group);
    ExpectNear((*out)[0], ref.dims, ref.values, ref.tol, c.name);
  }
}

TEST(ConvTest, DoubleAndHalf) {
  std::mt19937 rng(77);
  const Window win = {{3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}};
  const Tensor x = RandomTensor(rng, DType::kF64, {1, 3, 6, 5});
  const Tensor w = RandomTensor(rng, DType::kF64, {2, 3, 3, 3});
  auto out = RunOp("Conv", {x, w}, {{"pads", win.pads}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  const ConvRef ref = NaiveConv(x, w, nullptr, win, 1);
  // Double sums of 27 terms of magnitude <= 1.
  ExpectNear((*out)[0], ref.dims, ref.values, std::vector<double>(ref.values.size(), 1e-12),
             "f64 conv");
  Tensor xh(DType::kF16, x.dims()), wh(DType::kF16, w.dims());
  for (int64_t i = 0; i < x.numel(); ++i) xh.SetFromDouble(i, x.GetAsDouble(i));
  for (int64_t i = 0; i < w.numel(); ++i) wh.SetFromDouble(i, w.GetAsDouble(i));
  auto half = RunOp("Conv", {xh, wh}, {{"pads", win.pads}});
  ASSERT_TRUE(half.ok()) << half.status().ToString();
  const ConvRef href = NaiveConv(xh, wh, nullptr, win, 1);
  // The result is rounded to f16 (11-bit significand): relative 2^-11 of |y| <= 27.
  ExpectNear((*half)[0], href.dims, href.values,
             std::vector<double>(href.values.size(), 27 * std::ldexp(1.0, -11)), "f16 conv");
}

TEST(ConvTest, ChannelMismatchNamesNodeAndShapes) {
  auto out = RunOp("Conv", {Tensor(DType::kF32, {1, 3, 5, 5}), Tensor(DType::kF32, {4, 2, 3, 3})});
  ASSERT_FALSE(out.ok());
  const std::string msg = out.status().message();
  EXPECT_NE(msg.find("node_Conv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[1,3,5,5]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("f32[4,2,3,3]"), std::string::npos) << msg;
}

TEST(ConvTest, KernelLargerThanInputIsAnError) {
  auto out = RunOp("Conv", {Tensor(DType::kF32, {1, 1, 2, 2}), Tensor(DType::kF32, {1, 1, 3, 3})});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("node_Conv"), std::string::npos);
}

// Direct transposed convolution: every input element scatters x * w into
// y[n, g*Mg + m, i*s - p + k*d].
ConvRef NaiveConvTranspose(const Tensor& x, const Tensor& w, const Tensor* b, const Window& win,
                           const std::vector<int64_t>& out, int64_t group) {
  const int64_t n_batch = x.dim(0), c_in = x.dim(1), mg = w.dim(1), m_out = mg * group;
  const int64_t cg = c_in / group;
  const std::vector<int64_t> in(x.dims().begin() + 2, x.dims().end());
  const std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
  const size_t r = in.size();
  const int64_t in_size = NumElements(in), out_size = NumElements(out);
  const int64_t k_size = NumElements(kernel);
  ConvRef ref;
  ref.dims = {n_batch, m_out};
  ref.dims.insert(ref.dims.end(), out.begin(), out.end());
  ref.values.assign(n_batch * m_out * out_size, 0.0);
  std::vector<double> abs_sum(ref.values.size(), 0.0);
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t m = 0; m < m_out; ++m)
      for (int64_t p = 0; p < out_size; ++p) {
        const double bv = b != nullptr ? b->GetAsDouble(m) : 0.0;
        ref.values[(n * m_out + m) * out_size + p] = bv;
        abs_sum[(n * m_out + m) * out_size + p] = std::fabs(bv);
      }
  for (int64_t n = 0; n < n_batch; ++n)
    for (int64_t c = 0; c < c_in; ++c)
      for (int64_t ip = 0; ip < in_size; ++ip) {
        const std::vector<int64_t> i = Unflatten(ip, in);
        const double xv = x.GetAsDouble((n * c_in + c) * in_size + ip);
        const int64_t g = c / cg;
        for (int64_t m = 0; m < mg; ++m)
          for (int64_t kp = 0; kp < k_size; ++kp) {
            const std::vector<int64_t> k = Unflatten(kp, kernel);
            std::vector<int64_t> o(r);
            bool inside = true;
            for (size_t d = 0; d < r; ++d) {
              o[d] = i[d] * win.strides[d] - win.pads[d] + k[d] * win.dilations[d];
              inside = inside && o[d] >= 0 && o[d] < out[d];
            }
            if (!inside) continue;
            const double prod = xv * w.GetAsDouble((c * mg + m) * k_size + kp);
            const int64_t yi = (n * m_out + g * mg + m) * out_size + Flatten(o, out);
            ref.values[yi] += prod;
            abs_sum[yi] += std::fabs(prod);
          }
      }
  for (double s : abs_sum) ref.tol.push_back(Fp32DotTolerance(c_in * k_size + 1, s));
  return ref;
}

TEST(ConvTransposeTest, MatchesDirectScatter) {
  std::mt19937 rng(99);
  struct Case {
    std::string name;
    std::vector<int64_t> x_dims;
    int64_t mg, group;
    Window win;
    std::vector<int64_t> output_padding;
    Attrs extra;                     // output_shape / auto_pad
    std::vector<int64_t> want_pads;  // the pads the spec implies (begins, ends)
  };
  const std::vector<Case> cases = {
      {"basic", {1, 2, 4, 5}, 3, 1, {{3, 3}, {1, 1}, {1, 1}, {0, 0, 0, 0}}, {0, 0}, {}, {}},
      {"stride 2 pads", {2, 3, 5, 4}, 2, 1, {{3, 3}, {2, 2}, {1, 1}, {1, 0, 1, 2}}, {0, 0}, {}, {}},
      {"output_padding",
       {1, 2, 3, 3},
       2,
       1,
       {{3, 3}, {3, 2}, {1, 1}, {0, 0, 0, 0}},
       {1, 1},
       {},
       {}},
      {"dilation + groups",
       {1, 4, 4, 4},
       3,
       2,
       {{2, 3}, {2, 1}, {2, 2}, {1, 1, 0, 0}},
       {0, 0},
       {},
       {}},
      {"1-D", {1, 3, 7}, 2, 1, {{4}, {3}, {1}, {1, 2}}, {0}, {}, {}},
      {"3-D",
       {1, 2, 3, 4, 2},
       2,
       1,
       {{2, 3, 2}, {2, 1, 2}, {1, 1, 1}, {0, 1, 0, 0, 1, 1}},
       {0, 0, 0},
       {},
       {}},
      // output_shape: pads derived as total = full - out, begin = total - total/2.
      {"output_shape",
       {1, 1, 3, 3},
       2,
       1,
       {{3, 3}, {3, 2}, {1, 1}, {}},
       {0, 0},
       {{"output_shape", std::vector<int64_t>{10, 8}}},
       {0, 0, 0, 0}},
      // SAME_UPPER: out = in * stride, the odd pad at the end.
      {"SAME_UPPER",
       {1, 1, 3, 3},
       2,
       1,
       {{3, 3}, {2, 2}, {1, 1}, {}},
       {0, 0},
       {{"auto_pad", std::string("SAME_UPPER")}},
       {0, 0, 1, 1}},
  };
  for (const Case& c : cases) {
    const int r = static_cast<int>(c.x_dims.size()) - 2;
    std::vector<int64_t> w_dims = {c.x_dims[1], c.mg};
    w_dims.insert(w_dims.end(), c.win.kernel.begin(), c.win.kernel.end());
    const Tensor x = RandomTensor(rng, DType::kF32, c.x_dims);
    const Tensor w = RandomTensor(rng, DType::kF32, w_dims);
    const Tensor b = RandomTensor(rng, DType::kF32, {c.mg * c.group});
    Attrs attrs = {{"strides", c.win.strides},
                   {"dilations", c.win.dilations},
                   {"group", c.group},
                   {"output_padding", c.output_padding}};
    if (!c.win.pads.empty()) attrs["pads"] = c.win.pads;
    for (const auto& [k, v] : c.extra) attrs[k] = v;
    auto out = RunOp("ConvTranspose", {x, w, b}, attrs);
    ASSERT_TRUE(out.ok()) << c.name << ": " << out.status().ToString();
    Window win = c.win;
    if (!c.want_pads.empty()) win.pads = c.want_pads;
    if (c.name == "output_shape") {
      // full = s*(in-1) + span = 3*2+3 = 9 and 2*2+3 = 7; requested 10 and 8:
      // total = -1 each, so begin = total - floor(total/2) = 0, end = -1.
      win.pads = {0, 0, -1, -1};
    }
    std::vector<int64_t> out_dims(r);
    for (int d = 0; d < r; ++d)
      out_dims[d] = c.win.strides[d] * (c.x_dims[d + 2] - 1) + c.output_padding[d] +
                    (c.win.kernel[d] - 1) * c.win.dilations[d] + 1 - win.pads[d] - win.pads[d + r];
    const ConvRef ref = NaiveConvTranspose(x, w, &b, win, out_dims, c.group);
    ExpectNear((*out)[0], ref.dims, ref.values, ref.tol, c.name);
  }
}

// Direct pooling over a window; returns values and (for max) row-major flat
// argmax indices into the whole input.
struct PoolRef {
  std::vector<int64_t> dims;
  std::vector<double> values;
  std::vector<int64_t> argmax;
};
PoolRef NaivePool(const Tensor& x, const Window& win, bool ceil_mode, bool is_max,
                  bool count_include_pad) {
  const std::vector<int64_t> in(x.dims().begin() + 2, x.dims().end());
  const std::vector<int64_t> out = ForwardOut(in, win, ceil_mode);
  const size_t r = in.size();
  const int64_t planes = x.dim(0) * x.dim(1), in_size = NumElements(in);
  PoolRef ref;
  ref.dims = {x.dim(0), x.dim(1)};
  ref.dims.insert(ref.dims.end(), out.begin(), out.end());
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t op = 0; op < NumElements(out); ++op) {
      const std::vector<int64_t> o = Unflatten(op, out);
      double best = -std::numeric_limits<double>::infinity(), sum = 0;
      int64_t best_i = -1, count = 0;
      for (int64_t kp = 0; kp < NumElements(win.kernel); ++kp) {
        const std::vector<int64_t> k = Unflatten(kp, win.kernel);
        std::vector<int64_t> i(r);
        bool inside = true, in_padded = true;
        for (size_t d = 0; d < r; ++d) {
          i[d] = o[d] * win.strides[d] - win.pads[d] + k[d] * win.dilations[d];
          inside = inside && i[d] >= 0 && i[d] < in[d];
          in_padded = in_padded && i[d] >= -win.pads[d] && i[d] < in[d] + win.pads[d + r];
        }
        if (!inside) {
          count += count_include_pad && in_padded;
          continue;
        }
        const int64_t flat = p * in_size + Flatten(i, in);
        const double v = x.GetAsDouble(flat);
        if (v > best) best = v, best_i = flat;
        sum += v;
        ++count;
      }
      ref.values.push_back(is_max ? best : sum / static_cast<double>(count));
      ref.argmax.push_back(best_i);
    }
  return ref;
}

struct PoolCase {
  std::string name;
  std::vector<int64_t> x_dims;
  Window win;
  bool ceil_mode;
};
const std::vector<PoolCase>& PoolCases() {
  static const std::vector<PoolCase> cases = {
      {"3x3 s2 p1 (resnet stem)", {2, 3, 12, 11}, {{3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}}, false},
      {"ceil_mode", {1, 2, 8, 9}, {{3, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}}, true},
      {"ceil_mode with pads", {1, 2, 7, 7}, {{3, 3}, {3, 3}, {1, 1}, {1, 1, 1, 1}}, true},
      {"dilations", {1, 2, 10, 9}, {{2, 3}, {1, 2}, {2, 2}, {1, 0, 0, 2}}, false},
      {"1-D", {2, 2, 13}, {{4}, {3}, {1}, {1, 2}}, true},
      {"3-D", {1, 2, 5, 4, 6}, {{2, 2, 3}, {1, 2, 2}, {1, 1, 1}, {0, 1, 1, 1, 0, 0}}, false},
  };
  return cases;
}

Attrs PoolAttrs(const PoolCase& c) {
  return {{"kernel_shape", c.win.kernel},
          {"strides", c.win.strides},
          {"dilations", c.win.dilations},
          {"pads", c.win.pads},
          {"ceil_mode", int64_t{c.ceil_mode}}};
}

TEST(MaxPoolTest, ValuesAndIndicesMatchDirectLoops) {
  std::mt19937 rng(5);
  for (const PoolCase& c : PoolCases()) {
    const Tensor x = RandomTensor(rng, DType::kF32, c.x_dims);
    for (int64_t order : {0, 1}) {
      Attrs attrs = PoolAttrs(c);
      attrs["storage_order"] = order;
      auto out = RunOp("MaxPool", {x}, attrs, 2);
      ASSERT_TRUE(out.ok()) << c.name << ": " << out.status().ToString();
      const PoolRef ref = NaivePool(x, c.win, c.ceil_mode, true, false);
      ExpectNear((*out)[0], ref.dims, ref.values, std::vector<double>(ref.values.size(), 0.0),
                 c.name);
      const Tensor& idx = (*out)[1];
      ASSERT_EQ(idx.dims(), ref.dims);
      const std::vector<int64_t> in(x.dims().begin() + 2, x.dims().end());
      const int64_t in_size = NumElements(in);
      for (int64_t i = 0; i < idx.numel(); ++i) {
        int64_t want = ref.argmax[i];
        if (order == 1 && in.size() == 2) {
          // Column-major spatial index: w * H + h within the plane.
          const int64_t plane = want / in_size, h = (want % in_size) / in[1], w = want % in[1];
          want = plane * in_size + w * in[0] + h;
        }
        if (order == 1 && in.size() != 2) continue;  // checked for 2-D only
        ASSERT_EQ(idx.data<int64_t>()[i], want) << c.name << " element " << i;
      }
    }
  }
}

TEST(MaxPoolTest, IntegerTypesAndSameUpper) {
  std::mt19937 rng(8);
  for (DType t : {DType::kU8, DType::kI8}) {
    const Tensor x = RandomTensor(rng, t, {1, 2, 7, 6}, t == DType::kU8 ? 0 : -128, 127.99);
    auto out = RunOp("MaxPool", {x},
                     {{"kernel_shape", std::vector<int64_t>{3, 3}},
                      {"strides", std::vector<int64_t>{2, 2}},
                      {"auto_pad", std::string("SAME_UPPER")}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    // SAME_UPPER: out = ceil(7/2) = 4, ceil(6/2) = 3; pads total 2 (1+1) and
    // 1 (0 at the start, 1 at the end).
    const PoolRef ref = NaivePool(x, {{3, 3}, {2, 2}, {1, 1}, {1, 0, 1, 1}}, false, true, false);
    ExpectNear((*out)[0], ref.dims, ref.values, std::vector<double>(ref.values.size(), 0.0),
               std::string(DTypeName(t)));
  }
}

TEST(AveragePoolTest, MatchesDirectLoops) {
  std::mt19937 rng(6);
  for (const PoolCase& c : PoolCases()) {
    const Tensor x = RandomTensor(rng, DType::kF32, c.x_dims);
    for (int64_t include_pad : {0, 1}) {
      Attrs attrs = PoolAttrs(c);
      attrs["count_include_pad"] = include_pad;
      auto out = RunOp("AveragePool", {x}, attrs);
      ASSERT_TRUE(out.ok()) << c.name << ": " << out.status().ToString();
      const PoolRef ref = NaivePool(x, c.win, c.ceil_mode, false, include_pad != 0);
      // Means of values in [-1, 1], computed in double and rounded to f32.
      ExpectNear((*out)[0], ref.dims, ref.values, std::vector<double>(ref.values.size(), 1e-6),
                 c.name + (include_pad ? " count_include_pad" : ""));
    }
  }
}

TEST(GlobalPoolTest, AverageAndMax) {
  std::mt19937 rng(9);
  const Tensor x = RandomTensor(rng, DType::kF32, {2, 3, 5, 7});
  auto avg = RunOp("GlobalAveragePool", {x});
  auto max = RunOp("GlobalMaxPool", {x});
  ASSERT_TRUE(avg.ok() && max.ok());
  std::vector<double> want_avg, want_max;
  for (int64_t p = 0; p < 6; ++p) {
    double s = 0, m = -1e30;
    for (int64_t i = 0; i < 35; ++i) {
      s += x.GetAsDouble(p * 35 + i);
      m = std::max(m, x.GetAsDouble(p * 35 + i));
    }
    want_avg.push_back(s / 35);
    want_max.push_back(m);
  }
  ExpectNear((*avg)[0], {2, 3, 1, 1}, want_avg, std::vector<double>(6, 1e-6), "global avg");
  ExpectNear((*max)[0], {2, 3, 1, 1}, want_max, std::vector<double>(6, 0.0), "global max");
}

TEST(PoolTest, MissingKernelShapeIsAnError) {
  auto out = RunOp("MaxPool", {Tensor(DType::kF32, {1, 1, 4, 4})});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("kernel_shape"), std::string::npos);
}

// Throughput probe for a ResNet-18 layer: run with
// --gtest_also_run_disabled_tests --gtest_filter='*Benchmark*'.
TEST(ConvTest, DISABLED_Benchmark) {
  std::mt19937 rng(1);
  const Tensor x = RandomTensor(rng, DType::kF32, {1, 64, 56, 56});
  const Tensor w = RandomTensor(rng, DType::kF32, {64, 64, 3, 3});
  const Tensor b = RandomTensor(rng, DType::kF32, {64});
  const Attrs attrs = {{"pads", std::vector<int64_t>{1, 1, 1, 1}}};
  ASSERT_TRUE(RunOp("Conv", {x, w, b}, attrs).ok());
  const int reps = 10;
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  for (int i = 0; i < reps; ++i) ASSERT_TRUE(RunOp("Conv", {x, w, b}, attrs).ok());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // CPU seconds over all threads: on a shared machine wall time mostly
  // measures the other tenants, GFLOP per CPU-second measures the kernel.
  const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  const double flops = 2.0 * 64 * 64 * 9 * 56 * 56;
  std::printf(
      "Conv 64->64 3x3 on 56x56, 2 threads: %.2f ms, %.1f GFLOP/s wall, %.1f GFLOP per "
      "CPU-s\n",
      1e3 * s / reps, flops * reps / s / 1e9, flops * reps / cpu / 1e9);
}

}  // namespace
}  // namespace octet::testing_linalg
