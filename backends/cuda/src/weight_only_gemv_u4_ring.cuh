// The u4 weight-only GEMM with a shared-memory weight ring (the "ring" shapes,
// 2026-11-24). Same packed layout, arithmetic and fragment layout as
// GemvU4Kernel (weight_only_gemv_u4.cuh); what differs is how the weights get
// to the warps and how the work is cut.
//
// Why: the register kernels keep at most 3 KB of codes in flight per warp, so
// the bytes in flight per SM are bounded by the registers, and a small layer
// (4096 x 4096: 9 MB, 4 chunks per warp) is one latency-bound wave whose
// next kernel can only start its loads when this one's blocks leave. Here
// each warp copies its weights into its own ring of kDepth shared-memory slots
// with cp.async (16 bytes per lane, one (tile, chunk) item of codes, group
// scales and zero points per slot, one commit group per item, kDepth - 1
// items in flight): registers no longer bound the bytes in flight, and the
// blocks are few (one or two per SM) and small enough in registers that the
// next kernel's blocks are resident beside them and, with programmatic
// dependent launch, have their rings loading before this kernel ends. (The
// bulk copy engine, one cp.async.bulk per array and item, was measured first:
// about 40 ns per copy per SM, twice the register kernel's time.)
//
// Work: the grid's gridDim.x blocks own whole 16-column tiles (block b the
// tiles [b T / B, (b + 1) T / B)), so no partial sum leaves the block (no
// workspace, a fixed summation order). A block's items (tile, chunk), tile
// major, are contiguous in all three packed arrays and dealt out to its warps
// as contiguous runs; a warp's run may cross tile boundaries, and at each it
// writes its partial sums to its next slot in shared memory. The epilogue sums,
// for each tile, the slots of the warps whose runs touched it, in warp order.
// gridDim.y counts the row tiles of 8 kNB rows (each re-reads the weights).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "octet/cuda/cuda_status.h"
#include "weight_only_gemm_launch.h"
#include "weight_only_gemv_u4.cuh"

namespace octet::cuda::weight_only {

template <int kGroup>
struct RingItem {
  static constexpr int kGpc = kChunkU4 / kGroup;
  static constexpr int kCodeBytes = 1024;                               // [2][32 lanes][16]
  static constexpr int kScaleBytes = 64 * kGpc;                         // [8 g][gpc] float2
  static constexpr int kZeroBytes = 16 * kGpc;                          // [8 g][gpc] u16
  static constexpr int kBytes = kCodeBytes + kScaleBytes + kZeroBytes;  // a multiple of 16
};

// The partial-sum slots each warp needs: a run of at most ceil(items / warps)
// items, items = the most tiles a block owns x chunks, touches at most
// ceil(run / chunks) + 1 tiles, and never more than the block owns.
__host__ __device__ inline int RingPartialSlots(int tiles, int blocks, int chunks, int warps) {
  const int64_t tiles_per_block = (int64_t{tiles} + blocks - 1) / blocks;
  const int64_t run = (tiles_per_block * chunks + warps - 1) / warps;
  const int64_t slots = (run + chunks - 1) / chunks + 1;
  return static_cast<int>(slots < tiles_per_block ? slots : tiles_per_block);
}

template <int kGroup, int kNB, int kWarps, int kDepth>
constexpr size_t RingSharedBytes(int partial_slots) {
  return size_t{kWarps} * kDepth * RingItem<kGroup>::kBytes +
         size_t{kWarps} * partial_slots * kNB * 4 * 32 * sizeof(float);
}

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared through the load/store unit (not the bulk copy
// engine, which measured ~40 ns per copy per SM for 1 KB copies: 3 copies per
// item bounded the kernel), bypassing L1.
__device__ __forceinline__ void CopyAsync16(void* dst, const void* src) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(SharedAddress(dst)), "l"(src)
               : "memory");
}
__device__ __forceinline__ void CommitCopies() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
template <int kPending>
__device__ __forceinline__ void WaitCopies() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
}

