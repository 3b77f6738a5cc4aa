// Reference Softmax/LogSoftmax and the normalisation kernels. Expected values
// are computed in double by gathering each normalised group with explicit
// multi-index arithmetic; the kernels also work in double and round once, so
// results agree to within float rounding of the output: 2 ulps (2.4e-7
// relative), with a 1e-6 absolute term for outputs near zero where the
// rounding of the (larger) intermediate values dominates.
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernel_test_util.h"

namespace octet::reference {
namespace {

using namespace testing;  // NOLINT: test helpers

constexpr double kRtol = 2.4e-7, kAtol = 1e-6;

std::vector<double> NaiveSoftmax(const Tensor& x, int axis, bool log) {
  const auto& dims = x.dims();
  std::vector<double> out(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    auto idx = Unravel(i, dims);
    double max = -INFINITY;
    std::vector<double> group;
    for (int64_t k = 0; k < dims[axis]; ++k) {
      idx[axis] = k;
      group.push_back(x.data<float>()[BroadcastFlat(idx, dims)]);
      max = std::max(max, group.back());
    }
    double sum = 0;
    for (double v : group) sum += std::exp(v - max);
    const double v = x.data<float>()[i];
    out[i] = log ? v - max - std::log(sum) : std::exp(v - max) / sum;
  }
  return out;
}

TEST(NormalizationTest, SoftmaxAndLogSoftmaxEveryAxis) {
  const Tensor x = RandomF32({2, 3, 4, 5}, 201, -5, 5);
  for (int axis = -4; axis < 4; ++axis) {
    const int a = axis < 0 ? axis + 4 : axis;
    const Attrs attrs = {{"axis", int64_t{axis}}};
    ExpectClose(Run1("Softmax", {x}, attrs), NaiveSoftmax(x, a, false), x.dims(), kRtol, kAtol,
                "Softmax axis " + std::to_string(axis));
    ExpectClose(Run1("LogSoftmax", {x}, attrs), NaiveSoftmax(x, a, true), x.dims(), kRtol, kAtol,
                "LogSoftmax axis " + std::to_string(axis));
  }
  // Default axis is -1.
  ExpectClose(Run1("Softmax", {x}), NaiveSoftmax(x, 3, false), x.dims(), kRtol, kAtol);
}

TEST(NormalizationTest, SoftmaxIsStableAndThreadSafe) {
  const Tensor big = F32({1000, 1001, 1002, 1003}, {1, 4});
  ExpectClose(Run1("LogSoftmax", {big}), NaiveSoftmax(big, 1, true), {1, 4}, kRtol, kAtol);
  ExpectClose(Run1("Softmax", {big}), NaiveSoftmax(big, 1, false), {1, 4}, kRtol, kAtol);
  // Enough work to be split over threads, on both a contiguous and a strided axis.
  const Tensor x = RandomF32({64, 33, 40}, 202, -3, 3);
  ExpectClose(Run1("Softmax", {x}, {}, 4), NaiveSoftmax(x, 2, false), x.dims(), kRtol, kAtol);
  ExpectClose(Run1("Softmax", {x}, {{"axis", int64_t{1}}}, 3), NaiveSoftmax(x, 1, false), x.dims(),
              kRtol, kAtol);
}

TEST(NormalizationTest, BatchNormalizationInference) {
  const Tensor x = RandomF32({2, 3, 4, 5}, 203, -2, 2);
  const Tensor scale = RandomF32({3}, 204), bias = RandomF32({3}, 205);
  const Tensor mean = RandomF32({3}, 206), var = RandomF32({3}, 207, 0.5f, 2);
  std::vector<double> e(x.numel());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const int64_t c = Unravel(i, x.dims())[1];
    e[i] = (x.data<float>()[i] - static_cast<double>(mean.data<float>()[c])) /
               std::sqrt(static_cast<double>(var.data<float>()[c]) + 0.01f) *
               scale.data<float>()[c] +
           bias.data<float>()[c];
  }
  ExpectClose(Run1("BatchNormalization", {x, scale, bias, mean, var}, {{"epsilon", 0.01f}}), e,
              x.dims(), kRtol, kAtol);
  // Rank 2 (N, C) works too.
  const Tensor x2 = RandomF32({4, 3}, 208);
  std::vector<double> e2(12);
  for (int64_t i = 0; i < 12; ++i) {
    const int64_t c = i % 3;
    e2[i] = (x2.data<float>()[i] - static_cast<double>(mean.data<float>()[c])) /
                std::sqrt(static_cast<double>(var.data<float>()[c]) + 1e-5f) *
                scale.data<float>()[c] +
            bias.data<float>()[c];
  }
  ExpectClose(Run1("BatchNormalization", {x2, scale, bias, mean, var}), e2, {4, 3}, kRtol, kAtol);

