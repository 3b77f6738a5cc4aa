// Int8DynamicGemm against a CPU reference of the same arithmetic.
//
// Tolerance: the int8 products accumulate exactly in int32 on the GPU (and in
// int64 here), so the only differences are in the epilogue. The kernel does,
// in f32, fma(float(acc), a_scale * w_scale, bias) (three roundings of at
// most 2^-24 relative to the intermediate value: float(acc), exact below 2^24,
// the scale product and the fma), then erf for GELU (a few ulp), then rounds
// to the output type.
// So |got - ref| <= u_out * |ref| + 2^-20 * (|acc * a_scale * w_scale| + |bias|)
// where u_out is the output type's unit roundoff (2^-8 for bf16: 8 significant
// bits, round to nearest; 2^-24 for f32) and 2^-20 leaves 16 ulps for the f32
// steps (GELU's slope is at most 1.13, so it does not amplify them).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "octet/cuda/int8_kernels.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

struct GemmProblem {
  int64_t m, n, k;
  std::vector<int8_t> a, w_nk;  // [m, k], [n, k]
  std::vector<float> a_scales, w_scales, bias;
};

GemmProblem RandomProblem(int64_t m, int64_t n, int64_t k, std::mt19937& rng) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = testing::RandomCodes(m * k, rng);
  p.w_nk = testing::RandomCodes(n * k, rng);
  // Scales as per-token / per-channel quantization gives them (absmax / 127
  // for values of order 1), so outputs are of order 1.
  p.a_scales = testing::RandomFloats(m, rng, 0.002f, 0.02f);
  p.w_scales = testing::RandomFloats(n, rng, 0.0005f, 0.005f);
  p.bias = testing::RandomFloats(n, rng, -1.f, 1.f);
  return p;
}

struct Check {
  bool bias = true;
  bool gelu = false;
  bool relu = false;  // after the residual
  bool per_tensor_scale = false;
  DType dst_type = DType::kBF16;
  enum class Residual { kNone, kSeparate, kInPlace } residual = Residual::kNone;
  // kSeparate: the residual starts this many bytes into its buffer (not 16:
  // the epilogue then stores from registers instead of through TMA).
  int residual_offset = 0;
  // > 0: the epilogue also takes the per-image maximum of |written value|
  // (image = row / image_rows), checked bit for bit against the maximum of
  // the downloaded output (a maximum is exact, so there is no tolerance).
  int64_t image_rows = 0;
};

