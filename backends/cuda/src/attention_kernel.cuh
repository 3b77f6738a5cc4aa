// The bf16 flash-attention kernel (attention_kernel.h; the design is in
// docs/cuda-backend.md, "bf16 attention"). Included by the attention_kernel_d*.cu
// files, each of which instantiates some head dims, so that nvcc compiles
// the variants in parallel and recompiles little.
//
// One block takes 128 query rows of one (batch, head): 8 warps of 16 rows, or
// (head dims up to 80, long sequences) 4 warps of 32 rows. Each warp keeps,
// in registers, its rows' Q fragments, their output accumulators O[rows, d]
// (f32) and per row the running max and sum. For each
// block of 64 keys: S = Q K^T (mma.sync m16n8k16, bf16 in, f32 out), then in
// f32 x = S * scale * log2(e) + bias, new max, P = 2^(x - max), rescale of O
// and of the sum, and O += P V with P rounded to bf16 as the A operand (the
// accumulator layout of S is the A-fragment layout of P, so P never leaves
// registers). K and V tiles are double-buffered in shared memory with
// cp.async; the next tile's copy runs while the current one is multiplied.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>
#include <type_traits>

#include "attention_kernel.h"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda::attention {
namespace device {

constexpr float kLog2e = 1.4426950408889634f;

__device__ __forceinline__ uint32_t SharedAddress(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, asynchronously; valid == false writes zeros
// (rows past the end of Q, K or V), so no garbage (NaN) enters the products.
__device__ __forceinline__ void CopyChunk(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(SharedAddress(dst)),
               "l"(src), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void CommitCopies() { asm volatile("cp.async.commit_group;\n" ::); }
template <int kPending>
__device__ __forceinline__ void WaitCopies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void LoadMatrixX4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SharedAddress(p)));
}
__device__ __forceinline__ void LoadMatrixX4Transposed(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(SharedAddress(p)));
}

// c[16x8] += a[16x16] b[16x8], bf16 x bf16 -> f32.
__device__ __forceinline__ void Mma(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                    uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ float Exp2(float x) {  // 2^x; 2^-inf = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

__device__ __forceinline__ uint32_t PackBf16(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);  // .x (low half) = lo
  return *reinterpret_cast<const uint32_t*>(&v);
}

__device__ __forceinline__ float Bf16Low(uint32_t v) { return __uint_as_float(v << 16); }
__device__ __forceinline__ float Bf16High(uint32_t v) { return __uint_as_float(v & 0xffff0000u); }

// rows x kHeadDim bf16 from global (row stride `stride` elements) into shared
// memory (row pitch RowPitch); rows at or past `valid_rows` become zeros.
template <int kHeadDim, int kRows, int kNumThreads>
__device__ __forceinline__ void CopyTile(__nv_bfloat16* dst, const __nv_bfloat16* src,
                                         int64_t stride, int valid_rows) {
  constexpr int kChunks = kHeadDim / 8;  // 16-byte pieces per row
#pragma unroll 4
  for (int i = threadIdx.x; i < kRows * kChunks; i += kNumThreads) {
    const int row = i / kChunks, chunk = i % kChunks;
    const bool valid = row < valid_rows;
    CopyChunk(dst + row * RowPitch(kHeadDim) + chunk * 8,
              valid ? src + row * stride + chunk * 8 : src, valid);
  }
}

// log2(e) * <Q[r], table[coord(r)][kk]> for the block's rows r and kk < k,
// into rel[kk * kRelPitch + r] (kByRow: rel_h, coord = qy) or
// rel[r * w_pitch + kk] (rel_w, coord = qx); the table is f32
// [coord, kHeadDim, k_pad]; q_rows is the block's first Q row (shared or
// global memory: generic loads), rows q_pitch elements apart. A thread makes 4
// consecutive kk of two rows that (mostly) share their coordinate, so that
// one table load feeds 8 FFMA: rows 2i and 2i + 1 for rel_h (one grid row
// unless they straddle its end), rows r and r + q_w for rel_w (always the
// same qx; the second is missing when past the block). Consecutive threads
// take consecutive kk, so a warp reads whole table rows (coalesced), and the
// threads of one row share its 16-byte Q loads (broadcast). Rows past q_len
// get zeros.
template <int kHeadDim, bool kByRow, bool kPairs, int kNumThreads>
__device__ void RelativeTerms(const __nv_bfloat16* q_rows, int64_t q_pitch,
                              const float* __restrict__ table, int k, int k_pad, int q_w,
                              int w_pitch, int row0, int q_len, float* rel) {
  const int groups = k_pad / 4;
  const int t_pitch = k_pad / 4;  // float4s per channel
  const int items = (kPairs && kByRow ? kBlockQueries / 2 : kBlockQueries) * groups;
  for (int item = threadIdx.x; item < items; item += kNumThreads) {
    const int pair = item / groups, g = item % groups;
    // rel_w: the first rows of even runs of q_w rows (the run after is the
    // second row); increasing in `pair`, so past the block means done.
    const int ra = !kPairs ? pair : kByRow ? 2 * pair : pair / q_w * 2 * q_w + pair % q_w;
    if (ra >= kBlockQueries) break;
    const int rb = kByRow ? ra + 1 : ra + q_w;
    const int qa = row0 + ra, qb = row0 + rb;
    const bool valid_a = qa < q_len, valid_b = kPairs && rb < kBlockQueries && qb < q_len;
    float acc_a[4] = {0.f, 0.f, 0.f, 0.f}, acc_b[4] = {0.f, 0.f, 0.f, 0.f};
    if (valid_a) {
      const int ca = kByRow ? qa / q_w : qa % q_w;
      const int cb = valid_b ? (kByRow ? qb / q_w : qb % q_w) : ca;
      const bool same = ca == cb;
      const float4* ta =
          reinterpret_cast<const float4*>(table + int64_t{ca} * kHeadDim * k_pad) + g;
      const float4* tb =
          reinterpret_cast<const float4*>(table + int64_t{cb} * kHeadDim * k_pad) + g;
      const uint4* q_a = reinterpret_cast<const uint4*>(q_rows + ra * q_pitch);
      const uint4* q_b = valid_b ? reinterpret_cast<const uint4*>(q_rows + rb * q_pitch) : q_a;
#pragma unroll(kPairs ? 1 : 2)
      for (int c0 = 0; c0 < kHeadDim; c0 += 8) {
        const uint4 qva = q_a[c0 / 8], qvb = kPairs ? q_b[c0 / 8] : qva;
        const uint32_t wa[4] = {qva.x, qva.y, qva.z, qva.w};
        const uint32_t wb[4] = {qvb.x, qvb.y, qvb.z, qvb.w};
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const float xa = i % 2 == 0 ? Bf16Low(wa[i / 2]) : Bf16High(wa[i / 2]);
          const float4 tva = __ldg(ta + (c0 + i) * t_pitch);
          acc_a[0] = fmaf(xa, tva.x, acc_a[0]);
          acc_a[1] = fmaf(xa, tva.y, acc_a[1]);
          acc_a[2] = fmaf(xa, tva.z, acc_a[2]);
          acc_a[3] = fmaf(xa, tva.w, acc_a[3]);
          if constexpr (kPairs) {
            const float xb = i % 2 == 0 ? Bf16Low(wb[i / 2]) : Bf16High(wb[i / 2]);
            const float4 tvb = same ? tva : __ldg(tb + (c0 + i) * t_pitch);
            acc_b[0] = fmaf(xb, tvb.x, acc_b[0]);
            acc_b[1] = fmaf(xb, tvb.y, acc_b[1]);
            acc_b[2] = fmaf(xb, tvb.z, acc_b[2]);
            acc_b[3] = fmaf(xb, tvb.w, acc_b[3]);
          }
        }
      }
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int kk = 4 * g + e;
      if (kk >= k) continue;
      rel[kByRow ? kk * kRelPitch + ra : ra * w_pitch + kk] = acc_a[e] * kLog2e;
      if (kPairs && rb < kBlockQueries)
        rel[kByRow ? kk * kRelPitch + rb : rb * w_pitch + kk] = valid_b ? acc_b[e] * kLog2e : 0.f;
    }
  }
}

