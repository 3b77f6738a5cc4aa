// The implicit int8 convolution (QuantizeInt8Nhwc16, then
// Int8DynamicGemm::RunConv, whose kernel gathers its im2col rows from the
// NHWC codes) against the rows path (Im2ColQuantizeInt8, then
// Int8DynamicGemm::Run on the [M, K] rows), which conv_int8_test.cc checks
// against the QDQ graph's codes and int8_gemm_test.cc against a CPU GEMM.
//
// Tolerance: zero. Both paths quantize the same f32 values with the same
// per-image scale (the same Quantize), the int8 products accumulate exactly
// in int32 whatever the order, and the epilogue is the same code on the
// same accumulator and scales; so the outputs, and the per-image maxima the
// epilogue raises, must be equal bit for bit. Shapes cover strides 1 and 2,
// asymmetric pads, dilation, 1x1 and 5x5 windows, K that is not a multiple of
// the 128-code stage, stages across two taps (C 192), the cp.async gather (C
// % 128 != 0) and TMA's im2col mode (C % 128 == 0), output channels that
// are not a multiple of the tile (and not of 4: the register-store epilogue),
// several tiles per block, and resnet18's layer1 at its size; each with the
// relu after a separate or in-place residual and with the per-image maximum,
// on every tile.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>

#include "cuda_test_util.h"
#include "octet/cuda/conv_int8_kernels.h"
#include "octet/cuda/int8_kernels.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

struct ConvCase {
  int64_t n, c, h, w, o, k, stride, pad_top, pad_left, pad_bottom, pad_right, dilation;
};

enum class Residual { kNone, kSeparate, kInPlace };

Conv2dDims DimsOf(const ConvCase& t, Window2d* win) {
  win->kernel_h = win->kernel_w = t.k;
  win->stride_h = win->stride_w = t.stride;
  win->pad_top = t.pad_top, win->pad_left = t.pad_left;
  win->pad_bottom = t.pad_bottom, win->pad_right = t.pad_right;
  win->dilation_h = win->dilation_w = t.dilation;
  Conv2dDims d;
  d.batch = t.n, d.channels = t.c, d.height = t.h, d.width = t.w, d.out_channels = t.o;
  d.out_height = (t.h + t.pad_top + t.pad_bottom - t.dilation * (t.k - 1) - 1) / t.stride + 1;
  d.out_width = (t.w + t.pad_left + t.pad_right - t.dilation * (t.k - 1) - 1) / t.stride + 1;
  return d;
}

Int8DynamicGemmConfig RandomConfig(int64_t o, int64_t k, bool relu, Int8GemmTile tile,
                                   std::mt19937& rng) {
  Int8DynamicGemmConfig config;
  config.weights = Tensor(DType::kI8, {o, k});
  const std::vector<int8_t> w = testing::RandomCodes(o * k, rng);
  std::memcpy(config.weights.raw(), w.data(), w.size());
  config.weight_layout = WeightLayout::kNK;
  config.weight_scales = testing::RandomFloats(o, rng, 0.0005f, 0.005f);
  config.bias = Tensor::FromVector<float>(testing::RandomFloats(o, rng, -1.f, 1.f), {o});
  config.activation = relu ? Activation::kRelu : Activation::kNone;
  config.dst_type = DType::kF32;
  config.tile = tile;
  return config;
}