double Gelu(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

// Runs the GEMM on the problem and compares every output element, and that
// nothing past [m, n] was written.
void RunAndCompare(const GemmProblem& p, const Int8DynamicGemmConfig& config, const Check& check,
                   uint32_t seed) {
  auto gemm = Int8DynamicGemm::Create(config);
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  SCOPED_TRACE(::testing::Message() << gemm->description() << ", m " << p.m << ", tile "
                                    << Int8GemmTileName(gemm->TileFor(p.m)) << ", seed " << seed);
  const size_t out_bytes = DTypeStorageBytes(check.dst_type, p.m * p.n);
  constexpr size_t kGuard = 4096;
  DeviceBuffer a = Upload(p.a), a_scales = Upload(p.a_scales);
  DeviceBuffer dst = testing::Poisoned(out_bytes + kGuard);
  // The residual: values of order 1 in dst's type (f32 or bf16 bits), in its
  // own buffer or already in dst (the in-place sum).
  std::vector<float> residual;
  std::vector<uint8_t> residual_bytes(out_bytes);
  DeviceBuffer residual_buffer;
  const void* residual_ptr = nullptr;
  if (check.residual != Check::Residual::kNone) {
    std::mt19937 rng(seed + 1);
    residual = testing::RandomFloats(p.m * p.n, rng, -1.f, 1.f);
    if (check.dst_type == DType::kBF16) {
      const std::vector<uint16_t> bits = testing::ToBf16(residual);
      std::memcpy(residual_bytes.data(), bits.data(), out_bytes);
      for (size_t i = 0; i < residual.size(); ++i) residual[i] = BFloat16ToFloat(bits[i]);
    } else {
      std::memcpy(residual_bytes.data(), residual.data(), out_bytes);
    }
    if (check.residual == Check::Residual::kInPlace) {
      ASSERT_EQ(cudaMemcpy(dst.data(), residual_bytes.data(), out_bytes, cudaMemcpyHostToDevice),
                cudaSuccess);
      residual_ptr = dst.data();
    } else {
      std::vector<uint8_t> shifted(check.residual_offset, 0);
      shifted.insert(shifted.end(), residual_bytes.begin(), residual_bytes.end());
      residual_buffer = Upload(shifted);
      residual_ptr = static_cast<const uint8_t*>(residual_buffer.data()) + check.residual_offset;
    }
  }
  const int64_t images = check.image_rows > 0 ? p.m / check.image_rows : 0;
  DeviceBuffer image_absmax;
  if (images > 0) {
    image_absmax = Upload(std::vector<float>(images, 0.f));  // the caller zeroes it
  }
  ASSERT_TRUE(gemm->Run(a.as<int8_t>(), a_scales.as<float>(), p.m, dst.data(), nullptr,
                        residual_ptr, images > 0 ? image_absmax.as<float>() : nullptr,
                        check.image_rows)
                  .ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<uint8_t> raw = Download<uint8_t>(dst, out_bytes + kGuard);
  for (size_t i = out_bytes; i < raw.size(); ++i)
    ASSERT_EQ(raw[i], 0xFF) << "byte " << i - out_bytes << " past the output was written";

  // Output element (i, j) as the GPU wrote it.
  const auto output_at = [&](int64_t i, int64_t j) {
    float v = 0.f;
    if (check.dst_type == DType::kBF16) {
      uint16_t b;
      std::memcpy(&b, &raw[2 * (i * p.n + j)], 2);
      v = BFloat16ToFloat(b);
    } else {
      std::memcpy(&v, &raw[4 * (i * p.n + j)], 4);
    }
    return v;
  };
  const double u_out = check.dst_type == DType::kBF16 ? std::ldexp(1.0, -8) : std::ldexp(1.0, -24);
  int64_t bad = 0;
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      // Exact in int32 for K < 2^31 / 127^2 (about 133k), like the GPU's sum.
      int32_t acc = 0;
      const int8_t* a_row = &p.a[i * p.k];
      const int8_t* w_row = &p.w_nk[j * p.k];
      for (int64_t kk = 0; kk < p.k; ++kk) acc += int32_t{a_row[kk]} * w_row[kk];
      const double w_scale = check.per_tensor_scale ? p.w_scales[0] : p.w_scales[j];
      const double scaled = static_cast<double>(acc) * p.a_scales[i] * w_scale;
      const double bias = check.bias ? p.bias[j] : 0.0;
      double ref = scaled + bias;
      if (check.gelu) ref = Gelu(ref);
      const double r = residual.empty() ? 0.0 : residual[i * p.n + j];
      ref += r;
      if (check.relu) ref = std::max(ref, 0.0);
      const float got = output_at(i, j);
      const double tol =
          u_out * std::fabs(ref) +
          std::ldexp(1.0, -20) * (std::fabs(scaled) + std::fabs(bias) + std::fabs(r));
      if (!(std::fabs(got - ref) <= tol) && ++bad <= 5)
        ADD_FAILURE() << "C[" << i << "," << j << "] = " << got << ", expected " << ref << " (acc "
                      << acc << ", tolerance " << tol << ")";
    }
  }
  EXPECT_EQ(bad, 0) << "elements out of tolerance";
  if (images > 0) {
    const std::vector<float> got = Download<float>(image_absmax, images);
    int64_t wrong = 0;
    for (int64_t img = 0; img < images; ++img) {
      float want = 0.f;
      for (int64_t i = img * check.image_rows; i < (img + 1) * check.image_rows; ++i)
        for (int64_t j = 0; j < p.n; ++j) {
          want = std::max(want, std::fabs(output_at(i, j)));
        }
      if (got[img] != want && ++wrong <= 5)
        ADD_FAILURE() << "image " << img << " (rows " << img * check.image_rows << " to "
                      << (img + 1) * check.image_rows - 1 << "): max |y| " << got[img]
                      << ", the output's is " << want;
    }
    EXPECT_EQ(wrong, 0) << "images with a wrong maximum of " << images;
  }
}