// Patch blocks: the block's 128 rows are an 8 x 16 patch of the query grid
// (local row r: qy = qy0 + r / 16, qx = qx0 + r % 16), so its rel_h needs the
// tables of 8 qy and its rel_w those of 16 qx: 24 tables of [head_dim, k]
// instead of 66 for 128 consecutive rows of SAM's 64-wide grid (384 KiB of
// f32 from L2 per block at d 64 instead of 1.03 MiB). An item is 8 rows that
// share the coordinate times 4 consecutive kk, so one float4 table load feeds
// 32 FFMA: rel_h, set s: rows (s / 2) 16 + (s % 2) 8 + i (qy0 + s / 2);
// rel_w, set s: rows 16 i + s (qx0 + s), i < 8. Q's rows come from shared
// memory (q_s, pitch RowPitch); consecutive threads take consecutive kk of
// one set (coalesced table rows, broadcast Q loads).
template <int kHeadDim, bool kByRow, int kNumThreads>
__device__ void RelativeTermsPatch(const __nv_bfloat16* q_s, const float* __restrict__ table, int k,
                                   int k_pad, int coord0, int w_pitch, float* rel) {
  constexpr int P = RowPitch(kHeadDim);
  constexpr int kRowStep = kByRow ? 1 : 16;
  const int groups = k_pad / 4;
  const int t_pitch = k_pad / 4;  // float4s per channel
  for (int item = threadIdx.x; item < 16 * groups; item += kNumThreads) {
    const int set = item / groups, g = item % groups;
    const int coord = coord0 + (kByRow ? set / 2 : set);
    const int r0 = kByRow ? set / 2 * 16 + set % 2 * 8 : set;
    const float4* t =
        reinterpret_cast<const float4*>(table + int64_t{coord} * kHeadDim * k_pad) + g;
    float acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[i][0] = acc[i][1] = acc[i][2] = acc[i][3] = 0.f;
      // 16 channels' table loads in flight before their FFMA (the table comes
      // from L2: latency, not bandwidth, bounds this loop).
#pragma unroll 1
    for (int c0 = 0; c0 < kHeadDim; c0 += 16) {
      float4 tv[16];
#pragma unroll
      for (int c = 0; c < 16; ++c) tv[c] = __ldg(t + (c0 + c) * t_pitch);
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        uint32_t w[8][4];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          const uint4 qv =
              *reinterpret_cast<const uint4*>(q_s + (r0 + i * kRowStep) * P + c0 + 8 * half);
          w[i][0] = qv.x;
          w[i][1] = qv.y;
          w[i][2] = qv.z;
          w[i][3] = qv.w;
        }
#pragma unroll
        for (int c = 0; c < 8; ++c) {
          const float4 tc = tv[8 * half + c];
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            const float x = c % 2 == 0 ? Bf16Low(w[i][c / 2]) : Bf16High(w[i][c / 2]);
            acc[i][0] = fmaf(x, tc.x, acc[i][0]);
            acc[i][1] = fmaf(x, tc.y, acc[i][1]);
            acc[i][2] = fmaf(x, tc.z, acc[i][2]);
            acc[i][3] = fmaf(x, tc.w, acc[i][3]);
          }
        }
      }
    }
    if constexpr (kByRow) {
      // rel_h[kk][r0 .. r0 + 7]: two float4 per kk (kRelPitch and r0 are
      // multiples of 4); kk past k would land in rel_w.
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int kk = 4 * g + e;
        if (kk >= k) continue;
        float4* dst = reinterpret_cast<float4*>(rel + kk * kRelPitch + r0);
        dst[0] = make_float4(acc[0][e] * kLog2e, acc[1][e] * kLog2e, acc[2][e] * kLog2e,
                             acc[3][e] * kLog2e);
        dst[1] = make_float4(acc[4][e] * kLog2e, acc[5][e] * kLog2e, acc[6][e] * kLog2e,
                             acc[7][e] * kLog2e);
      }
    } else {
      // rel_w[r][4g .. 4g + 3]: one float4 per row; kk past k (zero table
      // padding) stays inside the row's pitch (RelWPitch(k) >= k_pad).
#pragma unroll
      for (int i = 0; i < 8; ++i)
        *reinterpret_cast<float4*>(rel + (r0 + 16 * i) * w_pitch + 4 * g) = make_float4(
            acc[i][0] * kLog2e, acc[i][1] * kLog2e, acc[i][2] * kLog2e, acc[i][3] * kLog2e);
    }
  }
}

