// Per-token quantization: one thread block per row, two passes over the row
// (the absolute maximum, then the codes; the second pass reads the row from
// L1/L2). Memory-bound: it reads the row once from device memory and writes
// k bytes and one scale.
#include <cuda_bf16.h>

#include "layer_norm_row.cuh"
#include "octet/cuda/cuda_status.h"
#include "per_token_quant_kernel.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ float BlockMax(float v) {
  __shared__ float warp_max[kThreads / 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = v;
  __syncthreads();
  v = warp_max[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) v = fmaxf(v, warp_max[w]);
  return v;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    QuantizeRowsKernel(const T* src, int64_t k, float qmax, float min_scale, int8_t* codes,
                       float* scales) {
  const int64_t row = blockIdx.x;
  const T* x = src + row * k;
  float absmax = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) absmax = fmaxf(absmax, fabsf(ToFloat(x[i])));
  absmax = BlockMax(absmax);
  // IEEE division and round-half-even (rintf), as QuantizeLinear computes;
  // fmaxf/fminf ignore a NaN operand, so NaN inputs give code -128 as on the CPU.
  const float scale = fmaxf(__fdiv_rn(absmax, qmax), min_scale);
  if (threadIdx.x == 0) scales[row] = scale;
  int8_t* q = codes + row * k;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) {
    const float v = rintf(__fdiv_rn(ToFloat(x[i]), scale));
    q[i] = static_cast<int8_t>(fminf(127.f, fmaxf(-128.f, v)));
  }
}

// LayerNorm then per-token quantization of each f32 row, without writing the
// normalised row: its values are computed twice (for the absolute maximum,
// then for the codes) from x, which the second pass reads from L1/L2.
// layer_norm_row.cuh makes them bit-identical to LayerNormKernel's, so the
// codes are those of the unfused pair.
__global__ void __launch_bounds__(kThreads)
    LayerNormQuantizeRowsKernel(const float* src, int64_t k, const float* ln_scale,
                                const float* ln_bias, float epsilon, float qmax, float min_scale,
                                int8_t* codes, float* scales) {
  static_assert(kThreads == kLayerNormThreads, "one block shape for both kernels");
  const int64_t row = blockIdx.x;
  const float* x = src + row * k;
  const LayerNormRowStats stats = LayerNormStats(x, k, epsilon);
  float absmax = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kThreads)
    absmax = fmaxf(absmax, fabsf(LayerNormValue(x[i], stats, ln_scale[i], ln_bias, i)));
  absmax = BlockMax(absmax);
  const float scale = fmaxf(__fdiv_rn(absmax, qmax), min_scale);
  if (threadIdx.x == 0) scales[row] = scale;
  int8_t* q = codes + row * k;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) {
    const float y = LayerNormValue(x[i], stats, ln_scale[i], ln_bias, i);
    const float v = rintf(__fdiv_rn(y, scale));
    q[i] = static_cast<int8_t>(fminf(127.f, fmaxf(-128.f, v)));
  }
}

}  // namespace

Status LaunchLayerNormQuantizeRows(const float* src, int64_t rows, int64_t k, const float* ln_scale,
                                   const float* ln_bias, float epsilon, float qmax, float min_scale,
                                   int8_t* codes, float* scales, cudaStream_t stream) {
  LayerNormQuantizeRowsKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      src, k, ln_scale, ln_bias, epsilon, qmax, min_scale, codes, scales);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("LayerNormQuantizeRowsKernel");
  return Status::Ok();
}

Status LaunchQuantizeRowsPerToken(const void* src, bool src_bf16, int64_t rows, int64_t k,
                                  float qmax, float min_scale, int8_t* codes, float* scales,
                                  cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(rows));
  if (src_bf16) {
    QuantizeRowsKernel<<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(src), k,
                                                      qmax, min_scale, codes, scales);
  } else {
    QuantizeRowsKernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(src), k, qmax,
                                                      min_scale, codes, scales);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("QuantizeRowsKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
