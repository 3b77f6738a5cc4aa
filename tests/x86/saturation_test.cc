// What oneDNN 3.2's int8 kernels do with 8-bit activations on a CPU without
// VNNI (AVX2, AVX-512 before Cascade Lake), measured here so the reduced-range
// rule in docs/x86-backend.md rests on tests, not folklore:
//  - u8 activations: vpmaddubsw adds adjacent u8 x s8 products in int16 with
//    saturation. oneDNN does not avoid it; 0..127 activations are exact.
//  - s8 activations: oneDNN adds 128 to make them u8 and subtracts 128 * sum(w).
//    The convolution avoids saturation by halving the weights (odd weights are
//    rounded to even: not exact); the matmul (gemm:jit) does not, so its int16
//    pairs saturate.
// With VNNI or AMX every case is exact, and these tests check that instead.
// Scales are 1 and outputs f32, so a result is the int32 accumulator itself.
#include <gtest/gtest.h>

#include <cmath>

#include "octet/x86/int8_kernels.h"
#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

int64_t SatI16(int64_t v) { return std::clamp<int64_t>(v, -32768, 32767); }

// x [M, K] (u8 or s8) times w [K, N] through Int8MatMul, as exact floats.
std::vector<float> MatMulAcc(const Tensor& x, const Tensor& w, std::string* impl) {
  Int8MatMulConfig c;
  c.m = x.dim(0);
  c.src_type = x.dtype();
  c.weights = w;
  c.weight_scales = {1.f};
  auto mm = Int8MatMul::Create(c);
  EXPECT_TRUE(mm.ok()) << mm.status().ToString();
  if (!mm.ok()) return {};
  *impl = mm->implementation();
  std::vector<float> out(x.dim(0) * w.dim(1));
  EXPECT_TRUE(mm->Run(x.raw(), out.data()).ok());
  return out;
}

// Exact sum over k of x * w for row i, column j; `pair_model` instead adds
// adjacent products (k even, k + 1) in saturating int16, after shifting s8
// activations by +128 and compensating, as the non-VNNI matmul does.
int64_t Dot(const Tensor& x, const Tensor& w, int64_t i, int64_t j, bool pair_model) {
  const int64_t k = w.dim(0), n = w.dim(1);
  const int64_t shift = x.dtype() == DType::kI8 && pair_model ? 128 : 0;
  int64_t acc = 0, wsum = 0;
  for (int64_t p = 0; p < k; p += 2) {
    int64_t pair = 0;
    for (int64_t q = p; q < std::min(p + 2, k); ++q) {
      const int64_t wv = w.GetAsInt64(q * n + j);
      pair += (x.GetAsInt64(i * k + q) + shift) * wv;
      wsum += wv;
    }
    acc += pair_model ? SatI16(pair) : pair;
  }
  return acc - shift * wsum;
}

TEST(Int8Saturation, MatMulU8FullRange) {
  std::mt19937 rng(Seed(1));
  const Tensor x = RandomInts<uint8_t>({8, 64}, rng, 0, 255);
  const Tensor w = RandomInts<int8_t>({64, 16}, rng, -127, 127);
  std::string impl;
  const std::vector<float> got = MatMulAcc(x, w, &impl);
  ASSERT_EQ(got.size(), 8u * 16);
  int64_t differ = 0;
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 16; ++j) {
      const double g = got[i * 16 + j];
      if (!Int8NeedsReducedRange()) {
        EXPECT_EQ(g, Dot(x, w, i, j, false)) << impl;
      } else {
        EXPECT_EQ(g, Dot(x, w, i, j, true)) << impl << ": not the int16 pair model";
        differ += g != Dot(x, w, i, j, false);
      }
    }
  if (Int8NeedsReducedRange()) {
    EXPECT_GT(differ, 0) << "random full-range u8 data saturated nowhere";
    std::cout << "[ info ] " << impl << ": " << differ
              << " of 128 u8 full-range matmul outputs saturated\n";
  }
}

