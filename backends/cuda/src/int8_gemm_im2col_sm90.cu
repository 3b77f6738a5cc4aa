// The sm_90a int8 GEMM with A read from a convolution's NHWC codes through
// TMA's im2col mode (the implicit GEMM for C % 128 == 0): the cooperative
// tiles of int8_gemm_sm90_kernel.cuh with kAIm2col, f32 output.
#include "int8_gemm_sm90_kernel.cuh"

namespace octet::cuda::sm90 {

Status PrepareInt8Im2colGemmKernels() { return PrepareConvTiles<kAIm2col>(); }

Status LaunchInt8Im2colGemm(Int8GemmTile tile, const ConvGatherA& conv, const CUtensorMap& a_map,
                            const CUtensorMap& w_map, const CUtensorMap* dst_map, int k_padded,
                            const Int8GemmEpilogue& epilogue, int sm_count, cudaStream_t stream) {
  return LaunchConvTile<kAIm2col>("LaunchInt8Im2colGemm", tile, a_map, conv, w_map, dst_map,
                                  k_padded, epilogue, sm_count, stream);
}

}  // namespace octet::cuda::sm90
