#include "octet/cuda/device.h"

#include <cuda_runtime_api.h>

#include <sstream>

#include "octet/cuda/cuda_status.h"

namespace octet::cuda {

std::string DeviceProperties::ToString() const {
  std::ostringstream os;
  os.precision(3);
  os << name << " (device " << ordinal << ", sm_" << compute_capability_major
     << compute_capability_minor << ", " << sm_count << " SMs, "
     << static_cast<double>(global_memory_bytes) / (1u << 30) << " GiB)";
  return os.str();
}

bool DeviceAvailable(std::string* reason) {
  int count = 0;
  const cudaError_t error = cudaGetDeviceCount(&count);
  if (error != cudaSuccess) {
    // cudaGetDeviceCount's error is not sticky, but it is left as the "last
    // error"; clear it so that the next launch check does not report it.
    (void)cudaGetLastError();
    if (reason != nullptr)
      *reason = std::string("cudaGetDeviceCount: ") + cudaGetErrorName(error) + " (" +
                cudaGetErrorString(error) + ")";
    return false;
  }
  if (count == 0) {
    if (reason != nullptr) *reason = "cudaGetDeviceCount: no CUDA device is visible";
    return false;
  }
  return true;
}

Expected<DeviceProperties> GetDeviceProperties(int device) {
  if (device < 0) OCTET_CUDA_RETURN_IF_ERROR(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  OCTET_CUDA_RETURN_IF_ERROR(cudaGetDeviceProperties(&prop, device));
  DeviceProperties p;
  p.ordinal = device;
  p.name = prop.name;
  p.compute_capability_major = prop.major;
  p.compute_capability_minor = prop.minor;
  p.sm_count = prop.multiProcessorCount;
  p.global_memory_bytes = prop.totalGlobalMem;
  p.l2_cache_bytes = static_cast<size_t>(prop.l2CacheSize);
  p.max_shared_memory_per_block_optin = prop.sharedMemPerBlockOptin;
  return p;
}

}  // namespace octet::cuda
