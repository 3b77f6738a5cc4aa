// The kernel of the fused int8 GEMM for Hopper (sm_90a), included by the
// translation units that instantiate it: int8_gemm_sm90.cu (A read through a
// tensor map) and int8_gemm_conv_sm90.cu (A gathered from a convolution's
// NHWC input: the implicit GEMM), so that nvcc builds the two in parallel.
//
// TMA loads into shared-memory rings,
// wgmma s8 x s8 -> s32 on the tensor cores, and the dequantizing epilogue
// (through shared memory and TMA stores, or from registers: below). The grid
// is persistent (at most one block per SM, each walking a sequence of output
// tiles), and a block has three warpgroups:
//   warpgroup 0: producers. One thread per ring issues the TMA loads of A and
//     W, stage by stage, waiting for a stage to be released before refilling
//     it. It runs ahead across tiles, so the next tile's first stages load
//     while the consumers are still in the current tile's epilogue. In the
//     implicit convolution A is gathered from the input's codes: by all 128
//     threads with cp.async (kAGather, ProduceConvStages, below; one of them
//     loads W), or by one thread through TMA's im2col mode (kAIm2col).
//   warpgroups 1 and 2: consumers, in one of two schedules:
//     cooperative: both work on the same tile (each on half of its rows) and
//       share one ring; the epilogue of a tile stalls the tensor cores until
//       its values are in the staging buffers (below).
//     ping-pong: each has its own ring and its own sequence of tiles, so one
//       consumer's epilogue may overlap the other's math. Measured slower
//       than cooperative 256x128 at every SAM shape (each consumer loads its
//       own A and W tiles; making the consumers take turns at the tensor
//       cores, CUTLASS's ordered ping-pong, was slower still).
// Shared memory: rings of `stages` x ([block_m, 128] + [block_n, 128]) bytes,
// in the 128-byte swizzle that TMA writes and the wgmma descriptors name, and
// per consumer a few 8 KiB staging buffers for the epilogue.
// Epilogue: when the output's row pitch is a multiple of 16 bytes (the usual
// case), each consumer writes its dequantized tile into the staging buffers,
// 64 rows x 128 bytes at a time (in the 128-byte swizzle, so the fragment
// writes are free of bank conflicts), and one thread stores each chunk with a
// TMA store that runs on while the consumer goes back to the mainloop; a
// residual is prefetched into L2 when the tile starts and read from there one
// chunk ahead. Otherwise the epilogue stores pairs from registers.
// Partial tiles in M, N and K read zeros (the tensor map's out-of-bounds fill)
// and the stores are masked (TMA drops what falls outside the output).
#pragma once

#include <cuda_bf16.h>

#include <algorithm>
#include <type_traits>

#include "int8_gemm_sm90.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/gelu_erf.h"
#include "wgmma_s8.cuh"

namespace octet::cuda::sm90 {
namespace {

constexpr int kBlockK = 128;  // K bytes per stage: one 128-byte swizzle row
constexpr int kWgmmaK = 32;   // K of one wgmma s8 instruction
constexpr int kThreads = 384;
constexpr int kSharedLimit = 227 * 1024;  // per block on the H100, static + dynamic
constexpr int kSharedAlign = 1024;        // a 128-byte swizzle pattern repeats every 8 rows
constexpr int kChunkBytes = kOutputBoxRows * 128;  // one staging buffer: 64 rows x 128 bytes
// Staging buffers a consumer keeps at least (more let a chunk's TMA store read
// its buffer while later chunks are written); the rest of shared memory is
// ring. Measured: 1 buffer (and so 4 stages of 48 KiB) was slower than 4
// buffers and 3 stages at SAM's shapes; so was 2 stages and 7 buffers for f32
// output.
constexpr int kMinStagingBuffers = 2;
constexpr int kMaxStages = 4, kMaxStagingBuffers = 4;

// kRowTiles: 64-row wgmma tiles per consumer (its accumulators are
// kRowTiles x kBlockN / 2 registers per thread).
// Where A's stages come from: [m, K] rows through a tensor map (the
// matmuls, and the convolutions' im2col rows); a convolution's NHWC codes
// gathered by the producers with cp.async (ProduceConvStages); or those codes
// through TMA's im2col mode (ProduceIm2colStages). The last two are the
// implicit convolution, f32 output only.
enum ASource : int { kARows = 0, kAGather = 1, kAIm2col = 2 };

template <int kBlockN, int kRowTiles, bool kPingpong, int kASource = kARows>
struct Tile {
  static constexpr int kConsumerRows = 64 * kRowTiles;
  static constexpr int kBlockM = kPingpong ? kConsumerRows : 2 * kConsumerRows;
  static constexpr int kRings = kPingpong ? 2 : 1;
  static constexpr int kConsumersPerRing = kPingpong ? 1 : 2;
  static constexpr int kStageBytes = (kBlockM + kBlockN) * kBlockK;
  // Static shared memory: the consumers' column parameters and the barriers,
  // and for the implicit convolution the tile's row table (int2 a row).
  static constexpr int kStaticBytes =
      2 * 2 * kBlockN * 4 + 256 + (kASource == kAGather ? kBlockM * 8 : 0);
  static constexpr int kDynamicLimit = kSharedLimit - kStaticBytes - kSharedAlign;
  static constexpr int kStages = std::min(
      kMaxStages, (kDynamicLimit - 2 * kMinStagingBuffers * kChunkBytes) / (kRings * kStageBytes));
  static constexpr int kRingBytes = kStages * kStageBytes;
  static constexpr int kStagingBuffers =
      std::min(kMaxStagingBuffers, (kDynamicLimit - kRings * kRingBytes) / (2 * kChunkBytes));
  static constexpr int kSharedBytes =
      kRings * kRingBytes + 2 * kStagingBuffers * kChunkBytes + kSharedAlign;
  static_assert(kStages >= 2, "a ring needs two stages to overlap loads and math");
  static_assert(kStagingBuffers >= 1, "the epilogue needs a staging buffer");
  static_assert(kSharedBytes + kStaticBytes <= kSharedLimit, "shared memory");
  static_assert(kASource == kARows || !kPingpong,
                "the implicit convolution has one ring (cooperative)");
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

// Synchronises the 128 threads of one warpgroup (barrier 0 is __syncthreads).
__device__ __forceinline__ void WarpgroupBarrier(int id) {
  asm volatile("bar.sync %0, 128;" ::"r"(id) : "memory");
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

// Loads a box of an NHWC tensor through a map in im2col mode
// (MakeInt8Im2colMap): the box's pixels are the windows whose first tap is
// at (w, h) of image n and the next ones in the map's traversal (output
// pixels in order), each moved by the tap's offsets (off_w, off_h), the
// channels [c, c + box channels); zeros outside the tensor.
__device__ __forceinline__ void TmaLoadIm2col(void* dst, const CUtensorMap* map, uint64_t* bar,
                                              int c, int w, int h, int n, uint16_t off_w,
                                              uint16_t off_h) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.im2col.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%3, %4, %5, %6}], [%2], {%7, %8};" ::"r"(SharedAddress(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(SharedAddress(bar)), "r"(c), "r"(w), "r"(h), "r"(n),
      "h"(off_w), "h"(off_h)
      : "memory");
}

