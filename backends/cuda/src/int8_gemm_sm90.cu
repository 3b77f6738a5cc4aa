// The fused int8 GEMM for Hopper (sm_90a): TMA loads into a shared-memory ring,
// wgmma s8 x s8 -> s32 on the tensor cores, and the dequantizing epilogue in
// registers. One thread block computes one [block_m, block_n] output tile with
// three warpgroups:
//   warpgroup 0: one thread issues the TMA loads of A and W, stage by stage,
//                waiting for a stage to be released before refilling it;
//   warpgroups 1 and 2: each owns block_m / 2 rows of the tile, waits for a
//                stage, runs its wgmmas over the stage's 128 K-bytes and
//                releases it, then applies the epilogue to its accumulators.
// Shared memory: `stages` x ([block_m, 128] + [block_n, 128]) bytes, in the
// 128-byte swizzle that TMA writes and the wgmma descriptors name. Partial
// tiles in M, N and K read zeros (the tensor map's out-of-bounds fill) and the
// epilogue masks the stores.
#include <cuda_bf16.h>

#include "int8_gemm_sm90.h"
#include "octet/cuda/cuda_status.h"
#include "wgmma_s8.cuh"

namespace octet::cuda::sm90 {
namespace {

constexpr int kBlockK = 128;  // K bytes per stage: one 128-byte swizzle row
constexpr int kWgmmaK = 32;   // K of one wgmma s8 instruction
constexpr int kThreads = 384;
constexpr int kSharedBudget = 192 * 1024;  // for the ring; H100 allows 227 KiB per block
constexpr int kSharedAlign = 1024;         // a 128-byte swizzle pattern repeats every 8 rows

template <int kBlockN, int kRowTiles>
struct Tile {
  static constexpr int kBlockM = 2 * 64 * kRowTiles;  // two consumer warpgroups
  static constexpr int kStageBytes = (kBlockM + kBlockN) * kBlockK;
  static constexpr int kStages = kSharedBudget / kStageBytes;
  static constexpr int kSharedBytes = kStages * kStageBytes + kSharedAlign;
  static_assert(kStages >= 2, "the ring needs two stages to overlap loads and math");
};

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// ---- mbarrier ----

__device__ __forceinline__ void BarrierInit(uint64_t* bar, int arrivals) {
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(SharedAddress(bar)), "r"(arrivals));
}

__device__ __forceinline__ void BarrierArriveExpectBytes(uint64_t* bar, uint32_t bytes) {
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(SharedAddress(bar)),
               "r"(bytes)
               : "memory");
}

__device__ __forceinline__ void BarrierArrive(uint64_t* bar) {
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(SharedAddress(bar)) : "memory");
}

// Returns once the barrier's phase with this parity has completed.
__device__ __forceinline__ void BarrierWait(uint64_t* bar, uint32_t parity) {
  asm volatile(
      "{\n"
      ".reg .pred done;\n"
      "WAIT:\n"
      "mbarrier.try_wait.parity.shared::cta.b64 done, [%0], %1;\n"
      "@!done bra WAIT;\n"
      "}\n" ::"r"(SharedAddress(bar)),
      "r"(parity)
      : "memory");
}

// ---- TMA ----

