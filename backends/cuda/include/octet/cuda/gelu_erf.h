// GELU with the erf form, 0.5 v (1 + erf(v / sqrt 2)), as the GEMM epilogues
// compute it: cheaper than CUDA's erff, which costs about 26 instructions and
// a divergent branch per value and made the int8 GEMM's GELU epilogue (SAM's
// mlp.lin1) a third slower than its plain bf16 epilogue.
//
// 1 + erf(x) = 2 - erfc(|x|) for x >= 0 and erfc(|x|) for x < 0, with
// erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2): the Chebyshev fit of
// Numerical Recipes (2nd ed., 6.2, "erfcc"), fractional error below 1.2e-7
// for every z >= 0. So GELU's relative error stays near f32's own on both
// sides (the negative side is v erfc / 2 directly, no cancellation: the erff
// form's 1 + erf(x) cancels there, to a relative 1e-1 at v = -5), where
// the kernels round to bf16 (2^-9) or keep f32 for a residual sum. On the GPU
// t and the exponential use the approximate reciprocal and ex2 (relative
// errors about 2^-23 and 2^-22): two MUFU and 13 FMA-pipe operations.
// Special values as the erff form: GELU(+inf) = inf, GELU(-inf) = NaN, NaN
// stays NaN. tests/cuda/gelu_erf_test.cc checks the bound on a dense grid.
#pragma once

#include <cuda_runtime.h>  // __host__ __device__

#include <cmath>

namespace octet::cuda {

__host__ __device__ __forceinline__ float GeluErf(float v) {
  // z = |v| / sqrt 2, clamped so that t and P stay finite for v = +-inf;
  // erfc(11) = 1.4e-54 is 0 in f32 with or without denormals.
  const float z = fminf(fabsf(v) * 0.70710678118654752f, 11.f);
  const float d = fmaf(0.5f, z, 1.f);
#ifdef __CUDA_ARCH__
  const float t = __fdividef(1.f, d);
#else
  const float t = 1.f / d;
#endif
  float p = 0.17087277f;
  p = fmaf(p, t, -0.82215223f);
  p = fmaf(p, t, 1.48851587f);
  p = fmaf(p, t, -1.13520398f);
  p = fmaf(p, t, 0.27886807f);
  p = fmaf(p, t, -0.18628806f);
  p = fmaf(p, t, 0.09678418f);
  p = fmaf(p, t, 0.37409196f);
  p = fmaf(p, t, 1.00002368f);
  p = fmaf(p, t, -1.26551223f);
  // exp(-z^2 + p) as 2^((p - z^2) log2 e).
  const float e2 = fmaf(-z, z, p) * 1.44269504088896341f;
#ifdef __CUDA_ARCH__
  float e;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(e2));
#else
  const float e = std::exp2(e2);
#endif
  const float erfc = t * e;
  // 0.5 (1 + erf(v / sqrt 2)) on either side, then times v.
  const float half_one_plus_erf = v >= 0.f ? fmaf(-0.5f, erfc, 1.f) : 0.5f * erfc;
  return v * half_one_plus_erf;
}

}  // namespace octet::cuda
