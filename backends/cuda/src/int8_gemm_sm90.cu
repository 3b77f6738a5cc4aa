// The sm_90a int8 GEMM with A read through a tensor map: the tile
// instantiations of int8_gemm_sm90_kernel.cuh (which says how the kernel
// works) and their launch.
#include "int8_gemm_sm90_kernel.cuh"

namespace octet::cuda::sm90 {

template <int kBlockN, int kRowTiles, bool kPingpong>
TileShape ShapeOfTile() {
  using T = Tile<kBlockN, kRowTiles, kPingpong, kARows>;
  return {T::kBlockM, kBlockN, T::kStages, T::kStagingBuffers};
}

TileShape ShapeOf(Int8GemmTile tile) {
  switch (tile) {
    case Int8GemmTile::kCooperative128x256:
      return ShapeOfTile<256, 1, false>();
    case Int8GemmTile::kCooperative256x128:
      return ShapeOfTile<128, 2, false>();
    case Int8GemmTile::kCooperative128x192:
      return ShapeOfTile<192, 1, false>();
    case Int8GemmTile::kPingpong128x128:
      return ShapeOfTile<128, 2, true>();
    case Int8GemmTile::kCooperative256x64:
      return ShapeOfTile<64, 2, false>();
    case Int8GemmTile::kAuto:
      break;
  }
  return {};
}

Status PrepareInt8GemmKernels() {
  OCTET_RETURN_IF_ERROR((SetSharedLimit<256, 1, false, kARows>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 2, false, kARows>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<192, 1, false, kARows>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<128, 2, true, kARows>()));
  OCTET_RETURN_IF_ERROR((SetSharedLimit<64, 2, false, kARows>()));
  return Status::Ok();
}

Status LaunchInt8Gemm(Int8GemmTile tile, const CUtensorMap& a_map, const CUtensorMap& w_map,
                      const CUtensorMap* dst_map, int k, const Int8GemmEpilogue& epilogue,
                      int sm_count, cudaStream_t stream) {
  switch (tile) {
    case Int8GemmTile::kCooperative128x256:
      return Launch<256, 1, false, kARows>(a_map, ConvGatherA{}, w_map, dst_map, k, epilogue,
                                           sm_count, stream);
    case Int8GemmTile::kCooperative256x128:
      return Launch<128, 2, false, kARows>(a_map, ConvGatherA{}, w_map, dst_map, k, epilogue,
                                           sm_count, stream);
    case Int8GemmTile::kCooperative128x192:
      return Launch<192, 1, false, kARows>(a_map, ConvGatherA{}, w_map, dst_map, k, epilogue,
                                           sm_count, stream);
    case Int8GemmTile::kPingpong128x128:
      return Launch<128, 2, true, kARows>(a_map, ConvGatherA{}, w_map, dst_map, k, epilogue,
                                          sm_count, stream);
    case Int8GemmTile::kCooperative256x64:
      return Launch<64, 2, false, kARows>(a_map, ConvGatherA{}, w_map, dst_map, k, epilogue,
                                          sm_count, stream);
    case Int8GemmTile::kAuto:
      break;
  }
  return Internal("LaunchInt8Gemm: tile kAuto must be resolved by the caller");
}

}  // namespace octet::cuda::sm90
