// The u4 (int4-weight-only) instantiations of the weight-only GEMM kernel
// (weight_only_gemv_u4.cuh): the shapes the paths run, for the three group
// sizes, and more shapes at group 128 for the benchmark.
#include "weight_only_gemv_u4.cuh"

namespace octet::cuda::weight_only {
namespace {

// nb, tiles, stages, x_stages, warps. The first four are the paths'
// (Variant order); the rest only run in benchmarks (group 128).
#define OCTET_GEMV_SHAPES(X) \
  X(1, 1, 4, 2, 8)           \
  X(2, 1, 4, 2, 8)           \
  X(2, 2, 3, 1, 8)           \
  X(4, 1, 2, 1, 8)           \
  X(1, 1, 2, 1, 8)           \
  X(1, 1, 3, 1, 8)           \
  X(1, 1, 4, 1, 8)           \
  X(1, 1, 6, 2, 8)           \
  X(1, 1, 4, 4, 8)           \
  X(1, 2, 4, 2, 8)           \
  X(1, 1, 4, 2, 4)           \
  X(1, 1, 4, 2, 16)          \
  X(2, 1, 2, 2, 8)           \
  X(2, 1, 4, 1, 8)           \
  X(2, 1, 4, 4, 8)           \
  X(4, 1, 4, 2, 8)           \
  X(4, 1, 2, 2, 8)           \
  X(1, 1, 8, 2, 8)

constexpr GemvShape kShapes[] = {
#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps) {nb, tiles, stages, x_stages, warps},
    OCTET_GEMV_SHAPES(OCTET_GEMV_ENTRY)
#undef OCTET_GEMV_ENTRY
};
constexpr int kPathShapes = 4;

using Launcher = Status (*)(const GemmArgs&, bool, cudaStream_t);

template <int kGroup>
constexpr Launcher kLaunchers[] = {
#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps) \
  &LaunchGemvU4<kGroup, nb, tiles, stages, x_stages, warps>,
    OCTET_GEMV_SHAPES(OCTET_GEMV_ENTRY)
#undef OCTET_GEMV_ENTRY
};

// Groups 32 and 64: only the paths' shapes.
template <int kGroup>
constexpr Launcher kPathLaunchers[] = {
    &LaunchGemvU4<kGroup, 1, 1, 4, 2, 8>, &LaunchGemvU4<kGroup, 2, 1, 4, 2, 8>,
    &LaunchGemvU4<kGroup, 2, 2, 3, 1, 8>, &LaunchGemvU4<kGroup, 4, 1, 2, 1, 8>};

}  // namespace

int GemvShapeCount() { return static_cast<int>(std::size(kShapes)); }
GemvShape GemvShapeAt(int index) { return kShapes[index]; }

int GemvShapeFor(Variant variant) {
  switch (variant) {
    case Variant::kRows8Cols16:
      return 0;
    case Variant::kRows16Cols16:
      return 1;
    case Variant::kRows16Cols32:
      return 2;
    case Variant::kRows32Cols16:
      return 3;
  }
  return 0;
}

Status LaunchInt4(int shape, int group_size, const GemmArgs& args, bool pdl,
                  cudaStream_t stream) {
  if (shape < 0 || shape >= GemvShapeCount() || (group_size != 128 && shape >= kPathShapes))
    return InvalidArgument("weight-only GEMM: no u4 kernel shape ", shape, " for group ",
                           group_size);
  switch (group_size) {
    case 32:
      return kPathLaunchers<32>[shape](args, pdl, stream);
    case 64:
      return kPathLaunchers<64>[shape](args, pdl, stream);
    case 128:
      return kLaunchers<128>[shape](args, pdl, stream);
  }
  return InvalidArgument("weight-only GEMM: group size ", group_size,
                         " has no kernel (32, 64 or 128)");
}

}  // namespace octet::cuda::weight_only