template <int kGroup, int kNB, int kWarps, int kDepth>
__global__ void __launch_bounds__(kWarps * 32) GemvU4RingKernel(const GemmArgs p) {
  using T = GemvTraits<kGroup, kNB, 1, 2, 1, kWarps, 1>;
  using I = RingItem<kGroup>;
  constexpr int kGpc = T::kGpc;
  constexpr int kRegs = kNB * 4;
  extern __shared__ __align__(128) unsigned char smem[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tiles = p.n_pad / 16, chunks = p.chunks, blocks = static_cast<int>(gridDim.x);
  const int tile_lo = static_cast<int>(int64_t{blockIdx.x} * tiles / blocks);
  const int tile_hi = static_cast<int>(int64_t{blockIdx.x + 1} * tiles / blocks);
  const int64_t block_items = int64_t{tile_hi - tile_lo} * chunks;
  const int64_t base = int64_t{tile_lo} * chunks;  // the block's first item
  const int slots = RingPartialSlots(tiles, blocks, chunks, kWarps);
  const int row0 = blockIdx.y * T::kRows;

  unsigned char* ring = smem + warp * kDepth * I::kBytes;
  float* partial = reinterpret_cast<float*>(smem + size_t{kWarps} * kDepth * I::kBytes);

  // Let the next kernel in the stream start its own weight copies.
  asm volatile("griddepcontrol.launch_dependents;");

  const int i_begin = static_cast<int>(warp * block_items / kWarps);
  const int i_end = static_cast<int>((warp + 1) * block_items / kWarps);
  const unsigned char* codes = static_cast<const unsigned char*>(p.packed);
  const unsigned char* scales = reinterpret_cast<const unsigned char*>(p.scales);
  const unsigned char* zeros = reinterpret_cast<const unsigned char*>(p.zeros);
  // One item into a slot: each lane its own 16 bytes of both code halves (the
  // bytes it reads back), lanes 0..5 gpc - 1 the group parameters. Always
  // commits a group (empty past the run), so that the group count is the item
  // count.
  auto issue = [&](int item, int slot) {  // item: block-relative
    if (item < i_end) {
      const int64_t at = base + item;
      unsigned char* dst = ring + slot * I::kBytes;
      CopyAsync16(dst + 16 * lane, codes + at * I::kCodeBytes + 16 * lane);
      CopyAsync16(dst + 512 + 16 * lane, codes + at * I::kCodeBytes + 512 + 16 * lane);
      if (lane < 4 * kGpc)
        CopyAsync16(dst + I::kCodeBytes + 16 * lane, scales + at * I::kScaleBytes + 16 * lane);
      else if (lane < 5 * kGpc)
        CopyAsync16(dst + I::kCodeBytes + I::kScaleBytes + 16 * (lane - 4 * kGpc),
                    zeros + at * I::kZeroBytes + 16 * (lane - 4 * kGpc));
    }
    CommitCopies();
  };
#pragma unroll
  for (int d = 0; d < kDepth - 1; ++d) issue(i_begin + d, d);

  // x is the previous kernel's output: wait for it (a no-op without PDL).
  asm volatile("griddepcontrol.wait;" ::: "memory");

  const uint4* x = static_cast<const uint4*>(p.x);
  const int x_pitch = p.k / 8;
  // Counters instead of divisions in the loop: the item's chunk, its tile
  // (block-relative) and the ring slot.
  int chunk = i_begin % chunks, tile = i_begin / chunks, slot = 0;
  const int first_tile = tile;
  uint4 x_next[kNB][T::kXLoads];
  if (i_begin < i_end) LoadXChunk<T>(x_next, x, x_pitch, p.m, p.k, row0, chunk, g, t);
  float acc[kNB][4] = {};
  auto flush = [&]() {
    float* dst = partial + (static_cast<size_t>(warp) * slots + (tile - first_tile)) * kRegs * 32;
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        dst[(nb * 4 + r) * 32 + lane] = acc[nb][r];
        acc[nb][r] = 0.f;
      }
  };

#pragma unroll 1
  for (int i = i_begin; i < i_end; ++i) {
    uint4 xr[kNB][T::kXLoads];
#pragma unroll
    for (int nb = 0; nb < kNB; ++nb)
#pragma unroll
      for (int l = 0; l < T::kXLoads; ++l) xr[nb][l] = x_next[nb][l];
    if (i + 1 < i_end)
      LoadXChunk<T>(x_next, x, x_pitch, p.m, p.k, row0, chunk + 1 == chunks ? 0 : chunk + 1, g, t);

    // Item i's group is done when at most kDepth - 2 younger ones are pending;
    // the warp barrier shows each lane the parameters other lanes copied.
    WaitCopies<kDepth - 2>();
    __syncwarp();
    const unsigned char* item = ring + slot * I::kBytes;
    const uint4 w0 = *reinterpret_cast<const uint4*>(item + 16 * lane);
    const uint4 w1 = *reinterpret_cast<const uint4*>(item + 512 + 16 * lane);
    const float2* sc = reinterpret_cast<const float2*>(item + I::kCodeBytes) + g * kGpc;
    const uint16_t* zp16 =
        reinterpret_cast<const uint16_t*>(item + I::kCodeBytes + I::kScaleBytes) + g * kGpc;
    float2 scale[kGpc];
    uint32_t zp[kGpc];
#pragma unroll
    for (int gi = 0; gi < kGpc; ++gi) {
      scale[gi] = sc[gi];
      zp[gi] = zp16[gi];
    }
    // Refill the slot the previous item used (every lane has read it: the
    // barrier above), kDepth - 1 items ahead.
    issue(i + kDepth - 1, slot == 0 ? kDepth - 1 : slot - 1);

#pragma unroll
    for (int gi = 0; gi < kGpc; ++gi) {
      const uint32_t zb_lo = 0x43004300u | __byte_perm(zp[gi], 0, 0x4040);
      const uint32_t zb_hi = 0x43004300u | __byte_perm(zp[gi], 0, 0x4141);
      // Two chains of mma per group (even and odd steps) halve the chain's
      // latency.
      float part[2][kNB][4] = {};
#pragma unroll
      for (int ss = 0; ss < T::kStepsPerGroup; ++ss) {
        const int s = gi * T::kStepsPerGroup + ss;
        const uint32_t word = WordOf(s < 4 ? w0 : w1, s % 4);
        const uint32_t a0 = U4Pair(word, 0, zb_lo), a1 = U4Pair(word, 1, zb_hi);
        const uint32_t a2 = U4Pair(word, 2, zb_lo), a3 = U4Pair(word, 3, zb_hi);
#pragma unroll
        for (int nb = 0; nb < kNB; ++nb)
          MmaBf16(part[ss % 2][nb], a0, a1, a2, a3, WordOf(xr[nb][s / 2], 2 * (s % 2)),
                  WordOf(xr[nb][s / 2], 2 * (s % 2) + 1));
      }
#pragma unroll
      for (int nb = 0; nb < kNB; ++nb) {
        acc[nb][0] = fmaf(part[0][nb][0] + part[1][nb][0], scale[gi].x, acc[nb][0]);
        acc[nb][1] = fmaf(part[0][nb][1] + part[1][nb][1], scale[gi].x, acc[nb][1]);
        acc[nb][2] = fmaf(part[0][nb][2] + part[1][nb][2], scale[gi].y, acc[nb][2]);
        acc[nb][3] = fmaf(part[0][nb][3] + part[1][nb][3], scale[gi].y, acc[nb][3]);
      }
    }
    if (++slot == kDepth) slot = 0;
    if (++chunk == chunks) {  // the run leaves this tile
      flush();
      chunk = 0;
      ++tile;
    }
  }
  if (i_begin < i_end && chunk != 0) flush();
  WaitCopies<0>();  // the empty groups past the run
  __syncthreads();

  // Epilogue: each output of the block's tiles, summed over the warps whose
  // runs touched its tile, in warp order.
  __nv_bfloat16* y = static_cast<__nv_bfloat16*>(p.y);
  const int outputs = (tile_hi - tile_lo) * 16 * T::kRows;
  for (int e = threadIdx.x; e < outputs; e += kWarps * 32) {
    const int tb = e / (16 * T::kRows), within = e % (16 * T::kRows);
    const int col16 = within % 16, rr = within / 16;  // neighbouring threads: neighbouring columns
    const int row = row0 + rr;
    const int col = (tile_lo + tb) * 16 + col16;
    if (row >= p.m || col >= p.n) continue;
    // Fragment position: lane 4 g + t holds column g (r < 2) or g + 8, rows
    // 2 t + r % 2 of its 8-row block nb.
    const int nb = rr / 8, ln = (col16 % 8) * 4 + (rr % 8) / 2, r = (rr % 2) + 2 * (col16 / 8);
    const int reg = nb * 4 + r;
    float v = 0.f;
    for (int w = 0; w < kWarps; ++w) {
      const int b = static_cast<int>(w * block_items / kWarps);
      const int end = static_cast<int>((w + 1) * block_items / kWarps);
      if (b >= end) continue;
      const int lo = b / chunks, hi = (end - 1) / chunks;
      if (tb < lo || tb > hi) continue;
      v += partial[(size_t{static_cast<size_t>(w)} * slots + (tb - lo)) * kRegs * 32 + reg * 32 +
                   ln];
    }
    if (p.bias != nullptr) v += __ldg(p.bias + col);
    if (p.gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    y[static_cast<size_t>(row) * p.n + col] = __float2bfloat16_rn(v);
  }
}

// Blocks of the grid: `per_sm` per SM, at most one per tile.
inline int RingBlocks(const GemmArgs& args, int per_sm) {
  const int64_t want = int64_t{per_sm} * MultiprocessorCount();
  const int64_t tiles = args.n_pad / 16;
  return static_cast<int>(want < tiles ? want : tiles);
}

template <int kGroup, int kNB, int kWarps, int kDepth>
size_t RingSharedBytesFor(const GemmArgs& args, int per_sm) {
  return RingSharedBytes<kGroup, kNB, kWarps, kDepth>(
      RingPartialSlots(args.n_pad / 16, RingBlocks(args, per_sm), args.chunks, kWarps));
}

// Shared memory one block may take (the opt-in limit, 227 KB on the H100).
inline size_t MaxBlockSharedBytes() {
  static const size_t bytes = [] {
    int device = 0, limit = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) !=
            cudaSuccess)
      return size_t{48} << 10;
    return static_cast<size_t>(limit);
  }();
  return bytes;
}

