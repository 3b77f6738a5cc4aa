// ConvertF32ToBf16 / ConvertBf16ToF32 against the host's conversions
// (octet/dtype.h, round to nearest even, as the reference's Cast): exact, bit
// for bit, with fresh random values, halfway cases, signed zeros, infinities
// and NaN, at lengths that are not multiples of the launch's block.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "cuda_test_util.h"
#include "octet/cuda/float_kernels.h"

namespace octet::cuda::testing {
namespace {

TEST(Bf16Convert, RoundsToNearestEvenAndBack) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  for (size_t n : {size_t{1}, size_t{255}, size_t{100003}}) {
    std::vector<float> x = RandomFloats(n, rng, -1e4f, 1e4f);
    if (n > 10) {
      // Halfway between two bf16 values (a tie: even wins), and specials.
      uint32_t tie = 0x3F808000u;  // 1.00390625, halfway between 1 and 1.0078125
      std::memcpy(&x[0], &tie, 4);
      x[1] = -0.f;
      x[2] = std::numeric_limits<float>::infinity();
      x[3] = -std::numeric_limits<float>::infinity();
      x[4] = std::numeric_limits<float>::quiet_NaN();
      x[5] = 1e-40f;  // subnormal
    }
    DeviceBuffer dx = Upload(x), d16 = Poisoned(n * 2), dy = Poisoned(n * 4);
    ASSERT_TRUE(ConvertF32ToBf16(static_cast<const float*>(dx.data()), d16.data(),
                                 static_cast<int64_t>(n), nullptr)
                    .ok());
    ASSERT_TRUE(ConvertBf16ToF32(d16.data(), static_cast<float*>(dy.data()),
                                 static_cast<int64_t>(n), nullptr)
                    .ok());
    const std::vector<uint16_t> got16 = Download<uint16_t>(d16, n);
    const std::vector<float> back = Download<float>(dy, n);
    for (size_t i = 0; i < n; ++i) {
      if (std::isnan(x[i])) {
        EXPECT_TRUE(std::isnan(BFloat16ToFloat(got16[i]))) << "element " << i;
        EXPECT_TRUE(std::isnan(back[i]));
        continue;
      }
      ASSERT_EQ(got16[i], FloatToBFloat16(x[i]))
          << "element " << i << " = " << x[i] << ", seed " << seed;
      ASSERT_EQ(back[i], BFloat16ToFloat(got16[i])) << "element " << i;
    }
  }
}

TEST(Bf16Convert, RejectsNullAndNegativeCounts) {
  // No device needed: the checks come before any launch.
  float f = 0.f;
  EXPECT_FALSE(ConvertF32ToBf16(nullptr, &f, 4, nullptr).ok());
  EXPECT_FALSE(ConvertBf16ToF32(&f, nullptr, 4, nullptr).ok());
  EXPECT_FALSE(ConvertF32ToBf16(&f, &f, -1, nullptr).ok());
  EXPECT_TRUE(ConvertF32ToBf16(nullptr, nullptr, 0, nullptr).ok());  // nothing to do
}

}  // namespace
}  // namespace octet::cuda::testing
