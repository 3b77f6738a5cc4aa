// The u4 weight-only GEMM for m <= 8 with the work cut in (tile, chunk) items
// (the "stream" shapes, 2026-11-24). Same packed layout, loads, arithmetic and
// fragment layout as GemvU4Kernel (weight_only_gemv_u4.cuh); what differs is
// the cut.
//
// Why: GemvU4Kernel gives each block whole 16-column tiles and splits K over
// its warps, so its grid is tiles / (tiles per block) blocks. At N = 11008
// (688 tiles) that is 688 blocks of 4 warps in 528 slots or 688 of 8 in 264:
// more than one wave, the last one partial. Here the grid is exactly the
// blocks the GPU holds at once, in clusters of kClusterBlocks, and every warp
// of a cluster streams the same number of items (within one): cluster c owns
// the tiles [c T / C, (c + 1) T / C) (10 or 11 of 688 with 66 clusters of 4
// blocks of 8 warps), and its items, tile major, are contiguous in all three
// packed arrays, dealt out to the cluster's warps as contiguous runs (10 or
// 11 items each: the 4096 x 11008 layer's 10.75 chunks per warp, which reach
// 92% of copy bandwidth). A run may cross tile boundaries; at each it writes
// its partial sums to its next slot in its block's shared memory, and the
// epilogue sums, for each output, the slots of the cluster's warps whose runs
// touched its tile, in warp order (distributed shared memory), dealt out over
// the cluster's threads. No workspace; a fixed summation order. gridDim.y
// counts the row tiles of 8 rows (each re-reads the weights).
//
// Status (H100, 2026-11-24): correct (every-shape tests) but 1.7-2x slower
// than GemvU4Kernel at m <= 8 (docs/cuda-backend.md), so only the benchmark's
// sweep runs it. The likely cause, not yet measured: the epilogue. At m = 1
// one thread in eight has an output, and each walks all 32 warps of the
// cluster with two run-time divisions and a dependent distributed-shared-
// memory load per warp, a serial tail of several microseconds. The warps
// whose runs touch a tile are a contiguous range that can be computed once.
#pragma once

#include <cooperative_groups.h>
#include <cuda_bf16.h>

#include <cstdint>

#include "octet/cuda/cuda_status.h"
#include "weight_only_gemm_launch.h"
#include "weight_only_gemv_u4.cuh"

namespace octet::cuda::weight_only {

// The partial-sum slots each warp needs: a run of at most
// ceil(items / warps) items, items = the most tiles a cluster owns x chunks,
// touches at most ceil(run / chunks) + 1 tiles, and never more than the
// cluster owns.
__host__ __device__ inline int StreamPartialSlots(int tiles, int clusters, int chunks,
                                                  int cluster_warps) {
  const int64_t tiles_per_cluster = (int64_t{tiles} + clusters - 1) / clusters;
  const int64_t run = (tiles_per_cluster * chunks + cluster_warps - 1) / cluster_warps;
  const int64_t slots = (run + chunks - 1) / chunks + 1;
  return static_cast<int>(slots < tiles_per_cluster ? slots : tiles_per_cluster);
}

template <int kGroup, int kStages, int kWarps, int kClusterBlocks>
__global__ void __launch_bounds__(kWarps * 32) GemvU4StreamKernel(const GemmArgs p) {
  using T = GemvTraits<kGroup, 1, 1, kStages, 2, kWarps, 1>;
  constexpr int kGpc = T::kGpc;
  constexpr int kXStages = 2;
  namespace cg = cooperative_groups;
  extern __shared__ float partial[];  // [kWarps][slots][4 registers][32 lanes]
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const int tiles = p.n_pad / 16, chunks = p.chunks;
  const int clusters = static_cast<int>(gridDim.x) / kClusterBlocks;
  const int cluster = blockIdx.x / kClusterBlocks, rank = blockIdx.x % kClusterBlocks;
  constexpr int kClusterWarps = kClusterBlocks * kWarps;
  const int tile_lo = static_cast<int>(int64_t{cluster} * tiles / clusters);
  const int tile_hi = static_cast<int>(int64_t{cluster + 1} * tiles / clusters);
  const int64_t cluster_items = int64_t{tile_hi - tile_lo} * chunks;
  const int64_t base = int64_t{tile_lo} * chunks;  // the cluster's first item
  const int slots = StreamPartialSlots(tiles, clusters, chunks, kClusterWarps);
  const int row0 = blockIdx.y * T::kRows;
  const int q = rank * kWarps + warp;  // this warp in the cluster
  const int i_begin = static_cast<int>(q * cluster_items / kClusterWarps);
  const int i_end = static_cast<int>((q + 1) * cluster_items / kClusterWarps);

  const uint4* codes = static_cast<const uint4*>(p.packed);
  const float2* scales = reinterpret_cast<const float2*>(p.scales);
  const uint16_t* zeros = reinterpret_cast<const uint16_t*>(p.zeros);
  const uint4* x = static_cast<const uint4*>(p.x);
  const int x_pitch = p.k / 8;

  // Let the next kernel in the stream start its own weight loads.
  asm volatile("griddepcontrol.launch_dependents;");

  uint4 ring[kStages][2];
  GroupParams<kGpc> params[kStages];
  uint4 xr[kXStages][1][T::kXLoads];
  // Item i (cluster-relative): 1 KB of codes, then its lane's parameters; the
  // items of a cluster are consecutive in the packed arrays.
  auto load_item = [&](int i, uint4(&w)[2], GroupParams<kGpc>& gp) {
    const int64_t at = base + i;
    w[0] = LoadStreaming16(codes + at * 64 + lane);
    w[1] = LoadStreaming16(codes + at * 64 + 32 + lane);
    LoadParams<kGpc>(gp, scales + (at * 8 + g) * kGpc, zeros + (at * 8 + g) * kGpc);
  };
  // The weights are constant: request every slot before waiting for the
  // previous kernel.
#pragma unroll
  for (int st = 0; st < kStages; ++st)
    if (i_begin + st < i_end) load_item(i_begin + st, ring[st], params[st]);

  // x is the previous kernel's output: wait for it (a no-op without PDL).
  asm volatile("griddepcontrol.wait;" ::: "memory");

  // Counters instead of divisions in the loop: the item's chunk and its tile
  // (cluster-relative).
  int chunk = i_begin % chunks, tile = i_begin / chunks;
  const int first_tile = tile;
  if (i_begin < i_end) LoadXChunk<T>(xr[0], x, x_pitch, p.m, p.k, row0, chunk, g, t);
  float acc[4] = {};
  auto flush = [&]() {
    float* dst = partial + (static_cast<size_t>(warp) * slots + (tile - first_tile)) * 4 * 32;
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      dst[r * 32 + lane] = acc[r];
      acc[r] = 0.f;
    }
  };