Int8DynamicGemmConfig ConfigFor(const GemmProblem& p, const Check& check, Int8GemmTile tile,
                                WeightLayout layout = WeightLayout::kNK) {
  Int8DynamicGemmConfig config;
  if (layout == WeightLayout::kNK) {
    config.weights = Tensor(DType::kI8, {p.n, p.k});
    std::memcpy(config.weights.raw(), p.w_nk.data(), p.w_nk.size());
  } else {
    config.weights = Tensor(DType::kI8, {p.k, p.n});
    int8_t* w = config.weights.data<int8_t>();
    for (int64_t j = 0; j < p.n; ++j)
      for (int64_t kk = 0; kk < p.k; ++kk) w[kk * p.n + j] = p.w_nk[j * p.k + kk];
  }
  config.weight_layout = layout;
  config.weight_scales = check.per_tensor_scale ? std::vector<float>{p.w_scales[0]} : p.w_scales;
  if (check.bias) config.bias = Tensor::FromVector<float>(p.bias, {p.n});
  config.activation = check.gelu   ? Activation::kGeluErf
                      : check.relu ? Activation::kRelu
                                   : Activation::kNone;
  config.dst_type = check.dst_type;
  config.tile = tile;
  return config;
}

struct Shape {
  int64_t m, n, k;
};

// M = 1 (a single token), tiles partial in every dimension (N odd, so rows
// are not 4-byte aligned and the epilogue stores single elements; K not a
// multiple of the 128-byte stage), several K stages, more rows than one tile.
const Shape kShapes[] = {{1, 64, 128},     {1, 2304, 768},  {5, 200, 144},   {77, 257, 272},
                         {130, 384, 1040}, {300, 520, 768}, {257, 1000, 16}, {64, 96, 3072}};

class Int8DynamicGemmTest : public ::testing::TestWithParam<Int8GemmTile> {};

TEST_P(Int8DynamicGemmTest, BiasAndBf16OutputAtManyShapes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s : kShapes) {
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const GemmProblem p = RandomProblem(s.m, s.n, s.k, rng);
    const Check check;
    RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
  }
}

TEST_P(Int8DynamicGemmTest, GeluAndF32Output) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s : {Shape{1, 130, 256}, Shape{200, 300, 784}}) {
    for (DType dst : {DType::kBF16, DType::kF32}) {
      const uint32_t seed = testing::FreshSeed();
      std::mt19937 rng(seed);
      const GemmProblem p = RandomProblem(s.m, s.n, s.k, rng);
      Check check;
      check.gelu = true;
      check.dst_type = dst;
      RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
    }
  }
}

// The residual sum (a transformer block's x + f(x)), from its own buffer and
// in place (dst holds the residual), for both output types.
TEST_P(Int8DynamicGemmTest, ResidualSumSeparateAndInPlace) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s : {Shape{1, 130, 256}, Shape{77, 257, 272}, Shape{300, 768, 768}}) {
    for (DType dst : {DType::kBF16, DType::kF32}) {
      for (auto residual : {Check::Residual::kSeparate, Check::Residual::kInPlace}) {
        const uint32_t seed = testing::FreshSeed();
        std::mt19937 rng(seed);
        const GemmProblem p = RandomProblem(s.m, s.n, s.k, rng);
        Check check;
        check.dst_type = dst;
        check.residual = residual;
        RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
      }
    }
  }
}

