// NchwF32ToNhwcBf16, NhwcBf16ToNchwF32 and NhwcBf16EpilogueInPlace
// (conv_pool_kernels.h): where the layouts differ, per image a [rows, cols]
// -> [cols, rows] transpose in 32 x 32 tiles through shared memory, so that
// both the read and the write of a warp are contiguous; where they agree, an
// elementwise pass.
// Memory-bound: one read and one write of each element (plus the residual).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

constexpr int kTile = 32, kRowsPerPass = 8;  // blocks of 32 x 8 threads

// The block's [32 channels][32 pixels] tile of this image of an f32 [N, C,
// HW] tensor into shared memory, read along HW; then the block waits for it.
// grid (ceil(pixels / 32), ceil(channels / 32), batch) for the tiled kernels.
__device__ __forceinline__ void LoadChannelMajorTile(float (&tile)[kTile][kTile + 1],
                                                     const float* x, int64_t channels,
                                                     int64_t pixels) {
  const int64_t b = blockIdx.z, p0 = int64_t{blockIdx.x} * kTile, c0 = int64_t{blockIdx.y} * kTile;
  const float* xb = x + b * channels * pixels;
  for (int r = threadIdx.y; r < kTile; r += kRowsPerPass) {
    const int64_t c = c0 + r, p = p0 + threadIdx.x;
    if (c < channels && p < pixels) tile[r][threadIdx.x] = xb[c * pixels + p];
  }
  __syncthreads();
}

__global__ void NchwToNhwcKernel(const float* __restrict__ x, int64_t channels, int64_t pixels,
                                 __nv_bfloat16* __restrict__ y) {
  __shared__ float tile[kTile][kTile + 1];
  LoadChannelMajorTile(tile, x, channels, pixels);
  const int64_t b = blockIdx.z, p0 = int64_t{blockIdx.x} * kTile, c0 = int64_t{blockIdx.y} * kTile;
  __nv_bfloat16* yb = y + b * channels * pixels;
  for (int r = threadIdx.y; r < kTile; r += kRowsPerPass) {
    const int64_t p = p0 + r, c = c0 + threadIdx.x;
    if (c < channels && p < pixels)
      yb[p * channels + c] = __float2bfloat16_rn(tile[threadIdx.x][r]);
  }
}

// residual_nhwc (bf16, conv's layout) is added as the tile is read.
__global__ void NhwcToNchwKernel(const __nv_bfloat16* __restrict__ conv, int64_t channels,
                                 int64_t pixels, const float* __restrict__ bias,
                                 const float* residual,
                                 const __nv_bfloat16* __restrict__ residual_nhwc, bool relu,
                                 float* y) {
  __shared__ float tile[kTile][kTile + 1];
  const int64_t b = blockIdx.z, p0 = int64_t{blockIdx.x} * kTile, c0 = int64_t{blockIdx.y} * kTile;
  const __nv_bfloat16* cb = conv + b * channels * pixels;
  for (int r = threadIdx.y; r < kTile; r += kRowsPerPass) {
    const int64_t p = p0 + r, c = c0 + threadIdx.x;
    if (c >= channels || p >= pixels) continue;
    float v = __bfloat162float(cb[p * channels + c]);
    if (residual_nhwc != nullptr)
      v += __bfloat162float(residual_nhwc[b * channels * pixels + p * channels + c]);
    tile[r][threadIdx.x] = v;
  }
  __syncthreads();
  const int64_t base = b * channels * pixels;
  for (int r = threadIdx.y; r < kTile; r += kRowsPerPass) {
    const int64_t c = c0 + r, p = p0 + threadIdx.x;
    if (c >= channels || p >= pixels) continue;
    float v = tile[threadIdx.x][r];
    if (bias != nullptr) v += bias[c];
    // residual may alias y: each element is read, then written, by one thread.
    if (residual != nullptr) v += residual[base + c * pixels + p];
    if (relu) v = v > 0.f ? v : (v == v ? 0.f : v);  // NaN stays NaN, as Relu
    y[base + c * pixels + p] = v;
  }
}

// y = relu?(y + bias[c] + residual) over NHWC with an NHWC residual (or
// none): 8 values (16 bytes) per step when channels % 8 == 0, so that the 8
// share one row of the bias; else 1.
template <int kVec>
__global__ void EpilogueNhwcKernel(__nv_bfloat16* y, int64_t elements, int64_t channels,
                                   const float* __restrict__ bias,
                                   const __nv_bfloat16* __restrict__ residual, bool relu) {
  const int64_t steps = elements / kVec, stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < steps; i += stride) {
    __nv_bfloat16 v[kVec], r[kVec];
    if constexpr (kVec == 8) {
      *reinterpret_cast<uint4*>(v) = reinterpret_cast<const uint4*>(y)[i];
      if (residual != nullptr)
        *reinterpret_cast<uint4*>(r) = reinterpret_cast<const uint4*>(residual)[i];
    } else {
      v[0] = y[i];
      if (residual != nullptr) r[0] = residual[i];
    }
    const int64_t c0 = (i * kVec) % channels;
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      float f = __bfloat162float(v[j]);
      if (bias != nullptr) f += bias[c0 + j];
      if (residual != nullptr) f += __bfloat162float(r[j]);
      if (relu) f = f > 0.f ? f : (f == f ? 0.f : f);  // NaN stays NaN, as Relu
      v[j] = __float2bfloat16_rn(f);
    }
    if constexpr (kVec == 8) {
      reinterpret_cast<uint4*>(y)[i] = *reinterpret_cast<const uint4*>(v);
    } else {
      y[i] = v[0];
    }
  }
}

