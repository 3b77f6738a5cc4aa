// The u4 (int4-weight-only) weight-only GEMM kernel. weight_only_gemm_launch.h
// has the packed u4 layout it reads. The dequantized weights are the mma's A
// operand (16 columns of W x 16 values of K per m16n8k16) and x the B
// operand (8 rows of x per mma), so y^T = W^T x^T: an mma covers 16 columns,
// and at m <= 8 half of it is useful (against 1/16 with x as A).
//
// A block of kWarps warps owns 8 kNB rows of y and kColWarps x kTiles
// 16-column tiles: kColWarps warps side by side along N, each with kTiles
// tiles, and kKWarps = kWarps / kColWarps warps along K. Warps side by side
// read the same x at about the same time, so all but one find it in L1: x
// comes from L2 once per 16 kTiles kColWarps columns (at m = 16, x is 4 KB per
// chunk against 1 KB of codes per tile). A cluster of gridDim.z blocks (the
// split, chosen by the launcher) shares the columns and splits K further, so
// that small N still fills the GPU. Each warp streams its K slice chunk by
// chunk with everything a chunk needs (codes, its groups' scales and zero
// points, x) loaded kStages - 1 (x: kXStages - 1) chunks ahead, so no load sits
// on the per-chunk chain; or, with kXStages = 0, x for the warp's whole slice
// copied into shared memory once (cp.async) before its first chunk and read
// from there at use, which frees the x ring's registers (48 at m <= 8 and 3
// stages) for more resident blocks or weight stages. The slices' f32 sums
// meet in shared memory (across the cluster through distributed shared
// memory), where the epilogue (bias, GELU, bf16 rounding) runs, spread over
// the cluster's blocks. Launched with programmatic dependent launch when asked
// (WeightOnlyGemm asks where it helps, GemvProgrammaticLaunchHelps): the
// weights are constant, so their first loads are issued before waiting for
// the previous kernel (which writes x or reads y).
#pragma once

#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <cstdint>
#include <mutex>
#include <unordered_map>

#include "octet/cuda/cuda_status.h"
#include "weight_only_gemm_launch.h"