// Shift-form position terms on the tensor cores (Params::rel_h_frags): this
// warp's rows times U^T (M[r][l] = <Q[r], U[l]>, U = hi + lo, both bf16, f32
// accumulation) from the Q fragments already in registers, one 8-column
// n-tile at a time; then each M[r][l] is the term of the one key coordinate
// kk = coord(r) + k - 1 - l (if 0 <= kk < k), stored as
// rel[kk * kRelPitch + r] (kByRow: rel_h, coord = qy) or rel[r * w_pitch + kk]
// (rel_w, coord = qx). Every (r, kk) gets exactly one l < q + k - 1, so the
// quad's columns cover each row's terms once; rows past q_len take the last
// query's coordinate (their Q rows are zeros, so are their terms).
template <int kHeadDim, int kMTiles, bool kByRow>
__device__ __forceinline__ void RelativeTermsMma(
    const uint4* __restrict__ frags, int n_tiles, int k, int q_w, int q_len, int row0, int w_pitch,
    const uint32_t (&q_frag)[kMTiles][kHeadDim / 16][4], float* rel) {
  constexpr int kKSteps = kHeadDim / 16;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  int rows[kMTiles][2], base[kMTiles][2];  // block row; coord(r) + k - 1
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int r = warp * 16 * kMTiles + mt * 16 + lane / 4 + 8 * half;
      const int q = min(row0 + r, q_len - 1);
      rows[mt][half] = r;
      base[mt][half] = (kByRow ? q / q_w : q % q_w) + k - 1;
    }
#pragma unroll 1
  for (int nt = 0; nt < n_tiles; ++nt) {
    float acc[kMTiles][4] = {};
#pragma unroll
    for (int ks = 0; ks < kKSteps; ++ks) {
      const uint4 f = __ldg(frags + (nt * kKSteps + ks) * 32 + lane);
#pragma unroll
      for (int mt = 0; mt < kMTiles; ++mt) {
        Mma(acc[mt], q_frag[mt][ks], f.z, f.w);  // lo first: the smaller terms
        Mma(acc[mt], q_frag[mt][ks], f.x, f.y);
      }
    }
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = rows[mt][e / 2];
        const int kk = base[mt][e / 2] - (nt * 8 + 2 * (lane % 4) + e % 2);
        if (kk < 0 || kk >= k) continue;
        rel[kByRow ? kk * kRelPitch + r : r * w_pitch + kk] = acc[mt][e] * kLog2e;
      }
  }
}

