// Elementwise add and LayerNorm in f32. Both are memory-bound: the add is a
// grid-stride loop (float4 when all three pointers are 16-byte aligned), the
// LayerNorm a warp or a block per row holding the row in registers
// (layer_norm_row.cuh's LayerNormRowVec) when K is a multiple of 4 (up to
// 16384), else one block per row reading the row three times (mean, centred
// squares, output; the second and third reads hit L1/L2).
#include <cuda_bf16.h>

#include "float_kernels_device.h"
#include "layer_norm_row.cuh"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void AddF32Kernel(const float* a, const float* b, float* out, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    out[i] = a[i] + b[i];
}

__global__ void AddF32x4Kernel(const float4* a, const float4* b, float4* out, int64_t n4) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n4; i += stride) {
    const float4 x = a[i], y = b[i];
    out[i] = make_float4(x.x + y.x, x.y + y.y, x.z + y.z, x.w + y.w);
  }
}

// Round to nearest even, as the reference's Cast f32 -> bf16.
__global__ void F32ToBf16Kernel(const float* x, __nv_bfloat16* y, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = __float2bfloat16_rn(x[i]);
}

__global__ void Bf16ToF32Kernel(const __nv_bfloat16* x, float* y, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride)
    y[i] = __bfloat162float(x[i]);
}

// One block per row; the arithmetic is layer_norm_row.cuh's, shared with the
// fused LayerNorm + per-token quantization.
__global__ void __launch_bounds__(kLayerNormThreads)
    LayerNormKernel(const float* src, int64_t k, const float* scale, const float* bias,
                    float epsilon, float* dst) {
  const float* x = src + int64_t{blockIdx.x} * k;
  float* y = dst + int64_t{blockIdx.x} * k;
  const LayerNormRowStats stats = LayerNormStats(x, k, epsilon);
  for (int64_t i = threadIdx.x; i < k; i += kLayerNormThreads)
    y[i] = LayerNormValue(x[i], stats, scale[i], bias, i);
}

// kGroup threads per row (ChooseRowVecShape's, as the fused LayerNorm +
// quantization chooses it); aligned: every pointer 16-byte aligned.
template <int kGroup, int kVecs>
__global__ void __launch_bounds__(kLayerNormThreads)
    LayerNormVecKernel(const float* src, int64_t rows, int64_t k, const float* scale,
                       const float* bias, float epsilon, bool aligned, float* dst) {
  const int lane = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t row = int64_t{blockIdx.x} * (kLayerNormThreads / kGroup) + threadIdx.x / kGroup;
  if (row >= rows) return;  // a whole group (kGroup < kLayerNormThreads only)
  float y[kVecs][4];
  LayerNormRowVec<kGroup, kVecs>(src + row * k, k, scale, bias, epsilon, aligned, lane, y);
  float* out = dst + row * k;
  const int64_t nvec = k / 4;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int64_t v = lane + int64_t{j} * kGroup;
    if (v >= nvec) continue;
    if (aligned) {
      *reinterpret_cast<float4*>(out + 4 * v) = make_float4(y[j][0], y[j][1], y[j][2], y[j][3]);
    } else {
#pragma unroll
      for (int c = 0; c < 4; ++c) out[4 * v + c] = y[j][c];
    }
  }
}

unsigned BlocksFor(int64_t n) {
  // Enough blocks to fill an H100 (132 SMs x 8 resident blocks of 256)
  // several times over; the grid-stride loop covers the rest.
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 4096 ? (blocks > 0 ? blocks : 1) : 4096);
}

// A block takes 32 neighbouring (outer, inner) columns (threadIdx.x: reads of
// a channel are 128-byte coalesced) and splits the channels among 16 rows of
// threads (threadIdx.y takes c = y, y + 16, ...): a column's partial sums
// meet in shared memory, added in row order. Three passes (mean, variance,
// output); the later ones read x from L1/L2. Each operation is rounded once,
// as the graph computes it (a division by the square root).
constexpr int kChannelLnColumns = 32, kChannelLnRows = 16;

__device__ __forceinline__ float ChannelLnColumnSum(float v, float (*part)[kChannelLnColumns + 1]) {
  part[threadIdx.y][threadIdx.x] = v;
  __syncthreads();
  float sum = 0.f;
  for (int r = 0; r < kChannelLnRows; ++r) sum = __fadd_rn(sum, part[r][threadIdx.x]);
  __syncthreads();  // part is reused by the next call
  return sum;
}