namespace octet::cuda::weight_only {

template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, int kColWarps>
struct GemvTraits {
  static constexpr int kRun = kGroup / 4;          // K values a lane holds per group
  static constexpr int kGpc = kChunkU4 / kGroup;   // groups per chunk
  static constexpr int kStepsPerGroup = kRun / 4;  // mma k-steps per group
  static constexpr int kLoadsPerGroup = kRun / 8;  // 16-byte x loads per row and group
  static constexpr int kXLoads = kChunkU4 / 32;    // per row and chunk (4)
  static constexpr int kRows = 8 * kNB;            // rows of y per block
  static constexpr int kKWarps = kWarps / kColWarps;
  static constexpr int kCols = 16 * kTiles * kColWarps;  // columns of y per block
  // kXStages == 0: x staged in shared memory for the block's whole K range.
  static constexpr bool kXShared = kXStages == 0;
  static_assert(kStages >= 2 && kXStages >= 0 && kStages % (kXShared ? 1 : kXStages) == 0,
                "the x ring must divide the weight ring");
  static_assert(kWarps % kColWarps == 0, "warps side by side must divide the warps");
  static_assert(!kXShared || kColWarps == 1, "shared x: each K slice filled by its one warp");
  // n_pad is a multiple of 32 (kNPad): a warp's 1 or 2 tiles are all inside
  // n_pad or all outside (the last block's columns may pass n_pad).
  static_assert(kTiles == 1 || kTiles == 2, "a warp's tiles must not straddle n_pad");
};

__device__ __forceinline__ uint4 LoadStreaming16(const void* p) {
  // Read once: keep it out of L1, where x lives.
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ uint32_t WordOf(const uint4& v, int i) {
  return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w;  // i is a constant after unrolling
}

__device__ __forceinline__ void MmaBf16(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2,
                                        uint32_t a3, uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Pair p of a word as bf16x2 minus the zero point, exact: (128 + q) -
// (128 + zp), both exact in bf16, the difference in [-15, 15].
__device__ __forceinline__ uint32_t U4Pair(uint32_t word, int p, uint32_t zero_bias) {
  const uint32_t biased = ((word >> (4 * p)) & 0x000F000Fu) | 0x43004300u;
  __nv_bfloat162 v = __hsub2(*reinterpret_cast<const __nv_bfloat162*>(&biased),
                             *reinterpret_cast<const __nv_bfloat162*>(&zero_bias));
  return *reinterpret_cast<uint32_t*>(&v);
}

// The chunk's group parameters for a lane: scales (column g, column g + 8)
// and zero points (byte 0: column g, byte 1: column g + 8), per group.
template <int kGpc>
struct GroupParams {
  float2 scale[kGpc];
  uint32_t zeros[(kGpc + 1) / 2];  // 16 bits per group
};

template <int kGpc>
__device__ __forceinline__ void LoadParams(GroupParams<kGpc>& gp, const float2* scales,
                                           const uint16_t* zeros) {
  if constexpr (kGpc == 1) {
    gp.scale[0] = __ldg(scales);
    gp.zeros[0] = __ldg(zeros);
  } else if constexpr (kGpc == 2) {
    const float4 s = __ldg(reinterpret_cast<const float4*>(scales));
    gp.scale[0] = make_float2(s.x, s.y);
    gp.scale[1] = make_float2(s.z, s.w);
    gp.zeros[0] = __ldg(reinterpret_cast<const uint32_t*>(zeros));
  } else {
    static_assert(kGpc == 4, "groups of 32, 64 or 128");
    const float4 s0 = __ldg(reinterpret_cast<const float4*>(scales));
    const float4 s1 = __ldg(reinterpret_cast<const float4*>(scales) + 1);
    gp.scale[0] = make_float2(s0.x, s0.y);
    gp.scale[1] = make_float2(s0.z, s0.w);
    gp.scale[2] = make_float2(s1.x, s1.y);
    gp.scale[3] = make_float2(s1.z, s1.w);
    const uint2 z = __ldg(reinterpret_cast<const uint2*>(zeros));
    gp.zeros[0] = z.x;
    gp.zeros[1] = z.y;
  }
}

template <typename T>
__device__ __forceinline__ void LoadXChunk(uint4 (&xa)[T::kRows / 8][T::kXLoads], const uint4* x,
                                           int x_pitch, int m, int k, int row0, int c, int g,
                                           int t) {
#pragma unroll
  for (int nb = 0; nb < T::kRows / 8; ++nb) {
    const int row = row0 + 8 * nb + g;
#pragma unroll
    for (int l = 0; l < T::kXLoads; ++l) {
      const int kk = c * kChunkU4 + T::kRun * 4 * (l / T::kLoadsPerGroup) + T::kRun * t +
                     8 * (l % T::kLoadsPerGroup);
      xa[nb][l] = (row < m && kk < k) ? __ldg(x + static_cast<size_t>(row) * x_pitch + kk / 8)
                                      : make_uint4(0, 0, 0, 0);
    }
  }
}

// Shared-memory x (kXStages == 0): the block's rows of x for its whole K range,
// [row][16-byte unit], each row's units permuted within 128-byte lines so that
// the 8 lanes of a 16-byte shared load phase (lanes 4 g + t, g = 2 i, 2 i + 1)
// hit distinct banks: t picks the unit, and the group size decides which unit
// bits t leaves alike (group 128: bit 3, from t's high bit; all groups: the
// row, from g's low bit); those go into the unit bits t leaves free.
template <int kGroup>
__device__ __forceinline__ int XSwizzle(int unit, int row) {
  if constexpr (kGroup == 128) return unit ^ (((unit >> 3) & 1) | ((row & 1) << 1));
  if constexpr (kGroup == 64) return unit ^ (row & 1);
  return unit ^ ((row & 1) << 2);
}

// A warp's part of the block's shared x: `rows` rows from row0, relative
// units [unit_begin, unit_end) of each (16-byte units of K from absolute unit
// unit0), zero beyond K; all in flight at once (cp.async), then waited for.
// Each warp along K reads only its own slice, so no block barrier is needed.
template <int kGroup>
__device__ __forceinline__ void FillSharedXSlice(uint4* xs, const uint4* x, int x_pitch, int k,
                                                 int row0, int rows, int units_per_row, int unit0,
                                                 int unit_begin, int unit_end, int lane) {
  const int per_row = unit_end - unit_begin, units = rows * per_row;
  for (int i = lane; i < units; i += 32) {
    const int r = i / per_row, u = unit_begin + i - r * per_row;
    const bool inside = 8 * (unit0 + u) < k;
    const uint4* src = inside ? x + static_cast<size_t>(row0 + r) * x_pitch + unit0 + u : x;
    const uint32_t dst = static_cast<uint32_t>(
        __cvta_generic_to_shared(xs + r * units_per_row + XSwizzle<kGroup>(u, r)));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src),
                 "r"(inside ? 16 : 0)
                 : "memory");
  }
  asm volatile("cp.async.wait_all;" ::: "memory");
  __syncwarp();
}

// A lane's x for chunk c_rel of the block's shared x, as LoadXChunk reads it
// from global memory. Rows past the block's last row read that row instead:
// their outputs are never stored, and each output of the mma is its own sum.
template <typename T, int kGroup>
__device__ __forceinline__ void LoadXChunkShared(uint4 (&xa)[T::kRows / 8][T::kXLoads],
                                                 const uint4* xs, int units_per_row, int rows,
                                                 int c_rel, int g, int t) {
#pragma unroll
  for (int nb = 0; nb < T::kRows / 8; ++nb) {
    const int r = min(8 * nb + g, rows - 1);
#pragma unroll
    for (int l = 0; l < T::kXLoads; ++l) {
      const int u =
          c_rel * (kChunkU4 / 8) +
          (T::kRun * 4 * (l / T::kLoadsPerGroup) + T::kRun * t + 8 * (l % T::kLoadsPerGroup)) / 8;
      xa[nb][l] = xs[r * units_per_row + XSwizzle<kGroup>(u, r)];
    }
  }
}

// kCluster: the launch may split K over a cluster of gridDim.z blocks (else
// gridDim.z is 1 and the kernel is the plain one, no cluster code).
template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, int kColWarps,
          bool kCluster>
__global__ void __launch_bounds__(kWarps * 32) GemvU4Kernel(const GemmArgs p) {
  using T = GemvTraits<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps>;
  constexpr int kGpc = T::kGpc;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int cw = warp % kColWarps, kw = warp / kColWarps;
  const int tile0 = (blockIdx.x * kColWarps + cw) * kTiles;
  const int row0 = blockIdx.y * T::kRows;
  // K slices: the cluster's blocks (blockIdx.z of gridDim.z), then the warps.
  const int split = kCluster ? static_cast<int>(gridDim.z) : 1;
  const int rank = kCluster ? static_cast<int>(blockIdx.z) : 0;
  const int slices = split * T::kKWarps, slice = rank * T::kKWarps + kw;
  // Blocks wider than n_pad's 32-column multiple may pass it with a warp.
  const bool has_tiles = T::kCols <= kNPad || tile0 < p.n_pad / 16;
  const int c_begin = slice * p.chunks / slices;
  const int c_end = has_tiles ? (slice + 1) * p.chunks / slices : c_begin;
  const uint4* codes = static_cast<const uint4*>(p.packed);
  const float2* scales = reinterpret_cast<const float2*>(p.scales);
  const uint16_t* zeros = reinterpret_cast<const uint16_t*>(p.zeros);
  const uint4* x = static_cast<const uint4*>(p.x);  // 8 bf16 per element
  const int x_pitch = p.k / 8;                      // in uint4; K % 8 == 0

  // Let the next kernel in the stream start its own weight loads.
  asm volatile("griddepcontrol.launch_dependents;");

  uint4 ring[kStages][kTiles][2];
  GroupParams<kGpc> params[kStages][kTiles];
  uint4 xr[T::kXShared ? 1 : kXStages][kNB][T::kXLoads];
  // Shared x: the block's chunks are its K warps' slices, back to back.
  extern __shared__ uint4 x_shared[];
  const int block_c_begin = rank * T::kKWarps * p.chunks / slices;
  const int x_units_per_row =
      ((rank + 1) * T::kKWarps * p.chunks / slices - block_c_begin) * (kChunkU4 / 8);
  const int x_rows = min(T::kRows, p.m - row0);

  auto load_weights = [&](int slot_c, uint4(&w)[kTiles][2], GroupParams<kGpc>(&gp)[kTiles]) {
#pragma unroll
    for (int tl = 0; tl < kTiles; ++tl) {
      const size_t block = static_cast<size_t>(tile0 + tl) * p.chunks + slot_c;
      w[tl][0] = LoadStreaming16(codes + block * 64 + lane);
      w[tl][1] = LoadStreaming16(codes + block * 64 + 32 + lane);
      LoadParams<kGpc>(gp[tl], scales + (block * 8 + g) * kGpc, zeros + (block * 8 + g) * kGpc);
    }
  };

#pragma unroll
  for (int st = 0; st < kStages - 1; ++st)
    if (c_begin + st < c_end) load_weights(c_begin + st, ring[st], params[st]);

  // x is the previous kernel's output: wait for it (a no-op without PDL).
  asm volatile("griddepcontrol.wait;" ::: "memory");

  if constexpr (T::kXShared) {
    FillSharedXSlice<kGroup>(
        x_shared, x, x_pitch, p.k, row0, x_rows, x_units_per_row, block_c_begin * (kChunkU4 / 8),
        (c_begin - block_c_begin) * (kChunkU4 / 8), (c_end - block_c_begin) * (kChunkU4 / 8), lane);
  } else {
#pragma unroll
    for (int st = 0; st < kXStages - 1; ++st)
      if (c_begin + st < c_end)
        LoadXChunk<T>(xr[st], x, x_pitch, p.m, p.k, row0, c_begin + st, g, t);
  }

  float acc[kTiles][kNB][4] = {};
  for (int c0 = c_begin; c0 < c_end; c0 += kStages) {
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      const int c = c0 + st;
      if (c >= c_end) break;  // warp-uniform
      if (c + kStages - 1 < c_end)
        load_weights(c + kStages - 1, ring[(st + kStages - 1) % kStages],
                     params[(st + kStages - 1) % kStages]);
      const int xs = st % (T::kXShared ? 1 : kXStages);
      if constexpr (T::kXShared) {
        LoadXChunkShared<T, kGroup>(xr[0], x_shared, x_units_per_row, x_rows, c - block_c_begin, g,
                                    t);
      } else if (c + kXStages - 1 < c_end) {
        LoadXChunk<T>(xr[(st + kXStages - 1) % kXStages], x, x_pitch, p.m, p.k, row0,
                      c + kXStages - 1, g, t);
      }
#pragma unroll
      for (int tl = 0; tl < kTiles; ++tl) {
#pragma unroll
        for (int gi = 0; gi < kGpc; ++gi) {
          const uint32_t zp = params[st][tl].zeros[gi / 2] >> (16 * (gi % 2));
          const uint32_t zb_lo = 0x43004300u | __byte_perm(zp, 0, 0x4040);
          const uint32_t zb_hi = 0x43004300u | __byte_perm(zp, 0, 0x4141);
          float part[kNB][4] = {};
#pragma unroll
          for (int ss = 0; ss < T::kStepsPerGroup; ++ss) {
            const int s = gi * T::kStepsPerGroup + ss;
            const uint32_t word = WordOf(ring[st][tl][s / 4], s % 4);
            const uint32_t a0 = U4Pair(word, 0, zb_lo), a1 = U4Pair(word, 1, zb_hi);
            const uint32_t a2 = U4Pair(word, 2, zb_lo), a3 = U4Pair(word, 3, zb_hi);
#pragma unroll
            for (int nb = 0; nb < kNB; ++nb)
              MmaBf16(part[nb], a0, a1, a2, a3, WordOf(xr[xs][nb][s / 2], 2 * (s % 2)),
                      WordOf(xr[xs][nb][s / 2], 2 * (s % 2) + 1));
          }
          const float2 sc = params[st][tl].scale[gi];
#pragma unroll
          for (int nb = 0; nb < kNB; ++nb) {
            acc[tl][nb][0] = fmaf(part[nb][0], sc.x, acc[tl][nb][0]);
            acc[tl][nb][1] = fmaf(part[nb][1], sc.x, acc[tl][nb][1]);
            acc[tl][nb][2] = fmaf(part[nb][2], sc.y, acc[tl][nb][2]);
            acc[tl][nb][3] = fmaf(part[nb][3], sc.y, acc[tl][nb][3]);
          }
        }
      }
    }
  }

