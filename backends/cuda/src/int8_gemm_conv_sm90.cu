// The sm_90a int8 GEMM with A gathered from a convolution's NHWC input (the
// implicit GEMM of the int8-dynamic convolution): the cooperative tiles of
// int8_gemm_sm90_kernel.cuh with kConvA, f32 output.
#include "int8_gemm_sm90_kernel.cuh"

namespace octet::cuda::sm90 {

Status PrepareInt8ConvGemmKernels() {
  OCTET_RETURN_IF_ERROR((SetSharedLimit<256, 1, false, kAGather>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 2, false, kAGather>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<192, 1, false, kAGather>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<64, 2, false, kAGather>()));
  return Status::Ok();
}

Status LaunchInt8ConvGemm(Int8GemmTile tile, const ConvGatherA& conv, const CUtensorMap& w_map,
                          const CUtensorMap* dst_map, int k_padded,
                          const Int8GemmEpilogue& epilogue, int sm_count, cudaStream_t stream) {
  if (epilogue.dst_bf16)
    return Internal("LaunchInt8ConvGemm: the implicit convolution writes f32 output");
  const CUtensorMap unused{};  // A has no tensor map here
  switch (tile) {
    case Int8GemmTile::kCooperative128x256:
      return Launch<256, 1, false, kAGather>(unused, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative256x128:
      return Launch<128, 2, false, kAGather>(unused, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative128x192:
      return Launch<192, 1, false, kAGather>(unused, conv, w_map, dst_map, k_padded, epilogue,
                                             sm_count, stream);
    case Int8GemmTile::kCooperative256x64:
      return Launch<64, 2, false, kAGather>(unused, conv, w_map, dst_map, k_padded, epilogue,
                                            sm_count, stream);
    case Int8GemmTile::kPingpong128x128:
    case Int8GemmTile::kAuto:
      break;
  }
  return Internal("LaunchInt8ConvGemm: tile ", Int8GemmTileName(tile),
                  " has no implicit-convolution kernel (cooperative tiles only)");
}

}  // namespace octet::cuda::sm90
