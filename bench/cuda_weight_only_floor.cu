// Reference kernels for bench/cuda_weight_only_bench.cc: an empty kernel (the
// per-launch cost of a graph node), a plain streaming read of a buffer (the
// floor for a kernel that must read those bytes once) and a device copy (the
// bandwidth the issue's targets are relative to, beside cudaMemcpy's).
#include <cuda_runtime_api.h>

#include <cstdint>

namespace octet::cuda::bench {
namespace {

__global__ void EmptyKernel() {}

// v[j] = p[j * stride] for j < 4, all four loads issued before any is used,
// kept out of L1 (read once).
__device__ __forceinline__ void LoadFourStreaming(uint4 (&v)[4], const uint4* p, size_t stride) {
#pragma unroll
  for (int j = 0; j < 4; ++j)
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                 : "=r"(v[j].x), "=r"(v[j].y), "=r"(v[j].z), "=r"(v[j].w)
                 : "l"(p + j * stride));
}

__global__ void ReadKernel(const uint4* p, size_t count, uint32_t* sink) {
  uint32_t acc = 0;
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < count; i += 4 * stride) {
    uint4 v[4];
    LoadFourStreaming(v, p + i, stride);
#pragma unroll
    for (int j = 0; j < 4; ++j) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  }
  for (; i < count; i += stride) {
    const uint4 v = p[i];
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;  // keeps the loads
}

// dst = src, 16 bytes per thread and step, 4 loads in flight before their
// stores.
__global__ void CopyKernel(const uint4* src, uint4* dst, size_t count) {
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  for (; i + 3 * stride < count; i += 4 * stride) {
    uint4 v[4];
    LoadFourStreaming(v, src + i, stride);
#pragma unroll
    for (int j = 0; j < 4; ++j) dst[i + j * stride] = v[j];
  }
  for (; i < count; i += stride) dst[i] = src[i];
}

// Each warp streams its own contiguous run of 1 KB items (two 512-byte warp
// loads each), 4 items per iteration (interleaved: item i of warp w at
// i * warps + w, so that at each step the warps read one dense region).
__global__ void ReadStreamsKernel(const uint4* p, size_t items_per_warp, bool interleaved,
                                  uint32_t* sink) {
  const int lane = threadIdx.x % 32;
  const size_t warps = static_cast<size_t>(gridDim.x) * (blockDim.x / 32);
  const size_t w = static_cast<size_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  uint32_t acc = 0;
  for (size_t i = 0; i + 3 < items_per_warp; i += 4) {
    uint4 v[8];
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const size_t item = interleaved ? (i + j) * warps + w : w * items_per_warp + i + j;
#pragma unroll
      for (int h = 0; h < 2; ++h)
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
                     : "=r"(v[2 * j + h].x), "=r"(v[2 * j + h].y), "=r"(v[2 * j + h].z),
                       "=r"(v[2 * j + h].w)
                     : "l"(p + item * 64 + h * 32 + lane));
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) acc ^= v[j].x ^ v[j].y ^ v[j].z ^ v[j].w;
  }
  if (acc == 0x9E3779B9u) *sink = acc;
}

}  // namespace

cudaError_t LaunchReadStreamsKernel(const void* p, size_t bytes, bool interleaved, uint32_t* sink,
                                    int blocks, cudaStream_t stream) {
  const size_t warps = static_cast<size_t>(blocks) * 8;
  ReadStreamsKernel<<<blocks, 256, 0, stream>>>(static_cast<const uint4*>(p),
                                                bytes / 1024 / warps / 4 * 4, interleaved, sink);
  return cudaGetLastError();
}

cudaError_t LaunchCopyKernel(const void* src, void* dst, size_t bytes, int blocks,
                             cudaStream_t stream) {
  CopyKernel<<<blocks, 256, 0, stream>>>(static_cast<const uint4*>(src), static_cast<uint4*>(dst),
                                         bytes / 16);
  return cudaGetLastError();
}

cudaError_t LaunchEmptyKernel(cudaStream_t stream) {
  EmptyKernel<<<1, 32, 0, stream>>>();
  return cudaGetLastError();
}

cudaError_t LaunchReadKernel(const void* p, size_t bytes, uint32_t* sink, int blocks,
                             cudaStream_t stream) {
  ReadKernel<<<blocks, 256, 0, stream>>>(static_cast<const uint4*>(p), bytes / 16, sink);
  return cudaGetLastError();
}

}  // namespace octet::cuda::bench