  // Sum the K slices: [K warp][column warp][fragment register][lane] per block,
  // a warp's 32 stores of one register hitting 32 banks; a split's blocks read
  // each other's through distributed shared memory.
  constexpr int kRegs = kTiles * kNB * 4;
  __shared__ float partial[T::kKWarps][kColWarps][kRegs][32];
#pragma unroll
  for (int tl = 0; tl < kTiles; ++tl)
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
      for (int r = 0; r < 4; ++r) partial[kw][cw][(tl * kNB + nb) * 4 + r][lane] = acc[tl][nb][r];
  namespace cg = cooperative_groups;
  if constexpr (kCluster) {
    cg::this_cluster().sync();
  } else {
    __syncthreads();
  }
  __nv_bfloat16* y = static_cast<__nv_bfloat16*>(p.y);
  constexpr int kOutputs = kColWarps * kRegs * 32;
  // Outputs are dealt out over the split's blocks.
  for (int e = rank * kWarps * 32 + threadIdx.x; e < kOutputs; e += split * kWarps * 32) {
    const int ln = e % 32, reg = (e / 32) % kRegs, ocw = e / (32 * kRegs);
    const int tl = reg / (kNB * 4), nb = (reg / 4) % kNB, r = reg % 4;
    // Accumulator (16 columns x 8 rows): lane 4 g + t holds column g (r < 2) or
    // g + 8, rows 2 t + r % 2.
    const int row = row0 + 8 * nb + 2 * (ln % 4) + (r % 2);
    const int col = ((blockIdx.x * kColWarps + ocw) * kTiles + tl) * 16 + ln / 4 + 8 * (r / 2);
    if (row >= p.m || col >= p.n) continue;
    float v = 0.f;
    for (int from = 0; from < split; ++from) {
      const float* src = &partial[0][ocw][reg][ln];
      if constexpr (kCluster) src = cg::this_cluster().map_shared_rank(src, from);
#pragma unroll
      for (int w = 0; w < T::kKWarps; ++w) v += src[w * kColWarps * kRegs * 32];
    }
    if (p.bias != nullptr) v += __ldg(p.bias + col);
    if (p.gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    y[static_cast<size_t>(row) * p.n + col] = __float2bfloat16_rn(v);
  }
  // Keep this block's shared memory until the cluster has read it.
  if constexpr (kCluster) cg::this_cluster().sync();
}

inline int MultiprocessorCount() {
  static const int count = [] {
    int device = 0, sms = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      return 132;
    return sms;
  }();
  return count;
}

// The largest of 4 and 2 blocks per cluster with which `blocks` (per split)
// all fit in the GPU's `slots` at once and each of the split's warps gets a
// chunk; else 1.
inline int AutoSplit(int64_t blocks, int64_t slots, int chunks, int k_warps) {
  for (int s : {4, 2})
    if (blocks * s <= slots && chunks >= s * k_warps) return s;
  return 1;
}

// Bytes of shared x a block needs (kXStages == 0): its rows of x (at most m)
// over the largest K range a block of the split gets.
template <typename T>
size_t GemvSharedXBytes(const GemmArgs& args, int split) {
  const int64_t rows = args.m < T::kRows ? args.m : T::kRows;
  return static_cast<size_t>(rows * ((args.chunks + split - 1) / split) * kChunkU4 * 2);
}

// Lets `kernel` take as much dynamic shared memory as the GPU gives a block
// beside its static shared memory; returns that many bytes (0 on failure).
template <typename Kernel>
int AllowLargeDynamicSmem(Kernel kernel) {
  int device = 0, optin = 0;
  cudaFuncAttributes attributes = {};
  if (cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
          cudaSuccess ||
      cudaFuncGetAttributes(&attributes, kernel) != cudaSuccess)
    return 0;
  const int bytes = optin - static_cast<int>(attributes.sharedSizeBytes);
  if (cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) !=
      cudaSuccess)
    return 0;
  return bytes;
}

