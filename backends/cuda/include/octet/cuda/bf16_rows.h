// f32 <-> bf16 conversion of row-major matrices whose rows change width: the
// edges of the bf16 attention kernel inside an f32 module. The attention
// kernel takes head dims in multiples of 16 (mma.sync k-steps); a head dim of
// 24 (SAM's tiny config) is run as 32 with zero channels, which leave every
// dot product, hence the scores and the softmax, unchanged, and whose outputs
// (zero rows of V give zero channels of O) are dropped on the way back.
//
// Like the other kernels: device pointers, enqueue on `stream`, allocate
// nothing, do not synchronise.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/status.h"

namespace octet::cuda {

// dst[r, c] = bf16(src[r, c]) for c < cols (round to nearest even), 0 for
// cols <= c < dst_cols. dst_cols >= cols.
Status ConvertF32ToBf16Rows(const float* src, int64_t rows, int64_t cols, void* dst,
                            int64_t dst_cols, cudaStream_t stream);

// dst[r, c] = f32(src[r, c]) for c < cols; src rows are src_cols >= cols wide.
Status ConvertBf16ToF32Rows(const void* src, int64_t rows, int64_t src_cols, float* dst,
                            int64_t cols, cudaStream_t stream);

}  // namespace octet::cuda
