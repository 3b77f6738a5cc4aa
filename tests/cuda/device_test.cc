// The CUDA foundation: error statuses, device discovery, buffers and streams.
#include <gtest/gtest.h>

#include "cuda_test_util.h"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

TEST(CudaStatus, NamesTheCallTheErrorAndTheLine) {
  const Status s =
      CudaCallStatus(cudaErrorMemoryAllocation, "cudaMalloc(&ptr, bytes)", "/a/b/buffer.cc", 21);
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(),
            "cudaMalloc(&ptr, bytes) failed at buffer.cc:21: cudaErrorMemoryAllocation (out of "
            "memory)");
}

TEST(CudaStatus, MissingDeviceIsNotFound) {
  EXPECT_EQ(CudaCallStatus(cudaErrorNoDevice, "cudaGetDevice(&d)", "x.cc", 1).code(),
            StatusCode::kNotFound);
  EXPECT_EQ(CudaCallStatus(cudaErrorInsufficientDriver, "cudaGetDevice(&d)", "x.cc", 1).code(),
            StatusCode::kNotFound);
}

TEST(CudaStatus, CublasNotSupportedIsUnimplemented) {
  const Status s = CublasCallStatus(CUBLAS_STATUS_NOT_SUPPORTED, "cublasLtMatmul(...)", "g.cc", 7);
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  EXPECT_NE(s.message().find("cublasLtMatmul(...) failed at g.cc:7: CUBLAS_STATUS_NOT_SUPPORTED"),
            std::string::npos)
      << s.message();
}

Status FailingCall() {
  OCTET_CUDA_RETURN_IF_ERROR(cudaErrorInvalidValue);
  return Status::Ok();
}

TEST(CudaStatus, MacroReturnsTheFailure) {
  const Status s = FailingCall();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("cudaErrorInvalidValue failed at device_test.cc:"), std::string::npos)
      << s.message();
}

TEST(Device, AvailabilityComesWithAReason) {
  std::string reason;
  if (DeviceAvailable(&reason)) {
    auto props = GetDeviceProperties();
    ASSERT_TRUE(props.ok()) << props.status().ToString();
    EXPECT_GT(props->sm_count, 0);
    EXPECT_GT(props->compute_capability(), 0);
    EXPECT_FALSE(props->name.empty());
    std::printf("device: %s\n", props->ToString().c_str());
  } else {
    EXPECT_FALSE(reason.empty());
    EXPECT_FALSE(GetDeviceProperties().ok());
  }
}

TEST(DeviceBuffer, RoundTripsAndBoundsCopies) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const std::vector<int32_t> host = {1, -2, 3, 1 << 30};
  DeviceBuffer buffer = testing::Upload(host);
  EXPECT_EQ(buffer.bytes(), host.size() * sizeof(int32_t));
  EXPECT_EQ(testing::Download<int32_t>(buffer, host.size()), host);
  DeviceBuffer moved = std::move(buffer);
  EXPECT_EQ(buffer.data(), nullptr);
  std::vector<int32_t> too_many(5);
  EXPECT_EQ(moved.CopyToHost(too_many.data(), 5 * sizeof(int32_t)).code(), StatusCode::kOutOfRange);
  auto empty = DeviceBuffer::Allocate(0);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->data(), nullptr);
}

TEST(DeviceBuffer, HugeAllocationFailsAsStatus) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  auto huge = DeviceBuffer::Allocate(size_t{1} << 50);  // 1 PiB
  ASSERT_FALSE(huge.ok());
  EXPECT_NE(huge.status().message().find("cudaMalloc"), std::string::npos);
  EXPECT_NE(huge.status().message().find("cudaErrorMemoryAllocation"), std::string::npos);
  // Not sticky: the device still works.
  EXPECT_TRUE(DeviceBuffer::Allocate(1024).ok());
}

TEST(Stream, CreatesAndSynchronizes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  auto stream = Stream::Create();
  ASSERT_TRUE(stream.ok()) << stream.status().ToString();
  EXPECT_NE(stream->get(), nullptr);
  EXPECT_TRUE(stream->Synchronize().ok());
}

}  // namespace
}  // namespace octet::cuda