// Stores a box of the output from shared memory (the map's box, 128-byte
// swizzle) at column col, row row; parts outside the output are dropped. The
// store joins the issuing thread's current bulk group.
__device__ __forceinline__ void TmaStoreTile(const CUtensorMap* map, const void* src, int col,
                                             int row) {
  asm volatile("cp.async.bulk.tensor.2d.global.shared::cta.bulk_group [%0, {%2, %3}], [%1];" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(SharedAddress(src)), "r"(col), "r"(row)
               : "memory");
}
// Adds a box from shared memory into the output in place (dst += box, f32:
// round to nearest, subnormals flushed), the reduction done by the memory
// system; parts outside the output are dropped. Joins the current bulk group.
__device__ __forceinline__ void TmaReduceAddTile(const CUtensorMap* map, const void* src, int col,
                                                 int row) {
  asm volatile(
      "cp.reduce.async.bulk.tensor.2d.global.shared::cta.add.tile.bulk_group [%0, {%2, %3}], "
      "[%1];" ::"l"(reinterpret_cast<uint64_t>(map)),
      "r"(SharedAddress(src)), "r"(col), "r"(row)
      : "memory");
}
__device__ __forceinline__ void BulkCommit() {
  asm volatile("cp.async.bulk.commit_group;" ::: "memory");
}
// Waits until at most kPending of this thread's bulk groups still read their
// shared memory.
template <int kPending>
__device__ __forceinline__ void BulkWaitRead() {
  asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(kPending) : "memory");
}
__device__ __forceinline__ void BulkWaitAll() {
  asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
}
// Orders this thread's ordinary shared-memory writes before the async proxy's
// (TMA's) reads of them.
__device__ __forceinline__ void FenceProxyAsyncShared() {
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
}
__device__ __forceinline__ void PrefetchL2(const void* p, uint32_t bytes) {
  asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
}

// ---- cp.async (the implicit convolution's A) ----

// Copies 16 bytes from global memory to shared memory, or writes 16 zeros
// when src_bytes is 0 (src is then not read). Through L2 only (.cg).
__device__ __forceinline__ void CpAsync16(uint32_t dst, const void* src, uint32_t src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(dst), "l"(src), "r"(src_bytes)
               : "memory");
}
// Closes this thread's current group of cp.async copies.
__device__ __forceinline__ void CpAsyncCommit() {
  asm volatile("cp.async.commit_group;" ::: "memory");
}
// Waits until at most kPending of this thread's committed groups are still
// copying.
template <int kPending>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(kPending) : "memory");
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
// Waits until at most kPending committed wgmma groups are still running.
template <int kPending>
__device__ __forceinline__ void WgmmaWait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(kPending) : "memory");
}

// Keeps the compiler from moving accumulator reads or writes across the
// asynchronous wgmma boundary (the registers are written behind its back).
template <int kCount>
__device__ __forceinline__ void PinAccumulators(int32_t (&acc)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) asm volatile("" : "+r"(acc[i])::"memory");
}

template <int kN>
__device__ __forceinline__ void Wgmma(int32_t (&acc)[kN / 2], uint64_t desc_a, uint64_t desc_w) {
  if constexpr (kN == 256) {
    WgmmaM64N256K32S8(acc, desc_a, desc_w);
  } else if constexpr (kN == 192) {
    WgmmaM64N192K32S8(acc, desc_a, desc_w);
  } else if constexpr (kN == 128) {
    WgmmaM64N128K32S8(acc, desc_a, desc_w);
  } else {
    static_assert(kN == 64, "tiles are 64, 128, 192 or 256 columns wide");
    WgmmaM64N64K32S8(acc, desc_a, desc_w);
  }
}

// ---- epilogue ----

// The activation is a template choice per tile (kAct), like the residual: a
// runtime test per value cost the bf16 epilogue 25-35% (the relu, measured).
// GELU applies here, to the dequantized value; the relu after the residual.
template <Activation kAct>
__device__ __forceinline__ float Dequantize(int32_t acc, float a_scale, float w_scale, float bias) {
  const float v = fmaf(static_cast<float>(acc), a_scale * w_scale, bias);
  if constexpr (kAct == Activation::kGeluErf) return GeluErf(v);
  return v;
}

// Writes the values of columns col and col + 1 of one row (col + 1 may be past
// the end). Pairs are stored as one 4- or 8-byte access when the row pitch
// keeps them aligned, that is when n is even. kResidual: add ep.residual's
// values (a template parameter, so that the loads and their branch are not in
// the code of the epilogues without one). kAbsMax: raise row_max to the
// largest |value| written (after the rounding to the output type).
template <bool kResidual, Activation kAct, bool kAbsMax>
__device__ __forceinline__ void StorePair(const Int8GemmEpilogue& ep, int64_t row, int col,
                                          float v0, float v1, float& row_max) {
  const int64_t offset = row * ep.n + col;
  const bool pair = col + 1 < ep.n;
  if (ep.dst_bf16) {
    __nv_bfloat16* dst = static_cast<__nv_bfloat16*>(ep.dst) + offset;
    if constexpr (kResidual) {
      const __nv_bfloat16* r = static_cast<const __nv_bfloat16*>(ep.residual) + offset;
      v0 += __bfloat162float(r[0]);
      if (pair) v1 += __bfloat162float(r[1]);
    }
    if constexpr (kAct == Activation::kRelu) {
      v0 = fmaxf(v0, 0.f);
      v1 = fmaxf(v1, 0.f);
    }
    const __nv_bfloat162 out = __floats2bfloat162_rn(v0, v1);
    if (pair && ep.n % 2 == 0) {
      *reinterpret_cast<__nv_bfloat162*>(dst) = out;
    } else {
      dst[0] = out.x;
      if (pair) dst[1] = out.y;
    }
    if constexpr (kAbsMax) {
      row_max = fmaxf(row_max, fabsf(__bfloat162float(out.x)));
      if (pair) row_max = fmaxf(row_max, fabsf(__bfloat162float(out.y)));
    }
  } else {
    float* dst = static_cast<float*>(ep.dst) + offset;
    if constexpr (kResidual) {
      const float* r = static_cast<const float*>(ep.residual) + offset;
      v0 += r[0];
      if (pair) v1 += r[1];
    }
    if constexpr (kAct == Activation::kRelu) {
      v0 = fmaxf(v0, 0.f);
      v1 = fmaxf(v1, 0.f);
    }
    if (pair && ep.n % 2 == 0) {
      *reinterpret_cast<float2*>(dst) = make_float2(v0, v1);
    } else {
      dst[0] = v0;
      if (pair) dst[1] = v1;
    }
    if constexpr (kAbsMax) {
      row_max = fmaxf(row_max, fabsf(v0));
      if (pair) row_max = fmaxf(row_max, fabsf(v1));
    }
  }
}