void RunCase(const ConvCase& t, Residual residual, bool relu, bool absmax, Int8GemmTile tile) {
  const uint32_t seed = testing::FreshSeed();
  std::mt19937 rng(seed);
  SCOPED_TRACE(::testing::Message()
               << "n " << t.n << " c " << t.c << " " << t.h << "x" << t.w << " o " << t.o << " k "
               << t.k << " stride " << t.stride << " dilation " << t.dilation << " residual "
               << static_cast<int>(residual) << " relu " << relu << " absmax " << absmax << " tile "
               << Int8GemmTileName(tile) << " seed " << seed);
  Window2d win;
  const Conv2dDims d = DimsOf(t, &win);
  const int64_t image = t.c * t.h * t.w, k = t.c * t.k * t.k;
  const int64_t pixels = d.out_height * d.out_width, m = t.n * pixels;
  auto gemm = Int8DynamicGemm::Create(RandomConfig(t.o, k, relu, tile, rng));
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();

  // Images of different ranges, one all zeros (scale FLT_MIN, codes 0).
  std::vector<float> x;
  for (int64_t b = 0; b < t.n; ++b) {
    const float range = b == 1 ? 0.f : std::ldexp(1.f, static_cast<int>(b % 5) - 2);
    const std::vector<float> v = testing::RandomFloats(image, rng, -range, range);
    x.insert(x.end(), v.begin(), v.end());
  }
  const std::vector<float> r = testing::RandomFloats(m * t.o, rng, -2.f, 2.f);
  DeviceBuffer dx = Upload(x), absmax_x = testing::Poisoned(t.n * 4);
  ASSERT_TRUE(ImageAbsMax(dx.as<float>(), t.n, image, absmax_x.as<float>(), nullptr).ok());

  struct Result {
    std::vector<float> y, y_absmax;
  };
  // kRows: Im2ColQuantizeInt8 + Run; kImplicit: QuantizeInt8Nhwc16 + RunConv.
  auto run = [&](bool implicit) -> Result {
    DeviceBuffer y = residual == Residual::kInPlace ? Upload(r) : testing::Poisoned(m * t.o * 4);
    DeviceBuffer separate = Upload(r);
    const void* res = residual == Residual::kSeparate  ? separate.data()
                      : residual == Residual::kInPlace ? y.data()
                                                       : nullptr;
    DeviceBuffer y_absmax = testing::Poisoned(t.n * 4);
    float* y_max = absmax ? y_absmax.as<float>() : nullptr;
    Status st = Status::Ok();
    if (implicit) {
      DeviceBuffer codes = testing::Poisoned(x.size() + 64), scales = testing::Poisoned(t.n * 4);
      st = QuantizeInt8Nhwc16(dx.as<float>(), t.n, image, absmax_x.as<float>(), 127.f, FLT_MIN,
                              codes.as<int8_t>(), scales.as<float>(), nullptr, y_max,
                              absmax ? t.n : 0);
      if (st.ok())
        st = gemm->RunConv(codes.as<int8_t>(), d, win, scales.as<float>(), y.data(), nullptr, res,
                           y_max);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      // The per-image scales are the rows' (checked against the QDQ graph
      // by conv_int8_test.cc through the rows gather).
      if (st.ok()) {
        const std::vector<float> got = Download<float>(scales, t.n);
        for (int64_t b = 0; b < t.n; ++b) {
          float amax = 0.f;
          for (int64_t i = 0; i < image; ++i) amax = std::max(amax, std::fabs(x[b * image + i]));
          EXPECT_EQ(got[b], std::max(amax / 127.f, FLT_MIN)) << "image " << b << "'s scale";
        }
      }
    } else {
      DeviceBuffer codes = testing::Poisoned(m * k), scales = testing::Poisoned(m * 4);
      st = Im2ColQuantizeInt8(dx.as<float>(), ActLayout::kNhwc, d, win, k, absmax_x.as<float>(),
                              127.f, FLT_MIN, codes.as<int8_t>(), scales.as<float>(), nullptr,
                              y_max, absmax ? t.n : 0);
      if (st.ok())
        st = gemm->Run(codes.as<int8_t>(), scales.as<float>(), m, y.data(), nullptr, res, y_max,
                       pixels);
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    }
    EXPECT_TRUE(st.ok()) << st.ToString();
    return {Download<float>(y, m * t.o),
            absmax ? Download<float>(y_absmax, t.n) : std::vector<float>{}};
  };
  const Result want = run(false), got = run(true);
  int64_t bad = 0, nonzero = 0;
  for (int64_t i = 0; i < m * t.o; ++i) {
    nonzero += want.y[i] != 0.f;
    if (std::memcmp(&got.y[i], &want.y[i], 4) != 0 && ++bad <= 5)
      ADD_FAILURE() << "y[pixel " << i / t.o << ", channel " << i % t.o << "] = " << got.y[i]
                    << ", the rows path gives " << want.y[i];
  }
  EXPECT_EQ(bad, 0);
  // Not a comparison of two zero tensors: most outputs are nonzero (the
  // relu zeroes about half).
  EXPECT_GT(nonzero, m * t.o / 4);
  for (size_t b = 0; b < want.y_absmax.size(); ++b)
    EXPECT_EQ(got.y_absmax[b], want.y_absmax[b]) << "image " << b << "'s maximum";
}

