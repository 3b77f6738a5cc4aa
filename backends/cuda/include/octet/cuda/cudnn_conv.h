// A 2-D convolution on cuDNN 9 in bf16, channels last: the cuda target's
// float convolutions where cuDNN is faster than im2col + cuBLASLt
// (docs/cuda-backend.md, "Convolutions, pooling, float GEMMs").
//
//   y [N, OH, OW, O] = conv(x [N, H, W, C], w [O, kh, kw, C / groups])
//
// all bf16, f32 accumulation, y rounded to bf16. cuDNN's tensor-core kernels
// want this layout: on the H100 its f32 NCHW (TF32) kernels ran at about 20
// TFLOP/s on resnet18's convolutions against 130-270 for bf16 NHWC
// (bench/cuda_conv_bench.cc). The bias, residual and relu are the caller's
// (NhwcBf16ToNchwF32 applies them while converting back to NCHW).
//
// Create uploads nothing (the weights are the caller's device buffer,
// outliving the convolution) and makes the weight descriptor; Run builds and
// caches (thread-safely, per input size and workspace) the tensor
// descriptors and cuDNN's heuristic algorithm the first time it sees a size:
// host work only, so that a captured run replays. The workspace is the
// caller's (arena scratch). One cuDNN handle per device is shared by every
// convolution; its stream is set under a lock for each enqueue, so
// convolutions may run on several streams at once.
//
// When octet_cuda is built without cuDNN (OCTET_CUDNN=OFF or not found),
// Built() is false and Create returns Unimplemented.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/cuda/conv_pool_kernels.h"  // Window2d, Conv2dDims
#include "octet/status.h"

namespace octet::cuda {

struct CudnnConvConfig {
  Window2d window;  // pads symmetric (cuDNN's descriptor has one per axis)
  int64_t groups = 1;
  int64_t out_channels = 0, channels_per_group = 0;  // w's first and last dims
  const void* weights = nullptr;                     // device bf16 [O, kh, kw, C / groups]
};

// One algorithm's measured time (CudnnConv::MeasureAlgorithms).
struct CudnnAlgoTime {
  int algo = 0;      // cudnnConvolutionFwdAlgo_t
  std::string name;  // "IMPLICIT_PRECOMP_GEMM, tensor ops"
  double ms = 0;
  size_t workspace_bytes = 0;
};

class CudnnConv {
 public:
  // Whether this build of octet_cuda has cuDNN.
  static bool Built();
  // The cuDNN version this process loaded (e.g. 91900), 0 without cuDNN.
  static int64_t LoadedVersion();

  static Expected<CudnnConv> Create(const CudnnConvConfig& config);

  // x and y bf16 NHWC device tensors of `dims` (NCHW sizes). Fails
  // (InvalidArgument) when dims do not fit the weights, and (Unimplemented)
  // when cuDNN has no algorithm for the size within workspace_bytes.
  Status Run(const Conv2dDims& dims, const void* x, void* y, void* workspace,
             size_t workspace_bytes, cudaStream_t stream) const;

  // The algorithm Run uses at these dims ("IMPLICIT_PRECOMP_GEMM, tensor
  // ops", ...): for tests and logs.
  Expected<std::string> AlgorithmFor(const Conv2dDims& dims, size_t workspace_bytes) const;

  // Times every algorithm cuDNN offers at these dims within the workspace
  // (cudnnFindConvolutionForwardAlgorithmEx: each run on x, the weights and
  // y, which it overwrites), fastest first. Synchronises the device.
  Expected<std::vector<CudnnAlgoTime>> MeasureAlgorithms(const Conv2dDims& dims, const void* x,
                                                         void* y, void* workspace,
                                                         size_t workspace_bytes) const;

  // The workspace Run may use (what the lowering plans in the arena).
  static constexpr size_t kWorkspaceBytes = size_t{16} << 20;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace octet::cuda