// The per-image absolute maximum of a tile's written values (kAbsMax
// epilogues): each thread has kept the largest |value| of each of its rows
// (row_max[r][h]: row first_row + lane / 4 + 64 r + 8 h, first_row = the
// warp's first row); the quad's four threads share a row, the warp's 16 rows
// of one r usually lie in one image (resnet's stages have 3136 to 49 pixels
// an image). Those are reduced with shuffles and raised with one atomicMax on
// the float bits (non-negative floats order as their bits; the buffer was
// zeroed before the GEMM); a 16-row group that straddles images raises per
// row. Rows past m (never stored: their value is the bias) count as 0.
// Called by all 32 lanes of each warp (the shuffles), once per tile.
template <int kRowTiles>
__device__ __forceinline__ void RaiseImageAbsMax(float (&row_max)[kRowTiles][2],
                                                 const Int8GemmEpilogue& ep, int first_row,
                                                 int lane) {
  int* absmax = reinterpret_cast<int*>(ep.image_absmax);
#pragma unroll
  for (int r = 0; r < kRowTiles; ++r) {
    const int group = first_row + 64 * r;  // the same for the whole warp
    if (group >= ep.m) break;
    float v[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      v[h] = group + lane / 4 + 8 * h < ep.m ? row_max[r][h] : 0.f;
      v[h] = fmaxf(v[h], __shfl_xor_sync(0xffffffffu, v[h], 1));
      v[h] = fmaxf(v[h], __shfl_xor_sync(0xffffffffu, v[h], 2));
    }
    // Integer divisions: a few per thread and tile, nothing next to the tile's math.
    const int image = group / ep.image_rows;
    if (image == min(group + 15, ep.m - 1) / ep.image_rows) {
      float w = fmaxf(v[0], v[1]);
      w = fmaxf(w, __shfl_xor_sync(0xffffffffu, w, 4));
      w = fmaxf(w, __shfl_xor_sync(0xffffffffu, w, 8));
      w = fmaxf(w, __shfl_xor_sync(0xffffffffu, w, 16));
      if (lane == 0) atomicMax(absmax + image, __float_as_int(w));
    } else if (lane % 4 == 0) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = group + lane / 4 + 8 * h;
        if (row < ep.m) atomicMax(absmax + row / ep.image_rows, __float_as_int(v[h]));
      }
    }
  }
}

// The epilogue through shared memory and TMA stores. kStore says the output
// type; StoreKind::kDirect is the epilogue above, from registers.
enum class StoreKind { kDirect, kTmaBf16, kTmaF32 };

template <StoreKind kStore>
struct OutPair;  // two adjacent output values
template <>
struct OutPair<StoreKind::kTmaBf16> {
  using T = __nv_bfloat162;
  __device__ static T Make(float v0, float v1) { return __floats2bfloat162_rn(v0, v1); }
  __device__ static float First(T r) { return __bfloat162float(r.x); }
  __device__ static float Second(T r) { return __bfloat162float(r.y); }
};
template <>
struct OutPair<StoreKind::kTmaF32> {
  using T = float2;
  __device__ static T Make(float v0, float v1) { return make_float2(v0, v1); }
  __device__ static float First(T r) { return r.x; }
  __device__ static float Second(T r) { return r.y; }
};

// Writes one consumer's tile: kRowTiles x (kBlockN / panel columns) chunks of
// 64 rows x 128 bytes (64 bf16 or 32 f32 columns), each dequantized into
// staging buffer chunk_seq % kBuffers and stored from there by the leader
// thread's TMA store. The leader waits for a buffer's previous store to have
// read it before the warpgroup barrier that lets the buffer be written again,
// and leaves the last stores running (the next tile's mainloop overlaps them).
// m0: the consumer's first row; row_in_tile: this thread's first row within
// it (16 warp + lane / 4); the thread's values are rows row_in_tile + 64 r
// + 8 h, columns 8 j + 2 (lane % 4) + {0, 1} (the wgmma accumulator layout).
// The arithmetic is StorePair's: Dequantize, then the residual, then the
// relu, then one rounding to the output type.
// kResidualInPlace (f32 output whose residual is the output itself): the
// residual is not loaded; each chunk is added into the output by a TMA
// reduction instead of stored. The sum is the same f32 addition, rounded once
// (only subnormal sums differ: the reduction flushes them).
// kAbsMax: row_max[r][h] is raised to the largest |value| of the thread's
// rows as written (rows past m and columns past n included: the caller
// discards the rows; the columns are 0 there, column scale and bias 0).
template <int kBlockN, int kRowTiles, int kBuffers, StoreKind kStore, bool kResidual,
          Activation kAct, bool kAbsMax, bool kResidualInPlace = false>
