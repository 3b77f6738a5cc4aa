// The i8 weight-only GEMM kernel (weight_only_gemm_launch.h has the packed
// layout and weight_only_gemm.h what it computes; u4 has its own kernel,
// weight_only_gemv_u4.cuh). One block of 8 warps owns
// 16 x kMBlocks rows and 8 x kNTiles columns of y; its warps split K into 8
// slices, each warp streaming the packed blocks of all the block's column tiles
// over its slice with kStages - 1 chunks of loads in flight; the slices' f32
// sums meet in shared memory, where the epilogue (int8 column scale, bias,
// GELU, bf16 rounding) runs.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "octet/cuda/cuda_status.h"
#include "weight_only_gemm_launch.h"

namespace octet::cuda::weight_only {

constexpr int kWarps = 8;

template <int kBits, int kGroup, int kMBlocks, int kNTiles, int kStages, int kRowHalves>
struct Traits {
  // The u4 branches below read the old u4 layout: u4 now runs
  // weight_only_gemv_u4.cuh, whose packed layout differs.
  static_assert(kBits == 8, "u4 runs GemvU4Kernel (weight_only_gemv_u4.cuh)");
  static constexpr int kChunk = kChunkK(kBits);
  static constexpr int kSteps = kChunk / 16;  // mma k-steps per chunk
  // The run of K a lane holds per group (u4: the group; i8: 64, which only
  // shapes the permutation: its scale is per column).
  static constexpr int kRunGroup = kBits == 4 ? kGroup : 64;
  static constexpr int kGroupsPerChunk = kChunk / kRunGroup;
  static constexpr int kStepsPerGroup = kRunGroup / 16;
  static constexpr int kLoadsPerGroup = kRunGroup / 32;  // 16-byte loads of x per row
  static constexpr int kXLoads = kChunk / 32;            // per row and chunk
  // Rows per block tile: kRowHalves 1 keeps only rows g of one 16-row mma
  // block (the other half of the A fragment is zero), for m <= 8.
  static constexpr int kTileRows = kRowHalves == 1 ? 8 : 16 * kMBlocks;
  static constexpr bool kPrefetchX = kRowHalves == 1;
  static_assert(kRowHalves == 2 || kMBlocks == 1, "half rows need one mma row block");
  static_assert(kGroupsPerChunk >= 1 && kChunk % kRunGroup == 0, "group must divide the chunk");
};

__device__ __forceinline__ uint4 LoadStreaming(const uint4* p) {
  // Read once: keep it out of L1, where x lives.
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ uint32_t Word(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;  // i is a constant after unrolling
}

__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// u4: pair p of a word as bf16x2 (v_2p, v_2p+1) minus the zero point, exact:
// (128 + q) - (128 + zp), both exact in bf16, difference in [-15, 15].
__device__ __forceinline__ uint32_t DequantU4Pair(uint32_t word, int p, uint32_t zero_bias) {
  const uint32_t biased = ((word >> (4 * p)) & 0x000F000Fu) | 0x43004300u;
  __nv_bfloat162 v = __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&biased),
                             *reinterpret_cast<const __nv_bfloat162*>(&zero_bias));
  return *reinterpret_cast<uint32_t*>(&v);
}

// i8: bytes (2h, 2h+1) of a word as bf16x2, exact (|q| <= 128 has 8
// significant bits): 2^23 + (q + 128) built as a float, minus 2^23 + 128.
__device__ __forceinline__ uint32_t DequantI8Pair(uint32_t word, int h) {
  const uint32_t u = word ^ 0x80808080u;
  const float lo = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7650 + 2 * h)) - 8388736.f;
  const float hi = __uint_as_float(__byte_perm(u, 0x4B000000u, 0x7651 + 2 * h)) - 8388736.f;
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&v);
}

// x rows g (and g + 8) of each 16-row block: the lane's runs of chunk c.
template <typename T, int kMBlocks, int kRowHalves>
__device__ __forceinline__ void LoadX(uint4 (&xa)[kMBlocks][kRowHalves][T::kXLoads], const uint4* x,
                                      int x_pitch, int m, int k, int row0, int c, int g, int t) {
#pragma unroll
  for (int mb = 0; mb < kMBlocks; ++mb)
#pragma unroll
    for (int hr = 0; hr < kRowHalves; ++hr) {
      const int row = row0 + 16 * mb + g + 8 * hr;
#pragma unroll
      for (int l = 0; l < T::kXLoads; ++l) {
        const int kk = c * T::kChunk + T::kRunGroup * (l / T::kLoadsPerGroup) +
                       (T::kRunGroup / 4) * t + 8 * (l % T::kLoadsPerGroup);
        xa[mb][hr][l] = (row < m && kk < k) ? __ldg(x + static_cast<size_t>(row) * x_pitch + kk / 8)
                                            : make_uint4(0, 0, 0, 0);
      }
    }
}

