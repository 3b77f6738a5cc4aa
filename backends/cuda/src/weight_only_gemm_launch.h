// Host-side view of the weight-only GEMM kernels (weight_only_gemm_kernel.cuh):
// the packed layout they read and the launchers of their instantiations.
//
// Packed layout. K is cut into chunks of kChunkK(bits) values (128 for u4,
// 64 for i8), N into tiles of 8 columns; the codes of one (tile, chunk) are
// one 512-byte block, 16 bytes for each lane of the warp that reads it, so a
// warp reads a block with one coalesced 16-byte load per lane. Blocks are
// stored tile-major: [n_pad / 8][chunks][32 lanes][16 bytes], so a warp walking
// K reads each of its tiles sequentially.
//
// Lane l = 4 g + t holds column 8 tile + g. Within a chunk, the K order is
// permuted (the sum over k does not care, as long as x is read the same way)
// so that each lane's values are contiguous in x: in every group of G values
// (G = the group size for u4, 64 for i8), lane t holds the G / 4 values
// [G/4 t, G/4 (t + 1)), and its 16 bytes are that run for each group of the
// chunk in turn. One 16-byte load of x (8 bf16) per row then feeds two mma
// k-steps, and a group never straddles an mma step, so u4 partial sums can be
// scaled per group. Step s of mma.sync m16n8k16 takes, in lane t, the values
// 4 s' + {0, 1} of that run as the "k = 2t, 2t+1" pair and 4 s' + {2, 3} as
// "k = 2t+8, 2t+9" (s' = s modulo the steps per group).
//
// u4: each 32-bit word holds 8 consecutive values v0..v7 as nibbles
// [v0 v2 v4 v6 v1 v3 v5 v7] (nibble i at bits 4i), so (word >> 4p) & 0x000F000F
// is the bf16x2 pair p = (v_2p, v_2p+1) once OR-ed with 0x4300 (128.0). i8:
// each word holds 4 consecutive values, lowest address first.
//
// Scales: u4 f32 [k_pad / G][n_pad], zero points u8 [k_pad / G][n_pad]; i8 f32
// [n_pad]. Padding (k_pad, n_pad) holds code 0 and scale 0.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/status.h"

namespace octet::cuda::weight_only {

constexpr int kChunkK(int bits) { return bits == 4 ? 128 : 64; }
constexpr int kNPad = 32;  // n_pad is a multiple of the widest block (4 tiles)

// Kernel variants: rows per block tile and columns per block. kRows8Cols16
// uses half of the mma's 16 rows and keeps 4 chunks of weights and the next
// chunk of x in flight per warp (m <= 8).
enum class Variant { kRows8Cols16, kRows16Cols16, kRows16Cols32, kRows32Cols16 };
int RowsPerTile(Variant v);

struct GemmArgs {
  const void* x = nullptr;       // bf16 [m, k]
  const void* packed = nullptr;  // 16-byte blocks as above
  const float* scales = nullptr;
  const uint8_t* zeros = nullptr;  // u4 only
  const float* bias = nullptr;     // [n] or null
  void* y = nullptr;               // bf16 [m, n]
  int m = 0, n = 0, k = 0;
  int n_pad = 0, chunks = 0;
  bool gelu = false;
};

// group_size 32, 64 or 128.
Status LaunchInt4(Variant variant, int group_size, const GemmArgs& args, cudaStream_t stream);
Status LaunchInt8(Variant variant, const GemmArgs& args, cudaStream_t stream);

}  // namespace octet::cuda::weight_only
