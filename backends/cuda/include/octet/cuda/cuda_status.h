// CUDA runtime and cuBLASLt errors as octet::Status. Every call into either
// library goes through one of the macros below, so a failure names the call,
// the library's own error name and text, and the source line:
//   "Internal: cudaMalloc(&ptr, bytes) failed at device_buffer.cc:21:
//    cudaErrorMemoryAllocation (out of memory)"
// Kernel launches are checked with OCTET_CUDA_RETURN_IF_LAUNCH_ERROR, which
// reports a bad launch configuration at once; an error inside a running kernel
// is asynchronous and surfaces at the next synchronising call.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime_api.h>

#include "octet/status.h"

namespace octet::cuda {

// kNotFound when there is no usable device or driver (the caller asked for a
// GPU that is not there), kInternal otherwise.
Status CudaCallStatus(cudaError_t error, const char* call, const char* file, int line);
Status CublasCallStatus(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace octet::cuda

// A failed runtime call also becomes the runtime's "last error"; it is read
// back (cleared, unless sticky) so that the next launch check does not report
// it a second time as the launch's own.
#define OCTET_CUDA_RETURN_IF_ERROR(call)                                                  \
  do {                                                                                    \
    const cudaError_t _octet_cuda_error = (call);                                         \
    if (_octet_cuda_error != cudaSuccess) {                                               \
      (void)cudaGetLastError();                                                           \
      return ::octet::cuda::CudaCallStatus(_octet_cuda_error, #call, __FILE__, __LINE__); \
    }                                                                                     \
  } while (0)

#define OCTET_CUBLAS_RETURN_IF_ERROR(call)                                                     \
  do {                                                                                         \
    const cublasStatus_t _octet_cublas_status = (call);                                        \
    if (_octet_cublas_status != CUBLAS_STATUS_SUCCESS)                                         \
      return ::octet::cuda::CublasCallStatus(_octet_cublas_status, #call, __FILE__, __LINE__); \
  } while (0)

// After `kernel<<<...>>>(...)`: the launch's own error (invalid configuration,
// too much shared memory, no kernel image for this device).
#define OCTET_CUDA_RETURN_IF_LAUNCH_ERROR(kernel_name)                                            \
  do {                                                                                            \
    const cudaError_t _octet_cuda_error = cudaGetLastError();                                     \
    if (_octet_cuda_error != cudaSuccess)                                                         \
      return ::octet::cuda::CudaCallStatus(_octet_cuda_error, "launch of " kernel_name, __FILE__, \
                                           __LINE__);                                             \
  } while (0)