__device__ __forceinline__ void StoreTileStaged(
    const int32_t (&acc)[kRowTiles][kBlockN / 2], const float (&row_scale)[kRowTiles][2],
    const float* column_scale, const float* column_bias, const Int8GemmEpilogue& ep,
    const CUtensorMap* dst_map, uint8_t* staging, uint32_t& chunk_seq, int m0, int n0,
    int row_in_tile, bool leader, int barrier, float (&row_max)[kRowTiles][2]) {
  using P = OutPair<kStore>;
  using Pair = typename P::T;
  constexpr int kElementBytes = sizeof(Pair) / 2;
  constexpr int kPanelCols = 128 / kElementBytes;  // columns of one chunk
  constexpr int kPanels = kBlockN / kPanelCols;
  constexpr int kGroups = kPanelCols / 8;  // accumulator column groups (j) per chunk
  constexpr int kChunks = kRowTiles * kPanels;
  const int quad = threadIdx.x % 4;
  const int swizzle = row_in_tile % 8;  // the row within an 8-row swizzle pattern
  const Pair* residual = static_cast<const Pair*>(ep.residual);

  // The residual pairs of chunk q for this thread (zeros outside the output).
  auto load_residual = [&](int q, Pair(&pairs)[kGroups][2]) {
    const int r = q / kPanels, p = q % kPanels;
#pragma unroll
    for (int g = 0; g < kGroups; ++g)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = m0 + row_in_tile + 64 * r + 8 * h;
        const int col = n0 + p * kPanelCols + 8 * g + 2 * quad;
        // n is even here (the row pitch is a multiple of 16 bytes), so col < n
        // means the pair is inside.
        pairs[g][h] = row < ep.m && col < ep.n
                          ? residual[(static_cast<int64_t>(row) * ep.n + col) / 2]
                          : P::Make(0.f, 0.f);
      }
  };
  // Residual pairs of chunks q and q + 1 (a ring indexed by q % 2, known at
  // compile time in the unrolled loop): loaded a chunk ahead, from L2 (the
  // tile's residual was prefetched when the tile started). Measured: two
  // chunks ahead was no faster.
  constexpr int kAhead = 1;
  Pair res[kAhead + 1][kGroups][2];
  static_assert(!kResidualInPlace || (kStore == StoreKind::kTmaF32 && !kResidual &&
                                      kAct != Activation::kRelu && !kAbsMax),
                "an in-place residual is added by the f32 TMA reduction, before no relu "
                "(and the sums are never in registers to take their maximum)");
  if constexpr (kResidual) {
#pragma unroll
    for (int q = 0; q < kAhead && q < kChunks; ++q) load_residual(q, res[q]);
  }

#pragma unroll
  for (int q = 0; q < kChunks; ++q) {
    const int r = q / kPanels, p = q % kPanels;
    if constexpr (kResidual) {
      if (q + kAhead < kChunks) load_residual(q + kAhead, res[(q + kAhead) % (kAhead + 1)]);
    }
    uint8_t* buffer = staging + (chunk_seq % kBuffers) * kChunkBytes;
    if constexpr (kBuffers == 1) {
      if (leader) BulkWaitRead<0>();
      WarpgroupBarrier(barrier);
    }
#pragma unroll
    for (int g = 0; g < kGroups; ++g) {
      const int j = p * kGroups + g;  // the accumulator column group
      const int c = 8 * j + 2 * quad;
      const float w0 = column_scale[c], w1 = column_scale[c + 1];
      const float b0 = column_bias[c], b1 = column_bias[c + 1];
      // Byte offset of the pair within its 128-byte row, and its swizzled place.
      const int offset = (8 * g + 2 * quad) * kElementBytes;
      const int swizzled = (((offset / 16) ^ swizzle) * 16) + offset % 16;
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        float v0 = Dequantize<kAct>(acc[r][4 * j + 2 * h], row_scale[r][h], w0, b0);
        float v1 = Dequantize<kAct>(acc[r][4 * j + 2 * h + 1], row_scale[r][h], w1, b1);
        if constexpr (kResidual) {
          v0 += P::First(res[q % (kAhead + 1)][g][h]);
          v1 += P::Second(res[q % (kAhead + 1)][g][h]);
        }
        if constexpr (kAct == Activation::kRelu) {
          v0 = fmaxf(v0, 0.f);
          v1 = fmaxf(v1, 0.f);
        }
        const Pair out = P::Make(v0, v1);
        *reinterpret_cast<Pair*>(buffer + (row_in_tile + 8 * h) * 128 + swizzled) = out;
        if constexpr (kAbsMax)
          row_max[r][h] = fmaxf(row_max[r][h], fmaxf(fabsf(P::First(out)), fabsf(P::Second(out))));
      }
    }
    FenceProxyAsyncShared();
    // Chunk q + 1's buffer must have been read by its last store (chunk
    // q + 1 - kBuffers) before the barrier below lets it be written.
    if constexpr (kBuffers >= 2) {
      if (leader) BulkWaitRead<kBuffers - 2>();
    }
    WarpgroupBarrier(barrier);
    if (leader) {
      if constexpr (kResidualInPlace)
        TmaReduceAddTile(dst_map, buffer, n0 + p * kPanelCols, m0 + 64 * r);
      else
        TmaStoreTile(dst_map, buffer, n0 + p * kPanelCols, m0 + 64 * r);
      BulkCommit();
    }
    ++chunk_seq;
  }
}

// ---- the kernel ----

struct TileGrid {
  int m_tiles, n_tiles;
  __device__ int count() const { return m_tiles * n_tiles; }
};

// The gather's view of output pixel (row) m: .x the element offset in the
// NHWC codes of its window's first tap, channel 0 (((b * H + ih0) * W + iw0)
// * C, possibly in the padding, so outside the image), .y a mask of the taps
// (bit i * kw + j) that fall inside the image: the others, and every tap of
// a row past m, read zeros. (At most 32 taps: LaunchInt8ConvGemm's callers
// check.)
__device__ __forceinline__ int2 RowTaps(const ConvGatherA& g, int m, int rows) {
  if (m >= rows) return make_int2(0, 0);
  const int b = m / g.pixels, p = m - b * g.pixels;
  const int oh = p / g.out_width, ow = p - oh * g.out_width;
  const int ih0 = oh * g.stride_h - g.pad_top, iw0 = ow * g.stride_w - g.pad_left;
  uint32_t mask = 0;
  for (int i = 0; i < g.kernel_h; ++i) {
    const int ih = ih0 + i * g.dilation_h;
    if (ih < 0 || ih >= g.height) continue;
    for (int j = 0; j < g.kernel_w; ++j) {
      const int iw = iw0 + j * g.dilation_w;
      if (iw >= 0 && iw < g.width) mask |= 1u << (i * g.kernel_w + j);
    }
  }
  return make_int2(((b * g.height + ih0) * g.width + iw0) * g.channels, static_cast<int>(mask));
}

