// GEMMs on cuBLASLt: the int8 -> int32 product (the peer the fused int8 GEMM
// is measured against, and what cuBLASLt offers for int8: it has no int8
// GEMM with per-row x per-column scales and a bf16 output, see
// docs/cuda-backend.md) and the bf16 GEMM (the path for unquantized layers and
// the fallback on GPUs the int8 kernel does not support).
//
//   C[m, n] = A[m, k] x W[n, k]^T     (row-major; W in nn.Linear's layout)
//
// Create picks cuBLASLt's first heuristic algorithm for the fixed (m, n, k) and
// allocates the workspace it may use; Run only enqueues. Like the other
// kernels, a created CublasLtGemm is immutable and may run on several streams.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "octet/cuda/int8_kernels.h"  // Activation
#include "octet/status.h"

namespace octet::cuda {

enum class CublasLtGemmType {
  kInt8Int32,  // A, W i8; C i32 (exact)
  kBf16,       // A, W, C bf16; f32 accumulation
};

struct CublasLtGemmConfig {
  int64_t m = 0, n = 0, k = 0;
  CublasLtGemmType type = CublasLtGemmType::kBf16;
  // kBf16 only: C = act(A W^T + bias), bias a bf16 [n] device array that must
  // outlive the kernel (or null), act kNone or kGeluErf.
  const void* bias = nullptr;
  Activation activation = Activation::kNone;
  size_t workspace_bytes = size_t{32} << 20;
};

class CublasLtGemm {
 public:
  // kInt8Int32 needs k and n multiples of 4 (cuBLASLt's int8 layouts).
  static Expected<CublasLtGemm> Create(const CublasLtGemmConfig& config);

  // Device pointers, 16-byte aligned.
  Status Run(const void* a, const void* w, void* c, cudaStream_t stream) const;

  // "cuBLASLt i8[4096,768] x i8[2304,768]^T -> i32"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::cuda