// The dynamic shared memory `kernel` may take (x staged in shared memory),
// raised once from the default 48 KB to what the GPU gives a block.
template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, int kColWarps,
          bool kCluster>
int SharedXLimit() {
  static const int bytes = AllowLargeDynamicSmem(
      GemvU4Kernel<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>);
  return bytes;
}

// Blocks of this shape one SM holds at once for these arguments (registers,
// shared memory: with x in shared memory, its bytes for m and K at split 1).
template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, int kColWarps,
          bool kCluster>
int ResidentGemvU4Blocks(const GemmArgs& args) {
  using T = GemvTraits<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps>;
  auto resident = [](size_t dynamic_smem) {
    int b = 0;
    if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(
            &b, GemvU4Kernel<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>,
            kWarps * 32, dynamic_smem) != cudaSuccess)
      return 1;
    return b > 0 ? b : 1;
  };
  if constexpr (T::kXShared) {
    const size_t bytes = GemvSharedXBytes<T>(args, 1);
    if (static_cast<int64_t>(bytes) >
        SharedXLimit<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>())
      return 1;
    // Each Run asks (the programmatic-launch rule): remember the answer per
    // byte count rather than query the occupancy calculator every time.
    static std::mutex mutex;
    static std::unordered_map<size_t, int> by_bytes;
    const std::lock_guard<std::mutex> lock(mutex);
    const auto it = by_bytes.find(bytes);
    if (it != by_bytes.end()) return it->second;
    return by_bytes[bytes] = resident(bytes);
  } else {
    static const int blocks = resident(0);
    return blocks;
  }
}