  for (int i0 = i_begin; i0 < i_end; i0 += kStages) {
#pragma unroll
    for (int st = 0; st < kStages; ++st) {
      const int i = i0 + st;
      if (i >= i_end) break;  // warp-uniform
      const int xs = st % kXStages;
      if (i + 1 < i_end)
        LoadXChunk<T>(xr[(st + 1) % kXStages], x, x_pitch, p.m, p.k, row0,
                      chunk + 1 == chunks ? 0 : chunk + 1, g, t);
#pragma unroll
      for (int gi = 0; gi < kGpc; ++gi) {
        const uint32_t zp = params[st].zeros[gi / 2] >> (16 * (gi % 2));
        const uint32_t zb_lo = 0x43004300u | __byte_perm(zp, 0, 0x4040);
        const uint32_t zb_hi = 0x43004300u | __byte_perm(zp, 0, 0x4141);
        float part[4] = {};
#pragma unroll
        for (int ss = 0; ss < T::kStepsPerGroup; ++ss) {
          const int s = gi * T::kStepsPerGroup + ss;
          const uint32_t word = WordOf(ring[st][s / 4], s % 4);
          MmaBf16(part, U4Pair(word, 0, zb_lo), U4Pair(word, 1, zb_hi), U4Pair(word, 2, zb_lo),
                  U4Pair(word, 3, zb_hi), WordOf(xr[xs][0][s / 2], 2 * (s % 2)),
                  WordOf(xr[xs][0][s / 2], 2 * (s % 2) + 1));
        }
        const float2 sc = params[st].scale[gi];
        acc[0] = fmaf(part[0], sc.x, acc[0]);
        acc[1] = fmaf(part[1], sc.x, acc[1]);
        acc[2] = fmaf(part[2], sc.y, acc[2]);
        acc[3] = fmaf(part[3], sc.y, acc[3]);
      }
      if (i + kStages < i_end) load_item(i + kStages, ring[st], params[st]);
      if (++chunk == chunks) {  // the run leaves this tile
        flush();
        chunk = 0;
        ++tile;
      }
    }
  }
  if (i_begin < i_end && chunk != 0) flush();
  cg::cluster_group cluster_group = cg::this_cluster();
  cluster_group.sync();