TEST(Int8Saturation, MatMulS8SrcSaturatesWithoutVnni) {
  std::mt19937 rng(Seed(2));
  // Even 7-bit-ish activations saturate: the +128 shift makes them 0..255.
  const Tensor x = RandomInts<int8_t>({8, 64}, rng, -64, 63);
  const Tensor w = RandomInts<int8_t>({64, 16}, rng, -127, 127);
  std::string impl;
  const std::vector<float> got = MatMulAcc(x, w, &impl);
  ASSERT_EQ(got.size(), 8u * 16);
  int64_t differ = 0;
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 16; ++j) {
      const bool pair_model = Int8NeedsReducedRange();
      EXPECT_EQ(got[i * 16 + j], Dot(x, w, i, j, pair_model)) << impl;
      differ += got[i * 16 + j] != Dot(x, w, i, j, false);
    }
  if (Int8NeedsReducedRange()) {
    EXPECT_GT(differ, 0) << impl;
  }
}

// A 3x3 convolution, NHWC, scales 1, f32 out; returns the accumulators.
std::vector<float> ConvAcc(const Tensor& x_nchw, const Tensor& w, std::string* impl) {
  Int8Conv2dConfig c;
  c.src_dims = x_nchw.dims();
  c.src_type = x_nchw.dtype();
  c.weights = w;
  c.weight_scales = {1.f};
  c.dst_type = DType::kF32;
  auto conv = Int8Conv2d::Create(c);
  EXPECT_TRUE(conv.ok()) << conv.status().ToString();
  if (!conv.ok()) return {};
  *impl = conv->implementation();
  Tensor out(DType::kF32, conv->dst_dims());
  const Tensor x = ToNhwc(x_nchw);
  EXPECT_TRUE(conv->Run(x.raw(), out.raw()).ok());
  const Tensor nchw = FromNhwc(out);
  return std::vector<float>(nchw.data<float>(), nchw.data<float>() + nchw.numel());
}

TEST(Int8Saturation, ConvU8FullRange) {
  // All 255 x 127: every int16 pair is 64770, saturated to 32767.
  Tensor x(DType::kU8, {1, 16, 5, 5}), w(DType::kI8, {8, 16, 3, 3});
  std::fill_n(x.data<uint8_t>(), x.numel(), 255);
  std::fill_n(w.data<int8_t>(), w.numel(), 127);
  std::string impl;
  const std::vector<float> got = ConvAcc(x, w, &impl);
  ASSERT_EQ(got.size(), 8u * 3 * 3);
  const double exact = 255.0 * 127 * 16 * 9, saturated = 32767.0 * 16 * 9 / 2;
  EXPECT_EQ(got[0], Int8NeedsReducedRange() ? saturated : exact) << impl;
  // The same with 7-bit activations is exact everywhere.
  std::fill_n(x.data<uint8_t>(), x.numel(), 127);
  EXPECT_EQ(ConvAcc(x, w, &impl)[0], 127.0 * 127 * 16 * 9) << impl;
}

TEST(Int8Saturation, ConvS8SrcRoundsOddWeightsWithoutVnni) {
  std::mt19937 rng(Seed(3));
  const Tensor x = RandomInts<int8_t>({1, 8, 3, 3}, rng, -128, 127);
  const Tensor w = RandomInts<int8_t>({4, 8, 3, 3}, rng, -127, 127);
  std::string impl;
  const std::vector<float> got = ConvAcc(x, w, &impl);  // 1x1 output per channel
  ASSERT_EQ(got.size(), 4u);
  for (int64_t o = 0; o < 4; ++o) {
    int64_t exact = 0, halved = 0;
    for (int64_t i = 0; i < 72; ++i) {
      const int64_t xv = x.GetAsInt64(i), wv = w.GetAsInt64(o * 72 + i);
      exact += xv * wv;
      // Weights scaled by 0.5 and rounded half to even, the result scaled back by 2.
      halved += xv * 2 * static_cast<int64_t>(std::nearbyint(wv / 2.0));
    }
    EXPECT_EQ(got[o], Int8NeedsReducedRange() ? halved : exact) << impl << " channel " << o;
    if (Int8NeedsReducedRange()) {
      EXPECT_NE(halved, exact) << "random odd weights should have lost precision";
    }
  }
}

}  // namespace
}  // namespace octet::x86::testing