// The implicit convolution's producers (warpgroup 0, all 128 threads): A's
// [kBlockM, 128] stage is the im2col rows of the tile's output pixels and a
// 128-code slice of K = (i * kw + j) * C + c, gathered from the NHWC codes in
// 16-byte chunks (16 channels of one tap: C % 16 == 0) with cp.async, zeros
// in the padding and past K, in the 128-byte swizzle that TMA would have
// written (chunk column ^ row % 8). Thread t always fills chunk column t % 8
// of rows t / 8 + 16 q: a warp's copy is four rows' 128 contiguous bytes.
// Rows past m are not copied at all: their accumulators are never stored.
// The tile's rows (RowTaps) are worked out once per tile into row_taps (the
// producers alone read it: a named barrier among them), so that a chunk
// costs a shared load, a mask test, an add and the copy. (Measured on the
// H100: one producer warp per scheduler issues all of this, and working out
// each chunk's tap position and bounds anew, ~20 dependent instructions a
// chunk, took 2 us a stage; the table, 1.1 us. One thread per row, all
// eight chunks from registers, issued fewer instructions but scattered each
// warp's copy over 32 rows and was slower at large M.)
// Thread 0 also loads W's stage through TMA (its arrival carries W's
// bytes). Each thread commits a stage's copies as one group and arrives on
// that stage's stage_full kArriveLag stages later, once cp.async.wait_group
// has seen the group land: kArriveLag + 1 stages of copies in flight a
// thread.
template <class T, int kBlockN>
__device__ __forceinline__ void ProduceConvStages(const ConvGatherA& g, const CUtensorMap* w_map,
                                                  uint8_t* ring, uint64_t* stage_full,
                                                  uint64_t* stage_free, int2* row_taps,
                                                  TileGrid tiles, int num_k_tiles, int rows) {
  constexpr int kBlockM = T::kBlockM, kStages = T::kStages;
  constexpr int kProducerBarrier = 3;  // 1 and 2 are the consumers'
  const int t = threadIdx.x;
  const int column = t % 8, first_row = t / 8;
  const uint32_t ring_address = SharedAddress(ring);
  const uint32_t chunk_offset = first_row * kBlockK + ((column ^ (first_row % 8)) * 16);
  const int8_t* const codes = g.codes;
  const int channels = g.channels, kernel_w = g.kernel_w, taps = g.kernel_h * g.kernel_w;
  const int tap_step_h = g.dilation_h * g.width * channels, tap_step_w = g.dilation_w * channels;
  // At most kStages - 2: stage i + kStages waits for the consumers to free
  // stage i, which needs stage i's arrival, made at stage i + kArriveLag.
  constexpr int kArriveLag = kStages - 2;
  static_assert(kArriveLag >= 1, "the implicit convolution needs 3 stages or more");
  int iteration = 0;
  for (int tile = blockIdx.x; tile < tiles.count(); tile += gridDim.x) {
    const int m0 = (tile / tiles.n_tiles) * kBlockM, n0 = (tile % tiles.n_tiles) * kBlockN;
    // This thread's rows inside m: first_row + 16 q for q < row_count.
    const int row_count = max(0, min(kBlockM, rows - m0) - first_row + 15) / 16;
    WarpgroupBarrier(kProducerBarrier);  // every thread is done with the last tile's rows
    for (int r = t; r < kBlockM; r += 128) row_taps[r] = RowTaps(g, m0 + r, rows);
    WarpgroupBarrier(kProducerBarrier);
    // The tap (i, j) and channel c of this thread's first chunk of K.
    int tap = column * 16 / channels, c = column * 16 - tap * channels;
    int i = tap / kernel_w, j = tap - i * kernel_w;
    for (int kt = 0; kt < num_k_tiles; ++kt, ++iteration) {
      const int s = iteration % kStages;
      if (iteration >= kStages) BarrierWait(&stage_free[s], ((iteration / kStages) + 1) & 1);
      const uint32_t stage = ring_address + s * T::kStageBytes + chunk_offset;
      if (t == 0) {
        uint8_t* w_stage = ring + s * T::kStageBytes + kBlockM * kBlockK;
        BarrierArriveExpectBytes(&stage_full[s], kBlockN * kBlockK);
        TmaLoadTile(w_stage, w_map, &stage_full[s], kt * kBlockK, n0);
      }
      // This thread's chunk: tap (i, j), channels [c, c + 16), at element
      // offset `offset` from the row's first tap; no tap past K.
      const int offset = i * tap_step_h + j * tap_step_w + c;
      const uint32_t tap_bit = tap < taps ? 1u << tap : 0u;
      const int2* taps = row_taps + first_row;
#pragma unroll 4
      for (int q = 0; q < row_count; ++q) {
        const int2 row = taps[16 * q];
        const bool inside = (static_cast<uint32_t>(row.y) & tap_bit) != 0;
        // The address only where it is read (cp.async checks it even for
        // a zero fill).
        const int8_t* src = inside ? codes + (static_cast<int64_t>(row.x) + offset) : codes;
        CpAsync16(stage + q * 16 * kBlockK, src, inside ? 16 : 0);
      }
      CpAsyncCommit();
      // The next stage's chunk: 128 codes of K on (no division: each step
      // of C moves to the next tap).
      for (c += kBlockK; c >= channels; c -= channels) {
        ++tap;
        if (++j == kernel_w) j = 0, ++i;
      }
      if (iteration >= kArriveLag) {
        CpAsyncWait<kArriveLag>();  // stage iteration - kArriveLag has landed
        // cp.async wrote through the generic proxy; wgmma reads through the
        // async one: order the two before the release.
        FenceProxyAsyncShared();
        BarrierArrive(&stage_full[(iteration - kArriveLag) % kStages]);
      }
    }
  }
  // The last kArriveLag stages.
  CpAsyncWait<0>();
  FenceProxyAsyncShared();
  for (int i = max(iteration - kArriveLag, 0); i < iteration; ++i)
    BarrierArrive(&stage_full[i % kStages]);
}

