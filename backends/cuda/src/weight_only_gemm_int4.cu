// The u4 (int4-weight-only) instantiations of the weight-only GEMM kernel:
// three group sizes x three tile variants.
#include "weight_only_gemm_kernel.cuh"

namespace octet::cuda::weight_only {
namespace {

template <int kGroup>
Status LaunchInt4Group(Variant variant, const GemmArgs& args, cudaStream_t stream) {
  switch (variant) {
    case Variant::kRows8Cols16:
      return Launch<4, kGroup, 1, 2, 5, 1>(args, stream);
    case Variant::kRows16Cols16:
      return Launch<4, kGroup, 1, 2, 3, 2>(args, stream);
    case Variant::kRows16Cols32:
      return Launch<4, kGroup, 1, 4, 2, 2>(args, stream);
    case Variant::kRows32Cols16:
      return Launch<4, kGroup, 2, 2, 2, 2>(args, stream);
  }
  return InvalidArgument("weight-only GEMM: unknown kernel variant");
}

}  // namespace

Status LaunchInt4(Variant variant, int group_size, const GemmArgs& args, cudaStream_t stream) {
  switch (group_size) {
    case 32:
      return LaunchInt4Group<32>(variant, args, stream);
    case 64:
      return LaunchInt4Group<64>(variant, args, stream);
    case 128:
      return LaunchInt4Group<128>(variant, args, stream);
  }
  return InvalidArgument("weight-only GEMM: group size ", group_size,
                         " has no kernel (32, 64 or 128)");
}

}  // namespace octet::cuda::weight_only
