// The i8 (int8-weight-only) instantiations of the weight-only GEMM kernel.
#include "weight_only_gemm_kernel.cuh"

namespace octet::cuda::weight_only {

int RowsPerTile(Variant v) {
  return v == Variant::kRows8Cols16 ? 8 : v == Variant::kRows32Cols16 ? 32 : 16;
}

Status LaunchInt8(Variant variant, const GemmArgs& args, cudaStream_t stream) {
  // The group argument only shapes the K permutation for i8 (64-value runs).
  switch (variant) {
    case Variant::kRows8Cols16:
      return Launch<8, 64, 1, 2, 5, 1>(args, stream);
    case Variant::kRows16Cols16:
      return Launch<8, 64, 1, 2, 3, 2>(args, stream);
    case Variant::kRows16Cols32:
      return Launch<8, 64, 1, 4, 2, 2>(args, stream);
    case Variant::kRows32Cols16:
      return Launch<8, 64, 2, 2, 2, 2>(args, stream);
  }
  return InvalidArgument("weight-only GEMM: unknown kernel variant");
}

}  // namespace octet::cuda::weight_only
