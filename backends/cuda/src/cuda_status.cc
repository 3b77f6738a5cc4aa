#include "octet/cuda/cuda_status.h"

#include <cstring>

namespace octet::cuda {
namespace {

// "backends/cuda/src/int8_gemm.cc" -> "int8_gemm.cc": enough to find the line.
const char* BaseName(const char* path) {
  const char* slash = std::strrchr(path, '/');
  return slash != nullptr ? slash + 1 : path;
}

}  // namespace

Status CudaCallStatus(cudaError_t error, const char* call, const char* file, int line) {
  const bool no_device = error == cudaErrorNoDevice || error == cudaErrorInsufficientDriver ||
                         error == cudaErrorNoKernelImageForDevice;
  return Error(no_device ? StatusCode::kNotFound : StatusCode::kInternal, call, " failed at ",
               BaseName(file), ":", line, ": ", cudaGetErrorName(error), " (",
               cudaGetErrorString(error), ")");
}

Status CublasCallStatus(cublasStatus_t status, const char* call, const char* file, int line) {
  // cuBLASLt says NOT_SUPPORTED for a valid problem it has no kernel for.
  const StatusCode code =
      status == CUBLAS_STATUS_NOT_SUPPORTED ? StatusCode::kUnimplemented : StatusCode::kInternal;
  return Error(code, call, " failed at ", BaseName(file), ":", line, ": ",
               cublasLtGetStatusName(status), " (", cublasLtGetStatusString(status), ")");
}

}  // namespace octet::cuda
