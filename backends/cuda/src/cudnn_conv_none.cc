// CudnnConv (cudnn_conv.h) in a build without cuDNN: Built() is false and
// Create says how to get the convolutions anyway.
#include "octet/cuda/cudnn_conv.h"

namespace octet::cuda {

struct CudnnConv::Impl {};

bool CudnnConv::Built() { return false; }

int64_t CudnnConv::LoadedVersion() { return 0; }

Expected<CudnnConv> CudnnConv::Create(const CudnnConvConfig&) {
  return Unimplemented(
      "this octet_cuda was built without cuDNN (OCTET_CUDNN=OFF or cuDNN 9 not found): compile "
      "the model with `--cuda-conv im2col`, or rebuild with cuDNN");
}

Status CudnnConv::Run(const Conv2dDims&, const void*, void*, void*, size_t, cudaStream_t) const {
  return Unimplemented("CudnnConv: built without cuDNN");
}

Expected<std::string> CudnnConv::AlgorithmFor(const Conv2dDims&, size_t) const {
  return Unimplemented("CudnnConv: built without cuDNN");
}

Expected<std::vector<CudnnAlgoTime>> CudnnConv::MeasureAlgorithms(const Conv2dDims&, const void*,
                                                                  void*, void*, size_t) const {
  return Unimplemented("CudnnConv: built without cuDNN");
}

}  // namespace octet::cuda
