// A bf16 GEMM on cuBLASLt with f32 accumulation and f32 output whose sizes
// are known only at run time: the float convolutions (implicit GEMM over an
// im2col buffer, strided-batched over the images) and the float MatMul / Gemm
// of the cuda target.
//
// In cuBLASLt's column-major terms, for each of `batch` problems b:
//
//   D[b] (m x n, f32, ld ldc) = act(op(A[b]) B[b] + beta C[b] + bias)
//
// A bf16, op(A) m x k (A stored k x m with ld lda when trans_a, else m x k),
// B bf16 k x n with ld ldb (a stride of 0 shares one B), C f32 like D (beta is
// 1 when the GEMM accumulates, else C is not read), bias f32 [m] broadcast
// over the columns, act none or relu (the bias is added, then C, then relu:
// cuBLASLt's order, D = act(alpha A B + beta C + bias)).
//
// Create fixes the epilogue; Run takes the problem's sizes, and builds and
// caches (thread-safely, keyed by the sizes and the pointers' alignment)
// cuBLASLt's layouts and heuristic algorithm the first time it sees them:
// host work only, no allocation, so that a captured run replays. The
// workspace is the caller's (arena scratch), so that streams running one
// executor at once do not share it.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "octet/status.h"

namespace octet::cuda {

struct Bf16GemmConfig {
  const float* bias = nullptr;  // device f32 [m], outliving the GEMM, or null
  bool relu = false;
  bool accumulate = false;  // D = ... + C (beta = 1)
};

struct Bf16GemmShape {
  int64_t m = 0, n = 0, k = 0;
  bool trans_a = false;
  int64_t lda = 0, ldb = 0, ldc = 0;
  int64_t batch = 1;
  int64_t stride_a = 0, stride_b = 0, stride_c = 0;  // elements between problems
};

class Bf16Gemm {
 public:
  static Expected<Bf16Gemm> Create(const Bf16GemmConfig& config);

  // c is read only when the GEMM accumulates (it may be d). The workspace may
  // be null with workspace_bytes 0 (fewer algorithms).
  Status Run(const Bf16GemmShape& shape, const void* a, const void* b, const float* c, float* d,
             void* workspace, size_t workspace_bytes, cudaStream_t stream) const;

  // The workspace Run can use well (what the callers plan in the arena).
  static constexpr size_t kWorkspaceBytes = size_t{4} << 20;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace octet::cuda
