// cuBLASLt's bf16 GEMM for the weight-only kernels' large-m path:
// y[m, n] = act(x[m, k] w[n, k]^T + bias[n]) with the row count m given per
// Run (CublasLtGemm fixes m at Create). Run builds the m-dependent layouts and
// asks cuBLASLt's heuristic for an algorithm, host work only, so a created
// fallback stays immutable and can run on several streams.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "octet/cuda/device_buffer.h"
#include "octet/cuda/int8_kernels.h"  // Activation
#include "octet/status.h"

namespace octet::cuda::weight_only {

class Bf16FallbackGemm {
 public:
  // w: bf16 [n, k] and bias: bf16 [n] (or null) device arrays that must outlive the kernel.
  static Expected<Bf16FallbackGemm> Create(int64_t n, int64_t k, const void* w, const void* bias,
                                           Activation activation);
  Status Run(const void* x, int64_t m, void* y, cudaStream_t stream) const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::cuda::weight_only