// s = s * scale * log2(e) + rel_h[kh(key)] + rel_w[kw(key)] for this
// thread's score fragment: rows r_lo and r_hi, columns col0 + {0, 1} of each
// 8-key tile from kv0 (keys past kv_len are left for the caller to mask).
// (kh, kw) of a key: for k_w >= kBlockKeys from the tile's (uniform) first
// key with at most one wrap; otherwise from an f32 reciprocal (exact: keys
// are below 2^22). With k_w even, col0 and kv0 even put kw and kw + 1 in one
// grid row, so each pair of columns costs one kh, two rel_h loads and two
// float2 rel_w loads.
__device__ __forceinline__ void AddRelativeTerms(const Params& p, int kv0, int col0, int r_lo,
                                                 int r_hi, const float* rel_h, const float* rel_w,
                                                 float (&s)[kBlockKeys / 8][4]) {
  const int kh0 = kv0 / p.k_w, kw0 = kv0 - kh0 * p.k_w;
  const bool wide = p.k_w >= kBlockKeys;
  const auto split = [&](int col, int* kh, int* kw) {
    if (wide) {
      *kh = kh0;
      *kw = kw0 + col;
      if (*kw >= p.k_w) {
        *kw -= p.k_w;
        ++*kh;
      }
    } else {
      const int key = kv0 + col;
      *kh = __float2int_rz((static_cast<float>(key) + 0.5f) * p.inv_k_w);
      *kw = key - *kh * p.k_w;
    }
  };
  const float* w_lo = rel_w + r_lo * p.rel_w_pitch;
  const float* w_hi = rel_w + r_hi * p.rel_w_pitch;
  if (p.k_w % kBlockKeys == 0) {
    // The tile lies in one grid row (SAM's 64x64 grid: one row per tile):
    // one rel_h value per row, and the tile's keys are whole (kv_len is a
    // multiple of 64).
    const float h_lo = rel_h[kh0 * kRelPitch + r_lo], h_hi = rel_h[kh0 * kRelPitch + r_hi];
#pragma unroll
    for (int j = 0; j < kBlockKeys / 8; ++j) {
      const int kw = kw0 + j * 8 + col0;
      const float2 lo = *reinterpret_cast<const float2*>(w_lo + kw);
      const float2 hi = *reinterpret_cast<const float2*>(w_hi + kw);
      s[j][0] = fmaf(s[j][0], p.scale_log2e, h_lo + lo.x);
      s[j][1] = fmaf(s[j][1], p.scale_log2e, h_lo + lo.y);
      s[j][2] = fmaf(s[j][2], p.scale_log2e, h_hi + hi.x);
      s[j][3] = fmaf(s[j][3], p.scale_log2e, h_hi + hi.y);
    }
  } else if (p.k_w % 2 == 0) {
#pragma unroll
    for (int j = 0; j < kBlockKeys / 8; ++j) {
      const int col = j * 8 + col0;
      if (kv0 + col >= p.kv_len) continue;  // so is col + 1 (kv_len = k_h * k_w is even)
      int kh, kw;
      split(col, &kh, &kw);
      const float h_lo = rel_h[kh * kRelPitch + r_lo], h_hi = rel_h[kh * kRelPitch + r_hi];
      const float2 lo = *reinterpret_cast<const float2*>(w_lo + kw);
      const float2 hi = *reinterpret_cast<const float2*>(w_hi + kw);
      s[j][0] = fmaf(s[j][0], p.scale_log2e, h_lo + lo.x);
      s[j][1] = fmaf(s[j][1], p.scale_log2e, h_lo + lo.y);
      s[j][2] = fmaf(s[j][2], p.scale_log2e, h_hi + hi.x);
      s[j][3] = fmaf(s[j][3], p.scale_log2e, h_hi + hi.y);
    }
  } else {
#pragma unroll
    for (int j = 0; j < kBlockKeys / 8; ++j)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int col = j * 8 + col0 + e;
        if (kv0 + col >= p.kv_len) continue;
        int kh, kw;
        split(col, &kh, &kw);
        s[j][e] = fmaf(s[j][e], p.scale_log2e, rel_h[kh * kRelPitch + r_lo] + w_lo[kw]);
        s[j][2 + e] = fmaf(s[j][2 + e], p.scale_log2e, rel_h[kh * kRelPitch + r_hi] + w_hi[kw]);
      }
  }
}

// kMTiles: 16-row m-tiles per warp (1: 8 warps of 16 rows; 2: 4 warps of 32
// rows, each K / V fragment read from shared memory feeds two mma). kPatch
// (position terms, q_h % 8 == 0, q_w % 16 == 0): the block's rows are an
// 8 x 16 patch of the query grid (RelativeTermsPatch), Q's tile lies in the V
// stages during the prologue and rel_h / rel_w follow the K / V stages.
template <int kHeadDim, int kMTiles>
constexpr int MinBlocks() {
  return kMTiles == 2 || kHeadDim <= 80 ? 2 : 1;
}

