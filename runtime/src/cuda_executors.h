// Executors of the cuda target's kernel ids ("cuda.*"; built with OCTET_CUDA).
// Unlike OpExecutor they take device memory: a CudaProgram (cuda_program.cc)
// places every value of a run in the session's device arena and calls each
// op's executor with the places of its inputs and outputs.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/int8_kernels.h"
#include "octet/cuda/weight_only_gemm.h"
#include "octet/module/module.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::runtime {

// A tensor in device memory, for the duration of one run.
struct DeviceTensor {
  void* data = nullptr;  // null for constants (executors hold their own copy)
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

class CudaOpExecutor {
 public:
  virtual ~CudaOpExecutor() = default;
  // One per op input (data null when absent or constant) and per output. Only
  // enqueues work on `stream`: no allocation, no synchronisation, no host
  // callback, so that a run's op sequence can be captured in a CUDA graph and
  // replayed. Immutable: many sessions (streams) run one executor at once.
  virtual Status Run(const std::vector<DeviceTensor>& inputs,
                     const std::vector<DeviceTensor>& outputs, cudaStream_t stream) const = 0;
};

// Validates `op` against its slots and creates its kernels; constants
// (weights, scales, bias, LayerNorm parameters) are uploaded here, once.
// Unknown kernel ids are errors naming the op.
Expected<std::unique_ptr<CudaOpExecutor>> CreateCudaOpExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants);

// The executors by kernel id. Each family of kernels keeps its executors in
// its own file (cuda_executors_*.cc) and adds its factories here.
using CudaExecutorFactory = Expected<std::unique_ptr<CudaOpExecutor>> (*)(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants);
using CudaExecutorFactories = std::map<std::string, CudaExecutorFactory>;
void AddCudaGemmExecutors(CudaExecutorFactories& factories);       // cuda_executors.cc
void AddCudaNormExecutors(CudaExecutorFactories& factories);       // cuda_executors_norm.cc
void AddCudaLayoutExecutors(CudaExecutorFactories& factories);     // cuda_executors_layout.cc
void AddCudaElementwiseExecutors(CudaExecutorFactories& f);        // cuda_executors_elementwise.cc
void AddCudaReduceExecutors(CudaExecutorFactories& factories);     // cuda_executors_reduce.cc
void AddCudaAttentionExecutors(CudaExecutorFactories& factories);  // cuda_executors_attention.cc
void AddCudaConvExecutors(CudaExecutorFactories& factories);       // cuda_executors_conv.cc
void AddCudaInt8ConvExecutors(CudaExecutorFactories& f);           // cuda_executors_conv_int8.cc
void AddCudaCudnnConvExecutors(CudaExecutorFactories& f);          // cuda_executors_conv_cudnn.cc

// Shared by the executor files.
// "op 'name' (kernel): " to begin an error message.
std::string CudaOpPrefix(const ModuleOp& op);
// "[1,2,3]"
std::string CudaDimsText(const std::vector<int64_t>& dims);
// A constant uploaded once at load, shared by the executor and its kernels
// (errors name the op; cuda_executors_conv.cc).
Expected<std::shared_ptr<const cuda::DeviceBuffer>> UploadCudaConstant(const ModuleOp& op,
                                                                       const Tensor& t);
// A convolution's or pooling's window attributes: kernel_shape, strides,
// pads [top, left, bottom, right], dilations (cuda_executors_conv.cc).
Expected<cuda::Window2d> ReadCudaWindow(const ModuleOp& op);
// x f32 [N, C, H, W] and y f32 [N, O, OH, OW] at run time; with `floor_dims`
// the output dims must be the floor form (convolutions), else they come from
// the graph (pooling's ceil_mode) and need only be non-empty windows.
Expected<cuda::Conv2dDims> ReadCudaConvDims(const ModuleOp& op, const DeviceTensor& x,
                                            const DeviceTensor& y, const cuda::Window2d& w,
                                            bool floor_dims);

// The tile `octet compile --tune` measured fastest for an int8 GEMM op
// (attributes tuned_tile and tuned_rows), into its GEMM's config; nothing
// when the op was not tuned.
Status ReadTunedInt8Tile(const ModuleOp& op, cuda::Int8DynamicGemmConfig* config);
// The WeightOnlyGemm config of a cuda.weight_only_matmul op: its constants
// (codes, scales, zero points, bias; `constant` returns the tensor of a
// slot), group size, activation and the `--tune` attributes (a kernel shape
// this runtime lacks is refused). bf16_weights is the caller's to set. Shared
// by the executor and `octet compile --tune`, so that the tuner times the
// GEMM the executor runs.
Expected<cuda::WeightOnlyGemmConfig> ReadWeightOnlyConfig(
    const ModuleOp& op, const std::function<Expected<Tensor>(int32_t slot)>& constant);
// The op's structure: input count (those beyond `required` may be -1),
// output count, and which inputs must be constants.
Status CheckCudaOpShape(const ModuleDesc& desc, const ModuleOp& op, size_t num_inputs,
                        size_t required, size_t num_outputs, const std::vector<size_t>& constant);

}  // namespace octet::runtime