template <int kBits, int kGroup, int kMBlocks, int kNTiles, int kStages, int kRowHalves>
__global__ void __launch_bounds__(kWarps * 32) WeightOnlyGemmKernel(const GemmArgs p) {
  using T = Traits<kBits, kGroup, kMBlocks, kNTiles, kStages, kRowHalves>;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tile0 = blockIdx.x * kNTiles;
  const int row0 = blockIdx.y * T::kTileRows;
  const int c_begin = warp * p.chunks / kWarps, c_end = (warp + 1) * p.chunks / kWarps;
  const uint4* packed = static_cast<const uint4*>(p.packed);
  const uint4* x = static_cast<const uint4*>(p.x);  // 8 bf16 per element
  const int x_pitch = p.k / 8;                      // in uint4; K % 8 == 0

  float acc[kMBlocks][kNTiles][4] = {};
  uint4 ring[kStages][kNTiles];

#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) {
    const int c = c_begin + st;
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt)
      if (c < c_end)
        ring[st][nt] =
            LoadStreaming(packed + (static_cast<size_t>(tile0 + nt) * p.chunks + c) * 32 + lane);
  }

  uint4 xa_next[kMBlocks][kRowHalves][T::kXLoads];
  if (T::kPrefetchX && c_begin < c_end)
    LoadX<T, kMBlocks, kRowHalves>(xa_next, x, x_pitch, p.m, p.k, row0, c_begin, g, t);

  for (int c0 = c_begin; c0 < c_end; c0 += kStages) {
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      const int c = c0 + st;
      if (c >= c_end) break;  // warp-uniform
      {
        const int c_next = c + kStages - 1;
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt)
          if (c_next < c_end)
            ring[(st + kStages - 1) % kStages][nt] = LoadStreaming(
                packed + (static_cast<size_t>(tile0 + nt) * p.chunks + c_next) * 32 + lane);
      }
      // x of this chunk: loaded one chunk ahead where registers allow (half
      // rows), else now (the other warps hide the latency).
      uint4 xa[kMBlocks][kRowHalves][T::kXLoads];
      if constexpr (T::kPrefetchX) {
#pragma unroll
        for (int mb = 0; mb < kMBlocks; ++mb)
#pragma unroll
          for (int hr = 0; hr < kRowHalves; ++hr)
#pragma unroll
            for (int l = 0; l < T::kXLoads; ++l) xa[mb][hr][l] = xa_next[mb][hr][l];
        if (c + 1 < c_end)
          LoadX<T, kMBlocks, kRowHalves>(xa_next, x, x_pitch, p.m, p.k, row0, c + 1, g, t);
      } else {
        LoadX<T, kMBlocks, kRowHalves>(xa, x, x_pitch, p.m, p.k, row0, c, g, t);
      }
      // u4: this chunk's group scales (columns 2t, 2t+1 of the accumulator
      // fragment) and zero points (column g of the weight fragment).
      float2 scale[T::kGroupsPerChunk][kNTiles];
      uint32_t zero_bias[T::kGroupsPerChunk][kNTiles];
      if constexpr (kBits == 4) {
#pragma unroll
        for (int gi = 0; gi < T::kGroupsPerChunk; ++gi)
#pragma unroll
          for (int nt = 0; nt < kNTiles; ++nt) {
            const size_t row = static_cast<size_t>(c * T::kGroupsPerChunk + gi) * p.n_pad;
            const int col = (tile0 + nt) * 8;
            scale[gi][nt] = __ldg(reinterpret_cast<const float2*>(p.scales + row + col + 2 * t));
            zero_bias[gi][nt] = 0x43004300u | (0x00010001u * __ldg(p.zeros + row + col + g));
          }
      }
      float part[kMBlocks][kNTiles][4];
