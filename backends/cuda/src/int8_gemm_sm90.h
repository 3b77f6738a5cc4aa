// The sm_90a int8 GEMM kernel with the dequantizing epilogue (int8_kernels.h
// says what it computes; docs/cuda-backend.md how).
#pragma once

#include <cuda.h>  // CUtensorMap (types only)
#include <cuda_runtime_api.h>

#include "octet/cuda/int8_kernels.h"
#include "octet/status.h"

namespace octet::cuda::sm90 {

struct TileShape {
  int block_m = 0, block_n = 0, stages = 0;  // block_m: rows of one consumer's tile in ping-pong
  int staging_buffers = 0;  // per math warpgroup: 8 KiB buffers of the TMA-store epilogue
};
// The shape of a concrete tile (not kAuto).
TileShape ShapeOf(Int8GemmTile tile);

struct Int8GemmEpilogue {
  const float* a_scales = nullptr;  // [m]
  const float* w_scales = nullptr;  // [n]
  const float* bias = nullptr;      // [n] or null
  void* dst = nullptr;              // [m, n], bf16 or f32
  // [m, n] of dst's type added last (a residual sum), or null. May be dst:
  // each element is read and then written by the same thread.
  const void* residual = nullptr;
  int m = 0, n = 0;
  bool dst_bf16 = true;
  // GELU on the dequantized value, before the residual; relu on the sum,
  // after the residual (a resnet block's end).
  Activation activation = Activation::kNone;
  // Or null: f32 [m / image_rows], zeroed before the launch; raised to the
  // largest |value| written (after the residual, the activation and the
  // rounding to dst's type) over each image's rows: row i is in image
  // i / image_rows (a convolution's output pixels, NHWC). The next int8
  // convolution's per-image quantization scale comes from it.
  float* image_absmax = nullptr;
  int image_rows = 0;
};

// Raises every tile's dynamic shared-memory limit on the current device.
Status PrepareInt8GemmKernels();

// The rows of the boxes in which the epilogue stores through TMA
// (MakeOutputTileMap's box_rows), for every tile.
constexpr int kOutputBoxRows = 64;

// a_map: A [m, k] in boxes [tile's block_m, 128]; w_map: W [n, k] in boxes
// [tile's block_n, 128] (MakeInt8TileMap). dst_map: the output in boxes of
// [kOutputBoxRows, 128 bytes] (MakeOutputTileMap), or null: then the epilogue
// stores from registers (any n, any alignment of the residual). With a map,
// the residual must be 16-byte aligned. The grid is persistent: at most
// sm_count blocks.
Status LaunchInt8Gemm(Int8GemmTile tile, const CUtensorMap& a_map, const CUtensorMap& w_map,
                      const CUtensorMap* dst_map, int k, const Int8GemmEpilogue& epilogue,
                      int sm_count, cudaStream_t stream);

}  // namespace octet::cuda::sm90
