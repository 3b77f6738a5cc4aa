// The sm_90a int8 GEMM with A read from a convolution's NHWC codes through
// TMA's im2col mode (the implicit GEMM for C % 128 == 0): the cooperative
// tiles of int8_gemm_sm90_kernel.cuh with kAIm2col, f32 output.
#include "int8_gemm_sm90_kernel.cuh"

namespace octet::cuda::sm90 {

Status PrepareInt8Im2colGemmKernels() {
  OCTET_RETURN_IF_ERROR((SetSharedLimit<256, 1, false, kAIm2col>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 2, false, kAIm2col>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<192, 1, false, kAIm2col>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<64, 2, false, kAIm2col>()));
  return Status::Ok();
}

Status LaunchInt8Im2colGemm(Int8GemmTile tile, const ConvGatherA& conv, const CUtensorMap& a_map,
                            const CUtensorMap& w_map, const CUtensorMap* dst_map, int k_padded,
                            const Int8GemmEpilogue& epilogue, int sm_count, cudaStream_t stream) {
  if (epilogue.dst_bf16)
    return Internal("LaunchInt8Im2colGemm: the implicit convolution writes f32 output");
  switch (tile) {
    case Int8GemmTile::kCooperative128x256:
      return Launch<256, 1, false, kAIm2col>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative256x128:
      return Launch<128, 2, false, kAIm2col>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative128x192:
      return Launch<192, 1, false, kAIm2col>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative256x64:
      return Launch<64, 2, false, kAIm2col>(a_map, conv, w_map, dst_map, k_padded, epilogue,
                                            sm_count, stream);
    case Int8GemmTile::kPingpong128x128:
    case Int8GemmTile::kAuto:
      break;
  }
  return Internal("LaunchInt8Im2colGemm: tile ", Int8GemmTileName(tile),
                  " has no implicit-convolution kernel (cooperative tiles only)");
}

}  // namespace octet::cuda::sm90