// The implicit convolution through TMA's im2col mode (kAIm2col; C % 128 ==
// 0, so a stage's 128 codes of K are one tap's channels [c, c + 128)): one
// thread issues, per stage, A's box (the tile's block_m output pixels from
// the window origin of its first one, moved by the stage's tap) and W's
// box, as the rows producer does. The tap and channel follow K from stage
// to stage without divisions.
template <class T, int kBlockN>
__device__ __forceinline__ void ProduceIm2colStages(const ConvGatherA& g, const CUtensorMap* a_map,
                                                    const CUtensorMap* w_map, uint8_t* ring,
                                                    uint64_t* stage_full, uint64_t* stage_free,
                                                    TileGrid tiles, int num_k_tiles) {
  constexpr int kBlockM = T::kBlockM, kStages = T::kStages;
  int iteration = 0;
  for (int tile = blockIdx.x; tile < tiles.count(); tile += gridDim.x) {
    const int m0 = (tile / tiles.n_tiles) * kBlockM, n0 = (tile % tiles.n_tiles) * kBlockN;
    // The window origin of the tile's first output pixel.
    const int b = m0 / g.pixels, p = m0 - b * g.pixels;
    const int oh = p / g.out_width, ow = p - oh * g.out_width;
    const int w0 = ow * g.stride_w - g.pad_left, h0 = oh * g.stride_h - g.pad_top;
    int c = 0, i = 0, j = 0;
    for (int kt = 0; kt < num_k_tiles; ++kt, ++iteration) {
      const int s = iteration % kStages;
      if (iteration >= kStages) BarrierWait(&stage_free[s], ((iteration / kStages) + 1) & 1);
      uint8_t* stage = ring + s * T::kStageBytes;
      BarrierArriveExpectBytes(&stage_full[s], T::kStageBytes);
      TmaLoadIm2col(stage, a_map, &stage_full[s], c, w0, h0, b,
                    static_cast<uint16_t>(j * g.dilation_w),
                    static_cast<uint16_t>(i * g.dilation_h));
      TmaLoadTile(stage + kBlockM * kBlockK, w_map, &stage_full[s], kt * kBlockK, n0);
      c += kBlockK;
      if (c == g.channels) {
        c = 0;
        if (++j == g.kernel_w) j = 0, ++i;
      }
    }
  }
}