// The same with an f32 NCHW residual: the residual's [C, HW] tile is read
// along HW into shared memory, y's [HW, C] tile along C.
__global__ void EpilogueNchwResidualKernel(__nv_bfloat16* y, int64_t channels, int64_t pixels,
                                           const float* __restrict__ bias,
                                           const float* __restrict__ residual, bool relu) {
  __shared__ float tile[kTile][kTile + 1];
  LoadChannelMajorTile(tile, residual, channels, pixels);
  const int64_t b = blockIdx.z, p0 = int64_t{blockIdx.x} * kTile, c0 = int64_t{blockIdx.y} * kTile;
  __nv_bfloat16* yb = y + b * channels * pixels;
  for (int r = threadIdx.y; r < kTile; r += kRowsPerPass) {
    const int64_t p = p0 + r, c = c0 + threadIdx.x;
    if (c >= channels || p >= pixels) continue;
    float f = __bfloat162float(yb[p * channels + c]);
    if (bias != nullptr) f += bias[c];
    f += tile[threadIdx.x][r];
    if (relu) f = f > 0.f ? f : (f == f ? 0.f : f);
    yb[p * channels + c] = __float2bfloat16_rn(f);
  }
}

Status CheckSizes(const char* what, int64_t batch, int64_t channels, int64_t pixels, const void* in,
                  const void* out) {
  if (batch < 0 || channels < 0 || pixels < 0)
    return InvalidArgument(what, ": negative size [", batch, ", ", channels, ", ", pixels, "]");
  if (batch > 65535 || (channels + kTile - 1) / kTile > 65535)
    return InvalidArgument(what, ": [", batch, ", ", channels, ", ", pixels,
                           "] exceeds the launch grid (batch and channels / 32 at most 65535)");
  if (batch * channels * pixels > 0 && (in == nullptr || out == nullptr))
    return InvalidArgument(what, ": null tensor");
  return Status::Ok();
}

dim3 GridFor(int64_t batch, int64_t channels, int64_t pixels) {
  return dim3(static_cast<unsigned>((pixels + kTile - 1) / kTile),
              static_cast<unsigned>((channels + kTile - 1) / kTile), static_cast<unsigned>(batch));
}

}  // namespace

Status NchwF32ToNhwcBf16(const float* x, int64_t batch, int64_t channels, int64_t pixels, void* y,
                         cudaStream_t stream) {
  OCTET_RETURN_IF_ERROR(CheckSizes("NchwF32ToNhwcBf16", batch, channels, pixels, x, y));
  if (batch * channels * pixels == 0) return Status::Ok();
  NchwToNhwcKernel<<<GridFor(batch, channels, pixels), dim3(kTile, kRowsPerPass), 0, stream>>>(
      x, channels, pixels, static_cast<__nv_bfloat16*>(y));
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("NchwToNhwcKernel");
  return Status::Ok();
}

Status NhwcBf16ToNchwF32(const void* conv, int64_t batch, int64_t channels, int64_t pixels,
                         const float* bias, const float* residual, bool relu, float* y,
                         cudaStream_t stream, const void* residual_nhwc) {
  OCTET_RETURN_IF_ERROR(CheckSizes("NhwcBf16ToNchwF32", batch, channels, pixels, conv, y));
  if (residual != nullptr && residual_nhwc != nullptr)
    return InvalidArgument("NhwcBf16ToNchwF32: two residuals");
  if (batch * channels * pixels == 0) return Status::Ok();
  NhwcToNchwKernel<<<GridFor(batch, channels, pixels), dim3(kTile, kRowsPerPass), 0, stream>>>(
      static_cast<const __nv_bfloat16*>(conv), channels, pixels, bias, residual,
      static_cast<const __nv_bfloat16*>(residual_nhwc), relu, y);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("NhwcToNchwKernel");
  return Status::Ok();
}

Status NhwcBf16EpilogueInPlace(void* y, int64_t batch, int64_t channels, int64_t pixels,
                               const float* bias, const void* residual_nhwc,
                               const float* residual_nchw, bool relu, cudaStream_t stream) {
  OCTET_RETURN_IF_ERROR(CheckSizes("NhwcBf16EpilogueInPlace", batch, channels, pixels, y, y));
  if (residual_nhwc != nullptr && residual_nchw != nullptr)
    return InvalidArgument("NhwcBf16EpilogueInPlace: two residuals");
  const int64_t elements = batch * channels * pixels;
  if (elements == 0) return Status::Ok();
  auto* yb = static_cast<__nv_bfloat16*>(y);
  if (residual_nchw != nullptr) {
    EpilogueNchwResidualKernel<<<GridFor(batch, channels, pixels), dim3(kTile, kRowsPerPass), 0,
                                 stream>>>(yb, channels, pixels, bias, residual_nchw, relu);
    OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("EpilogueNchwResidualKernel");
    return Status::Ok();
  }
  if (bias == nullptr && residual_nhwc == nullptr && !relu) return Status::Ok();
  const auto* rb = static_cast<const __nv_bfloat16*>(residual_nhwc);
  const bool by8 = channels % 8 == 0 && reinterpret_cast<uintptr_t>(y) % 16 == 0 &&
                   reinterpret_cast<uintptr_t>(residual_nhwc) % 16 == 0;
  const int64_t steps = by8 ? elements / 8 : elements;
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>((steps + 255) / 256, 8192));
  if (by8)
    EpilogueNhwcKernel<8><<<blocks, 256, 0, stream>>>(yb, elements, channels, bias, rb, relu);
  else
    EpilogueNhwcKernel<1><<<blocks, 256, 0, stream>>>(yb, elements, channels, bias, rb, relu);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("EpilogueNhwcKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
