#include "octet/cuda/device_buffer.h"

#include <utility>

#include "octet/cuda/cuda_status.h"

namespace octet::cuda {

Expected<DeviceBuffer> DeviceBuffer::Allocate(size_t bytes) {
  DeviceBuffer buffer;
  if (bytes == 0) return buffer;
  OCTET_CUDA_RETURN_IF_ERROR(cudaMalloc(&buffer.data_, bytes));
  buffer.bytes_ = bytes;
  return buffer;
}

Expected<DeviceBuffer> DeviceBuffer::FromHost(const void* host, size_t bytes) {
  OCTET_ASSIGN_OR_RETURN(DeviceBuffer buffer, Allocate(bytes));
  OCTET_RETURN_IF_ERROR(buffer.CopyFromHost(host, bytes));
  return buffer;
}

DeviceBuffer::DeviceBuffer(DeviceBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), bytes_(std::exchange(other.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) (void)cudaFree(data_);
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) (void)cudaFree(data_);
}

Status DeviceBuffer::CopyFromHost(const void* host, size_t bytes) {
  if (bytes > bytes_)
    return OutOfRange("copy of ", bytes, " bytes into a device buffer of ", bytes_, " bytes");
  if (bytes == 0) return Status::Ok();
  OCTET_CUDA_RETURN_IF_ERROR(cudaMemcpy(data_, host, bytes, cudaMemcpyHostToDevice));
  return Status::Ok();
}

Status DeviceBuffer::CopyToHost(void* host, size_t bytes) const {
  if (bytes > bytes_)
    return OutOfRange("copy of ", bytes, " bytes out of a device buffer of ", bytes_, " bytes");
  if (bytes == 0) return Status::Ok();
  OCTET_CUDA_RETURN_IF_ERROR(cudaMemcpy(host, data_, bytes, cudaMemcpyDeviceToHost));
  return Status::Ok();
}

Expected<Stream> Stream::Create() {
  Stream stream;
  OCTET_CUDA_RETURN_IF_ERROR(cudaStreamCreateWithFlags(&stream.stream_, cudaStreamNonBlocking));
  return stream;
}

Stream::Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
    stream_ = std::exchange(other.stream_, nullptr);
  }
  return *this;
}

Stream::~Stream() {
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

Status Stream::Synchronize() const {
  OCTET_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  return Status::Ok();
}

}  // namespace octet::cuda