// ReLU on the sum with the residual (a resnet block's Conv -> Add -> Relu, as
// the int8 convolution uses it: f32 out), without a residual, from its own
// buffer and in place; N = 64 (layer1's channels) and odd N.
TEST_P(Int8DynamicGemmTest, ReluAfterTheResidual) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s : {Shape{3136, 64, 576}, Shape{77, 257, 272}, Shape{1, 130, 160}}) {
    for (auto residual :
         {Check::Residual::kNone, Check::Residual::kSeparate, Check::Residual::kInPlace}) {
      const uint32_t seed = testing::FreshSeed();
      std::mt19937 rng(seed);
      const GemmProblem p = RandomProblem(s.m, s.n, s.k, rng);
      Check check;
      check.dst_type = DType::kF32;
      check.relu = true;
      check.residual = residual;
      RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
    }
  }
}

// More tiles than the persistent grid has slots (132 SMs x 1 or 2), so blocks
// walk several tiles and the rings wrap around across tile boundaries; with N
// = 1104 the epilogue stages its chunks and stores them with TMA, so the
// staging buffers wrap across tiles too (bf16; f32 with GELU and the residual
// in place).
TEST_P(Int8DynamicGemmTest, SeveralTilesPerBlock) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (int64_t n : {1100, 1104}) {
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const GemmProblem p = RandomProblem(4500, n, 272, rng);
    const Check check;
    RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
  }
  const uint32_t seed = testing::FreshSeed();
  std::mt19937 rng(seed);
  const GemmProblem p = RandomProblem(4500, 1104, 272, rng);
  Check check;
  check.dst_type = DType::kF32;
  check.gelu = true;
  check.residual = Check::Residual::kInPlace;
  RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
}

// Output rows that are multiples of 16 bytes: the epilogue writes 64-row
// chunks into shared memory and stores them with TMA. Tiles partial in M and
// N (N a multiple of 8 but not of a tile or of a chunk's 64 / 32 columns, N
// below one chunk, M = 1), with and without the residual (separate, in place),
// GELU, both output types.
TEST_P(Int8DynamicGemmTest, StagedEpilogueAtTileEdges) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s :
       {Shape{1, 8, 32}, Shape{65, 328, 272}, Shape{300, 1000, 768}, Shape{700, 2312, 144}}) {
    for (DType dst : {DType::kBF16, DType::kF32}) {
      for (auto residual :
           {Check::Residual::kNone, Check::Residual::kSeparate, Check::Residual::kInPlace}) {
        const uint32_t seed = testing::FreshSeed();
        std::mt19937 rng(seed);
        const GemmProblem p = RandomProblem(s.m, s.n, s.k, rng);
        Check check;
        check.dst_type = dst;
        check.residual = residual;
        check.gelu = residual != Check::Residual::kSeparate;
        RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
      }
    }
  }
}

