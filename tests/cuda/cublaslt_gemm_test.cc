// The cuBLASLt GEMMs (the benchmark's peers and the bf16 path).
#include "octet/cuda/cublaslt_gemm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "cuda_test_util.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

struct Shape {
  int64_t m, n, k;
};

TEST(CublasLtGemm, Int8ToInt32IsExact) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s : {Shape{1, 64, 128}, Shape{77, 260, 772}, Shape{256, 768, 768}}) {
    const uint32_t seed = testing::FreshSeed();
    SCOPED_TRACE(::testing::Message()
                 << "m " << s.m << " n " << s.n << " k " << s.k << ", seed " << seed);
    std::mt19937 rng(seed);
    const std::vector<int8_t> a = testing::RandomCodes(s.m * s.k, rng);
    const std::vector<int8_t> w = testing::RandomCodes(s.n * s.k, rng);
    CublasLtGemmConfig config;
    config.m = s.m;
    config.n = s.n;
    config.k = s.k;
    config.type = CublasLtGemmType::kInt8Int32;
    auto gemm = CublasLtGemm::Create(config);
    ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
    DeviceBuffer da = Upload(a), dw = Upload(w), dc = testing::Poisoned(s.m * s.n * 4);
    ASSERT_TRUE(gemm->Run(da.data(), dw.data(), dc.data(), nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<int32_t> c = Download<int32_t>(dc, s.m * s.n);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        int32_t want = 0;
        for (int64_t kk = 0; kk < s.k; ++kk) want += int32_t{a[i * s.k + kk]} * w[j * s.k + kk];
        ASSERT_EQ(c[i * s.n + j], want) << "C[" << i << "," << j << "]";
      }
  }
}

// bf16 inputs are exact in f32; the f32 accumulation of K products errs by at
// most about K * 2^-24 * sum |a w| (a loose bound; blocked summation does
// better), and the bf16 output rounding by 2^-8 |ref|.
TEST(CublasLtGemm, Bf16WithBiasAndGelu) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  for (const Shape& s : {Shape{1, 96, 64}, Shape{130, 200, 328}}) {
    const uint32_t seed = testing::FreshSeed();
    SCOPED_TRACE(::testing::Message()
                 << "m " << s.m << " n " << s.n << " k " << s.k << ", seed " << seed);
    std::mt19937 rng(seed);
    const std::vector<uint16_t> a = testing::ToBf16(testing::RandomFloats(s.m * s.k, rng, -1, 1));
    const std::vector<uint16_t> w = testing::ToBf16(testing::RandomFloats(s.n * s.k, rng, -1, 1));
    const std::vector<uint16_t> bias = testing::ToBf16(testing::RandomFloats(s.n, rng, -1, 1));
    DeviceBuffer da = Upload(a), dw = Upload(w), dbias = Upload(bias);
    DeviceBuffer dc = testing::Poisoned(s.m * s.n * 2);
    CublasLtGemmConfig config;
    config.m = s.m;
    config.n = s.n;
    config.k = s.k;
    config.type = CublasLtGemmType::kBf16;
    config.bias = dbias.data();
    config.activation = Activation::kGeluErf;
    auto gemm = CublasLtGemm::Create(config);
    ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
    ASSERT_TRUE(gemm->Run(da.data(), dw.data(), dc.data(), nullptr).ok());
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<uint16_t> c = Download<uint16_t>(dc, s.m * s.n);
    for (int64_t i = 0; i < s.m; ++i)
      for (int64_t j = 0; j < s.n; ++j) {
        double dot = 0, magnitude = 0;
        for (int64_t kk = 0; kk < s.k; ++kk) {
          const double p =
              double{BFloat16ToFloat(a[i * s.k + kk])} * BFloat16ToFloat(w[j * s.k + kk]);
          dot += p;
          magnitude += std::fabs(p);
        }
        const double x = dot + BFloat16ToFloat(bias[j]);
        const double ref = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
        // cuBLASLt's GELU may be the tanh approximation (max error about 5e-4).
        const double tol =
            std::ldexp(1.0, -8) * std::fabs(ref) + s.k * std::ldexp(1.0, -24) * magnitude + 1e-3;
        const double got = BFloat16ToFloat(c[i * s.n + j]);
        ASSERT_NEAR(got, ref, tol) << "C[" << i << "," << j << "]";
      }
  }
}

TEST(CublasLtGemm, RejectsBadConfigurations) {
  CublasLtGemmConfig config;
  config.m = 4;
  config.n = 32;
  config.k = 30;
  config.type = CublasLtGemmType::kInt8Int32;
  auto gemm = CublasLtGemm::Create(config);
  EXPECT_EQ(gemm.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(gemm.status().message().find("multiples of 4"), std::string::npos)
      << gemm.status().message();
  config.k = 32;
  config.m = 0;
  EXPECT_EQ(CublasLtGemm::Create(config).status().code(), StatusCode::kInvalidArgument);
  config.m = 4;
  config.activation = Activation::kGeluErf;
  EXPECT_EQ(CublasLtGemm::Create(config).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace octet::cuda