template <int kHeadDim, bool kRelPos, int kMTiles, bool kPatch, bool kKeyRowTiles, bool kRelMma>
__global__ void __launch_bounds__(ThreadsFor(kMTiles), (MinBlocks<kHeadDim, kMTiles>()))
    FlashAttentionKernel(const Params p) {
  static_assert(!kPatch || kRelPos);
  static_assert(!kKeyRowTiles || kPatch);
  static_assert(!kRelMma || (kRelPos && !kPatch));
  constexpr int kNumThreads = ThreadsFor(kMTiles);
  constexpr int kWarpRows = 16 * kMTiles;
  constexpr int P = RowPitch(kHeadDim);
  constexpr int kKSteps = kHeadDim / 16;  // k-steps of Q K^T; also 16-column pairs of O
  constexpr int kKeyTiles = kBlockKeys / 8;
  // kKeyRowTiles (patch blocks, k_w % 64 == 0: SAM's global grid): each key
  // tile lies in one grid row, so rel_h is one value per row and tile and
  // joins the row max instead of every score; the bias code has no branch.
  constexpr bool kFoldH = kKeyRowTiles;
  extern __shared__ __align__(16) unsigned char smem[];
  __nv_bfloat16* k_s = reinterpret_cast<__nv_bfloat16*>(smem);  // [kKvStages][kBlockKeys][P]
  __nv_bfloat16* v_s = k_s + kKvStages * kBlockKeys * P;
  // Q's tile, then (position terms) rel_h [k_h][kRelPitch] and rel_w
  // [128][rel_w_pitch], after Q or in its place once Q is in registers.
  // Patch blocks: Q's tile in the V stages (the same size: 2 x 64 rows),
  // rel_h and rel_w after them.
  __nv_bfloat16* q_s = kPatch ? v_s : v_s + kKvStages * kBlockKeys * P;
  float* rel_h = reinterpret_cast<float*>(kPatch             ? v_s + kKvStages * kBlockKeys * P
                                          : p.rel_replaces_q ? q_s
                                                             : q_s + kBlockQueries * P);
  float* rel_w = rel_h + p.k_h * kRelPitch;

  const int q_block = static_cast<int>(blockIdx.x % p.q_blocks);
  const int64_t bh = blockIdx.x / p.q_blocks;
  const int64_t b = bh / p.heads, h = bh % p.heads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Block rows: 128 consecutive query rows from row0, or (kPatch) the patch
  // at grid row qy0, column qx0: local row r is query (qy0 + r / 16) q_w +
  // qx0 + r % 16 (all inside the grid).
  const int patches_w = kPatch ? p.q_w / 16 : 1;
  const int qy0 = kPatch ? q_block / patches_w * 8 : 0;
  const int qx0 = kPatch ? q_block % patches_w * 16 : 0;
  const int row0 = kPatch ? 0 : q_block * kBlockQueries;
  const auto query_of = [&](int r) {
    return kPatch ? (qy0 + r / 16) * p.q_w + qx0 + r % 16 : row0 + r;
  };
  const int valid_rows = kPatch ? kBlockQueries : p.q_len - row0;
  // Warps whose rows are all past q_len (the last block of a short
  // sequence: 196 = 128 + 68 rows) copy and wait with the others but skip the
  // math.
  const bool warp_active = warp * kWarpRows < valid_rows;

  const auto* q_base =
      static_cast<const __nv_bfloat16*>(p.q) + b * p.q_strides[0] + h * p.q_strides[1];
  const auto* q_g = q_base + row0 * p.q_strides[2];
  const auto* k_g =
      static_cast<const __nv_bfloat16*>(p.k) + b * p.k_strides[0] + h * p.k_strides[1];
  const auto* v_g =
      static_cast<const __nv_bfloat16*>(p.v) + b * p.v_strides[0] + h * p.v_strides[1];

  if constexpr (kPatch) {
    constexpr int kChunks = kHeadDim / 8;
#pragma unroll 4
    for (int i = threadIdx.x; i < kBlockQueries * kChunks; i += kNumThreads) {
      const int row = i / kChunks, chunk = i % kChunks;
      CopyChunk(q_s + row * P + chunk * 8, q_base + query_of(row) * p.q_strides[2] + chunk * 8,
                true);
    }
    CommitCopies();
    CopyTile<kHeadDim, kBlockKeys, kNumThreads>(k_s, k_g, p.k_strides[2], p.kv_len);
    CommitCopies();
  } else {
    CopyTile<kHeadDim, kBlockQueries, kNumThreads>(q_s, q_g, p.q_strides[2], valid_rows);
    CommitCopies();
    CopyTile<kHeadDim, kBlockKeys, kNumThreads>(k_s, k_g, p.k_strides[2], p.kv_len);
    CopyTile<kHeadDim, kBlockKeys, kNumThreads>(v_s, v_g, p.v_strides[2], p.kv_len);
    CommitCopies();
  }
  WaitCopies<1>();  // Q is in; K and V keep coming
  __syncthreads();

  // This warp's Q as A fragments, for all k-steps: before the prologue where
  // rel_h and rel_w overwrite Q's tile, otherwise after it (fewer registers
  // live during the prologue).
  uint32_t q_frag[kMTiles][kKSteps][4];
  const auto load_q = [&] {
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
      for (int kk = 0; kk < kKSteps; ++kk)
        LoadMatrixX4(q_frag[mt][kk],
                     q_s + (warp * kWarpRows + mt * 16 + lane % 8 + (lane / 8) % 2 * 8) * P +
                         kk * 16 + lane / 16 * 8);
  };
  if constexpr (kPatch) {
    load_q();
    RelativeTermsPatch<kHeadDim, true, kNumThreads>(q_s, p.rel_h_table, p.k_h, p.k_h_pad, qy0, 0,
                                                    rel_h);
    RelativeTermsPatch<kHeadDim, false, kNumThreads>(q_s, p.rel_w_table, p.k_w, p.k_w_pad, qx0,
                                                     p.rel_w_pitch, rel_w);
    __syncthreads();  // Q's tile is read: V tile 0 may take its place
    CopyTile<kHeadDim, kBlockKeys, kNumThreads>(v_s, v_g, p.v_strides[2], p.kv_len);
    CommitCopies();
  } else if constexpr (kRelMma) {
    load_q();
    if (p.rel_replaces_q) __syncthreads();  // every warp has Q: rel_h and rel_w may overwrite it
    RelativeTermsMma<kHeadDim, kMTiles, true>(p.rel_h_frags, p.rel_h_n_tiles, p.k_h, p.q_w, p.q_len,
                                              row0, 0, q_frag, rel_h);
    RelativeTermsMma<kHeadDim, kMTiles, false>(p.rel_w_frags, p.rel_w_n_tiles, p.k_w, p.q_w,
                                               p.q_len, row0, p.rel_w_pitch, q_frag, rel_w);
  } else {
    if (!kRelPos || p.rel_replaces_q) load_q();
    if constexpr (kRelPos) {
      // Q's rows from shared memory, or (rel_h and rel_w replace the tile) from
      // global memory once every warp has its fragments.
      const __nv_bfloat16* q_rows = q_s;
      int64_t q_pitch = P;
      if (p.rel_replaces_q) {
        __syncthreads();
        q_rows = q_g;
        q_pitch = p.q_strides[2];
      }
      const auto terms = [&](auto pairs_tag) {
        constexpr bool kPairs = decltype(pairs_tag)::value;
        RelativeTerms<kHeadDim, true, kPairs, kNumThreads>(
            q_rows, q_pitch, p.rel_h_table, p.k_h, p.k_h_pad, p.q_w, 0, row0, p.q_len, rel_h);
        RelativeTerms<kHeadDim, false, kPairs, kNumThreads>(q_rows, q_pitch, p.rel_w_table, p.k_w,
                                                            p.k_w_pad, p.q_w, p.rel_w_pitch, row0,
                                                            p.q_len, rel_w);
      };
      // Row pairs halve the table reads where they come from L2 (the 64x64
      // grid's rel_w table is 1 MiB); on small grids, one row per item keeps
      // the items even across the threads.
      if (p.rel_replaces_q) {
        terms(std::true_type{});
      } else {
        terms(std::false_type{});
        load_q();
      }
    }
  }
  WaitCopies<0>();
  __syncthreads();

  // Fragment coordinates: in m-tile mt this thread holds rows r and r + 8 of
  // the tile's 16 (block rows warp * kWarpRows + 16 mt + r, + 8) and, in each
  // 8-wide column tile, columns 2 * (lane % 4) and + 1.
  int r_lo[kMTiles], r_hi[kMTiles];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
    r_lo[mt] = warp * kWarpRows + mt * 16 + lane / 4;
    r_hi[mt] = r_lo[mt] + 8;
  }
  const int col0 = 2 * (lane % 4);
  float o[kMTiles][2 * kKSteps][4];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
    for (int j = 0; j < 2 * kKSteps; ++j)
      o[mt][j][0] = o[mt][j][1] = o[mt][j][2] = o[mt][j][3] = 0.f;
  float max_lo[kMTiles], max_hi[kMTiles];  // running max of x per row
  float sum_lo[kMTiles], sum_hi[kMTiles];  // this thread's part of the row sums
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
    max_lo[mt] = max_hi[mt] = -INFINITY;
    sum_lo[mt] = sum_hi[mt] = 0.f;
  }

  // One key tile's math; kFull: all 64 keys are real. Otherwise (the last
  // tile) 16-key slices past kv_len skip their products (the key tile of a
  // 196-token window holds 4) and the scores past kv_len become -inf.
  const auto tile_math = [&](const __nv_bfloat16* k_tile, const __nv_bfloat16* v_tile, int kv0,
                             auto full_tag) {
    constexpr bool kFull = decltype(full_tag)::value;
    const int valid_keys = p.kv_len - kv0;
    // S = Q K^T: K's rows (keys) are B's columns, as ldmatrix reads them.
    float s[kMTiles][kKeyTiles][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt)
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j)
        s[mt][j][0] = s[mt][j][1] = s[mt][j][2] = s[mt][j][3] = 0.f;
