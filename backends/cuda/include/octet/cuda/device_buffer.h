// Owning wrappers for device memory and streams. Both are move-only; their
// destructors release without reporting (a failing cudaFree or
// cudaStreamDestroy means the context is already broken, and the call that
// broke it reported that).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

#include "octet/status.h"

namespace octet::cuda {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // cudaMalloc on the current device; zero bytes gives an empty buffer.
  static Expected<DeviceBuffer> Allocate(size_t bytes);
  // Allocate and copy `bytes` from host memory (synchronous).
  static Expected<DeviceBuffer> FromHost(const void* host, size_t bytes);

  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  size_t bytes() const { return bytes_; }

  // Synchronous copies of the first `bytes` bytes (at most bytes()).
  Status CopyFromHost(const void* host, size_t bytes);
  Status CopyToHost(void* host, size_t bytes) const;

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

class Stream {
 public:
  Stream() = default;
  // A non-blocking stream: it does not synchronise with the legacy default stream.
  static Expected<Stream> Create();

  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();

  cudaStream_t get() const { return stream_; }
  // Waits for the work queued so far; reports errors of kernels that ran on it.
  Status Synchronize() const;

 private:
  cudaStream_t stream_ = nullptr;
};

}  // namespace octet::cuda