template <int kBlockN, int kRowTiles, bool kPingpong, StoreKind kStore, int kASource>
__global__ void __launch_bounds__(kThreads, 1)
    Int8GemmKernel(const __grid_constant__ CUtensorMap a_map,
                   const __grid_constant__ CUtensorMap w_map,
                   const __grid_constant__ CUtensorMap dst_map, int k, Int8GemmEpilogue ep,
                   ConvGatherA conv) {
  using T = Tile<kBlockN, kRowTiles, kPingpong, kASource>;
  constexpr int kBlockM = T::kBlockM, kStages = T::kStages, kRings = T::kRings;

  extern __shared__ uint8_t shared_raw[];
  uint8_t* shared = reinterpret_cast<uint8_t*>(
      (reinterpret_cast<uintptr_t>(shared_raw) + kSharedAlign - 1) & ~uintptr_t{kSharedAlign - 1});
  __shared__ uint64_t stage_full[kRings][kStages], stage_free[kRings][kStages];
  // Per consumer, the current tile's column scales and biases: loaded while the
  // mainloop runs, so the epilogue does not wait on scattered global loads.
  __shared__ float column_scale[2][kBlockN], column_bias[2][kBlockN];
  __shared__ int2 row_taps[kASource == kAGather ? kBlockM : 1];  // ProduceConvStages's

  const int num_k_tiles = (k + kBlockK - 1) / kBlockK;
  const TileGrid tiles{(ep.m + kBlockM - 1) / kBlockM, (ep.n + kBlockN - 1) / kBlockN};
  // Ring r serves tiles blockIdx.x * kRings + r, then every gridDim.x * kRings-th.
  const int tile_stride = gridDim.x * kRings;
  const int warpgroup = threadIdx.x / 128;

  if (threadIdx.x == 0) {
    for (int r = 0; r < kRings; ++r)
      for (int s = 0; s < kStages; ++s) {
        // The producer's arrive, plus the TMA bytes; with kAGather also each
        // producer thread's cp.async arrival.
        BarrierInit(&stage_full[r][s], kASource == kAGather ? 1 + 128 : 1);
        BarrierInit(&stage_free[r][s], T::kConsumersPerRing);
      }
    // Make the initialised barriers visible to the TMA unit (async proxy).
    asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
  }
  __syncthreads();

  if (warpgroup == 0) {
    // The producer needs few registers: hand them to the math warpgroups
    // (40 + 2 x 232 per thread of a warpgroup fit the SM's 64 Ki), which
    // otherwise spill at the 168 that 384 threads per block allow.
    asm volatile("setmaxnreg.dec.sync.aligned.u32 40;\n" ::: "memory");
    if constexpr (kASource == kAGather) {
      ProduceConvStages<T, kBlockN>(conv, &w_map, shared, stage_full[0], stage_free[0], row_taps,
                                    tiles, num_k_tiles, ep.m);
      return;
    }
    if constexpr (kASource == kAIm2col) {
      if (threadIdx.x == 0)
        ProduceIm2colStages<T, kBlockN>(conv, &a_map, &w_map, shared, stage_full[0], stage_free[0],
                                        tiles, num_k_tiles);
      return;
    }
    const int ring = threadIdx.x / 32;
    if (ring < kRings && threadIdx.x % 32 == 0) {
      uint8_t* ring_base = shared + ring * T::kRingBytes;
      int iteration = 0;  // k-tiles loaded into this ring so far, over all tiles
      for (int tile = blockIdx.x * kRings + ring; tile < tiles.count(); tile += tile_stride) {
        const int m0 = (tile / tiles.n_tiles) * kBlockM, n0 = (tile % tiles.n_tiles) * kBlockN;
        for (int kt = 0; kt < num_k_tiles; ++kt, ++iteration) {
          const int s = iteration % kStages;
          // Wait for the consumers to release the stage's previous contents.
          if (iteration >= kStages)
            BarrierWait(&stage_free[ring][s], ((iteration / kStages) + 1) & 1);
          uint8_t* stage = ring_base + s * T::kStageBytes;
          // Out-of-bounds parts of a box count towards the bytes too.
          BarrierArriveExpectBytes(&stage_full[ring][s], T::kStageBytes);
          TmaLoadTile(stage, &a_map, &stage_full[ring][s], kt * kBlockK, m0);
          TmaLoadTile(stage + kBlockM * kBlockK, &w_map, &stage_full[ring][s], kt * kBlockK, n0);
        }
      }
    }
    return;
  }

  asm volatile("setmaxnreg.inc.sync.aligned.u32 232;\n" ::: "memory");
  const int consumer = warpgroup - 1;
  const int ring = kPingpong ? consumer : 0;
  const int row_offset = kPingpong ? 0 : consumer * T::kConsumerRows;  // within the tile
  const uint8_t* ring_base = shared + ring * T::kRingBytes;
  const int warp = (threadIdx.x % 128) / 32, lane = threadIdx.x % 32;
  const bool leader = threadIdx.x % 128 == 0;  // issues the consumer's TMA stores
  uint8_t* staging = shared + kRings * T::kRingBytes + consumer * T::kStagingBuffers * kChunkBytes;
  uint32_t chunk_seq = 0;  // staged chunks stored so far (over all tiles)
  // Accumulator layout of wgmma m64nN (per warpgroup): value i of thread
  // (warp w, lane l) is row 16 w + l / 4 + 8 ((i / 2) % 2), column
  // 8 (i / 4) + 2 (l % 4) + i % 2.
  int32_t acc[kRowTiles][kBlockN / 2];
  int iteration = 0;

  for (int tile = blockIdx.x * kRings + ring; tile < tiles.count(); tile += tile_stride) {
    const int m0 = (tile / tiles.n_tiles) * kBlockM, n0 = (tile % tiles.n_tiles) * kBlockN;
    // Column parameters and row scales of this tile, fetched before the math
    // (the barrier: the previous tile's epilogue has read its parameters).
    WarpgroupBarrier(1 + consumer);
    for (int c = threadIdx.x % 128; c < kBlockN; c += 128) {
      const bool inside = n0 + c < ep.n;
      column_scale[consumer][c] = inside ? ep.w_scales[n0 + c] : 0.f;
      column_bias[consumer][c] = inside && ep.bias != nullptr ? ep.bias[n0 + c] : 0.f;
    }
    if constexpr (kStore != StoreKind::kDirect) {
      // Bring the tile's residual into L2 while the mainloop runs (a row per
      // thread; the row pitch and the tile's first column are 16-byte aligned).
      const int t = threadIdx.x % 128, row = m0 + row_offset + t;
      if (ep.residual != nullptr && t < T::kConsumerRows && row < ep.m) {
        constexpr int kBytes = kStore == StoreKind::kTmaBf16 ? 2 : 4;
        PrefetchL2(static_cast<const uint8_t*>(ep.residual) +
                       (static_cast<int64_t>(row) * ep.n + n0) * kBytes,
                   std::min(kBlockN, ep.n - n0) * kBytes);
      }
    }
    const int row_base = m0 + row_offset + warp * 16 + lane / 4;
    float row_scale[kRowTiles][2];
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const int row = row_base + r * 64 + 8 * h;
        row_scale[r][h] = row < ep.m ? ep.a_scales[row / ep.a_scale_rows] : 0.f;
      }

#pragma unroll
    for (int r = 0; r < kRowTiles; ++r)
#pragma unroll
      for (int i = 0; i < kBlockN / 2; ++i) acc[r][i] = 0;

    for (int kt = 0; kt < num_k_tiles; ++kt, ++iteration) {
      const int s = iteration % kStages;
      BarrierWait(&stage_full[ring][s], (iteration / kStages) & 1);
      const uint8_t* stage = ring_base + s * T::kStageBytes;
      const uint8_t* a_tile = stage + row_offset * kBlockK;
      const uint64_t desc_w = SwizzledTileDescriptor(stage + kBlockM * kBlockK);
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
      // Measured: waiting for this group before releasing its stage (rather
      // than keeping one group in flight, which holds a stage longer) is
      // faster with 3 or 4 stages; the other consumer keeps the tensor cores
      // busy in the meantime.
      WgmmaWait<0>();
#pragma unroll
      for (int r = 0; r < kRowTiles; ++r) PinAccumulators(acc[r]);
      if (threadIdx.x % 128 == 0) BarrierArrive(&stage_free[ring][s]);
    }
    WarpgroupBarrier(1 + consumer);  // the column parameters are in shared memory

    // One branch per tile between the epilogues with and without a residual
    // and with each activation (the residual's loads in the loop cost 2x at
    // K = 768 with a null residual; a runtime relu test per pair cost the
    // bf16 epilogue 25-35% at SAM's batch-8 shapes), so that each epilogue's
    // loop has only its own code.
    // kAbsMax: the per-image maximum of |written value| (RaiseImageAbsMax).
    float row_max[kRowTiles][2];
#pragma unroll
    for (int r = 0; r < kRowTiles; ++r) row_max[r][0] = row_max[r][1] = 0.f;
    auto store_tile = [&](auto residual, auto act, auto absmax) {
      constexpr bool kResidual = decltype(residual)::value;
      constexpr Activation kAct = decltype(act)::value;
      constexpr bool kAbsMax = decltype(absmax)::value;
#pragma unroll
      for (int r = 0; r < kRowTiles; ++r) {
        const int row0 = row_base + r * 64;
#pragma unroll
        for (int j = 0; j < kBlockN / 8; ++j) {
          const int c = 8 * j + 2 * (lane % 4), col = n0 + c;
          if (col >= ep.n) continue;
          const float w0 = column_scale[consumer][c], w1 = column_scale[consumer][c + 1];
          const float b0 = column_bias[consumer][c], b1 = column_bias[consumer][c + 1];
          if (row0 < ep.m)
            StorePair<kResidual, kAct, kAbsMax>(
                ep, row0, col, Dequantize<kAct>(acc[r][4 * j], row_scale[r][0], w0, b0),
                Dequantize<kAct>(acc[r][4 * j + 1], row_scale[r][0], w1, b1), row_max[r][0]);
          if (row0 + 8 < ep.m)
            StorePair<kResidual, kAct, kAbsMax>(
                ep, row0 + 8, col, Dequantize<kAct>(acc[r][4 * j + 2], row_scale[r][1], w0, b0),
                Dequantize<kAct>(acc[r][4 * j + 3], row_scale[r][1], w1, b1), row_max[r][1]);
        }
      }
    };
    const auto store = [&](auto residual, auto act, auto absmax) {
      if constexpr (kStore == StoreKind::kDirect) {
        store_tile(residual, act, absmax);
      } else {
        constexpr bool kAbsMax = decltype(absmax)::value;
        constexpr bool kResidual = decltype(residual)::value;
        constexpr Activation kAct = decltype(act)::value;
        constexpr int kBuffers = T::kStagingBuffers;
        const int m_first = m0 + row_offset, row_in_tile = warp * 16 + lane / 4;
        // f32 output over its own residual: the TMA reduction adds it
        // (measured: the residual loads made the f32 epilogue ~25% slower);
        // not when the maximum is wanted (the sums never reach registers).
        constexpr bool kCanReduce =
            kResidual && kStore == StoreKind::kTmaF32 && kAct != Activation::kRelu && !kAbsMax;
        if constexpr (kCanReduce) {
          if (ep.residual == ep.dst) {
            StoreTileStaged<kBlockN, kRowTiles, kBuffers, kStore, false, kAct, false, true>(
                acc, row_scale, column_scale[consumer], column_bias[consumer], ep, &dst_map,
                staging, chunk_seq, m_first, n0, row_in_tile, leader, 1 + consumer, row_max);
            return;
          }
        }
        StoreTileStaged<kBlockN, kRowTiles, kBuffers, kStore, kResidual, kAct, kAbsMax>(
            acc, row_scale, column_scale[consumer], column_bias[consumer], ep, &dst_map, staging,
            chunk_seq, m_first, n0, row_in_tile, leader, 1 + consumer, row_max);
      }
    };
    const auto with_activation = [&](auto residual, auto absmax) {
      switch (ep.activation) {
        case Activation::kGeluErf:
          return store(residual, std::integral_constant<Activation, Activation::kGeluErf>{},
                       absmax);
        case Activation::kRelu:
          return store(residual, std::integral_constant<Activation, Activation::kRelu>{}, absmax);
        case Activation::kNone:
          break;
      }
      return store(residual, std::integral_constant<Activation, Activation::kNone>{}, absmax);
    };
    // The maximum is one more template choice (a runtime test per value is
    // what the activation's measurement above warns against). Not in the
    // bf16 TMA kernel: its variants made the 256x128 and ping-pong kernels
    // spill (424 bytes, ptxas -v), and it is the transformers' MatMul path;
    // Run stores bf16 with the maximum from registers instead.
    const auto with_residual = [&](auto absmax) {
      if (ep.residual != nullptr)
        with_activation(std::true_type{}, absmax);
      else
        with_activation(std::false_type{}, absmax);
    };
    bool stored = false;
    if constexpr (kStore != StoreKind::kTmaBf16) {
      if (ep.image_absmax != nullptr) {
        with_residual(std::true_type{});
        RaiseImageAbsMax<kRowTiles>(row_max, ep, m0 + row_offset + warp * 16, lane);
        stored = true;
      }
    }
    if (!stored) with_residual(std::false_type{});
  }
  // The last stores must be done before the block's shared memory goes away.
  if constexpr (kStore != StoreKind::kDirect) {
    if (leader) BulkWaitAll();
  }
}