  // Epilogue: the cluster's outputs dealt out over its threads, each summed
  // over the cluster's warps whose runs touched its tile, in warp order.
  __nv_bfloat16* y = static_cast<__nv_bfloat16*>(p.y);
  const int outputs = (tile_hi - tile_lo) * 16 * T::kRows;
  for (int e = rank * kWarps * 32 + threadIdx.x; e < outputs; e += kClusterWarps * 32) {
    const int tb = e / (16 * T::kRows), within = e % (16 * T::kRows);
    const int col16 = within % 16, rr = within / 16;
    const int row = row0 + rr, col = (tile_lo + tb) * 16 + col16;
    if (row >= p.m || col >= p.n) continue;
    // Fragment position: lane 4 g + t holds column g (r < 2) or g + 8, rows
    // 2 t + r % 2.
    const int ln = (col16 % 8) * 4 + rr / 2, r = (rr % 2) + 2 * (col16 / 8);
    float v = 0.f;
    for (int w = 0; w < kClusterWarps; ++w) {
      const int b = static_cast<int>(w * cluster_items / kClusterWarps);
      const int end = static_cast<int>((w + 1) * cluster_items / kClusterWarps);
      if (b >= end) continue;
      const int lo = b / chunks, hi = (end - 1) / chunks;
      if (tb < lo || tb > hi) continue;
      const float* src =
          partial + (static_cast<size_t>(w % kWarps) * slots + (tb - lo)) * 4 * 32 + r * 32 + ln;
      v += *cluster_group.map_shared_rank(src, w / kWarps);
    }
    if (p.bias != nullptr) v += __ldg(p.bias + col);
    if (p.gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
    y[static_cast<size_t>(row) * p.n + col] = __float2bfloat16_rn(v);
  }
  // Keep this block's shared memory until the cluster has read it.
  cluster_group.sync();
}

// The clusters the GPU holds at once (the GPCs' SMs, the registers), with
// room for a few KB of partial slots per block.
template <int kGroup, int kStages, int kWarps, int kClusterBlocks>
int ResidentStreamClusters() {
  static const int clusters = [] {
    cudaLaunchConfig_t config = {};
    config.gridDim = dim3(kClusterBlocks * MultiprocessorCount());
    config.blockDim = dim3(kWarps * 32);
    config.dynamicSmemBytes = 16 << 10;
    cudaLaunchAttribute attribute;
    attribute.id = cudaLaunchAttributeClusterDimension;
    attribute.val.clusterDim.x = kClusterBlocks;
    attribute.val.clusterDim.y = 1;
    attribute.val.clusterDim.z = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    int n = 0;
    if (cudaOccupancyMaxActiveClusters(&n,
                                       GemvU4StreamKernel<kGroup, kStages, kWarps, kClusterBlocks>,
                                       &config) != cudaSuccess) {
      (void)cudaGetLastError();
      return 1;
    }
    return n > 0 ? n : 1;
  }();
  return clusters;
}

// The grid's blocks: the clusters the GPU holds at once, at most one per tile.
template <int kGroup, int kStages, int kWarps, int kClusterBlocks>
int StreamBlocks(const GemmArgs& args) {
  const int64_t clusters = ResidentStreamClusters<kGroup, kStages, kWarps, kClusterBlocks>();
  const int64_t tiles = args.n_pad / 16;
  return static_cast<int>((clusters < tiles ? clusters : tiles) * kClusterBlocks);
}

template <int kGroup, int kStages, int kWarps, int kClusterBlocks>
Status LaunchGemvU4Stream(const GemmArgs& args, bool pdl, cudaStream_t stream) {
  using T = GemvTraits<kGroup, 1, 1, kStages, 2, kWarps, 1>;
  const int blocks = StreamBlocks<kGroup, kStages, kWarps, kClusterBlocks>(args);
  const size_t smem = size_t{kWarps} * 4 * 32 * sizeof(float) *
                      StreamPartialSlots(args.n_pad / 16, blocks / kClusterBlocks, args.chunks,
                                         kClusterBlocks * kWarps);
  if (smem > (size_t{48} << 10)) {
    // Many tiles per cluster with short K: more slots than the default limit.
    const cudaError_t e =
        cudaFuncSetAttribute(GemvU4StreamKernel<kGroup, kStages, kWarps, kClusterBlocks>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (e != cudaSuccess)
      return InvalidArgument("weight-only GEMM: the u4 stream kernel needs ", smem,
                             " bytes of shared memory per block for N = ", args.n, ", K = ", args.k,
                             " (", cudaGetErrorString(e), ")");
  }
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(blocks, (args.m + T::kRows - 1) / T::kRows, 1);
  config.blockDim = dim3(kWarps * 32);
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  cudaLaunchAttribute attribute[2];
  int attributes = 0;
  if (pdl) {
    attribute[attributes].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attribute[attributes].val.programmaticStreamSerializationAllowed = 1;
    ++attributes;
  }
  attribute[attributes].id = cudaLaunchAttributeClusterDimension;
  attribute[attributes].val.clusterDim.x = kClusterBlocks;
  attribute[attributes].val.clusterDim.y = 1;
  attribute[attributes].val.clusterDim.z = 1;
  ++attributes;
  config.attrs = attribute;
  config.numAttrs = attributes;
  const cudaError_t e = cudaLaunchKernelEx(
      &config, GemvU4StreamKernel<kGroup, kStages, kWarps, kClusterBlocks>, args);
  if (e != cudaSuccess)
    return CudaCallStatus(e, "cudaLaunchKernelEx(GemvU4StreamKernel)", __FILE__, __LINE__);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GemvU4StreamKernel");
  return Status::Ok();
}

}  // namespace octet::cuda::weight_only