const ConvCase kCases[] = {
    // layer1-like: 3x3 stride 1, C 64 (K 576: 4.5 stages), O 64.
    {2, 64, 14, 14, 64, 3, 1, 1, 1, 1, 1, 1},
    // 3x3 stride 2, odd sizes, asymmetric pads, C 48, O 48 (a partial tile).
    {3, 48, 13, 11, 48, 3, 2, 0, 1, 2, 1, 1},
    // A 1x1 stride-2 downsample.
    {2, 128, 11, 9, 96, 1, 2, 0, 0, 0, 0, 1},
    // 5x5 dilation 2, C 16 (K 400), O 130 (rows of 520 bytes: the register
    // epilogue).
    {2, 16, 12, 10, 130, 5, 1, 4, 3, 2, 4, 2},
    // C 192 and 32: stages that span taps.
    {3, 32, 9, 7, 64, 3, 1, 1, 1, 1, 1, 1},
    {2, 192, 9, 8, 64, 3, 1, 1, 1, 1, 1, 1},
    // C 256 and 128 (TMA's im2col mode): stride 2 with odd sizes and
    // asymmetric pads; dilation 2.
    {3, 256, 9, 7, 96, 3, 2, 0, 1, 2, 1, 1},
    {2, 128, 12, 10, 64, 3, 1, 2, 2, 2, 2, 2},
    // Several tiles per block: 2000 output pixels, K 1152, O 256.
    {5, 128, 20, 20, 256, 3, 1, 1, 1, 1, 1, 1},
    // 1x1 stride 1 (the codes are the rows), 7x7 images (49 pixels: tiles
    // across images).
    {9, 64, 7, 7, 64, 1, 1, 0, 0, 0, 0, 1},
    // resnet18's layer1 at its size.
    {2, 64, 56, 56, 64, 3, 1, 1, 1, 1, 1, 1},
};

class Int8ImplicitConvTest : public ::testing::TestWithParam<Int8GemmTile> {};

TEST_P(Int8ImplicitConvTest, MatchesTheRowsPathBitForBit) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const ConvCase& c : kCases) {
    RunCase(c, Residual::kNone, false, false, GetParam());
    RunCase(c, Residual::kSeparate, true, true, GetParam());
    RunCase(c, Residual::kInPlace, false, false, GetParam());
    RunCase(c, Residual::kInPlace, true, true, GetParam());
  }
}

INSTANTIATE_TEST_SUITE_P(Tiles, Int8ImplicitConvTest,
                         ::testing::ValuesIn(testing::AllInt8GemmTiles()),
                         [](const ::testing::TestParamInfo<Int8GemmTile>& info) {
                           return std::string(Int8GemmTileName(info.param));
                         });