#pragma unroll
      for (int s = 0; s < T::kSteps; ++s) {
        const int l = s / 2, h = s % 2, gi = s / T::kStepsPerGroup;
        if constexpr (kBits == 4) {
          if (s % T::kStepsPerGroup == 0) {
#pragma unroll
            for (int mb = 0; mb < kMBlocks; ++mb)
#pragma unroll
              for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
                for (int r = 0; r < 4; ++r) part[mb][nt][r] = 0.f;
          }
        }
        uint32_t a[kMBlocks][4];
#pragma unroll
        for (int mb = 0; mb < kMBlocks; ++mb) {
          a[mb][0] = Word(xa[mb][0][l], 2 * h);
          a[mb][1] = kRowHalves == 2 ? Word(xa[mb][kRowHalves - 1][l], 2 * h) : 0u;
          a[mb][2] = Word(xa[mb][0][l], 2 * h + 1);
          a[mb][3] = kRowHalves == 2 ? Word(xa[mb][kRowHalves - 1][l], 2 * h + 1) : 0u;
        }
#pragma unroll
        for (int nt = 0; nt < kNTiles; ++nt) {
          uint32_t b0, b1;
          if constexpr (kBits == 4) {
            const uint32_t word = Word(ring[st][nt], l);
            b0 = DequantU4Pair(word, 2 * h, zero_bias[gi][nt]);
            b1 = DequantU4Pair(word, 2 * h + 1, zero_bias[gi][nt]);
          } else {
            const uint32_t word = Word(ring[st][nt], s);
            b0 = DequantI8Pair(word, 0);
            b1 = DequantI8Pair(word, 1);
          }
#pragma unroll
          for (int mb = 0; mb < kMBlocks; ++mb) {
            if constexpr (kBits == 4)
              Mma(part[mb][nt], a[mb], b0, b1);
            else
              Mma(acc[mb][nt], a[mb], b0, b1);
          }
        }
        if constexpr (kBits == 4) {
          if (s % T::kStepsPerGroup == T::kStepsPerGroup - 1) {
#pragma unroll
            for (int mb = 0; mb < kMBlocks; ++mb)
#pragma unroll
              for (int nt = 0; nt < kNTiles; ++nt) {
                acc[mb][nt][0] = fmaf(part[mb][nt][0], scale[gi][nt].x, acc[mb][nt][0]);
                acc[mb][nt][1] = fmaf(part[mb][nt][1], scale[gi][nt].y, acc[mb][nt][1]);
                acc[mb][nt][2] = fmaf(part[mb][nt][2], scale[gi][nt].x, acc[mb][nt][2]);
                acc[mb][nt][3] = fmaf(part[mb][nt][3], scale[gi][nt].y, acc[mb][nt][3]);
              }
          }
        }
      }
    }
  }

  // Sum the warps' K slices. [warp][fragment register][lane]: a warp's 32
  // stores of one register hit 32 banks.
  constexpr int kRegs = kMBlocks * kNTiles * 4;
  __shared__ float partial[kWarps][kRegs][32];
#pragma unroll
  for (int mb = 0; mb < kMBlocks; ++mb)
#pragma unroll
    for (int nt = 0; nt < kNTiles; ++nt)
#pragma unroll
      for (int r = 0; r < 4; ++r) partial[warp][(mb * kNTiles + nt) * 4 + r][lane] = acc[mb][nt][r];
  __syncthreads();
  __nv_bfloat16* y = static_cast<__nv_bfloat16*>(p.y);
  for (int e = threadIdx.x; e < kRegs * 32; e += kWarps * 32) {
    const int reg = e / 32, ln = e % 32;
    float v = 0.f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v += partial[w][reg][ln];
    const int mb = reg / (kNTiles * 4), nt = (reg / 4) % kNTiles, r = reg % 4;
    if (kRowHalves == 1 && r >= 2) continue;  // rows g + 8: not this tile's
    const int row = row0 + 16 * mb + ln / 4 + 8 * (r / 2);
    const int col = (tile0 + nt) * 8 + 2 * (ln % 4) + (r % 2);
    if (row >= p.m || col >= p.n) continue;
    if constexpr (kBits == 8) v *= __ldg(p.scales + col);
    if (p.bias != nullptr) v += __ldg(p.bias + col);
    if (p.gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    y[static_cast<size_t>(row) * p.n + col] = __float2bfloat16_rn(v);
  }
}

template <int kBits, int kGroup, int kMBlocks, int kNTiles, int kStages, int kRowHalves>
Status Launch(const GemmArgs& args, cudaStream_t stream) {
  using T = Traits<kBits, kGroup, kMBlocks, kNTiles, kStages, kRowHalves>;
  const dim3 grid(args.n_pad / (8 * kNTiles), (args.m + T::kTileRows - 1) / T::kTileRows);
  WeightOnlyGemmKernel<kBits, kGroup, kMBlocks, kNTiles, kStages, kRowHalves>
      <<<grid, kWarps * 32, 0, stream>>>(args);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("WeightOnlyGemmKernel");
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