#pragma unroll
    for (int kk = 0; kk < kKSteps; ++kk) {
#pragma unroll
      for (int jp = 0; jp < kKeyTiles / 2; ++jp) {
        if (!kFull && jp * 16 >= valid_keys) continue;
        uint32_t kb[4];
        LoadMatrixX4(
            kb, k_tile + (jp * 16 + lane % 8 + lane / 16 * 8) * P + kk * 16 + (lane / 8) % 2 * 8);
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          Mma(s[mt][2 * jp], q_frag[mt][kk], kb[0], kb[1]);
          Mma(s[mt][2 * jp + 1], q_frag[mt][kk], kb[2], kb[3]);
        }
      }
    }

    uint32_t pa[kMTiles][kBlockKeys / 16][4];
#pragma unroll
    for (int mt = 0; mt < kMTiles; ++mt) {
      // x = S * scale * log2(e) + bias (base 2); keys past kv_len: -inf.
      // Where a key tile lies in one grid row (k_w % 64 == 0: SAM's global
      // grid), rel_h is one value per row and tile, h: s becomes x - h, and h
      // joins the row max and the exponent's offset instead of every score.
      float h_lo = 0.f, h_hi = 0.f;
      if constexpr (kRelPos) {
        if constexpr (kFoldH) {
          const int kh = kv0 / p.k_w, kw0 = kv0 - kh * p.k_w;
          h_lo = rel_h[kh * kRelPitch + r_lo[mt]];
          h_hi = rel_h[kh * kRelPitch + r_hi[mt]];
          const float* w_lo = rel_w + r_lo[mt] * p.rel_w_pitch + kw0 + col0;
          const float* w_hi = rel_w + r_hi[mt] * p.rel_w_pitch + kw0 + col0;
#pragma unroll
          for (int j = 0; j < kKeyTiles; ++j) {
            const float2 lo = *reinterpret_cast<const float2*>(w_lo + j * 8);
            const float2 hi = *reinterpret_cast<const float2*>(w_hi + j * 8);
            s[mt][j][0] = fmaf(s[mt][j][0], p.scale_log2e, lo.x);
            s[mt][j][1] = fmaf(s[mt][j][1], p.scale_log2e, lo.y);
            s[mt][j][2] = fmaf(s[mt][j][2], p.scale_log2e, hi.x);
            s[mt][j][3] = fmaf(s[mt][j][3], p.scale_log2e, hi.y);
          }
        } else {
          AddRelativeTerms(p, kv0, col0, r_lo[mt], r_hi[mt], rel_h, rel_w, s[mt]);
        }
      } else {
#pragma unroll
        for (int j = 0; j < kKeyTiles; ++j)
#pragma unroll
          for (int e = 0; e < 4; ++e) s[mt][j][e] *= p.scale_log2e;
      }
      if constexpr (!kFull) {
#pragma unroll
        for (int j = 0; j < kKeyTiles; ++j)
#pragma unroll
          for (int e = 0; e < 2; ++e)
            if (j * 8 + col0 + e >= valid_keys) s[mt][j][e] = s[mt][j][2 + e] = -INFINITY;
      }

      // Online softmax: the row max over the 4 threads of a quad.
      float tile_lo = -INFINITY, tile_hi = -INFINITY;
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j) {
        tile_lo = fmaxf(tile_lo, fmaxf(s[mt][j][0], s[mt][j][1]));
        tile_hi = fmaxf(tile_hi, fmaxf(s[mt][j][2], s[mt][j][3]));
      }
