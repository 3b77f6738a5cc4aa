// cuBLASLt's bf16 GEMM for the weight-only kernels' large-m path:
// y[m, n] = act(x[m, k] w[n, k]^T + bias[n]) with the row count m, the bf16
// weights and the workspace given per Run (CublasLtGemm fixes m at Create).
// Run builds the m-dependent layouts and asks cuBLASLt's heuristic for an
// algorithm, host work only; it keeps no device memory of its own, so a
// created fallback stays immutable and can run on several streams at once
// (each with its own workspace).
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "octet/cuda/int8_kernels.h"  // Activation
#include "octet/status.h"

namespace octet::cuda::weight_only {

class Bf16FallbackGemm {
 public:
  // The bias as bf16 and as f32 [n] (both, or neither: null), device arrays
  // that must outlive the kernel; bf16 outputs add the first, f32 the second.
  static Expected<Bf16FallbackGemm> Create(int64_t n, int64_t k, const void* bias_bf16,
                                           const float* bias_f32, Activation activation);
  // w: bf16 [n, k]; y bf16 or (y_f32) f32 [m, n]. The workspace may be null
  // with workspace_bytes 0 (fewer algorithms); kWorkspaceBytes is what Run
  // uses well.
  Status Run(const void* x, int64_t m, const void* w, void* y, bool y_f32, void* workspace,
             size_t workspace_bytes, cudaStream_t stream) const;
  static constexpr size_t kWorkspaceBytes = size_t{4} << 20;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::cuda::weight_only
