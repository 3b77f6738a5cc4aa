// Host-side view of the weight-only GEMM kernels (weight_only_gemm_kernel.cuh
// for i8, weight_only_gemv_u4.cuh for u4): the packed layouts they read and the
// launchers of their instantiations.
//
// i8 packed layout. K is cut into chunks of 64 values, N into tiles of 8
// columns; the codes of one (tile, chunk) are one 512-byte block, 16 bytes for
// each lane of the warp that reads it, so a warp reads a block with one
// coalesced 16-byte load per lane. Blocks are stored tile-major:
// [n_pad / 8][chunks][32 lanes][16 bytes], so a warp walking K reads each of
// its tiles sequentially. Lane l = 4 g + t holds column 8 tile + g. Within a
// chunk, the K order is permuted (the sum over k does not care, as long as x is
// read the same way) so that each lane's values are contiguous in x: in every
// run group of 64 values, lane t holds the 16 values [16 t, 16 (t + 1)). One
// 16-byte load of x (8 bf16) per row then feeds two mma k-steps. Step s of
// mma.sync m16n8k16 takes, in lane t, the values 4 s' + {0, 1} of that run as
// the "k = 2t, 2t+1" pair and 4 s' + {2, 3} as "k = 2t+8, 2t+9". Each 32-bit
// word holds 4 consecutive values, lowest address first. Scales: f32 [n_pad].
//
// u4 packed layout. The dequantized weights are the mma's A operand: a tile is
// 16 columns (the A fragment's 16 rows), a chunk 128 values of K. The codes of
// one (tile, chunk) are 1 KB: two 512-byte halves [2][32 lanes][16 bytes],
// stored [n_pad / 16][chunks][2][32][16], so a warp reads each half with one
// coalesced 16-byte load per lane and walks its tiles sequentially. Lane
// l = 4 g + t holds columns 16 tile + g and + g + 8. The K order is permuted as
// for i8 but with the group as the run group: in every group of G values lane t
// holds the G / 4 values [G/4 t, G/4 (t + 1)), its 32 values per chunk being
// those runs, group after group; x is read with the same 16-byte loads, and a
// group maps onto whole mma steps (G / 16 of them), so its partial sum can be
// scaled alone. Step s (0..7) takes the lane's values 4s..4s+3 of both
// columns from word s of its 32 bytes, as nibbles [v0 v2 v4 v6 v1 v3 v5 v7]
// with (v0, v1) = column g values 4s, 4s+1; (v2, v3) = column g + 8, same
// values; (v4, v5) = column g values 4s+2, 4s+3; (v6, v7) = column g + 8 — so
// (word >> 4p) & 0x000F000F is A fragment register p once OR-ed with 0x4300
// (128.0). Group parameters per (tile, chunk), [n_pad / 16][chunks][8 g][G'],
// G' = 128 / G groups per chunk: scales as float2 (column g, column g + 8) and
// zero points as u16 (byte 0: column g, byte 1: column g + 8), so a lane's
// parameters for a chunk are one 8-, 16- or 32-byte load. Padding (k_pad,
// n_pad) holds code 0, zero point 0 and scale 0.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "octet/status.h"

namespace octet::cuda::weight_only {

constexpr int kChunkK(int bits) { return bits == 4 ? 128 : 64; }
constexpr int kChunkU4 = 128;
constexpr int kNPad = 32;  // n_pad is a multiple of the widest block (32 columns)

// Kernel variants: rows per block tile and columns per block. i8: kRows8Cols16
// uses half of the mma's 16 rows and keeps 4 chunks of weights and the next
// chunk of x in flight per warp (m <= 8). u4: each maps to a GemvShape
// (GemvShapeFor) with as many rows per block.
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

// u4 kernel shapes (weight_only_gemv_u4.cuh): rows of y per block (8 nb),
// 16-column tiles per warp, stages of loads in flight for the weights and for
// x (0: x staged in shared memory for the block's K range), warps per block,
// of which col_warps side by side along N (the rest split K), and blocks per
// cluster splitting K further (0: the launcher picks 4, 2 or 1 from the blocks
// the GPU holds at once).
struct GemvShape {
  int nb = 1, tiles = 1, stages = 4, x_stages = 2, warps = 8, col_warps = 1, split = 1;
};
// The instantiated shapes: the first kGemvPathShapes are the paths' (all group
// sizes), the rest group 128 only, for the benchmark's sweep.
constexpr int kGemvPathShapes = 11;
int GemvShapeCount();
GemvShape GemvShapeAt(int index);
// The cluster split shape `index` runs these arguments with (group 128's
// occupancy; the same for the other groups within a block or so).
int GemvSplitFor(int index, const GemmArgs& args);
// The shape a path runs for these arguments (n_pad, m, chunks).
int GemvShapeFor(Variant variant, const GemmArgs& args, int group_size);
// The path shapes GemvShapeFor chooses among for `variant` (what tuning times).
std::vector<int> GemvCandidateShapes(Variant variant);
// Whether to launch shape `shape` with programmatic dependent launch for these
// arguments (not where it would leave many block slots free).
bool GemvProgrammaticLaunchHelps(int shape, int group_size, const GemmArgs& args);
Status LaunchInt4(int shape, int group_size, const GemmArgs& args, bool pdl, cudaStream_t stream);
Status LaunchInt8(Variant variant, const GemmArgs& args, cudaStream_t stream);
// The packed weights of `args` (packed, scales, zeros, n, k, n_pad, chunks)
// as bf16 [n, k] row-major into w (16-byte aligned), each value the host's
// DequantizedBf16 (weight_only_pack.h).
Status DequantizePackedToBf16(const GemmArgs& args, int bits, int group_size, void* w,
                              cudaStream_t stream);

}  // namespace octet::cuda::weight_only
