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

// src: [rows, k] f32, normalised per row (ln_bias may be null) and quantized.
Status LaunchLayerNormQuantizeRows(const float* src, int64_t rows, int64_t k, const float* ln_scale,
                                   const float* ln_bias, float epsilon, float qmax, float min_scale,
                                   int8_t* codes, float* scales, cudaStream_t stream);

// QuantizeRowsPerTokenConfig's row prologue (row_map, add_rows) and the
// optional LayerNorm (ln_scale null: none) in front of the codes; rows are
// the output rows. add null: no addend (sum unused). Vectorised rows only:
// RowPrologueSupported(k).
bool RowPrologueSupported(int64_t k);
Status LaunchPrologueQuantizeRows(const float* src, const int32_t* row_map, const void* add,
                                  bool add_bf16, const int32_t* add_map, float* sum, int64_t rows,
                                  int64_t k, const float* ln_scale, const float* ln_bias,
                                  float epsilon, float qmax, float min_scale, int8_t* codes,
                                  float* scales, cudaStream_t stream);

}  // namespace octet::cuda
