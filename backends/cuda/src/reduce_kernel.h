// The launch interface between reduce.cc (validation, dim merging) and
// reduce.cu (the kernels).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/cuda/reduce.h"
#include "octet/status.h"

namespace octet::cuda {

// The kept dims (y's, innermost last) with x's strides, and the reduced dims
// with x's strides (innermost last).
struct ReduceParams {
  int kept_rank = 0, reduced_rank = 0;
  int64_t outputs = 1, count = 1;  // y's elements; elements reduced into each
  int64_t kept_dims[kMaxReduceRank] = {}, kept_strides[kMaxReduceRank] = {};
  int64_t reduced_dims[kMaxReduceRank] = {}, reduced_strides[kMaxReduceRank] = {};
  bool inner_reduced = false;  // the innermost dim of x is reduced (stride 1)
};

Status LaunchReduce(ReduceOp op, const ReduceParams& p, const float* x, float* y,
                    cudaStream_t stream);
Status LaunchSoftmax(const float* x, int64_t rows, int64_t k, float* y, cudaStream_t stream);

}  // namespace octet::cuda
