// The bf16 flash-attention kernel behind Bf16Attention (octet/cuda/attention.h):
// its parameters, its shared-memory size, and the per-head-dim entry points
// (instantiated in attention_kernel_d*.cu; attention_kernel.cuh is the kernel).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "octet/status.h"

namespace octet::cuda::attention {

constexpr int kBlockQueries = 128;  // query rows per thread block
constexpr int kBlockKeys = 64;      // keys per step of the inner loop
// A warp takes 16 m_tiles query rows: 8 warps of 16 rows (m_tiles 1) or 4
// warps of 32 (m_tiles 2: each K and V fragment feeds two mma; head dims up
// to 80, where the accumulators of 32 rows fit in registers).
constexpr int ThreadsFor(int m_tiles) { return kBlockQueries / (16 * m_tiles) * 32; }
constexpr bool HasTwoRowTiles(int head_dim) { return head_dim <= 80; }
constexpr int kKvStages = 2;  // K and V tiles double-buffered (cp.async)
// Shared-memory rows of Q, K and V are padded by 16 bytes so that the 8 rows
// an ldmatrix reads fall in 8 different 16-byte bank groups.
constexpr int RowPitch(int head_dim) { return head_dim + 8; }
// rel_h is kept in shared memory as [k_h][query row] f32 with 4 floats of
// padding per kh: the 8 rows x 4 columns a warp's score fragment touches then
// land in 32 different banks. rel_w is [query row][k_w] with a pitch of 8
// mod 32 floats, so that the float2 (kw, kw + 1) loads of the 8 rows x 4
// column pairs of a half-warp are conflict-free.
constexpr int kRelPitch = kBlockQueries + 4;
constexpr int RelWPitch(int k_w) { return k_w <= 8 ? 8 : (k_w - 8 + 31) / 32 * 32 + 8; }

// Dynamic shared memory: the K and V stages, Q's tile, then (position terms)
// rel_h and rel_w. When the three do not fit twice in an SM (SAM's 64x64
// grid: 126 KiB at d 64), rel_h and rel_w take Q's place once every warp has
// its Q fragments in registers, and the prologue reads Q from global memory
// instead (105 KiB at d 64: two blocks per SM).
constexpr size_t kTwoBlocksBytes = 113 * 1024;  // (228 KiB per SM) / 2 - 1 KiB reserved
constexpr size_t KvBytes(int head_dim) {
  return size_t{2} * RowPitch(head_dim) * 2 * kKvStages * kBlockKeys;
}
constexpr size_t QBytes(int head_dim) { return size_t{2} * RowPitch(head_dim) * kBlockQueries; }
constexpr size_t RelBytes(int k_h, int k_w) {
  return k_h + k_w == 0 ? 0
                        : size_t{4} * (static_cast<size_t>(kRelPitch) * k_h +
                                       static_cast<size_t>(kBlockQueries) * RelWPitch(k_w));
}
constexpr bool RelReplacesQ(int head_dim, int k_h, int k_w) {
  return k_h + k_w > 0 &&
         KvBytes(head_dim) + QBytes(head_dim) + RelBytes(k_h, k_w) > kTwoBlocksBytes;
}
// Bytes of dynamic shared memory a block uses (k_h = k_w = 0: no position terms).
constexpr size_t SharedBytes(int head_dim, int k_h, int k_w) {
  const size_t q = QBytes(head_dim), rel = RelBytes(k_h, k_w);
  return KvBytes(head_dim) + (RelReplacesQ(head_dim, k_h, k_w) ? (q > rel ? q : rel) : q + rel);
}

struct Params {
  const void* q = nullptr;  // bf16, element (0, 0, 0, 0) of each operand
  const void* k = nullptr;
  const void* v = nullptr;
  void* out = nullptr;
  int64_t q_strides[3] = {}, k_strides[3] = {}, v_strides[3] = {}, out_strides[3] = {};
  int heads = 1;
  int q_len = 0, kv_len = 0;
  int q_blocks = 0;         // ceil(q_len / kBlockQueries)
  float scale_log2e = 0.f;  // scale * log2(e): scores are kept in base 2
  // Position terms (null tables: none). Tables are f32 [q_coord, head_dim,
  // k_pad] (transposed, k padded to a multiple of 4 with zeros).
  const float* rel_h_table = nullptr;
  const float* rel_w_table = nullptr;
  int q_w = 1, k_h = 0, k_w = 1, k_h_pad = 0, k_w_pad = 0;
  int rel_w_pitch = 0;          // RelWPitch(k_w)
  float inv_k_w = 1.f;          // 1 / k_w, for key -> (kh, kw) without an integer division
  bool rel_replaces_q = false;  // RelReplacesQ(head_dim, k_h, k_w)
  int m_tiles = 1;              // 16-row m-tiles per warp: 1, or 2 (HasTwoRowTiles)
  // Position terms with m_tiles 2 (then q_h % 8 == 0 and q_w % 16 == 0): each
  // block takes an 8 x 16 patch of the query grid, not 128 consecutive rows.
  bool patch = false;
  // Patch blocks with k_w % kBlockKeys == 0: every key tile lies in one grid row.
  bool key_row_tiles = false;
  // Shift-form position tables (Rh[qy][kh] = Uh[qy - kh + k_h - 1], SAM's
  // get_rel_pos when the query and key grids are equal): non-patch blocks
  // compute rel_h = Q Uh^T and rel_w = Q Uw^T on the tensor cores instead of
  // the f32 tables (null: not shift-form). Each is U split into bf16 hi + lo
  // (hi + lo within 2^-17 of U), laid out as mma B fragments: uint4 [n_tile]
  // [k_step][lane] = {hi b0, hi b1, lo b0, lo b1}, n_tiles = ceil(L / 8) over
  // U's L = q + k - 1 rows (zero rows past L).
  const uint4* rel_h_frags = nullptr;
  const uint4* rel_w_frags = nullptr;
  int rel_h_n_tiles = 0, rel_w_n_tiles = 0;
};

// Head dims with a kernel: multiples of 16 from 16 to 128.
constexpr bool HeadDimSupported(int64_t head_dim) {
  return head_dim >= 16 && head_dim <= 128 && head_dim % 16 == 0;
}

// Sets the kernel's dynamic shared-memory limit to what it needs at most
// (the position terms of the largest grid the device allows).
Status Prepare(int head_dim, bool rel_pos, size_t shared_bytes);

// One thread block per (batch * head, block of 128 query rows).
Status Launch(int head_dim, const Params& params, int64_t batch_heads, size_t shared_bytes,
              cudaStream_t stream);

template <int kHeadDim>
Status PrepareFor(bool rel_pos, size_t shared_bytes);
template <int kHeadDim>
Status LaunchFor(const Params& params, int64_t batch_heads, size_t shared_bytes,
                 cudaStream_t stream);

}  // namespace octet::cuda::attention
