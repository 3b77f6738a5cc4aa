// The sm_90a int8 GEMM with A gathered from a convolution's NHWC codes by
// the producer warps with cp.async (the implicit GEMM for C % 16 == 0): the
// cooperative tiles of int8_gemm_sm90_kernel.cuh with kAGather, f32 output.
#include "int8_gemm_sm90_kernel.cuh"

namespace octet::cuda::sm90 {

Status PrepareInt8ConvGemmKernels() { return PrepareConvTiles<kAGather>(); }

Status LaunchInt8ConvGemm(Int8GemmTile tile, const ConvGatherA& conv, const CUtensorMap& w_map,
                          const CUtensorMap* dst_map, int k_padded,
                          const Int8GemmEpilogue& epilogue, int sm_count, cudaStream_t stream) {
  const CUtensorMap unused{};  // A has no tensor map here
  return LaunchConvTile<kAGather>("LaunchInt8ConvGemm", tile, unused, conv, w_map, dst_map,
                                  k_padded, epilogue, sm_count, stream);
}

}  // namespace octet::cuda::sm90
