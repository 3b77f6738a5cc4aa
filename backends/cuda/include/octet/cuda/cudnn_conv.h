// A 2-D convolution on cuDNN 9: the cuda target's float convolutions
// (docs/cuda-backend.md, "Convolutions, pooling, float GEMMs").
//
//   y = act(conv(x, w) + bias + residual)
//
// x and y f32 NCHW, w f32 [O, C / groups, kh, kw], bias f32 [O] (optional),
// residual f32 of y's dims (optional; it may be y itself), act none or relu.
// cuDNN runs f32 data on the tensor cores in TF32 (10-bit mantissa inputs,
// f32 accumulation): closer to f32 than the bf16 im2col path it replaces.
//
// Create uploads nothing (the weights and bias are the caller's device
// buffers, outliving the convolution) and makes the descriptors that do not
// depend on the input size; Run builds and caches (thread-safely, per input
// size and workspace) the tensor descriptors and cuDNN's heuristic algorithm
// the first time it sees a size: host work only, so that a captured run
// replays. The workspace is the caller's (arena scratch). One cuDNN handle per
// device is shared by every convolution; its stream is set under a lock for
// each enqueue, so convolutions may run on several streams at once.
//
// When octet_cuda is built without cuDNN (OCTET_CUDNN=OFF or not found),
// Built() is false and Create returns Unimplemented.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "octet/cuda/conv_pool_kernels.h"  // Window2d, Conv2dDims
#include "octet/status.h"

namespace octet::cuda {

struct CudnnConvConfig {
  Window2d window;
  int64_t groups = 1;
  int64_t out_channels = 0, channels_per_group = 0;  // w's first two dims
  const float* weights = nullptr;  // device [O, C / groups, kh, kw]
  const float* bias = nullptr;     // device [O] or null
  bool relu = false;
};

class CudnnConv {
 public:
  // Whether this build of octet_cuda has cuDNN.
  static bool Built();
  // The cuDNN version this process loaded (e.g. 91900), 0 without cuDNN.
  static int64_t LoadedVersion();

  static Expected<CudnnConv> Create(const CudnnConvConfig& config);

  // residual is null or of y's dims (it may equal y). Fails (InvalidArgument)
  // when dims do not fit the weights, and (Unimplemented) when cuDNN has no
  // algorithm for the size within workspace_bytes.
  Status Run(const Conv2dDims& dims, const float* x, const float* residual, float* y,
             void* workspace, size_t workspace_bytes, cudaStream_t stream) const;

  // The algorithm Run uses at these dims ("IMPLICIT_PRECOMP_GEMM, tensor
  // ops", ...): for tests and logs.
  Expected<std::string> AlgorithmFor(const Conv2dDims& dims, size_t workspace_bytes) const;

  // The workspace Run may use (what the lowering plans in the arena).
  static constexpr size_t kWorkspaceBytes = size_t{16} << 20;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace octet::cuda