// The per-image maximum of |output| that the int8 convolution's epilogue
// takes for the next convolution (image = row / image_rows): images of 3136
// (layer1 at 56 x 56: many tiles an image), 196, 49 (layer4: every 16-row
// warp group of some tiles straddles two images), 12 and 1 rows, partial
// tiles, with relu and without, the residual absent, separate and in place
// (f32 in place without relu: the TMA-reduction epilogue, which never has the
// sums in registers, must not be used), f32 and bf16, through TMA (f32, N a
// multiple of 4) and from registers (N = 130, 257, a misaligned residual,
// bf16).
TEST_P(Int8DynamicGemmTest, PerImageAbsMaxOfTheWrittenValues) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  struct Case {
    int64_t m, n, k, image_rows;
  };
  // (K small: the CPU reference is the test's cost.)
  for (const Case& c :
       {Case{2 * 3136, 64, 160, 3136}, Case{8 * 196, 256, 144, 196}, Case{64 * 49, 256, 144, 49},
        Case{30 * 12, 130, 160, 12}, Case{77, 257, 144, 1}, Case{49, 40, 32, 49}}) {
    struct Epilogue {
      Check::Residual residual;
      bool relu;
    };
    for (const Epilogue e :
         {Epilogue{Check::Residual::kNone, true}, Epilogue{Check::Residual::kSeparate, true},
          Epilogue{Check::Residual::kInPlace, false}}) {
      const uint32_t seed = testing::FreshSeed();
      std::mt19937 rng(seed);
      const GemmProblem p = RandomProblem(c.m, c.n, c.k, rng);
      Check check;
      check.dst_type = DType::kF32;
      check.relu = e.relu;
      check.residual = e.residual;
      check.image_rows = c.image_rows;
      RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
    }
  }
  for (DType dst : {DType::kBF16, DType::kF32}) {
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const GemmProblem p = RandomProblem(64 * 49, 128, 272, rng);
    Check check;
    check.dst_type = dst;
    check.residual = Check::Residual::kSeparate;
    check.residual_offset = dst == DType::kBF16 ? 4 : 8;  // from registers
    check.image_rows = 49;
    RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
    // Aligned: f32 through TMA; bf16 still from registers (the bf16 TMA
    // kernel has no maximum), the maximum of the rounded values.
    check.residual_offset = 0;
    RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
  }
}

// A residual that is not 16-byte aligned (while the output is): the epilogue
// falls back to storing from registers, with the same results.
TEST_P(Int8DynamicGemmTest, ResidualNot16ByteAligned) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (DType dst : {DType::kBF16, DType::kF32}) {
    const uint32_t seed = testing::FreshSeed();
    std::mt19937 rng(seed);
    const GemmProblem p = RandomProblem(200, 328, 272, rng);
    Check check;
    check.dst_type = dst;
    check.residual = Check::Residual::kSeparate;
    check.residual_offset = dst == DType::kBF16 ? 4 : 8;
    RunAndCompare(p, ConfigFor(p, check, GetParam()), check, seed);
  }
}

INSTANTIATE_TEST_SUITE_P(Tiles, Int8DynamicGemmTest,
                         ::testing::ValuesIn(testing::AllInt8GemmTiles()),
                         [](const ::testing::TestParamInfo<Int8GemmTile>& info) {
                           return std::string("tile_") + Int8GemmTileName(info.param);
                         });

TEST(Int8DynamicGemm, KNWeightsPerTensorScaleNoBias) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = testing::FreshSeed();
  std::mt19937 rng(seed);
  const GemmProblem p = RandomProblem(33, 136, 400, rng);
  Check check;
  check.bias = false;
  check.per_tensor_scale = true;
  RunAndCompare(p, ConfigFor(p, check, Int8GemmTile::kAuto, WeightLayout::kKN), check, seed);
}

