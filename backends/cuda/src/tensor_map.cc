#include "tensor_map.h"

#include <cudaTypedefs.h>  // PFN_cuTensorMapEncodeTiled
#include <cuda_runtime_api.h>

#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

struct EncodeTiledEntryPoint {
  PFN_cuTensorMapEncodeTiled_v12000 fn = nullptr;
  Status status;
};

EncodeTiledEntryPoint ResolveEncodeTiled() {
  EncodeTiledEntryPoint entry;
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult query = cudaDriverEntryPointSymbolNotFound;
  const cudaError_t error = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &fn, 12000,
                                                             cudaEnableDefault, &query);
  if (error != cudaSuccess) {
    entry.status = CudaCallStatus(error, "cudaGetDriverEntryPointByVersion(cuTensorMapEncodeTiled)",
                                  __FILE__, __LINE__);
  } else if (query != cudaDriverEntryPointSuccess || fn == nullptr) {
    entry.status =
        NotFound("the CUDA driver has no cuTensorMapEncodeTiled (query result ",
                 static_cast<int>(query), "): the int8 GEMM needs a driver for CUDA 12.0 or later");
  } else {
    entry.fn = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(fn);
  }
  return entry;
}

const EncodeTiledEntryPoint& EncodeTiled() {
  static const EncodeTiledEntryPoint entry = ResolveEncodeTiled();
  return entry;
}

struct EncodeIm2colEntryPoint {
  PFN_cuTensorMapEncodeIm2col_v12000 fn = nullptr;
  Status status;
};

const EncodeIm2colEntryPoint& EncodeIm2col() {
  static const EncodeIm2colEntryPoint entry = [] {
    EncodeIm2colEntryPoint e;
    void* fn = nullptr;
    cudaDriverEntryPointQueryResult query = cudaDriverEntryPointSymbolNotFound;
    const cudaError_t error = cudaGetDriverEntryPointByVersion("cuTensorMapEncodeIm2col", &fn,
                                                               12000, cudaEnableDefault, &query);
    if (error != cudaSuccess)
      e.status = CudaCallStatus(error, "cudaGetDriverEntryPointByVersion(cuTensorMapEncodeIm2col)",
                                __FILE__, __LINE__);
    else if (query != cudaDriverEntryPointSuccess || fn == nullptr)
      e.status = NotFound("the CUDA driver has no cuTensorMapEncodeIm2col (query result ",
                          static_cast<int>(query), ")");
    else
      e.fn = reinterpret_cast<PFN_cuTensorMapEncodeIm2col_v12000>(fn);
    return e;
  }();
  return entry;
}

}  // namespace

Expected<CUtensorMap> MakeInt8Im2colMap(const void* base, const Int8Im2colGeometry& g) {
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0)
    return InvalidArgument("int8 NHWC tensor at ", base, " is not 16-byte aligned");
  if (g.batch <= 0 || g.height <= 0 || g.width <= 0 || g.channels <= 0 || g.channels % 16 != 0)
    return InvalidArgument("int8 NHWC tensor [", g.batch, ", ", g.height, ", ", g.width, ", ",
                           g.channels, "]: needs positive sizes and C a multiple of 16");
  const EncodeIm2colEntryPoint& entry = EncodeIm2col();
  if (!entry.status.ok()) return entry.status;
  CUtensorMap map;
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(g.channels), static_cast<cuuint64_t>(g.width),
                              static_cast<cuuint64_t>(g.height), static_cast<cuuint64_t>(g.batch)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(g.channels),
                                 static_cast<cuuint64_t>(g.width * g.channels),
                                 static_cast<cuuint64_t>(g.height * g.width * g.channels)};
  // The window origins: from -pad to the last one whose window ends inside
  // the far padding, relative to the tensor's first and last pixels.
  const int lower[2] = {-g.pad_left, -g.pad_top};
  const int upper[2] = {g.pad_right - g.dilation_w * (g.kernel_w - 1),
                        g.pad_bottom - g.dilation_h * (g.kernel_h - 1)};
  const cuuint32_t element_strides[4] = {1, static_cast<cuuint32_t>(g.stride_w),
                                         static_cast<cuuint32_t>(g.stride_h), 1};
  const CUresult result =
      entry.fn(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 4, const_cast<void*>(base), dims, strides,
               lower, upper, 128, static_cast<cuuint32_t>(g.box_pixels), element_strides,
               CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS)
    return Internal("cuTensorMapEncodeIm2col for an int8 NHWC tensor [", g.batch, ", ", g.height,
                    ", ", g.width, ", ", g.channels, "] (window ", g.kernel_h, "x", g.kernel_w,
                    ", strides ", g.stride_h, ", ", g.stride_w, ", boxes of ", g.box_pixels,
                    " pixels) failed: CUresult ", static_cast<int>(result));
  return map;
}

Expected<CUtensorMap> MakeInt8TileMap(const void* base, int64_t rows, int64_t cols, int box_rows) {
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0)
    return InvalidArgument("int8 matrix at ", base,
                           " is not 16-byte aligned (the tensor memory accelerator needs it)");
  if (rows <= 0 || cols <= 0 || cols % 16 != 0)
    return InvalidArgument("int8 matrix [", rows, ", ", cols,
                           "]: needs rows > 0 and cols a positive multiple of 16");
  const EncodeTiledEntryPoint& entry = EncodeTiled();
  if (!entry.status.ok()) return entry.status;

  CUtensorMap map;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t row_pitch[1] = {static_cast<cuuint64_t>(cols)};  // bytes
  const cuuint32_t box[2] = {128, static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult result =
      entry.fn(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<void*>(base), dims, row_pitch,
               box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
               CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS)
    return Internal("cuTensorMapEncodeTiled for an int8 matrix [", rows, ", ", cols, "] in boxes [",
                    box_rows, ", 128] failed: CUresult ", static_cast<int>(result));
  return map;
}

Expected<CUtensorMap> MakeOutputTileMap(void* base, int64_t rows, int64_t cols, bool bf16,
                                        int box_rows) {
  const int element_bytes = bf16 ? 2 : 4;
  if (reinterpret_cast<uintptr_t>(base) % 16 != 0)
    return InvalidArgument("output matrix at ", base,
                           " is not 16-byte aligned (the tensor memory accelerator needs it)");
  if (rows <= 0 || cols <= 0 || (cols * element_bytes) % 16 != 0)
    return InvalidArgument("output matrix [", rows, ", ", cols,
                           "]: needs rows > 0 and a row pitch that is a multiple of 16 bytes");
  const EncodeTiledEntryPoint& entry = EncodeTiled();
  if (!entry.status.ok()) return entry.status;

  CUtensorMap map;
  const cuuint64_t dims[2] = {static_cast<cuuint64_t>(cols), static_cast<cuuint64_t>(rows)};
  const cuuint64_t row_pitch[1] = {static_cast<cuuint64_t>(cols * element_bytes)};
  const cuuint32_t box[2] = {static_cast<cuuint32_t>(128 / element_bytes),
                             static_cast<cuuint32_t>(box_rows)};
  const cuuint32_t element_strides[2] = {1, 1};
  const CUresult result =
      entry.fn(&map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT32, 2,
               base, dims, row_pitch, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
               CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_NONE,
               CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (result != CUDA_SUCCESS)
    return Internal("cuTensorMapEncodeTiled for an output matrix [", rows, ", ", cols,
                    "] in boxes [", box_rows, ", 128 bytes] failed: CUresult ",
                    static_cast<int>(result));
  return map;
}

}  // namespace octet::cuda
