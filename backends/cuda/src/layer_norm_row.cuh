// LayerNorm of one row by one thread block of kLayerNormThreads, shared by the
// LayerNorm kernel (float_kernels.cu) and the fused LayerNorm + per-token
// quantization (per_token_quant_kernel.cu): both must give the same normalised
// values bit for bit, so that fusing the two changes no code. Hence one
// reduction order, and explicit round-to-nearest operations (no contraction
// into fma that the compiler might do differently in the two kernels).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace octet::cuda {

constexpr int kLayerNormThreads = 256;

// The sum of v over the block, in a fixed order (warps by shuffles, then the
// warp sums in order), returned to every thread.
__device__ __forceinline__ float LayerNormBlockSum(float v) {
  __shared__ float warp_sum[kLayerNormThreads / 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();  // warp_sum may still be read by a previous call
  if (threadIdx.x % 32 == 0) warp_sum[threadIdx.x / 32] = v;
  __syncthreads();
  v = 0.f;
#pragma unroll
  for (int w = 0; w < kLayerNormThreads / 32; ++w) v += warp_sum[w];
  return v;
}

struct LayerNormRowStats {
  float mean, inv_std;
};

// Mean, then the biased variance of the centred values (two passes, so a large
// mean does not cancel the variance away); IEEE sqrt and division, as the
// reference interpreter computes 1 / sqrt(var + epsilon).
__device__ __forceinline__ LayerNormRowStats LayerNormStats(const float* x, int64_t k,
                                                            float epsilon) {
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kLayerNormThreads) sum += x[i];
  const float mean = __fdiv_rn(LayerNormBlockSum(sum), static_cast<float>(k));
  float squares = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kLayerNormThreads) {
    const float d = __fsub_rn(x[i], mean);
    squares = __fmaf_rn(d, d, squares);
  }
  const float var = __fdiv_rn(LayerNormBlockSum(squares), static_cast<float>(k));
  return {mean, __fdiv_rn(1.f, __fsqrt_rn(__fadd_rn(var, epsilon)))};
}

// (x - mean) * inv_std * scale (+ bias), rounded step by step.
__device__ __forceinline__ float LayerNormValue(float x, LayerNormRowStats s, float scale,
                                                const float* bias, int64_t i) {
  const float v = __fmul_rn(__fmul_rn(__fsub_rn(x, s.mean), s.inv_std), scale);
  return bias != nullptr ? __fadd_rn(v, bias[i]) : v;
}

}  // namespace octet::cuda