TEST(Int8DynamicGemm, RejectsBadConfigurationsWithoutTouchingTheDevice) {
  std::mt19937 rng(7);
  const GemmProblem p = RandomProblem(4, 32, 96, rng);
  const Check check;
  {
    GemmProblem odd = RandomProblem(4, 32, 100, rng);
    auto gemm = Int8DynamicGemm::Create(ConfigFor(odd, check, Int8GemmTile::kAuto));
    EXPECT_EQ(gemm.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(gemm.status().message().find("K = 100 must be a multiple of 16"), std::string::npos)
        << gemm.status().message();
    EXPECT_NE(gemm.status().message().find("i8[32,100]^T"), std::string::npos)
        << gemm.status().message();
  }
  {
    Int8DynamicGemmConfig config = ConfigFor(p, check, Int8GemmTile::kAuto);
    config.weights = Tensor(DType::kF32, {32, 96});
    EXPECT_EQ(Int8DynamicGemm::Create(config).status().code(), StatusCode::kInvalidArgument);
  }
  {
    Int8DynamicGemmConfig config = ConfigFor(p, check, Int8GemmTile::kAuto);
    config.weight_scales.resize(5);
    auto gemm = Int8DynamicGemm::Create(config);
    EXPECT_NE(gemm.status().message().find("5 weight scales; expected 1 or N = 32"),
              std::string::npos)
        << gemm.status().message();
  }
  {
    Int8DynamicGemmConfig config = ConfigFor(p, check, Int8GemmTile::kAuto);
    config.bias = Tensor(DType::kF32, {31});
    EXPECT_EQ(Int8DynamicGemm::Create(config).status().code(), StatusCode::kInvalidArgument);
  }
  {
    Int8DynamicGemmConfig config = ConfigFor(p, check, Int8GemmTile::kAuto);
    config.dst_type = DType::kI8;
    auto gemm = Int8DynamicGemm::Create(config);
    EXPECT_NE(gemm.status().message().find("output type must be bf16 or f32, got i8"),
              std::string::npos)
        << gemm.status().message();
  }
  {
    Int8DynamicGemmConfig config = ConfigFor(p, check, Int8GemmTile::kAuto);
    config.weight_scales[3] = std::nanf("");
    EXPECT_EQ(Int8DynamicGemm::Create(config).status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(Int8DynamicGemm, TileNamesRoundTrip) {
  for (Int8GemmTile t : {Int8GemmTile::kAuto, Int8GemmTile::kCooperative128x256,
                         Int8GemmTile::kCooperative256x128, Int8GemmTile::kCooperative128x192,
                         Int8GemmTile::kPingpong128x128, Int8GemmTile::kCooperative256x64}) {
    auto parsed = Int8GemmTileFromName(Int8GemmTileName(t));
    ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
    EXPECT_EQ(*parsed, t);
  }
  EXPECT_EQ(Int8GemmTileFromName("coop64x64").status().code(), StatusCode::kInvalidArgument);
}

TEST(Int8DynamicGemm, WithoutAGpuCreateSaysSo) {
  std::string reason;
  if (DeviceAvailable(&reason)) GTEST_SKIP() << "a CUDA device is present";
  std::mt19937 rng(7);
  const GemmProblem p = RandomProblem(4, 32, 96, rng);
  auto gemm = Int8DynamicGemm::Create(ConfigFor(p, Check(), Int8GemmTile::kAuto));
  EXPECT_EQ(gemm.status().code(), StatusCode::kNotFound);
  EXPECT_NE(gemm.status().message().find("no CUDA device"), std::string::npos)
      << gemm.status().message();
}

TEST(Int8DynamicGemm, RunRejectsMisalignedOrNullBuffers) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937 rng(7);
  const GemmProblem p = RandomProblem(4, 32, 96, rng);
  auto gemm = Int8DynamicGemm::Create(ConfigFor(p, Check(), Int8GemmTile::kAuto));
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  DeviceBuffer a = Upload(std::vector<int8_t>(4 * 96 + 16)), scales = Upload(p.a_scales);
  DeviceBuffer dst = testing::Poisoned(4 * 32 * 2);
  EXPECT_EQ(gemm->Run(a.as<int8_t>() + 1, scales.as<float>(), 4, dst.data(), nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(gemm->Run(nullptr, scales.as<float>(), 4, dst.data(), nullptr).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(gemm->Run(nullptr, nullptr, 0, nullptr, nullptr).ok());  // m = 0: nothing to do
  // The per-image maximum needs rows per image that divide m.
  DeviceBuffer absmax = Upload(std::vector<float>(4, 0.f));
  for (int64_t image_rows : {0, 3})
    EXPECT_EQ(gemm->Run(a.as<int8_t>(), scales.as<float>(), 4, dst.data(), nullptr, nullptr,
                        absmax.as<float>(), image_rows)
                  .code(),
              StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace octet::cuda