#pragma unroll
      for (int offset = 1; offset < 4; offset *= 2) {
        tile_lo = fmaxf(tile_lo, __shfl_xor_sync(0xffffffffu, tile_lo, offset));
        tile_hi = fmaxf(tile_hi, __shfl_xor_sync(0xffffffffu, tile_hi, offset));
      }
      if constexpr (kFoldH) {
        tile_lo += h_lo;
        tile_hi += h_hi;
      }
      // Every tile holds at least one real key, so the new max is finite; the
      // first tile's correction is 2^-inf = 0.
      const float new_lo = fmaxf(max_lo[mt], tile_lo), new_hi = fmaxf(max_hi[mt], tile_hi);
      const float alpha_lo = Exp2(max_lo[mt] - new_lo), alpha_hi = Exp2(max_hi[mt] - new_hi);
      max_lo[mt] = new_lo;
      max_hi[mt] = new_hi;
      // 2^(x - max) = 2^(s - (max - h)).
      const float off_lo = kFoldH ? new_lo - h_lo : new_lo;
      const float off_hi = kFoldH ? new_hi - h_hi : new_hi;
      float add_lo = 0.f, add_hi = 0.f;
#pragma unroll
      for (int j = 0; j < kKeyTiles; ++j) {
        s[mt][j][0] = Exp2(s[mt][j][0] - off_lo);
        s[mt][j][1] = Exp2(s[mt][j][1] - off_lo);
        s[mt][j][2] = Exp2(s[mt][j][2] - off_hi);
        s[mt][j][3] = Exp2(s[mt][j][3] - off_hi);
        add_lo += s[mt][j][0] + s[mt][j][1];
        add_hi += s[mt][j][2] + s[mt][j][3];
      }
      sum_lo[mt] = sum_lo[mt] * alpha_lo + add_lo;
      sum_hi[mt] = sum_hi[mt] * alpha_hi + add_hi;
#pragma unroll
      for (int j = 0; j < 2 * kKSteps; ++j) {
        o[mt][j][0] *= alpha_lo;
        o[mt][j][1] *= alpha_lo;
        o[mt][j][2] *= alpha_hi;
        o[mt][j][3] *= alpha_hi;
      }
      // P as A fragments: its accumulator layout is the A layout of keys
      // 16 kt .. 16 kt + 15.
#pragma unroll
      for (int kt = 0; kt < kBlockKeys / 16; ++kt) {
        pa[mt][kt][0] = PackBf16(s[mt][2 * kt][0], s[mt][2 * kt][1]);
        pa[mt][kt][1] = PackBf16(s[mt][2 * kt][2], s[mt][2 * kt][3]);
        pa[mt][kt][2] = PackBf16(s[mt][2 * kt + 1][0], s[mt][2 * kt + 1][1]);
        pa[mt][kt][3] = PackBf16(s[mt][2 * kt + 1][2], s[mt][2 * kt + 1][3]);
      }
    }

    // O += P V: V's rows (keys) are B's rows, read transposed by ldmatrix.
#pragma unroll
    for (int kt = 0; kt < kBlockKeys / 16; ++kt) {
      if (!kFull && kt * 16 >= valid_keys) continue;
#pragma unroll
      for (int dp = 0; dp < kKSteps; ++dp) {
        uint32_t vb[4];
        LoadMatrixX4Transposed(
            vb, v_tile + (kt * 16 + lane % 8 + (lane / 8) % 2 * 8) * P + dp * 16 + lane / 16 * 8);
#pragma unroll
        for (int mt = 0; mt < kMTiles; ++mt) {
          Mma(o[mt][2 * dp], pa[mt][kt], vb[0], vb[1]);
          Mma(o[mt][2 * dp + 1], pa[mt][kt], vb[2], vb[3]);
        }
      }
    }
  };

  const int key_tiles = (p.kv_len + kBlockKeys - 1) / kBlockKeys;
  for (int t = 0; t < key_tiles; ++t) {
    const int stage = t % kKvStages;
    const int kv0 = t * kBlockKeys;
    if (t + 1 < key_tiles) {  // the next tile's copy overlaps this tile's math
      const int next = (t + 1) % kKvStages, kv1 = kv0 + kBlockKeys;
      CopyTile<kHeadDim, kBlockKeys, kNumThreads>(
          k_s + next * kBlockKeys * P, k_g + kv1 * p.k_strides[2], p.k_strides[2], p.kv_len - kv1);
      CopyTile<kHeadDim, kBlockKeys, kNumThreads>(
          v_s + next * kBlockKeys * P, v_g + kv1 * p.v_strides[2], p.v_strides[2], p.kv_len - kv1);
    }
    CommitCopies();
    if (warp_active) {
      const __nv_bfloat16* k_tile = k_s + stage * kBlockKeys * P;
      const __nv_bfloat16* v_tile = v_s + stage * kBlockKeys * P;
      if (kv0 + kBlockKeys <= p.kv_len)
        tile_math(k_tile, v_tile, kv0, std::true_type{});
      else
        tile_math(k_tile, v_tile, kv0, std::false_type{});
    }

    WaitCopies<0>();  // the next tile is in (this thread's part) ...
    __syncthreads();  // ... everyone's part, and nobody still reads this stage
  }

  // O / sum, rounded to bf16, rows past q_len not stored.
  auto* out = static_cast<__nv_bfloat16*>(p.out) + b * p.out_strides[0] + h * p.out_strides[1];
