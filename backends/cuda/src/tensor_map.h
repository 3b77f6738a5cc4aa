// Tensor maps (TMA descriptors) for the sm_90 kernels. cuTensorMapEncodeTiled
// is a driver API function; it is reached through cudart's driver entry point
// rather than by linking libcuda, so that binaries load on machines without a
// driver (CI) and fail with a Status only when used.
#pragma once

#include <cuda.h>  // CUtensorMap (types only)

#include <cstdint>

#include "octet/status.h"

namespace octet::cuda {

// A map of a row-major [rows, cols] matrix of bytes (int8), read in boxes of
// [box_rows, 128] with the 128-byte swizzle that wgmma's K-major shared-memory
// layout expects. Reads outside the matrix are filled with zeros, which is
// what masks partial tiles in M, N and K. Needs `base` 16-byte aligned and
// cols a multiple of 16 (the row pitch in bytes).
Expected<CUtensorMap> MakeInt8TileMap(const void* base, int64_t rows, int64_t cols, int box_rows);

// A map of a row-major [rows, cols] matrix of bf16 (f32 when !bf16) that the
// int8 GEMM's epilogue writes with TMA stores, in boxes of [box_rows, 128
// bytes] with the 128-byte swizzle (the layout the epilogue stages in shared
// memory). Stores outside the matrix are dropped. Needs `base` 16-byte aligned
// and the row pitch (cols x 2 or 4 bytes) a multiple of 16.
Expected<CUtensorMap> MakeOutputTileMap(void* base, int64_t rows, int64_t cols, bool bf16,
                                        int box_rows);

// An NHWC int8 tensor read through TMA's im2col mode by a convolution's
// implicit GEMM: boxes of box_pixels output pixels (their windows' origins
// in order, stepping by the strides) x 128 channels, in the 128-byte
// swizzle, zeros outside the tensor. The corners and strides must fit the
// hardware's ranges (Int8DynamicGemm::RunConv checks).
struct Int8Im2colGeometry {
  int64_t batch = 0, height = 0, width = 0, channels = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int dilation_h = 1, dilation_w = 1;
  int box_pixels = 0;
};
Expected<CUtensorMap> MakeInt8Im2colMap(const void* base, const Int8Im2colGeometry& geometry);

}  // namespace octet::cuda