// The blocks of a cluster splitting K: `split` (1, 2 or 4), or for 0 the
// largest of 4 and 2 whose blocks are all resident at once on the GPU and give
// each warp at least one chunk, else 1. A second, partial wave of blocks costs
// more than the split's cross-block sum.
template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, int kColWarps,
          bool kCluster>
int GemvU4Split(const GemmArgs& args, int split) {
  using T = GemvTraits<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps>;
  if (!kCluster) return 1;
  if (split > 0) return split;
  const int64_t blocks =
      int64_t{(args.n_pad + T::kCols - 1) / T::kCols} * ((args.m + T::kRows - 1) / T::kRows);
  const int64_t slots =
      int64_t{
          ResidentGemvU4Blocks<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>(
              args)} *
      MultiprocessorCount();
  return AutoSplit(blocks, slots, args.chunks, T::kKWarps);
}

template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, int kColWarps,
          bool kCluster>
Status LaunchGemvU4(const GemmArgs& args, bool pdl, int split, cudaStream_t stream) {
  using T = GemvTraits<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps>;
  split =
      GemvU4Split<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>(args, split);
  auto* const kernel =
      GemvU4Kernel<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>;
  cudaLaunchConfig_t config = {};
  config.gridDim =
      dim3((args.n_pad + T::kCols - 1) / T::kCols, (args.m + T::kRows - 1) / T::kRows, split);
  config.blockDim = dim3(kWarps * 32);
  config.stream = stream;
  if constexpr (T::kXShared) {
    config.dynamicSmemBytes = GemvSharedXBytes<T>(args, split);
    const int max_bytes =
        SharedXLimit<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kColWarps, kCluster>();
    if (static_cast<int64_t>(config.dynamicSmemBytes) > max_bytes)
      return InvalidArgument("weight-only GEMM: the u4 shape with x in shared memory needs ",
                             config.dynamicSmemBytes, " bytes of it for m = ", args.m,
                             ", K = ", args.k, "; the GPU gives a block ", max_bytes);
  }
  cudaLaunchAttribute attribute[2];
  int attributes = 0;
  if (pdl) {
    attribute[attributes].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[attributes].val.programmaticStreamSerializationAllowed = 1;
    ++attributes;
  }
  if (split > 1) {
    attribute[attributes].id = cudaLaunchAttributeClusterDimension;
    attribute[attributes].val.clusterDim.x = 1;
    attribute[attributes].val.clusterDim.y = 1;
    attribute[attributes].val.clusterDim.z = split;
    ++attributes;
  }
  config.attrs = attribute;
  config.numAttrs = attributes;
  const cudaError_t e = cudaLaunchKernelEx(&config, kernel, args);
  if (e != cudaSuccess)
    return CudaCallStatus(e, "cudaLaunchKernelEx(GemvU4Kernel)", __FILE__, __LINE__);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GemvU4Kernel");
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
