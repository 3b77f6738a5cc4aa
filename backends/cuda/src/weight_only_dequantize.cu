// DequantizePackedToBf16 (weight_only_gemm_launch.h): the packed i8 / u4
// weights back to bf16 [N, K] for the cuBLASLt path, on the device, so that a
// WeightOnlyGemm needs no resident bf16 copy. Each value is the host's
// DequantizedBf16: (code - zero point) * scale in f32, rounded to nearest even.
#include <cuda_bf16.h>

#include "octet/cuda/cuda_status.h"
#include "weight_only_gemm_launch.h"

namespace octet::cuda::weight_only {
namespace {

__device__ __forceinline__ uint32_t Bf16Pair(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// One thread per (tile, chunk, lane, word s): word s of the lane's 32 bytes
// holds the values 4s..4s+3 of its run for columns g and g + 8 (nibble order
// [v0 v2 v4 v6 v1 v3 v5 v7], weight_only_gemm_launch.h), four consecutive k
// per column once the run permutation is undone: two 8-byte stores.
__global__ void DequantizeU4Kernel(const GemmArgs a, int group, __nv_bfloat16* w) {
  const int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t blocks = int64_t{a.n_pad / 16} * a.chunks;
  if (id >= blocks * 256) return;
  const int s = static_cast<int>(id % 8), lane = static_cast<int>((id / 8) % 32);
  const int64_t block = id / 256;
  const int64_t tile = block / a.chunks, c = block % a.chunks;
  const int g = lane / 4, t = lane % 4, run = group / 4, gpc = kChunkU4 / group;
  const uint32_t word =
      reinterpret_cast<const uint32_t*>(a.packed)[(block * 64 + (s / 4) * 32 + lane) * 4 + s % 4];
  // The run's values 4s..4s+3: group gi, offset within the lane's run.
  const int gi = 4 * s / run, within = 4 * s % run;
  const int64_t k0 = c * kChunkU4 + int64_t{gi} * group + int64_t{run} * t + within;
  if (k0 >= a.k) return;  // K is a multiple of the group: all four or none
  const size_t param = static_cast<size_t>(((block * 8 + g) * gpc + gi) * 2);
  for (int h = 0; h < 2; ++h) {
    const int64_t n = tile * 16 + g + 8 * h;
    if (n >= a.n) continue;
    const float scale = a.scales[param + h];
    const int zero = a.zeros[param + h];
    // Value i of the word sits at nibble (i % 2) * 4 + i / 2; (i / 2) % 2 is
    // the column half, i / 4 the pair, i % 2 the element of the pair.
    float v[4];
    for (int j = 0; j < 4; ++j) {
      const int i = 4 * (j / 2) + 2 * h + j % 2;
      const int code = (word >> (4 * ((i % 2) * 4 + i / 2))) & 0xF;
      v[j] = static_cast<float>(code - zero) * scale;
    }
    uint2 out;
    out.x = Bf16Pair(v[0], v[1]);
    out.y = Bf16Pair(v[2], v[3]);
    *reinterpret_cast<uint2*>(w + n * a.k + k0) = out;
  }
}

// i8: lane l of block (tile, chunk) holds 16 consecutive k of column
// 8 tile + l / 4, starting at 64 chunk + 16 (l % 4); one thread per lane.
__global__ void DequantizeI8Kernel(const GemmArgs a, __nv_bfloat16* w) {
  const int64_t id = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t blocks = int64_t{a.n_pad / 8} * a.chunks;
  if (id >= blocks * 32) return;
  const int lane = static_cast<int>(id % 32);
  const int64_t block = id / 32, tile = block / a.chunks, c = block % a.chunks;
  const int64_t n = tile * 8 + lane / 4, k0 = c * kChunkK(8) + 16 * (lane % 4);
  if (n >= a.n || k0 >= a.k) return;  // K is a multiple of 8: 8 or 16 values remain
  const uint4 codes = reinterpret_cast<const uint4*>(a.packed)[block * 32 + lane];
  const uint32_t words[4] = {codes.x, codes.y, codes.z, codes.w};
  const float scale = a.scales[n];
  for (int half = 0; half < 2 && k0 + 8 * half < a.k; ++half) {
    uint32_t pairs[4];
    for (int p = 0; p < 4; ++p) {
      const uint32_t word = words[2 * half + p / 2];
      const int shift = 16 * (p % 2);
      pairs[p] = Bf16Pair(static_cast<float>(static_cast<int8_t>(word >> shift)) * scale,
                          static_cast<float>(static_cast<int8_t>(word >> (shift + 8))) * scale);
    }
    *reinterpret_cast<uint4*>(w + n * a.k + k0 + 8 * half) =
        make_uint4(pairs[0], pairs[1], pairs[2], pairs[3]);
  }
}

}  // namespace

Status DequantizePackedToBf16(const GemmArgs& args, int bits, int group_size, void* w,
                              cudaStream_t stream) {
  constexpr int kThreads = 256;
  const int64_t threads = bits == 4 ? int64_t{args.n_pad / 16} * args.chunks * 256
                                    : int64_t{args.n_pad / 8} * args.chunks * 32;
  const dim3 grid(static_cast<unsigned>((threads + kThreads - 1) / kThreads));
  if (bits == 4)
    DequantizeU4Kernel<<<grid, kThreads, 0, stream>>>(args, group_size,
                                                      static_cast<__nv_bfloat16*>(w));
  else
    DequantizeI8Kernel<<<grid, kThreads, 0, stream>>>(args, static_cast<__nv_bfloat16*>(w));
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("DequantizePackedToBf16");
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