TEST(Int8ImplicitConv, RefusesWhatItCannotGather) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  std::mt19937 rng(7);
  Window2d win;
  const ConvCase t{1, 24, 8, 8, 16, 3, 1, 1, 1, 1, 1, 1};
  Conv2dDims d = DimsOf(t, &win);
  // K = 224: 24 x 9 taps padded to a multiple of 16 (the rows path's form).
  auto gemm = Int8DynamicGemm::Create(RandomConfig(16, 224, false, Int8GemmTile::kAuto, rng));
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  DeviceBuffer codes = testing::Poisoned(24 * 64 + 64), scales = testing::Poisoned(4),
               y = testing::Poisoned(64 * 16 * 4);
  auto run = [&](const Conv2dDims& dims, const Window2d& w, const int8_t* c, void* dst) {
    return gemm->RunConv(c, dims, w, scales.as<float>(), dst, nullptr);
  };
  auto expect_error = [](const Status& s, const char* text) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
  };
  expect_error(run(d, win, codes.as<int8_t>(), y.data()), "C must be a multiple of 16");
  Conv2dDims c64 = d;
  c64.channels = 64;
  expect_error(run(c64, win, codes.as<int8_t>(), y.data()), "not the weights' K = 224");
  // A GEMM whose K fits 64 channels.
  auto gemm64 = Int8DynamicGemm::Create(RandomConfig(16, 64 * 9, false, Int8GemmTile::kAuto, rng));
  ASSERT_TRUE(gemm64.ok()) << gemm64.status().ToString();
  auto run64 = [&](const Conv2dDims& dims, const int8_t* c) {
    return gemm64->RunConv(c, dims, win, scales.as<float>(), y.data(), nullptr);
  };
  Conv2dDims wrong_out = c64;
  wrong_out.out_height = 7;
  expect_error(run64(wrong_out, codes.as<int8_t>()), "is not what the window gives");
  expect_error(run64(c64, codes.as<int8_t>() + 1), "16-byte aligned");
  expect_error(run64(c64, nullptr), "null x_codes");
  Status s = Status::Ok();
  Conv2dDims huge = c64;
  huge.batch = 40000;
  huge.height = huge.out_height = 100;
  expect_error(run64(huge, codes.as<int8_t>()), "past 2^31 elements");
  // 49 taps: more than the row's tap mask holds.
  Window2d seven = win;
  seven.kernel_h = seven.kernel_w = 7;
  seven.pad_top = seven.pad_left = seven.pad_bottom = seven.pad_right = 3;
  auto gemm49 = Int8DynamicGemm::Create(RandomConfig(16, 64 * 49, false, Int8GemmTile::kAuto, rng));
  ASSERT_TRUE(gemm49.ok()) << gemm49.status().ToString();
  s = gemm49->RunConv(codes.as<int8_t>(), c64, seven, scales.as<float>(), y.data(), nullptr);
  expect_error(s, "at most 32 taps");
  // A bf16 GEMM has no implicit form.
  Int8DynamicGemmConfig bf16 = RandomConfig(16, 16 * 9, false, Int8GemmTile::kAuto, rng);
  bf16.dst_type = DType::kBF16;
  auto gemm_bf16 = Int8DynamicGemm::Create(bf16);
  ASSERT_TRUE(gemm_bf16.ok());
  s = gemm_bf16->RunConv(codes.as<int8_t>(), c64, win, scales.as<float>(), y.data(), nullptr);
  expect_error(s, "writes f32 only");
}

TEST(Int8ImplicitConv, QuantizeRefusesBadArguments) {
  alignas(16) float f[16] = {};
  alignas(16) int8_t codes[32] = {};
  auto expect_error = [](const Status& s, const char* text) {
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find(text), std::string::npos) << s.ToString();
  };
  expect_error(QuantizeInt8Nhwc16(f, 1, 24, f, 127.f, FLT_MIN, codes, f, nullptr),
               "a multiple of 16 values");
  expect_error(QuantizeInt8Nhwc16(f, 70000, 16, f, 127.f, FLT_MIN, codes, f, nullptr),
               "batch in [0, 65535]");
  expect_error(QuantizeInt8Nhwc16(f, 1, 16, f, 0.f, FLT_MIN, codes, f, nullptr), "positive");
  expect_error(QuantizeInt8Nhwc16(f, 1, 16, f, 127.f, FLT_MIN, codes, nullptr, nullptr),
               "null x, absmax, x_codes or image_scales");
  expect_error(QuantizeInt8Nhwc16(f, 1, 16, f, 127.f, FLT_MIN, codes + 1, f, nullptr),
               "16-byte aligned");
  expect_error(QuantizeInt8Nhwc16(f, 1, 16, f, 127.f, FLT_MIN, codes, f, nullptr, nullptr, 3),
               "zero_fill");
}

