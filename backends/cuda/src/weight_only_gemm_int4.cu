// The u4 (int4-weight-only) instantiations of the weight-only GEMM kernel
// (weight_only_gemv_u4.cuh): the shapes the paths run, for the three group
// sizes, and more shapes at group 128 for the benchmark's sweep.
#include <algorithm>

#include "weight_only_gemv_u4.cuh"

namespace octet::cuda::weight_only {
namespace {

// nb, tiles, stages, x_stages (0: x in shared memory), warps, col_warps, split
// (0: the launcher's choice). The first kGemvPathShapes are the paths'
// (GemvShapeFor); the rest only run in the benchmark (group 128).
#define OCTET_GEMV_PATH_SHAPES(X) \
  X(1, 1, 3, 3, 8, 1, 1)          \
  X(1, 1, 3, 3, 4, 1, 1)          \
  X(2, 2, 2, 2, 8, 1, 1)          \
  X(2, 2, 2, 2, 4, 1, 0)          \
  X(2, 2, 2, 1, 8, 2, 0)          \
  X(2, 2, 3, 1, 4, 2, 0)          \
  X(4, 1, 2, 1, 8, 1, 1)          \
  X(2, 2, 2, 1, 4, 1, 0)          \
  X(1, 1, 3, 0, 8, 1, 1)          \
  X(1, 1, 4, 0, 8, 1, 1)          \
  X(1, 2, 3, 3, 4, 1, 1)
#define OCTET_GEMV_SWEEP_SHAPES(X) \
  X(2, 1, 2, 2, 8, 1, 1)           \
  X(1, 1, 3, 1, 8, 1, 1)           \
  X(1, 1, 2, 1, 8, 1, 1)           \
  X(1, 1, 2, 1, 4, 1, 0)           \
  X(1, 1, 3, 1, 4, 1, 0)           \
  X(1, 1, 4, 2, 4, 1, 0)           \
  X(2, 2, 2, 1, 4, 2, 0)           \
  X(4, 1, 2, 1, 8, 2, 0)           \
  X(1, 1, 4, 2, 8, 1, 1)           \
  X(1, 1, 4, 2, 4, 1, 1)           \
  X(2, 2, 4, 1, 8, 1, 1)           \
  X(2, 2, 3, 3, 8, 1, 1)           \
  X(1, 1, 4, 0, 4, 1, 1)           \
  X(1, 1, 3, 0, 4, 1, 1)           \
  X(2, 2, 2, 2, 8, 2, 0)           \
  X(1, 2, 3, 3, 8, 1, 1)

#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps, col_warps, split) \
  {nb, tiles, stages, x_stages, warps, col_warps, split},
constexpr GemvShape kShapes[] = {OCTET_GEMV_PATH_SHAPES(OCTET_GEMV_ENTRY)
                                     OCTET_GEMV_SWEEP_SHAPES(OCTET_GEMV_ENTRY)};
#undef OCTET_GEMV_ENTRY

using Launcher = Status (*)(const GemmArgs&, bool, int, cudaStream_t);

#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps, col_warps, split) \
  &LaunchGemvU4<kGroup, nb, tiles, stages, x_stages, warps, col_warps, split != 1>,
template <int kGroup>
constexpr Launcher kPathLaunchers[] = {OCTET_GEMV_PATH_SHAPES(OCTET_GEMV_ENTRY)};
template <int kGroup>
constexpr Launcher kSweepLaunchers[] = {OCTET_GEMV_SWEEP_SHAPES(OCTET_GEMV_ENTRY)};
#undef OCTET_GEMV_ENTRY

// The split each group-128 shape runs with (the benchmark prints it).
using SplitResolver = int (*)(const GemmArgs&, int);
#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps, col_warps, split) \
  &GemvU4Split<128, nb, tiles, stages, x_stages, warps, col_warps, split != 1>,
constexpr SplitResolver kSplits[] = {OCTET_GEMV_PATH_SHAPES(OCTET_GEMV_ENTRY)
                                         OCTET_GEMV_SWEEP_SHAPES(OCTET_GEMV_ENTRY)};
#undef OCTET_GEMV_ENTRY

// Blocks of each path shape an SM holds at once, per group size.
using ResidentBlocks = int (*)(const GemmArgs&);
#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps, col_warps, split) \
  &ResidentGemvU4Blocks<kGroup, nb, tiles, stages, x_stages, warps, col_warps, split != 1>,
template <int kGroup>
constexpr ResidentBlocks kPathResident[] = {OCTET_GEMV_PATH_SHAPES(OCTET_GEMV_ENTRY)};
#undef OCTET_GEMV_ENTRY

#define OCTET_GEMV_ENTRY(nb, tiles, stages, x_stages, warps, col_warps, split) \
  &ResidentGemvU4Blocks<128, nb, tiles, stages, x_stages, warps, col_warps, split != 1>,
constexpr ResidentBlocks kSweepResident[] = {OCTET_GEMV_SWEEP_SHAPES(OCTET_GEMV_ENTRY)};
#undef OCTET_GEMV_ENTRY

static_assert(std::size(kPathLaunchers<128>) == kGemvPathShapes);

int Resident(int shape, int group_size, const GemmArgs& args) {
  if (shape >= kGemvPathShapes) return kSweepResident[shape - kGemvPathShapes](args);
  return group_size == 32   ? kPathResident<32>[shape](args)
         : group_size == 64 ? kPathResident<64>[shape](args)
                            : kPathResident<128>[shape](args);
}

// The grid of `shape` for N = n_pad and m rows, before any split.
int64_t Blocks(int shape, int64_t n_pad, int64_t m) {
  const GemvShape& sh = kShapes[shape];
  const int64_t cols = 16 * sh.tiles * sh.col_warps, rows = 8 * sh.nb;
  return (n_pad + cols - 1) / cols * ((m + rows - 1) / rows);
}

// Whether path shape `shape`'s blocks for these arguments all fit on the GPU
// at once (one wave), before any split.
bool OneWave(int shape, int group_size, const GemmArgs& args) {
  return Blocks(shape, args.n_pad, args.m) <=
         int64_t{Resident(shape, group_size, args)} * MultiprocessorCount();
}

// The shapes with x in shared memory (shapes 8, 9) hold min(m, 8) rows of x
// over K; beyond 48 KB a block would take room the occupancy counts on.
bool SharedXFits(const GemmArgs& args) {
  return std::min(args.m, 8) * int64_t{args.chunks} * kChunkU4 * 2 <= 48 * 1024;
}

}  // namespace

int GemvShapeCount() { return static_cast<int>(std::size(kShapes)); }
GemvShape GemvShapeAt(int index) { return kShapes[index]; }
int GemvSplitFor(int shape, const GemmArgs& args) {
  return kSplits[shape](args, kShapes[shape].split);
}

// From the shape sweeps on the H100 (docs/cuda-backend.md). Every path shape
// up to 16 rows loads x as far ahead as the weights: x one chunk ahead of
// use put an L2 round trip on each chunk's chain (2.6 GB/s of x per block at
// m = 16), and the deeper x ring beat a deeper weight ring in every measured
// case. m <= 8, the first of these whose blocks all fit on the GPU at once
// (measured at N = 4096, 5120, 6144, 8192, 11008, 14336 with K = 4096, and
// 4096 x 11008): (a) 1 tile per warp, 3 + 3 stages, 8 warps (116 registers,
// two blocks per SM: N <= 4224); at m = 1 with 8 or more chunks per warp, x
// staged in shared memory instead and a 4th weight stage (shape 9: 4096 x
// 11008 10.2-10.4 us against 10.7; with 4 chunks per warp, 4096 x 4096, the
// copy before the first chunk costs more: 5.4 against 5.0). (b) 2 tiles per
// warp, 3 + 3 stages, 4 warps (shape 10: x read once for 32 columns, twice
// the weight bytes in flight per warp), given more than two blocks per SM
// (N = 11008 at groups 128 and 64: 10.5-10.8 us at m = 1..8 against
// 11.6-13.2; at N = 5120..8192, 1.2-1.9 blocks per SM, it lost: 9.6-9.9
// against 7.8-8.9). (c) At m = 1, (a) with x in shared memory (shape 8:
// 70 registers, three blocks per SM: N = 5120 / 6144 6.6 / 6.7 us against
// 7.8 / 7.9). (d) Else 1 tile per warp, 3 + 3 stages, 4 warps (shape 1).
// 9..16 rows: 2 tiles per warp (x read once for 32 columns), 2 + 2 stages, in
// blocks of 8 warps while they fit on the GPU at once (one block per SM:
// N <= 4224), else in blocks of 4 warps while those fit at once (three per SM
// at group 128: N <= 12672; two at groups 64 and 32), else blocks of 4 warps
// with x one chunk ahead (shape 7: 130-168 registers, three or more per SM;
// 11008 x 4096 at group 64 took 19.0 us in two waves of shape 3 against 15.3).
// 17..32 rows: two such warps side by side (64 columns per x read) in blocks
// of 8 warps, split over a 2-block cluster where that fits, while they fit at
// once, else blocks of 4 warps with 3 stages. Beyond 32 rows PathFor picks the
// 9..16-row path.
int GemvShapeFor(Variant variant, const GemmArgs& args, int group_size) {
  switch (variant) {
    case Variant::kRows8Cols16: {
      if (OneWave(0, group_size, args))
        return args.m == 1 && args.chunks >= 8 * kShapes[9].warps && SharedXFits(args) ? 9 : 0;
      if (Blocks(10, args.n_pad, args.m) > 2 * MultiprocessorCount() &&
          OneWave(10, group_size, args))
        return 10;
      if (args.m == 1 && SharedXFits(args) && OneWave(8, group_size, args)) return 8;
      return 1;
    }
    case Variant::kRows16Cols32:
      return OneWave(2, group_size, args) ? 2 : OneWave(3, group_size, args) ? 3 : 7;
    case Variant::kRows16Cols16:
      return OneWave(4, group_size, args) ? 4 : 5;
    case Variant::kRows32Cols16:
      return 6;
  }
  return 0;
}

std::vector<int> GemvCandidateShapes(Variant variant) {
  switch (variant) {
    case Variant::kRows8Cols16:
      return {0, 1, 8, 9, 10};
    case Variant::kRows16Cols32:
      return {2, 3, 7};
    case Variant::kRows16Cols16:
      return {4, 5};
    case Variant::kRows32Cols16:
      return {6};
  }
  return {};
}

// Programmatic launch lets the next kernel's blocks onto the GPU as soon as
// all of this one's are resident; they issue their weight loads and wait for
// this kernel to end. On the H100 that hides the launch where the GPU has
// little room left beside this grid (4096 x 4096, m = 1, 256 blocks in 264
// slots: 5.6 us against 7.0; 11008 x 4096, m = 1, 688 4-warp shared-x blocks
// in 792: 11.5 against 12.7), but where many slots are free (more spare ones
// than SMs), the early blocks made the chain slower in every measured case
// (11008 x 4096, m = 16, 344 blocks in 528 slots: 18.7 us against 16.1; 4096
// x 11008, m = 1, 256 4-warp shared-x blocks in 792: 20.3 against 15.7;
// docs/cuda-backend.md).
// Grids beyond one wave keep it.
bool GemvProgrammaticLaunchHelps(int shape, int group_size, const GemmArgs& args) {
  const GemvShape& sh = kShapes[shape];
  const int64_t slots = int64_t{Resident(shape, group_size, args)} * MultiprocessorCount();
  int64_t blocks = Blocks(shape, args.n_pad, args.m);
  blocks *= sh.split == 1  ? 1
            : sh.split > 0 ? sh.split
                           : AutoSplit(blocks, slots, args.chunks, sh.warps / sh.col_warps);
  return blocks > slots || slots - blocks < MultiprocessorCount();
}

Status LaunchInt4(int shape, int group_size, const GemmArgs& args, bool pdl, cudaStream_t stream) {
  if (shape < 0 || shape >= GemvShapeCount() || (group_size != 128 && shape >= kGemvPathShapes))
    return InvalidArgument("weight-only GEMM: no u4 kernel shape ", shape, " for group ",
                           group_size);
  const int split = kShapes[shape].split;
  if (shape >= kGemvPathShapes)
    return kSweepLaunchers<128>[shape - kGemvPathShapes](args, pdl, split, stream);
  switch (group_size) {
    case 32:
      return kPathLaunchers<32>[shape](args, pdl, split, stream);
    case 64:
      return kPathLaunchers<64>[shape](args, pdl, split, stream);
    case 128:
      return kPathLaunchers<128>[shape](args, pdl, split, stream);
  }
  return InvalidArgument("weight-only GEMM: group size ", group_size,
                         " has no kernel (32, 64 or 128)");
}

}  // namespace octet::cuda::weight_only
