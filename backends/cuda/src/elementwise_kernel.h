// The launch interface between elementwise.cc (validation, broadcasting) and
// elementwise.cu (the kernels).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/cuda/elementwise.h"
#include "octet/status.h"

namespace octet::cuda {

// Merged dims (innermost last) and each operand's strides (0: broadcast).
struct BroadcastParams {
  int rank = 0;
  int64_t numel = 0;
  int64_t dims[kMaxElementwiseRank] = {};
  int64_t a_strides[kMaxElementwiseRank] = {};
  int64_t b_strides[kMaxElementwiseRank] = {};
};

// a and b of n elements each (a_scalar / b_scalar: one element, repeated).
Status LaunchBinaryFlat(BinaryOp op, const float* a, bool a_scalar, const float* b, bool b_scalar,
                        float* out, int64_t n, cudaStream_t stream);
Status LaunchBinaryBroadcast(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                             float* out, cudaStream_t stream);
Status LaunchUnary(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream);

}  // namespace octet::cuda
