// Device side of float_kernels.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/status.h"

namespace octet::cuda {

Status LaunchAddF32(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);
Status LaunchF32ToBf16(const float* x, void* y, int64_t n, cudaStream_t stream);
Status LaunchBf16ToF32(const void* x, float* y, int64_t n, cudaStream_t stream);
// bias may be null. One block per row.
Status LaunchLayerNormF32(const float* x, int64_t rows, int64_t k, const float* scale,
                          const float* bias, float epsilon, float* y, cudaStream_t stream);

// x, y: [outer, channels, inner]; one thread per (outer, inner) column.
Status LaunchChannelLayerNormF32(const float* x, int64_t outer, int64_t channels, int64_t inner,
                                 const float* scale, const float* bias, float epsilon, float* y,
                                 cudaStream_t stream);

}  // namespace octet::cuda
