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
  // Row i's scale is a_scales[i / a_scale_rows]: [m] per row, or one per
  // image of a convolution's output pixels (a_scale_rows = OH * OW).
  const float* a_scales = nullptr;
  int a_scale_rows = 1;
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

// A convolution's input as the GEMM's A operand, gathered by the kernel
// (the implicit GEMM): row m is output pixel (b, oh, ow) = m / pixels, ...,
// column kk = (i * kernel_w + j) * channels + c its window's tap (i, j) of
// channel c, read from the NHWC codes (zeros in the padding and for kk >= k).
// channels % 16 == 0; at most 32 taps (kernel_h * kernel_w); element offsets
// of every window position, padding included, within int32
// (Int8DynamicGemm::RunConv checks).
struct ConvGatherA {
  const int8_t* codes = nullptr;  // i8 [batch, height, width, channels], 16-byte aligned
  int height = 0, width = 0, channels = 0;
  int out_width = 0, pixels = 0;  // pixels = out_height * out_width
  int kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0;
  int dilation_h = 1, dilation_w = 1;
};

// Raises every tile's dynamic shared-memory limit on the current device.
Status PrepareInt8GemmKernels();
Status PrepareInt8ConvGemmKernels();
Status PrepareInt8Im2colGemmKernels();

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

// The same GEMM with A gathered from a convolution's input (ConvGatherA;
// k_padded = the weights' K, a multiple of 16 >= conv.k), f32 output only, a
// cooperative tile (kPingpong128x128 is refused). epilogue.m is the number of
// output pixels.
Status LaunchInt8ConvGemm(Int8GemmTile tile, const ConvGatherA& conv, const CUtensorMap& w_map,
                          const CUtensorMap* dst_map, int k_padded,
                          const Int8GemmEpilogue& epilogue, int sm_count, cudaStream_t stream);

// The same with A read through a_map, an im2col map of conv's codes
// (MakeInt8Im2colMap with box_pixels = the tile's block_m): C % 128 == 0.
Status LaunchInt8Im2colGemm(Int8GemmTile tile, const ConvGatherA& conv, const CUtensorMap& a_map,
                            const CUtensorMap& w_map, const CUtensorMap* dst_map, int k_padded,
                            const Int8GemmEpilogue& epilogue, int sm_count, cudaStream_t stream);

}  // namespace octet::cuda::sm90