// The implicit convolution has f32 outputs only (the int8-dynamic
// convolution's); its kernels are not built for bf16.
template <int kBlockN, int kRowTiles, bool kPingpong, int kASource>
Status SetSharedLimit() {
  auto set = [](auto kernel) -> Status {
    OCTET_CUDA_RETURN_IF_ERROR(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                             Tile<kBlockN, kRowTiles, kPingpong, kASource>::kSharedBytes));
    return Status::Ok();
  };
  OCTET_RETURN_IF_ERROR(
      set(Int8GemmKernel<kBlockN, kRowTiles, kPingpong, StoreKind::kDirect, kASource>));
  OCTET_RETURN_IF_ERROR(
      set(Int8GemmKernel<kBlockN, kRowTiles, kPingpong, StoreKind::kTmaF32, kASource>));
  if constexpr (kASource == kARows)
    OCTET_RETURN_IF_ERROR(
        set(Int8GemmKernel<kBlockN, kRowTiles, kPingpong, StoreKind::kTmaBf16, false>));
  return Status::Ok();
}

template <int kBlockN, int kRowTiles, bool kPingpong, int kASource>
Status Launch(const CUtensorMap& a_map, const ConvGatherA& conv, const CUtensorMap& w_map,
              const CUtensorMap* dst_map, int k, const Int8GemmEpilogue& ep, int sm_count,
              cudaStream_t stream) {
  using T = Tile<kBlockN, kRowTiles, kPingpong, kASource>;
  const int64_t tiles =
      int64_t{(ep.m + T::kBlockM - 1) / T::kBlockM} * ((ep.n + kBlockN - 1) / kBlockN);
  const int64_t blocks = std::min<int64_t>((tiles + T::kRings - 1) / T::kRings, sm_count);
  const dim3 grid(static_cast<unsigned>(blocks));
  if (dst_map == nullptr) {
    const CUtensorMap unused{};
    Int8GemmKernel<kBlockN, kRowTiles, kPingpong, StoreKind::kDirect, kASource>
        <<<grid, kThreads, T::kSharedBytes, stream>>>(a_map, w_map, unused, k, ep, conv);
  } else if (ep.dst_bf16) {
    if constexpr (kASource != kARows) {
      return Internal("LaunchInt8ConvGemm: the implicit convolution writes f32");
    } else {
      Int8GemmKernel<kBlockN, kRowTiles, kPingpong, StoreKind::kTmaBf16, kARows>
          <<<grid, kThreads, T::kSharedBytes, stream>>>(a_map, w_map, *dst_map, k, ep, conv);
    }
  } else {
    Int8GemmKernel<kBlockN, kRowTiles, kPingpong, StoreKind::kTmaF32, kASource>
        <<<grid, kThreads, T::kSharedBytes, stream>>>(a_map, w_map, *dst_map, k, ep, conv);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Int8GemmKernel");
  return Status::Ok();
}

// The implicit convolution's cooperative tiles for one A source (kAGather
// or kAIm2col): raising their shared-memory limits, and the launch by tile.
template <int kASource>
Status PrepareConvTiles() {
  OCTET_RETURN_IF_ERROR((SetSharedLimit<256, 1, false, kASource>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 2, false, kASource>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<192, 1, false, kASource>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<64, 2, false, kASource>()));
  return Status::Ok();
}

template <int kASource>
Status LaunchConvTile(const char* what, Int8GemmTile tile, const CUtensorMap& a_map,
                      const ConvGatherA& conv, const CUtensorMap& w_map, const CUtensorMap* dst_map,
                      int k_padded, const Int8GemmEpilogue& epilogue, int sm_count,
                      cudaStream_t stream) {
  if (epilogue.dst_bf16) return Internal(what, ": the implicit convolution writes f32 output");
  switch (tile) {
    case Int8GemmTile::kCooperative128x256:
      return Launch<256, 1, false, kASource>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative256x128:
      return Launch<128, 2, false, kASource>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative128x192:
      return Launch<192, 1, false, kASource>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative256x64:
      return Launch<64, 2, false, kASource>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                            sm_count, stream);
    case Int8GemmTile::kPingpong128x128:
    case Int8GemmTile::kAuto:
      break;
  }
  return Internal(what, ": tile ", Int8GemmTileName(tile),
                  " has no implicit-convolution kernel (cooperative tiles only)");
}

}  // namespace
}  // namespace octet::cuda::sm90