  Status s = RunError("BatchNormalization", {x, scale, bias, mean, var},
                      {{"training_mode", int64_t{1}}}, 3);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_TRUE(Contains(s, "training_mode")) << s.ToString();
  s = RunError("BatchNormalization", {x, RandomF32({4}, 1), bias, mean, var});
  EXPECT_TRUE(Contains(s, "scale") && Contains(s, "[3]") && Contains(s, "f32[4]")) << s.ToString();
}

TEST(NormalizationTest, InstanceNormalization) {
  const Tensor x = RandomF32({2, 3, 4, 5}, 209, -2, 2);
  const Tensor scale = RandomF32({3}, 210), bias = RandomF32({3}, 211);
  std::vector<double> e(x.numel());
  for (int64_t n = 0; n < 2; ++n) {
    for (int64_t c = 0; c < 3; ++c) {
      const float* p = x.data<float>() + (n * 3 + c) * 20;
      double mean = 0, var = 0;
      for (int k = 0; k < 20; ++k) mean += p[k] / 20.0;
      for (int k = 0; k < 20; ++k) var += (p[k] - mean) * (p[k] - mean) / 20.0;
      for (int k = 0; k < 20; ++k)
        e[(n * 3 + c) * 20 + k] =
            (p[k] - mean) / std::sqrt(var + 0.01f) * scale.data<float>()[c] + bias.data<float>()[c];
    }
  }
  ExpectClose(Run1("InstanceNormalization", {x, scale, bias}, {{"epsilon", 0.01f}}), e, x.dims(),
              kRtol, kAtol);
}

// Layer norm over dims[axis:], with Scale/B broadcast to that shape.
std::vector<double> NaiveLayerNorm(const Tensor& x, int axis, const Tensor& scale,
                                   const Tensor* bias, float eps, std::vector<double>* means,
                                   std::vector<double>* invs) {
  const std::vector<int64_t> norm(x.dims().begin() + axis, x.dims().end());
  int64_t cols = 1;
  for (int64_t d : norm) cols *= d;
  const int64_t rows = x.numel() / cols;
  std::vector<double> out(x.numel());
  means->clear();
  invs->clear();
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t k = 0; k < cols; ++k) mean += x.data<float>()[r * cols + k];
    mean /= static_cast<double>(cols);
    for (int64_t k = 0; k < cols; ++k) {
      const double d = x.data<float>()[r * cols + k] - mean;
      var += d * d;
    }
    const double inv = 1 / std::sqrt(var / static_cast<double>(cols) + eps);
    means->push_back(mean);
    invs->push_back(inv);
    for (int64_t k = 0; k < cols; ++k) {
      const auto idx = Unravel(k, norm);
      double y = (x.data<float>()[r * cols + k] - mean) * inv *
                 scale.data<float>()[BroadcastFlat(idx, scale.dims())];
      if (bias != nullptr) y += bias->data<float>()[BroadcastFlat(idx, bias->dims())];
      out[r * cols + k] = y;
    }
  }
  return out;
}

TEST(NormalizationTest, LayerNormalizationAxesAndOptionalParts) {
  const Tensor x = RandomF32({2, 3, 4, 5}, 212, -3, 3);
  for (int axis = -4; axis < 4; ++axis) {
    const int a = axis < 0 ? axis + 4 : axis;
    const std::vector<int64_t> norm(x.dims().begin() + a, x.dims().end());
    const Tensor scale = RandomF32(norm, 213 + a), bias = RandomF32(norm, 220 + a);
    std::vector<double> means, invs;
    const std::vector<double> e = NaiveLayerNorm(x, a, scale, &bias, 1e-5f, &means, &invs);
    auto r = RunOp("LayerNormalization", {x, scale, bias}, {{"axis", int64_t{axis}}}, 3);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::vector<int64_t> stat_dims = x.dims();
    for (int d = a; d < 4; ++d) stat_dims[d] = 1;
    const std::string what = "axis " + std::to_string(axis);
    ExpectClose((*r)[0], e, x.dims(), kRtol, kAtol, what);
    EXPECT_EQ((*r)[1].dtype(), DType::kF32);
    ExpectClose((*r)[1], means, stat_dims, kRtol, kAtol, what + " Mean");
    ExpectClose((*r)[2], invs, stat_dims, kRtol, kAtol, what + " InvStdDev");
  }
  // No bias, a Scale that broadcasts ([5] against [4, 5]), and epsilon.
  const Tensor scale = RandomF32({5}, 230);
  std::vector<double> means, invs;
  ExpectClose(Run1("LayerNormalization", {x, scale}, {{"axis", int64_t{2}}, {"epsilon", 0.1f}}),
              NaiveLayerNorm(x, 2, scale, nullptr, 0.1f, &means, &invs), x.dims(), kRtol, kAtol);
}

TEST(NormalizationTest, Errors) {
  const Tensor x = RandomF32({2, 3}, 240);
  Status s = RunError("Softmax", {x}, {{"axis", int64_t{2}}});
  EXPECT_TRUE(Contains(s, "axis 2") && Contains(s, "node_under_test")) << s.ToString();
  s = RunError("Softmax", {Make<int32_t>({1, 2}, {2})});
  EXPECT_TRUE(Contains(s, "i32")) << s.ToString();
  s = RunError("LayerNormalization", {x, RandomF32({2}, 1)});
  EXPECT_TRUE(Contains(s, "Scale") && Contains(s, "[2]") && Contains(s, "[3]")) << s.ToString();
  s = RunError("LayerNormalization", {x, RandomF32({3}, 1)}, {{"axis", int64_t{-3}}});
  EXPECT_TRUE(Contains(s, "-3")) << s.ToString();
  s = RunError("InstanceNormalization", {RandomF32({3}, 1), RandomF32({3}, 2), RandomF32({3}, 3)});
  EXPECT_TRUE(Contains(s, "rank")) << s.ToString();
}

}  // namespace
}  // namespace octet::reference
