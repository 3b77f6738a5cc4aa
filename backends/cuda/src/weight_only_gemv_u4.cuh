// The u4 (int4-weight-only) weight-only GEMM kernel. weight_only_gemm_launch.h
// has the packed u4 layout it reads. The dequantized weights are the mma's A
// operand (16 columns of W x 16 values of K per m16n8k16) and x the B
// operand (8 rows of x per mma), so y^T = W^T x^T: an mma covers 16 columns,
// and at m <= 8 half of it is useful (against 1/16 with x as A).
//
// One block of kWarps warps owns 16 kTiles columns and 8 kNB rows of y; the
// warps split K, each streaming its slice chunk by chunk with everything a
// chunk needs (codes, its groups' scales and zero points, x) loaded kStages - 1
// (x: kXStages - 1) chunks ahead, so no load sits on the per-chunk chain. The
// slices' f32 sums meet in shared memory, where the epilogue (bias, GELU, bf16
// rounding) runs. Launched with programmatic dependent launch when asked: the
// weights are constant, so their first loads are issued before waiting for
// the previous kernel (which writes x or reads y).
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>

#include "octet/cuda/cuda_status.h"
#include "weight_only_gemm_launch.h"

namespace octet::cuda::weight_only {

template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps>
struct GemvTraits {
  static constexpr int kRun = kGroup / 4;              // K values a lane holds per group
  static constexpr int kGpc = kChunkU4 / kGroup;       // groups per chunk
  static constexpr int kStepsPerGroup = kRun / 4;      // mma k-steps per group
  static constexpr int kLoadsPerGroup = kRun / 8;      // 16-byte x loads per row and group
  static constexpr int kXLoads = kChunkU4 / 32;        // per row and chunk (4)
  static constexpr int kRows = 8 * kNB;                // rows of y per block
  static constexpr int kNBlocks = kNB;
  static_assert(kStages >= 2 && kXStages >= 1 && kStages % kXStages == 0,
                "the x ring must divide the weight ring");
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

// x rows g of each 8-row block: the lane's runs of chunk c (kXSmem false).
template <typename T>
__device__ __forceinline__ void LoadXChunk(uint4 (&xa)[T::kNBlocks][T::kXLoads], const uint4* x,
                                           int x_pitch, int m, int k, int row0, int c, int g,
                                           int t) {
#pragma unroll
  for (int nb = 0; nb < T::kNBlocks; ++nb) {
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

// x staged in shared memory (kXSmem): the block's rows, each row's 16-byte
// units of a chunk stored so that load l of lane t is unit 4 l + t (a warp's
// load of one l reads 64 contiguous bytes per row), rows kXRowPad units apart
// beyond the chunks (64 bytes: the two rows of a quarter warp hit other banks).
constexpr int kXRowPad = 4;

template <typename T>
__device__ __forceinline__ int XSmemPos(int v) {  // chunk-local unit v -> its position
  const int j = v % T::kLoadsPerGroup, q = v / T::kLoadsPerGroup;
  const int t = q % 4, gi = q / 4;
  return 4 * (gi * T::kLoadsPerGroup + j) + t;
}

// Persistent: gridDim.x blocks split the column tile groups (16 kTiles columns)
// into contiguous runs; each block walks its run tile group by tile group, its
// warps each owning the same K slice of every tile group. A warp's loads run
// ahead over the tile-group boundaries (one ring over the whole run), so a
// block pays the memory latency once, not once per tile group. Every warp
// walks lmax = ceil(chunks / kWarps) slots per tile group (its slice has lmax
// or lmax - 1 chunks; a slot past it loads and computes nothing), so the
// per-tile-group reduction barrier is at the same place for all warps.
template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, bool kXSmem,
          bool kKMajor>
__global__ void __launch_bounds__(kWarps * 32)
    GemvU4Kernel(const GemmArgs p) {
  using T = GemvTraits<kGroup, kNB, kTiles, kStages, kXStages, kWarps>;
  constexpr int kGpc = T::kGpc;
  constexpr int kRegs = kTiles * kNB * 4;
  extern __shared__ uint4 smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int row0 = blockIdx.y * T::kRows;
  const int tile_groups = p.n_pad / (16 * kTiles);
  // Round robin: at the same step the blocks read neighbouring tile groups.
  const int tg_begin = blockIdx.x, tg_stride = gridDim.x;
  const int tg_count = (tile_groups - tg_begin + tg_stride - 1) / tg_stride;
  const int tg_end = tg_begin + tg_count * tg_stride;
  const int lmax = (p.chunks + kWarps - 1) / kWarps;
  const int c_begin = warp * p.chunks / kWarps;
  const int len = (warp + 1) * p.chunks / kWarps - c_begin;
  const int items = tg_count * lmax;
  const int tiles_total = p.n_pad / 16;
  const uint4* codes = static_cast<const uint4*>(p.packed);
  const float2* scales = reinterpret_cast<const float2*>(p.scales);
  const uint16_t* zeros = reinterpret_cast<const uint16_t*>(p.zeros);
  const uint4* x = static_cast<const uint4*>(p.x);  // 8 bf16 per element
  const int x_pitch = p.k / 8;                      // in uint4; K % 8 == 0
  const int rows_here = min(T::kRows, p.m - row0);
  const int x_row_units = p.chunks * 16 + kXRowPad;
  // [2 buffers][kWarps][kRegs][32], after x.
  float* partial =
      reinterpret_cast<float*>(smem + (kXSmem ? min(T::kRows, p.m) * x_row_units : 0));

  // Let the next kernel in the stream start its own weight loads.
  asm volatile("griddepcontrol.launch_dependents;");

  uint4 ring[kStages][kTiles][2];
  GroupParams<kGpc> params[kStages][kTiles];

  // Prefetch position: tile group tg_p, slot q_p.
  int tg_p = tg_begin, q_p = 0;
  auto load_next = [&](uint4 (&w)[kTiles][2], GroupParams<kGpc>(&gp)[kTiles]) {
    if (tg_p < tg_end && q_p < len) {
#pragma unroll
      for (int tl = 0; tl < kTiles; ++tl) {
        const int tile = tg_p * kTiles + tl, chunk = c_begin + q_p;
        const size_t block = kKMajor ? static_cast<size_t>(chunk) * tiles_total + tile
                                     : static_cast<size_t>(tile) * p.chunks + chunk;
        w[tl][0] = LoadStreaming16(codes + block * 64 + lane);
        w[tl][1] = LoadStreaming16(codes + block * 64 + 32 + lane);
        LoadParams<kGpc>(gp[tl], scales + (block * 8 + g) * kGpc, zeros + (block * 8 + g) * kGpc);
      }
    }
    if (++q_p == lmax) q_p = 0, tg_p += tg_stride;
  };

#pragma unroll
  for (int st = 0; st < kStages - 1; ++st) load_next(ring[st], params[st]);

  // x is the previous kernel's output: wait for it (a no-op without PDL).
  asm volatile("griddepcontrol.wait;" ::: "memory");

  if constexpr (kXSmem) {
    const int units = p.chunks * 16;
    for (int e = threadIdx.x; e < rows_here * units; e += kWarps * 32) {
      const int r = e / units, u = e % units;
      const int kk = u * 8;
      smem[r * x_row_units + (u / 16) * 16 + XSmemPos<T>(u % 16)] =
          kk < p.k ? __ldg(x + static_cast<size_t>(row0 + r) * x_pitch + u) : make_uint4(0, 0, 0, 0);
    }
    __syncthreads();
  }

  uint4 xr[kXSmem ? 1 : kXStages][kNB][T::kXLoads];
  // x prefetch position (register x): the chunk of slot q_x of the current group.
  int q_x = 0;
  auto load_x_next = [&](uint4 (&xa)[kNB][T::kXLoads]) {
    if (q_x < len) LoadXChunk<T>(xa, x, x_pitch, p.m, p.k, row0, c_begin + q_x, g, t);
    if (++q_x == lmax) q_x = 0;
  };
  if constexpr (!kXSmem) {
#pragma unroll
    for (int st = 0; st < kXStages - 1; ++st) load_x_next(xr[st]);
  }

  float acc[kTiles][kNB][4] = {};
  int tg_c = tg_begin, q_c = 0, flushes = 0;
  __nv_bfloat16* y = static_cast<__nv_bfloat16*>(p.y);
  for (int j0 = 0; j0 < items; j0 += kStages) {
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      if (j0 + st >= items) break;  // block-uniform
      load_next(ring[(st + kStages - 1) % kStages], params[(st + kStages - 1) % kStages]);
      const int xs = kXSmem ? 0 : st % kXStages;
      if constexpr (kXSmem) {
        if (q_c < len) {
          const int c = c_begin + q_c;
#pragma unroll
          for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
            for (int l = 0; l < T::kXLoads; ++l)
              xr[0][nb][l] = 8 * nb + g < rows_here
                                 ? smem[(8 * nb + g) * x_row_units + c * 16 + 4 * l + t]
                                 : make_uint4(0, 0, 0, 0);
        }
      } else {
        load_x_next(xr[(st + kXStages - 1) % kXStages]);
      }
      if (q_c < len) {
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
      if (++q_c == lmax) {
        // The tile group is done: sum the warps' K slices and write y. Two
        // buffers: the next group's stores cannot overtake this reduction,
        // which every thread finishes before the next barrier.
        float* buf = partial + (flushes % 2) * (kWarps * kRegs * 32);
#pragma unroll
        for (int tl = 0; tl < kTiles; ++tl)
#pragma unroll
          for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
            for (int r = 0; r < 4; ++r) {
              buf[(warp * kRegs + (tl * kNB + nb) * 4 + r) * 32 + lane] = acc[tl][nb][r];
              acc[tl][nb][r] = 0.f;
            }
        __syncthreads();
        for (int e = threadIdx.x; e < kRegs * 32; e += kWarps * 32) {
          const int reg = e / 32, ln = e % 32;
          const int tl = reg / (kNB * 4), nb = (reg / 4) % kNB, r = reg % 4;
          // Accumulator (16 columns x 8 rows): lane 4 g + t holds column g
          // (r < 2) or g + 8, rows 2 t + r % 2.
          const int row = row0 + 8 * nb + 2 * (ln % 4) + (r % 2);
          const int col = (tg_c * kTiles + tl) * 16 + ln / 4 + 8 * (r / 2);
          if (row >= p.m || col >= p.n) continue;
          float v = 0.f;
#pragma unroll
          for (int w = 0; w < kWarps; ++w) v += buf[(w * kRegs + reg) * 32 + ln];
          if (p.bias != nullptr) v += __ldg(p.bias + col);
          if (p.gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
          y[static_cast<size_t>(row) * p.n + col] = __float2bfloat16_rn(v);
        }
        q_c = 0;
        tg_c += tg_stride;
        ++flushes;
      }
    }
  }
}

// Dynamic shared memory of a launch: x (kXSmem) and the two reduction buffers.
template <int kNB, int kTiles, int kWarps, bool kXSmem>
size_t GemvSmemBytes(const GemmArgs& args) {
  const size_t x_bytes =
      kXSmem ? static_cast<size_t>(std::min(8 * kNB, args.m)) * (args.chunks * 16 + kXRowPad) * 16
             : 0;
  return x_bytes + 2 * sizeof(float) * kWarps * kTiles * kNB * 4 * 32;
}

int MultiprocessorCount();  // of the current device, cached (weight_only_gemm_int4.cu)

template <int kGroup, int kNB, int kTiles, int kStages, int kXStages, int kWarps, bool kXSmem,
          bool kKMajor>
Status LaunchGemvU4(const GemmArgs& args, bool pdl, cudaStream_t stream) {
  using T = GemvTraits<kGroup, kNB, kTiles, kStages, kXStages, kWarps>;
  auto* kernel = GemvU4Kernel<kGroup, kNB, kTiles, kStages, kXStages, kWarps, kXSmem, kKMajor>;
  const size_t smem = GemvSmemBytes<kNB, kTiles, kWarps, kXSmem>(args);
  static const cudaError_t raised =
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, 227 * 1024);
  if (raised != cudaSuccess)
    return CudaCallStatus(raised, "cudaFuncSetAttribute(GemvU4Kernel)", __FILE__, __LINE__);
  int per_sm = 0;
  const cudaError_t occ = cudaOccupancyMaxActiveBlocksPerMultiprocessor(
      &per_sm, kernel, kWarps * 32, smem);
  if (occ != cudaSuccess)
    return CudaCallStatus(occ, "cudaOccupancyMaxActiveBlocksPerMultiprocessor", __FILE__,
                          __LINE__);
  if (per_sm == 0)
    return InvalidArgument("weight-only GEMM: the u4 kernel needs ", smem,
                           " bytes of shared memory, more than a block can have");
  const int row_tiles = (args.m + T::kRows - 1) / T::kRows;
  const int tile_groups = args.n_pad / (16 * kTiles);
  const int resident = per_sm * MultiprocessorCount();
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(std::max(1, std::min(tile_groups, (resident + row_tiles - 1) / row_tiles)),
                        row_tiles);
  config.blockDim = dim3(kWarps * 32);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute[0].val.programmaticStreamSerializationAllowed = 1;
  config.attrs = attribute;
  config.numAttrs = pdl ? 1 : 0;
  const cudaError_t e = cudaLaunchKernelEx(&config, kernel, args);
  if (e != cudaSuccess)
    return CudaCallStatus(e, "cudaLaunchKernelEx(GemvU4Kernel)", __FILE__, __LINE__);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GemvU4Kernel");
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
