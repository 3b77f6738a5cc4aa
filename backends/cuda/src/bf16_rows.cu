// bf16_rows.h: one thread per destination element (these are copies, bound by
// memory; the compiler turns the index division into a multiply).
#include <cuda_bf16.h>

#include <algorithm>

#include "octet/cuda/bf16_rows.h"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

__global__ void F32ToBf16RowsKernel(const float* src, int64_t cols, __nv_bfloat16* dst,
                                    int64_t dst_cols, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t r = i / dst_cols, c = i - r * dst_cols;
    dst[i] = __float2bfloat16_rn(c < cols ? src[r * cols + c] : 0.f);
  }
}

__global__ void Bf16ToF32RowsKernel(const __nv_bfloat16* src, int64_t src_cols, float* dst,
                                    int64_t cols, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const int64_t r = i / cols, c = i - r * cols;
    dst[i] = __bfloat162float(src[r * src_cols + c]);
  }
}

unsigned BlocksFor(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65536));
}

}  // namespace

Status ConvertF32ToBf16Rows(const float* src, int64_t rows, int64_t cols, void* dst,
                            int64_t dst_cols, cudaStream_t stream) {
  if (rows < 0 || cols < 0 || dst_cols < cols)
    return InvalidArgument("ConvertF32ToBf16Rows: ", rows, " rows of ", cols, " into rows of ",
                           dst_cols);
  const int64_t n = rows * dst_cols;
  if (n == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr)
    return InvalidArgument("ConvertF32ToBf16Rows: null pointer");
  F32ToBf16RowsKernel<<<BlocksFor(n), kThreads, 0, stream>>>(
      src, cols, static_cast<__nv_bfloat16*>(dst), dst_cols, n);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("F32ToBf16RowsKernel");
  return Status::Ok();
}

Status ConvertBf16ToF32Rows(const void* src, int64_t rows, int64_t src_cols, float* dst,
                            int64_t cols, cudaStream_t stream) {
  if (rows < 0 || cols < 0 || src_cols < cols)
    return InvalidArgument("ConvertBf16ToF32Rows: ", rows, " rows of ", src_cols, " into rows of ",
                           cols);
  const int64_t n = rows * cols;
  if (n == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr)
    return InvalidArgument("ConvertBf16ToF32Rows: null pointer");
  Bf16ToF32RowsKernel<<<BlocksFor(n), kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(src),
                                                             src_cols, dst, cols, n);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Bf16ToF32RowsKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
