// Which CUDA device is there, and what it can do.
#pragma once

#include <cstddef>
#include <string>

#include "octet/status.h"

namespace octet::cuda {

struct DeviceProperties {
  int ordinal = 0;
  std::string name;  // "NVIDIA H100 80GB HBM3"
  int compute_capability_major = 0, compute_capability_minor = 0;
  int sm_count = 0;
  size_t global_memory_bytes = 0;
  size_t l2_cache_bytes = 0;
  // What one block may use after cudaFuncSetAttribute raises its dynamic limit.
  size_t max_shared_memory_per_block_optin = 0;

  int compute_capability() const {
    return compute_capability_major * 10 + compute_capability_minor;
  }
  // "NVIDIA H100 80GB HBM3 (device 0, sm_90, 132 SMs, 79.1 GiB)"
  std::string ToString() const;
};

// True when the CUDA runtime finds a driver and at least one device. Never
// fails: without a GPU (CI) it returns false and, if `reason` is given, says
// why ("cudaGetDeviceCount: cudaErrorNoDevice (no CUDA-capable device is
// detected)").
bool DeviceAvailable(std::string* reason = nullptr);

// The properties of `device`, or of the calling thread's current device when
// `device` is negative.
Expected<DeviceProperties> GetDeviceProperties(int device = -1);

}  // namespace octet::cuda