// Blocks of this ring shape one SM holds at once for these arguments.
template <int kGroup, int kNB, int kWarps, int kDepth>
int ResidentRingBlocks(const GemmArgs& args, int per_sm) {
  const size_t smem = RingSharedBytesFor<kGroup, kNB, kWarps, kDepth>(args, per_sm);
  int b = 0;
  if (smem > MaxBlockSharedBytes() ||
      cudaFuncSetAttribute(GemvU4RingKernel<kGroup, kNB, kWarps, kDepth>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize,
                           static_cast<int>(smem)) != cudaSuccess ||
      cudaOccupancyMaxActiveBlocksPerMultiprocessor(
          &b, GemvU4RingKernel<kGroup, kNB, kWarps, kDepth>, kWarps * 32, smem) != cudaSuccess)
    return 0;
  return b;
}

template <int kGroup, int kNB, int kWarps, int kDepth>
Status LaunchGemvU4Ring(const GemmArgs& args, bool pdl, int per_sm, cudaStream_t stream) {
  using T = GemvTraits<kGroup, kNB, 1, 2, 1, kWarps, 1>;
  const size_t smem = RingSharedBytesFor<kGroup, kNB, kWarps, kDepth>(args, per_sm);
  if (smem > MaxBlockSharedBytes())
    return InvalidArgument("weight-only GEMM: the u4 ring kernel needs ", smem,
                           " bytes of shared memory per block for N = ", args.n,
                           " (more than the GPU's ", MaxBlockSharedBytes(), ")");
  // Raising the limit is cheap and per device; do it at every launch rather
  // than track devices.
  cudaError_t e =
      cudaFuncSetAttribute(GemvU4RingKernel<kGroup, kNB, kWarps, kDepth>,
                           cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
  if (e != cudaSuccess)
    return CudaCallStatus(e, "cudaFuncSetAttribute(GemvU4RingKernel)", __FILE__, __LINE__);
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(RingBlocks(args, per_sm), (args.m + T::kRows - 1) / T::kRows, 1);
  config.blockDim = dim3(kWarps * 32);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[1];
  if (pdl) {
    attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[0].val.programmaticStreamSerializationAllowed = 1;
  }
  config.attrs = attribute;
  config.numAttrs = pdl ? 1 : 0;
  e = cudaLaunchKernelEx(&config, GemvU4RingKernel<kGroup, kNB, kWarps, kDepth>, args);
  if (e != cudaSuccess)
    return CudaCallStatus(e, "cudaLaunchKernelEx(GemvU4RingKernel)", __FILE__, __LINE__);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GemvU4RingKernel");
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
