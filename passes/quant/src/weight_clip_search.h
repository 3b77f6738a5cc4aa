// Internal to octet_quant: the clipping search of 4-bit weight ranges behind
// QuantizeWeight.
//
// With 16 levels, a min/max range lets the few largest weights of a group set
// the step, (max - min) / 15, for all of them. Shrinking the range (clipping
// the outliers) trades a large error on a few weights for a smaller step on
// all the others: about 10% less squared error on Gaussian groups of 128
// (tests/quant/convert_test.cc), more with heavier tails, nothing on
// uniform weights (PyTorch's default initialisation), where min/max is best. Per parameter (channel
// or group) the search tries the factors f = 1, 1 - 1/40, ..., 0.5 on both ends of [lo, hi] (0
// stays inside) and keeps the one with the least sum of squared quantize-dequantize errors over the
// parameter's elements, computed exactly as QuantizeLinear and DequantizeLinear would (f32
// division, round half to even, clamp). f = 1, the min/max range, is a candidate, so the error
// never grows; ties keep the larger range. The same search as AWQ's clipping step and llama.cpp's
// make_qx_quants, without activations (weights need no calibration here).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#include "octet/quant/scheme.h"

namespace octet::quant::detail {

inline constexpr int kClipCandidates = 21;  // f = 1 - c / 40, c = 0..20

inline double ClipFactor(int c) { return 1.0 - c / 40.0; }

// param_of(e) is element e's parameter, in [0, count); lo / hi its min / max.
template <typename ParamOf>
std::vector<ScaleZeroPoint> SearchClippedRanges(const float* x, int64_t n, int64_t count,
                                                const ParamOf& param_of,
                                                const std::vector<double>& lo,
                                                const std::vector<double>& hi,
                                                const QuantScheme& scheme) {
  constexpr int C = kClipCandidates;
  std::vector<float> scale(static_cast<size_t>(count * C)), zero(scale.size());
  std::vector<ScaleZeroPoint> candidates(scale.size());
  for (int64_t k = 0; k < count; ++k)
    for (int c = 0; c < C; ++c) {
      const ScaleZeroPoint sz =
          ChooseScaleZeroPoint(lo[k] * ClipFactor(c), hi[k] * ClipFactor(c), scheme);
      candidates[k * C + c] = sz;
      scale[k * C + c] = sz.scale;
      zero[k * C + c] = static_cast<float>(sz.zero_point);
    }
  const float qmin = static_cast<float>(scheme.qmin()), qmax = static_cast<float>(scheme.qmax());
  // Element ranges over threads, each with its own error sums (merged in
  // thread order, so the result does not depend on timing).
  const int threads = static_cast<int>(std::clamp<int64_t>(
      std::min<int64_t>(std::thread::hardware_concurrency(), n / (int64_t{1} << 20)), 1, 64));
  std::vector<std::vector<double>> err(threads, std::vector<double>(scale.size(), 0.0));
  auto work = [&](int t) {
    std::vector<double>& e_sum = err[t];
    for (int64_t e = n * t / threads, end = n * (t + 1) / threads; e < end; ++e) {
      const int64_t k = param_of(e);
      const float v = x[e];
      for (int c = 0; c < C; ++c) {
        const float s = scale[k * C + c], z = zero[k * C + c];
        const float q = std::clamp(std::nearbyint(v / s) + z, qmin, qmax);
        const double d = static_cast<double>((q - z) * s) - v;
        e_sum[k * C + c] += d * d;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (std::thread& th : pool) th.join();
  std::vector<ScaleZeroPoint> out(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) {
    int best = 0;
    double best_err = 0;
    for (int c = 0; c < C; ++c) {
      double sum = 0;
      for (int t = 0; t < threads; ++t) sum += err[t][k * C + c];
      if (c == 0 || sum < best_err) {
        best = c;
        best_err = sum;
      }
    }
    out[k] = candidates[k * C + best];
  }
  return out;
}

}  // namespace octet::quant::detail
