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
  X(1, 1, 3, 0, 4, 1, 1)          \
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
  X(1, 1, 3, 0, 8, 1, 1)           \
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
// case. m <= 8: 3 + 3 stages, 8 warps per block where the 16-column tiles
// are few (N = 4096: 256 tiles, two blocks per SM), 4 warps per block where
// they are many (N = 11008: 688 tiles, more blocks resident at once); there,
// 2 tiles per warp (shape 10: x read once for 32 columns, and each warp keeps
// twice the weight bytes in flight) while its blocks all fit at once (three
// per SM at groups 128 and 64: 11008 x 4096 10.5-10.8 us at m = 1..8 against
// 11.6-12.2, group 64 11.2-11.5 against 12.2; at group 32, 231 registers, two
// per SM, 13.8 against 12.8-13.4). At m = 1, where each warp streams 8 or
// more chunks, x staged once in shared memory (shapes 8, 9): the x ring's 48
// registers go, so 8-warp blocks take a 4th weight stage (4096 x 11008: 10.2-
// 10.4 us against 10.7) and N = 11008's 4-warp blocks fit more per SM (group
// 32: 12.8 against 13.4). With fewer chunks per warp (4096 x 4096: 4) the
// fill's round trip before the first chunk costs more than it saves (5.4
// against 5.0), and at m >= 2 the register ring was as fast or faster. 9..16
// rows: 2 tiles per warp (x read once for 32 columns), 2 + 2 stages, in
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
      const bool many_tiles = args.n_pad / 16 > 2 * MultiprocessorCount();
      if (many_tiles && OneWave(10, group_size, args)) return 10;
      const int shared_x = many_tiles ? 8 : 9;
      if (args.m == 1 && args.chunks >= 8 * kShapes[shared_x].warps && SharedXFits(args))
        return shared_x;
      return many_tiles ? 1 : 0;
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

// Programmatic launch lets the next kernel's blocks onto the GPU as soon as
// all of this one's are resident; they issue their weight loads and wait for
// this kernel to end. On the H100 that hides the launch where the GPU has
// little room left beside this grid (4096 x 4096, m = 1, 256 blocks in 264
// slots: 5.6 us against 7.0; 11008 x 4096, m = 1, shape 8's 688 blocks in
// 792: 11.5 against 12.7), but where many slots are free (more spare ones than
// SMs), the early blocks made the chain slower in every measured case (11008 x
// 4096, m = 16, 344 blocks in 528 slots: 18.7 us against 16.1; 4096 x 11008,
// m = 1, 256 blocks of shape 8 in 792: 20.3 against 15.7; docs/cuda-backend.md).
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