#pragma unroll
  for (int mt = 0; mt < kMTiles; ++mt) {
#pragma unroll
    for (int offset = 1; offset < 4; offset *= 2) {
      sum_lo[mt] += __shfl_xor_sync(0xffffffffu, sum_lo[mt], offset);
      sum_hi[mt] += __shfl_xor_sync(0xffffffffu, sum_hi[mt], offset);
    }
    const float inv_lo = 1.f / sum_lo[mt], inv_hi = 1.f / sum_hi[mt];
    const bool lo_valid = r_lo[mt] < valid_rows, hi_valid = r_hi[mt] < valid_rows;
    __nv_bfloat16* out_lo = out + int64_t{query_of(r_lo[mt])} * p.out_strides[2];
    __nv_bfloat16* out_hi = out + int64_t{query_of(r_hi[mt])} * p.out_strides[2];
#pragma unroll
    for (int j = 0; j < 2 * kKSteps; ++j) {
      const int c = j * 8 + col0;
      if (lo_valid)
        *reinterpret_cast<uint32_t*>(out_lo + c) =
            PackBf16(o[mt][j][0] * inv_lo, o[mt][j][1] * inv_lo);
      if (hi_valid)
        *reinterpret_cast<uint32_t*>(out_hi + c) =
            PackBf16(o[mt][j][2] * inv_hi, o[mt][j][3] * inv_hi);
    }
  }
}

}  // namespace device

template <int kHeadDim, bool kRelPos, int kMTiles, bool kPatch, bool kKeyRowTiles,
          bool kRelMma = false>
Status PrepareVariant(size_t shared_bytes) {
  OCTET_CUDA_RETURN_IF_ERROR(cudaFuncSetAttribute(
      device::FlashAttentionKernel<kHeadDim, kRelPos, kMTiles, kPatch, kKeyRowTiles, kRelMma>,
      cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared_bytes)));
  return Status::Ok();
}

template <int kHeadDim>
Status PrepareFor(bool rel_pos, size_t shared_bytes) {
  if (rel_pos) {
    OCTET_RETURN_IF_ERROR((PrepareVariant<kHeadDim, true, 1, false, false>(shared_bytes)));
    OCTET_RETURN_IF_ERROR((PrepareVariant<kHeadDim, true, 1, false, false, true>(shared_bytes)));
    if constexpr (HasTwoRowTiles(kHeadDim)) {
      OCTET_RETURN_IF_ERROR((PrepareVariant<kHeadDim, true, 2, true, false>(shared_bytes)));
      OCTET_RETURN_IF_ERROR((PrepareVariant<kHeadDim, true, 2, true, true>(shared_bytes)));
    }
  } else {
    OCTET_RETURN_IF_ERROR((PrepareVariant<kHeadDim, false, 1, false, false>(shared_bytes)));
    if constexpr (HasTwoRowTiles(kHeadDim))
      OCTET_RETURN_IF_ERROR((PrepareVariant<kHeadDim, false, 2, false, false>(shared_bytes)));
  }
  return Status::Ok();
}

template <int kHeadDim, bool kRelPos, int kMTiles, bool kPatch, bool kKeyRowTiles,
          bool kRelMma = false>
void LaunchVariant(const Params& params, int64_t batch_heads, size_t shared_bytes,
                   cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>(batch_heads * params.q_blocks));
  device::FlashAttentionKernel<kHeadDim, kRelPos, kMTiles, kPatch, kKeyRowTiles, kRelMma>
      <<<grid, ThreadsFor(kMTiles), shared_bytes, stream>>>(params);
}

// Variants: 16-row warps (every head dim, plain or position terms from the
// f32 tables or, shift-form, on the tensor cores); 32-row warps (head dims up
// to 80): plain, or position terms on patch blocks, with or without one grid
// row per key tile.
template <int kHeadDim>
Status LaunchFor(const Params& params, int64_t batch_heads, size_t shared_bytes,
                 cudaStream_t stream) {
  const bool rel = params.rel_h_table != nullptr || params.rel_h_frags != nullptr;
  const bool two = HasTwoRowTiles(kHeadDim) && params.m_tiles == 2;
  if constexpr (HasTwoRowTiles(kHeadDim)) {
    if (two && rel && params.key_row_tiles)
      LaunchVariant<kHeadDim, true, 2, true, true>(params, batch_heads, shared_bytes, stream);
    else if (two && rel)
      LaunchVariant<kHeadDim, true, 2, true, false>(params, batch_heads, shared_bytes, stream);
    else if (two)
      LaunchVariant<kHeadDim, false, 2, false, false>(params, batch_heads, shared_bytes, stream);
  }
  if (!two) {
    if (rel && params.rel_h_frags != nullptr)
      LaunchVariant<kHeadDim, true, 1, false, false, true>(params, batch_heads, shared_bytes,
                                                           stream);
    else if (rel)
      LaunchVariant<kHeadDim, true, 1, false, false>(params, batch_heads, shared_bytes, stream);
    else
      LaunchVariant<kHeadDim, false, 1, false, false>(params, batch_heads, shared_bytes, stream);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("FlashAttentionKernel");
  return Status::Ok();
}

}  // namespace octet::cuda::attention

// Explicit instantiation of one head dim's entry points (in namespace
// octet::cuda::attention).
#define OCTET_ATTENTION_INSTANTIATE(D)                                                         \
  template Status PrepareFor<D>(bool rel_pos, size_t shared_bytes);                            \
  template Status LaunchFor<D>(const Params& params, int64_t batch_heads, size_t shared_bytes, \
                               cudaStream_t stream);
