// ReduceF32 and SoftmaxLastAxisF32 against double-precision host loops.
// Sums: both sides accumulate in double (in different orders), so the f32
// results differ by at most one rounding of the final value: 1 ulp, checked
// as 2^-23 relative to the sum of |x| (the scale of the rounding errors).
// Max is exact. Softmax: expf (2 ulp) and an f32 sum over k terms, each lane
// summing k/32 of them then a 5-level tree: relative error below
// (k/32 + 8) * 2^-24 + 3 ulp; checked with 2e-6 + k * 4e-9 relative.
#include "octet/cuda/reduce.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <vector>

#include "cuda_test_util.h"

namespace octet::cuda::testing {
namespace {

int64_t Numel(const std::vector<int64_t>& d) {
  return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>());
}

struct Case {
  std::vector<int64_t> dims, axes;
};

TEST(ReduceF32, AnySetOfAxes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  const std::vector<Case> cases = {
      {{1, 256, 16, 16}, {1}},  // LayerNorm2d: channels of NCHW (column kernel)
      {{7, 1000}, {1}},         // rows (warp kernel)
      {{3, 5, 7, 9}, {0, 2}},   // alternating
      {{3, 5, 7, 9}, {1, 3}},   // alternating, innermost reduced
      {{2, 3, 4}, {0, 1, 2}},   // everything
      {{4, 1, 6}, {1}},         // a size-1 axis: a copy
      {{5, 0, 3}, {1}},         // empty reduction
      {{17, 33, 65}, {0}},      // outer axis, odd sizes
  };
  for (ReduceOp op : {ReduceOp::kSum, ReduceOp::kMean, ReduceOp::kMax})
    for (const Case& c : cases) {
      const int64_t n = Numel(c.dims);
      std::vector<float> x = RandomFloats(n, rng, -3.f, 3.f);
      std::vector<bool> red(c.dims.size(), false);
      for (int64_t a : c.axes) red[a] = true;
      int64_t outputs = 1;
      for (size_t d = 0; d < c.dims.size(); ++d)
        if (!red[d]) outputs *= c.dims[d];
      std::vector<double> sum(outputs, 0), abs_sum(outputs, 0), count(outputs, 0);
      std::vector<float> mx(outputs, -INFINITY);
      for (int64_t i = 0; i < n; ++i) {
        int64_t rest = i, o = 0, stride = 1;
        for (int d = static_cast<int>(c.dims.size()) - 1; d >= 0; --d) {
          const int64_t idx = rest % c.dims[d];
          rest /= c.dims[d];
          if (red[d]) continue;
          o += idx * stride;
          stride *= c.dims[d];
        }
        sum[o] += x[i];
        abs_sum[o] += std::fabs(x[i]);
        count[o] += 1;
        mx[o] = std::max(mx[o], x[i]);
      }
      DeviceBuffer dx = Upload(x), dy = Poisoned(std::max<int64_t>(outputs, 1) * 4);
      Status s = ReduceF32(op, static_cast<const float*>(dx.data()), c.dims, c.axes,
                           static_cast<float*>(dy.data()), nullptr);
      ASSERT_TRUE(s.ok()) << s.ToString();
      const std::vector<float> y = Download<float>(dy, outputs);
      for (int64_t o = 0; o < outputs; ++o) {
        if (op == ReduceOp::kMax) {
          ASSERT_EQ(y[o], mx[o]) << "output " << o << ", seed " << seed;
          continue;
        }
        const double scale = op == ReduceOp::kMean ? count[o] : 1.0;
        const double want = sum[o] / scale;
        if (op == ReduceOp::kMean && count[o] == 0) {
          ASSERT_TRUE(std::isnan(y[o])) << o;
          continue;
        }
        ASSERT_NEAR(y[o], want, abs_sum[o] / scale * 1.2e-7 + 1e-30)
            << "op " << static_cast<int>(op) << " output " << o << ", seed " << seed;
      }
    }
}

TEST(SoftmaxF32, RowsOfManyLengths) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  for (int64_t k : {1, 7, 32, 100, 256, 4099}) {
    const int64_t rows = 37;
    std::vector<float> x = RandomFloats(rows * k, rng, -8.f, 8.f);
    DeviceBuffer dx = Upload(x), dy = Poisoned(rows * k * 4);
    ASSERT_TRUE(SoftmaxLastAxisF32(static_cast<const float*>(dx.data()), rows, k,
                                   static_cast<float*>(dy.data()), nullptr)
                    .ok());
    const std::vector<float> y = Download<float>(dy, rows * k);
    const double tol = 2e-6 + k * 4e-9;
    for (int64_t r = 0; r < rows; ++r) {
      double m = -INFINITY, sum = 0;
      for (int64_t i = 0; i < k; ++i) m = std::max(m, double{x[r * k + i]});
      for (int64_t i = 0; i < k; ++i) sum += std::exp(x[r * k + i] - m);
      for (int64_t i = 0; i < k; ++i) {
        const double want = std::exp(x[r * k + i] - m) / sum;
        ASSERT_NEAR(y[r * k + i], want, tol * want + 1e-30)
            << "k " << k << " row " << r << " element " << i << ", seed " << seed;
      }
    }
  }
}

// Not a check: prints the time of SAM's LayerNorm2d mean (the channels of
// [1, 256, 64, 64]) and of a softmax over 1024 rows of 4096.
TEST(ReduceF32, PrintsTimesOfSamShapes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937 rng(1);
  const int64_t n = 1024 * 4096;
  DeviceBuffer dx = Upload(RandomFloats(n, rng, -3.f, 3.f)), dy = Poisoned(n * 4);
  const auto* x = static_cast<const float*>(dx.data());
  auto* y = static_cast<float*>(dy.data());
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  for (int which = 0; which < 2; ++which) {
    auto launch = [&] {
      return which == 0 ? ReduceF32(ReduceOp::kMean, x, {1, 256, 64, 64}, {1}, y, nullptr)
                        : SoftmaxLastAxisF32(x, 1024, 4096, y, nullptr);
    };
    ASSERT_TRUE(launch().ok());
    constexpr int kReps = 50;
    cudaEventRecord(start);
    for (int i = 0; i < kReps; ++i) ASSERT_TRUE(launch().ok());
    cudaEventRecord(stop);
    ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    const double bytes = which == 0 ? 256.0 * 64 * 64 * 4 : 2.0 * n * 4;
    std::printf("%s: %.1f us, %.0f GB/s\n",
                which == 0 ? "ReduceMean channels of [1,256,64,64]" : "Softmax [1024, 4096]",
                1e3 * ms / kReps, bytes * kReps / (ms * 1e-3) / 1e9);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

TEST(ReduceF32, RejectsBadAxes) {
  float x = 0, y = 0;
  EXPECT_FALSE(ReduceF32(ReduceOp::kSum, &x, {2, 3}, {2}, &y, nullptr).ok());
  EXPECT_FALSE(ReduceF32(ReduceOp::kSum, &x, {2, 3}, {1, 1}, &y, nullptr).ok());
}

}  // namespace
}  // namespace octet::cuda::testing