__global__ void __launch_bounds__(kChannelLnColumns* kChannelLnRows)
    ChannelLayerNormKernel(const float* x, int64_t outer, int64_t channels, int64_t inner,
                           const float* scale, const float* bias, float epsilon, float* y) {
  __shared__ float part[kChannelLnRows][kChannelLnColumns + 1];
  const int64_t column = int64_t{blockIdx.x} * kChannelLnColumns + threadIdx.x;
  const bool active = column < outer * inner;  // inactive threads still join the sums
  const int64_t o = active ? column / inner : 0, i = active ? column % inner : 0;
  const float* xc = x + o * channels * inner + i;
  float* yc = y + o * channels * inner + i;
  const float count = static_cast<float>(channels);
  float sum = 0.f;
  if (active)
    for (int64_t c = threadIdx.y; c < channels; c += kChannelLnRows)
      sum = __fadd_rn(sum, xc[c * inner]);
  const float mean = __fdiv_rn(ChannelLnColumnSum(sum, part), count);
  float squares = 0.f;
  if (active)
    for (int64_t c = threadIdx.y; c < channels; c += kChannelLnRows) {
      const float d = __fsub_rn(xc[c * inner], mean);
      squares = __fadd_rn(squares, __fmul_rn(d, d));
    }
  const float var = __fdiv_rn(ChannelLnColumnSum(squares, part), count);
  const float den = __fsqrt_rn(__fadd_rn(var, epsilon));
  if (!active) return;
  for (int64_t c = threadIdx.y; c < channels; c += kChannelLnRows) {
    const float n = __fmul_rn(scale[c], __fdiv_rn(__fsub_rn(xc[c * inner], mean), den));
    yc[c * inner] = bias != nullptr ? __fadd_rn(n, bias[c]) : n;
  }
}

}  // namespace

Status LaunchAddF32(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  const bool aligned = (reinterpret_cast<uintptr_t>(a) | reinterpret_cast<uintptr_t>(b) |
                        reinterpret_cast<uintptr_t>(out)) %
                           16 ==
                       0;
  if (aligned && n % 4 == 0) {
    AddF32x4Kernel<<<BlocksFor(n / 4), kThreads, 0, stream>>>(
        reinterpret_cast<const float4*>(a), reinterpret_cast<const float4*>(b),
        reinterpret_cast<float4*>(out), n / 4);
  } else {
    AddF32Kernel<<<BlocksFor(n), kThreads, 0, stream>>>(a, b, out, n);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("AddF32Kernel");
  return Status::Ok();
}

Status LaunchF32ToBf16(const float* x, void* y, int64_t n, cudaStream_t stream) {
  F32ToBf16Kernel<<<BlocksFor(n), kThreads, 0, stream>>>(x, static_cast<__nv_bfloat16*>(y), n);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("F32ToBf16Kernel");
  return Status::Ok();
}

Status LaunchBf16ToF32(const void* x, float* y, int64_t n, cudaStream_t stream) {
  Bf16ToF32Kernel<<<BlocksFor(n), kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(x), y,
                                                         n);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Bf16ToF32Kernel");
  return Status::Ok();
}

Status LaunchLayerNormF32(const float* x, int64_t rows, int64_t k, const float* scale,
                          const float* bias, float epsilon, float* y, cudaStream_t stream) {
  const RowVecShape shape = ChooseRowVecShape(k, 4);
  if (shape.group != 0) {
    auto aligned16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
    const bool aligned =
        aligned16(x) && aligned16(scale) && (bias == nullptr || aligned16(bias)) && aligned16(y);
    const int64_t per_block = kLayerNormThreads / shape.group;
    const unsigned grid = static_cast<unsigned>((rows + per_block - 1) / per_block);
    DispatchRowVecShape(shape, [&](auto group, auto vecs) {
      LayerNormVecKernel<decltype(group)::value, decltype(vecs)::value>
          <<<grid, kLayerNormThreads, 0, stream>>>(x, rows, k, scale, bias, epsilon, aligned, y);
    });
    OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("LayerNormVecKernel");
    return Status::Ok();
  }
  LayerNormKernel<<<static_cast<unsigned>(rows), kLayerNormThreads, 0, stream>>>(x, k, scale, bias,
                                                                                 epsilon, y);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("LayerNormKernel");
  return Status::Ok();
}

Status LaunchChannelLayerNormF32(const float* x, int64_t outer, int64_t channels, int64_t inner,
                                 const float* scale, const float* bias, float epsilon, float* y,
                                 cudaStream_t stream) {
  const int64_t columns = outer * inner;
  const dim3 block(kChannelLnColumns, kChannelLnRows);
  ChannelLayerNormKernel<<<static_cast<unsigned>((columns + kChannelLnColumns - 1) /
                                                 kChannelLnColumns),
                           block, 0, stream>>>(x, outer, channels, inner, scale, bias, epsilon, y);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("ChannelLayerNormKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