// Not a check: each GEMM alone on resnet18's convolutions after the stem,
// at batch 1 and 64: Run on im2col rows made beforehand against RunConv on
// the input's codes, and each with its first pass (the rows gather, or the
// quantization of x). Run with --gtest_also_run_disabled_tests
// --gtest_filter='*ImplicitTimes*'. Each time is the mean of 50
// back-to-back calls on one stream between two events, after 5 warm-up calls.
TEST(Int8ImplicitConv, DISABLED_ImplicitTimes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  struct Layer {
    const char* name;
    int64_t c, o, hw, k, stride;
  };
  const Layer layers[] = {
      {"layer1", 64, 64, 56, 3, 1},           {"layer2.0.conv1", 64, 128, 56, 3, 2},
      {"layer2.0.down", 64, 128, 56, 1, 2},   {"layer2", 128, 128, 28, 3, 1},
      {"layer3.0.conv1", 128, 256, 28, 3, 2}, {"layer3", 256, 256, 14, 3, 1},
      {"layer4.0.conv1", 256, 512, 14, 3, 2}, {"layer4", 512, 512, 7, 3, 1}};
  std::mt19937 rng(1);
  cudaEvent_t start, stop;
  ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
  ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
  auto time_us = [&](auto call) {
    for (int i = 0; i < 5; ++i) EXPECT_TRUE(call().ok());
    EXPECT_EQ(cudaEventRecord(start, nullptr), cudaSuccess);
    constexpr int kCalls = 50;
    for (int i = 0; i < kCalls; ++i) EXPECT_TRUE(call().ok());
    EXPECT_EQ(cudaEventRecord(stop, nullptr), cudaSuccess);
    EXPECT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float total = 0.f;
    EXPECT_EQ(cudaEventElapsedTime(&total, start, stop), cudaSuccess);
    return 1e3 * total / kCalls;
  };
  for (int64_t batch : {1, 64}) {
    for (const Layer& s : layers) {
      const ConvCase t{batch,    s.c,     s.hw,    s.hw,    s.o,     s.k,
                       s.stride, s.k / 2, s.k / 2, s.k / 2, s.k / 2, 1};
      Window2d win;
      const Conv2dDims d = DimsOf(t, &win);
      const int64_t values = batch * s.c * s.hw * s.hw, k = s.c * s.k * s.k;
      const int64_t m = batch * d.out_height * d.out_width;
      auto gemm = Int8DynamicGemm::Create(RandomConfig(s.o, k, true, Int8GemmTile::kAuto, rng));
      ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
      DeviceBuffer dx = Upload(testing::RandomFloats(values, rng, -2.f, 2.f));
      DeviceBuffer absmax = Upload(std::vector<float>(batch, 2.f));
      DeviceBuffer rows = testing::Poisoned(m * k), row_scales = testing::Poisoned(m * 4);
      DeviceBuffer x_codes = testing::Poisoned(values), image_scales = testing::Poisoned(batch * 4);
      DeviceBuffer y = testing::Poisoned(m * s.o * 4);
      auto gather = [&] {
        return Im2ColQuantizeInt8(dx.as<float>(), ActLayout::kNhwc, d, win, k, absmax.as<float>(),
                                  127.f, FLT_MIN, rows.as<int8_t>(), row_scales.as<float>(),
                                  nullptr);
      };
      auto quantize = [&] {
        return QuantizeInt8Nhwc16(dx.as<float>(), batch, s.c * s.hw * s.hw, absmax.as<float>(),
                                  127.f, FLT_MIN, x_codes.as<int8_t>(), image_scales.as<float>(),
                                  nullptr);
      };
      auto run_rows = [&] {
        return gemm->Run(rows.as<int8_t>(), row_scales.as<float>(), m, y.data(), nullptr);
      };
      auto run_conv = [&] {
        return gemm->RunConv(x_codes.as<int8_t>(), d, win, image_scales.as<float>(), y.data(),
                             nullptr);
      };
      ASSERT_TRUE(gather().ok() && quantize().ok());
      const double rows_gemm = time_us(run_rows), conv_gemm = time_us(run_conv);
      const double rows_all = time_us([&] {
        Status st = gather();
        return st.ok() ? run_rows() : st;
      });
      const double conv_all = time_us([&] {
        Status st = quantize();
        return st.ok() ? run_conv() : st;
      });
      std::printf(
          "batch %2lld %-15s C %3lld O %3lld %2lldx%-2lld k%lld s%lld tile %-12s  GEMM rows %7.2f "
          "implicit %7.2f us (%.2fx)  with first pass rows %7.2f implicit %7.2f us (%.2fx)\n",
          static_cast<long long>(batch), s.name, static_cast<long long>(s.c),
          static_cast<long long>(s.o), static_cast<long long>(s.hw), static_cast<long long>(s.hw),
          static_cast<long long>(s.k), static_cast<long long>(s.stride),
          Int8GemmTileName(gemm->TileFor(m)), rows_gemm, conv_gemm, rows_gemm / conv_gemm, rows_all,
          conv_all, rows_all / conv_all);
    }
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}

}  // namespace
}  // namespace octet::cuda