__device__ __forceinline__ void TmaLoadTile(void* dst, const CUtensorMap* map, uint64_t* bar,
                                            int k_offset, int row_offset) {
  asm volatile(
      "cp.async.bulk.tensor.2d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4}], [%2];" ::"r"(SharedAddress(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(SharedAddress(bar)), "r"(k_offset), "r"(row_offset)
      : "memory");
}

// ---- wgmma ----

// Shared-memory matrix descriptor of a K-major tile in the 128-byte swizzle:
// rows of 128 bytes, 8-row groups 1024 bytes apart. Adding 2 (32 bytes >> 4)
// moves it to the next K-slice of 32 bytes within the swizzled row.
__device__ __forceinline__ uint64_t SwizzledTileDescriptor(const void* tile) {
  uint64_t desc = (SharedAddress(tile) & 0x3FFFF) >> 4;
  desc |= uint64_t{1} << 16;          // leading byte offset (unused with swizzling)
  desc |= uint64_t{1024 >> 4} << 32;  // stride byte offset: one 8-row group
  desc |= uint64_t{1} << 62;          // 128-byte swizzle
  return desc;
}

__device__ __forceinline__ void WgmmaFence() {
  asm volatile("wgmma.fence.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void WgmmaCommit() {
  asm volatile("wgmma.commit_group.sync.aligned;" ::: "memory");
}
__device__ __forceinline__ void WgmmaWaitAll() {
  asm volatile("wgmma.wait_group.sync.aligned 0;" ::: "memory");
}

// Keeps the compiler from moving accumulator reads or writes across the
// asynchronous wgmma boundary (the registers are written behind its back).
template <int kCount>
__device__ __forceinline__ void PinAccumulators(int32_t (&acc)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+r"(acc[i])::"memory");
}

template <int kBlockN>
__device__ __forceinline__ void Wgmma(int32_t (&acc)[kBlockN / 2], uint64_t desc_a,
                                      uint64_t desc_w) {
  if constexpr (kBlockN == 256) {
    WgmmaM64N256K32S8(acc, desc_a, desc_w);
  } else {
    static_assert(kBlockN == 128, "tiles are 128 or 256 columns wide");
    WgmmaM64N128K32S8(acc, desc_a, desc_w);
  }
}

// ---- epilogue ----

__device__ __forceinline__ float Dequantize(int32_t acc, float a_scale, float w_scale, float bias,
                                            bool gelu) {
  float v = static_cast<float>(acc) * a_scale * w_scale + bias;
  if (gelu) v = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
  return v;
}

// Writes the values of columns col and col + 1 of one row (col + 1 may be past
// the end). Pairs are stored as one 4- or 8-byte access when the row pitch
// keeps them aligned, that is when n is even.
__device__ __forceinline__ void StorePair(const Int8GemmEpilogue& ep, int64_t row, int col,
                                          float v0, float v1) {
  const int64_t offset = row * ep.n + col;
  const bool pair = col + 1 < ep.n;
  if (ep.dst_bf16) {
    __nv_bfloat16* dst = static_cast<__nv_bfloat16*>(ep.dst) + offset;
    if (pair && ep.n % 2 == 0) {
      *reinterpret_cast<__nv_bfloat162*>(dst) = __floats2bfloat162_rn(v0, v1);
    } else {
      dst[0] = __float2bfloat16_rn(v0);
      if (pair) dst[1] = __float2bfloat16_rn(v1);
    }
  } else {
    float* dst = static_cast<float*>(ep.dst) + offset;
    if (pair && ep.n % 2 == 0) {
      *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);
    } else {
      dst[0] = v0;
      if (pair) dst[1] = v1;
    }
  }
}

// ---- the kernel ----

template <int kBlockN, int kRowTiles>
__global__ void __launch_bounds__(kThreads, 1)
    Int8GemmKernel(const __grid_constant__ CUtensorMap a_map,
                   const __grid_constant__ CUtensorMap w_map, int k, Int8GemmEpilogue ep) {
  using T = Tile<kBlockN, kRowTiles>;
  constexpr int kBlockM = T::kBlockM, kStages = T::kStages;
  constexpr int kRowsPerConsumer = 64 * kRowTiles;

  extern __shared__ uint8_t shared_raw[];
  uint8_t* shared = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(shared_raw) + kSharedAlign - 1) & ~uintptr_t{kSharedAlign - 1});
  uint8_t* a_ring = shared;                                // kStages x [kBlockM, 128]
  uint8_t* w_ring = shared + kStages * kBlockM * kBlockK;  // kStages x [kBlockN, 128]
  __shared__ uint64_t stage_full[kStages], stage_free[kStages];

  const int num_k_tiles = (k + kBlockK - 1) / kBlockK;
  const int m0 = blockIdx.y * kBlockM, n0 = blockIdx.x * kBlockN;
  const int warpgroup = threadIdx.x / 128;

  if (threadIdx.x == 0) {
    for (int s = 0; s < kStages; ++s) {
      BarrierInit(&stage_full[s], 1);  // the producer's arrive, plus the TMA bytes
      BarrierInit(&stage_free[s], 2);  // one arrive per consumer warpgroup
    }
    // Make the initialised barriers visible to the TMA unit (async proxy).
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  if (warpgroup == 0) {
    if (threadIdx.x == 0) {
      for (int kt = 0; kt < num_k_tiles; ++kt) {
        const int s = kt % kStages;
        if (kt >= kStages) BarrierWait(&stage_free[s], ((kt / kStages) + 1) & 1);
        // Out-of-bounds parts of a box count towards the bytes too.
        BarrierArriveExpectBytes(&stage_full[s], T::kStageBytes);
        TmaLoadTile(a_ring + s * kBlockM * kBlockK, &a_map, &stage_full[s], kt * kBlockK, m0);
        TmaLoadTile(w_ring + s * kBlockN * kBlockK, &w_map, &stage_full[s], kt * kBlockK, n0);
      }
    }
    return;
  }

  const int consumer = warpgroup - 1;
  int32_t acc[kRowTiles][kBlockN / 2];
#pragma unroll
  for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
    for (int i = 0; i < kBlockN / 2; ++i) acc[r][i] = 0;

  for (int kt = 0; kt < num_k_tiles; ++kt) {
    const int s = kt % kStages;
    BarrierWait(&stage_full[s], (kt / kStages) & 1);
    const uint8_t* a_tile = a_ring + s * kBlockM * kBlockK + consumer * kRowsPerConsumer * kBlockK;
    const uint64_t desc_w = SwizzledTileDescriptor(w_ring + s * kBlockN * kBlockK);
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r) PinAccumulators(acc[r]);
    WgmmaFence();
#pragma unroll
    for (int kk = 0; kk < kBlockK / kWgmmaK; ++kk) {
#pragma unroll
      for (int r = 0; r < kRowTiles; ++r) {
        const uint64_t desc_a = SwizzledTileDescriptor(a_tile + r * 64 * kBlockK);
        Wgmma<kBlockN>(acc[r], desc_a + 2 * kk, desc_w + 2 * kk);
      }
    }
    WgmmaCommit();
    WgmmaWaitAll();
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r) PinAccumulators(acc[r]);
    if (threadIdx.x % 128 == 0) BarrierArrive(&stage_free[s]);
  }

  // Accumulator layout of wgmma m64nN (per warpgroup): value i of thread
  // (warp w, lane l) is row 16 w + l / 4 + 8 ((i / 2) % 2), column
  // 8 (i / 4) + 2 (l % 4) + i % 2.
  const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
