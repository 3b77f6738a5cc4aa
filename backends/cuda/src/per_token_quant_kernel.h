// Device side of QuantizeRowsPerToken (int8_kernels.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/status.h"

namespace octet::cuda {

// src: [rows, k] f32 (src_bf16 false) or bf16; one thread block per row.
Status LaunchQuantizeRowsPerToken(const void* src, bool src_bf16, int64_t rows, int64_t k,
                                  float qmax, float min_scale, int8_t* codes, float* scales,
                                  cudaStream_t stream);

}  // namespace octet::cuda