#pragma unroll
  for (int r = 0; r < kRowTiles; ++r) {
    const int row0 = m0 + consumer * kRowsPerConsumer + r * 64 + warp * 16 + lane / 4;
    const float a_scale0 = row0 < ep.m ? ep.a_scales[row0] : 0.f;
    const float a_scale1 = row0 + 8 < ep.m ? ep.a_scales[row0 + 8] : 0.f;
#pragma unroll
    for (int j = 0; j < kBlockN / 8; ++j) {
      const int col = n0 + 8 * j + 2 * (lane % 4);
      if (col >= ep.n) continue;
      const bool has1 = col + 1 < ep.n;
      const float w0 = ep.w_scales[col], w1 = has1 ? ep.w_scales[col + 1] : 0.f;
      const float b0 = ep.bias != nullptr ? ep.bias[col] : 0.f;
      const float b1 = ep.bias != nullptr && has1 ? ep.bias[col + 1] : 0.f;
      if (row0 < ep.m)
        StorePair(ep, row0, col, Dequantize(acc[r][4 * j], a_scale0, w0, b0, ep.gelu),
                  Dequantize(acc[r][4 * j + 1], a_scale0, w1, b1, ep.gelu));
      if (row0 + 8 < ep.m)
        StorePair(ep, row0 + 8, col, Dequantize(acc[r][4 * j + 2], a_scale1, w0, b0, ep.gelu),
                  Dequantize(acc[r][4 * j + 3], a_scale1, w1, b1, ep.gelu));
    }
  }
}

template <int kBlockN, int kRowTiles>
Status SetSharedLimit() {
  OCTET_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(Int8GemmKernel<kBlockN, kRowTiles>,
                                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                                  Tile<kBlockN, kRowTiles>::kSharedBytes));
  return Status::Ok();
}

template <int kBlockN, int kRowTiles>
Status Launch(const CUtensorMap& a_map, const CUtensorMap& w_map, int k, const Int8GemmEpilogue& ep,
              cudaStream_t stream) {
  using T = Tile<kBlockN, kRowTiles>;
  const dim3 grid((ep.n + kBlockN - 1) / kBlockN, (ep.m + T::kBlockM - 1) / T::kBlockM);
  Int8GemmKernel<kBlockN, kRowTiles>
      <<<grid, kThreads, T::kSharedBytes, stream>>>(a_map, w_map, k, ep);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Int8GemmKernel");
  return Status::Ok();
}

}  // namespace

TileShape ShapeOf(Int8GemmTile tile) {
  switch (tile) {
    case Int8GemmTile::k128x128:
      return {Tile<128, 1>::kBlockM, 128, Tile<128, 1>::kStages};
    case Int8GemmTile::k128x256:
      return {Tile<256, 1>::kBlockM, 256, Tile<256, 1>::kStages};
    case Int8GemmTile::k256x128:
      return {Tile<128, 2>::kBlockM, 128, Tile<128, 2>::kStages};
    case Int8GemmTile::kAuto:
      break;
  }
  return {};
}

Status PrepareInt8GemmKernels() {
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 1>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<256, 1>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 2>()));
  return Status::Ok();
}

Status LaunchInt8Gemm(Int8GemmTile tile, const CUtensorMap& a_map, const CUtensorMap& w_map, int k,
                      const Int8GemmEpilogue& epilogue, cudaStream_t stream) {
  switch (tile) {
    case Int8GemmTile::k128x128:
      return Launch<128, 1>(a_map, w_map, k, epilogue, stream);
    case Int8GemmTile::k128x256:
      return Launch<256, 1>(a_map, w_map, k, epilogue, stream);
    case Int8GemmTile::k256x128:
      return Launch<128, 2>(a_map, w_map, k, epilogue, stream);
    case Int8GemmTile::kAuto:
      break;
  }
  return Internal("LaunchInt8Gemm: tile kAuto must be resolved by the caller");
}

}  // namespace octet::cuda::sm90
