// WeightOnlyGemm against a CPU reference computed here from the same codes,
// scales and zero points: y = act(x . dequant(W) + bias), dequant as
// DequantizeLinear computes it in f32, the sum in double.
//
// Tolerance. On the kernel paths the dequantized integers (q or q - zp) are
// exact in bf16 and x is bf16 already, so every product is exact in f32; what
// differs is (a) the f32 summation (tensor-core accumulation, the group
// partial sums scaled by an f32 fma, the sum of 8 K slices): each addition
// rounds by at most 2^-24 of a partial sum bounded by S = sum_k |x w| + |bias|,
// and with K <= 4352 here the usual bound K 2^-24 S stays under 2^-11.9 S; we
// allow 2^-12 S plus the rare worst case through a factor 2 (2^-11 S), times
// 1.13 for GELU's largest slope; (b) the output's rounding to bf16, half an ulp
// = 2^-9 |ref|, budgeted as 2^-8 |ref| for erff's few ulps. The cuBLASLt path
// multiplies bf16-rounded weights and bias: 2^-9 relative per product, so its
// budget is 2^-8 S instead of 2^-11 S (the same whether the bf16 weights are
// a resident copy or dequantized on the device per run, which a test checks
// bit for bit).
#include "octet/cuda/weight_only_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "cuda_test_util.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

struct Problem {
  int64_t m = 0, n = 0, k = 0, group = 0;  // group 0: i8 per channel
  WeightLayout layout = WeightLayout::kKN;
  bool bias = false, gelu = false;
};

std::string ToString(const Problem& p) {
  std::ostringstream os;
  os << (p.group > 0 ? "u4 group " + std::to_string(p.group) : std::string("i8")) << " m " << p.m
     << " n " << p.n << " k " << p.k << (p.layout == WeightLayout::kKN ? " [K,N]" : " [N,K]")
     << (p.bias ? " bias" : "") << (p.gelu ? " gelu" : "");
  return os.str();
}

// Random codes, scales and zero points shaped as quant::QuantizeWeight writes
// them, and a bf16 x.
struct Data {
  WeightOnlyGemmConfig config;
  std::vector<float> w;  // dequantized, [n][k]
  std::vector<uint16_t> x;
  std::vector<float> bias;
};

Data MakeData(const Problem& p, std::mt19937& rng) {
  Data d;
  const bool kn = p.layout == WeightLayout::kKN;
  const bool u4 = p.group > 0;
  WeightOnlyGemmConfig& c = d.config;
  c.weight_layout = p.layout;
  c.group_size = p.group;
  c.codes = Tensor(u4 ? DType::kU4 : DType::kI8,
                   kn ? std::vector<int64_t>{p.k, p.n} : std::vector<int64_t>{p.n, p.k});
  const int64_t groups = u4 ? p.k / p.group : 1;
  std::uniform_int_distribution<int> code(u4 ? 0 : -127, u4 ? 15 : 127), zero(0, 15);
  std::uniform_real_distribution<float> scale(u4 ? 0.01f : 0.001f, u4 ? 0.1f : 0.01f);
  if (u4) {
    const std::vector<int64_t> dims =
        kn ? std::vector<int64_t>{groups, p.n} : std::vector<int64_t>{p.n, groups};
    c.scales = Tensor(DType::kF32, dims);
    c.zero_points = Tensor(DType::kU4, dims);
  } else {
    c.scales = Tensor(DType::kF32, {p.n});
  }
  for (int64_t i = 0; i < c.scales.numel(); ++i) c.scales.data<float>()[i] = scale(rng);
  if (u4)
    for (int64_t i = 0; i < c.zero_points.numel(); ++i) c.zero_points.SetFromDouble(i, zero(rng));
  d.w.resize(static_cast<size_t>(p.n * p.k));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t k = 0; k < p.k; ++k) {
      const int q = code(rng);
      c.codes.SetFromDouble(kn ? k * p.n + n : n * p.k + k, q);
      const int64_t pi = u4 ? (kn ? (k / p.group) * p.n + n : n * groups + k / p.group) : n;
      const int zp = u4 ? static_cast<int>(c.zero_points.GetAsDouble(pi)) : 0;
      d.w[n * p.k + k] = static_cast<float>(q - zp) * c.scales.data<float>()[pi];
    }
  d.x = testing::ToBf16(testing::RandomFloats(p.m * p.k, rng, -1.f, 1.f));
  if (p.bias) {
    d.bias = testing::RandomFloats(p.n, rng, -1.f, 1.f);
    c.bias = Tensor(DType::kF32, {p.n});
    std::memcpy(c.bias.raw(), d.bias.data(), d.bias.size() * sizeof(float));
  }
  c.activation = p.gelu ? Activation::kGeluErf : Activation::kNone;
  return d;
}

double Gelu(double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }

// int4_shape: the u4 kernel shape to force (int4_kernel_shape), -1: the path's.
void RunAndCompare(const Problem& p, WeightOnlyPath path, int64_t cublaslt_min_rows,
                   int int4_shape = -1) {
  const uint32_t seed = testing::FreshSeed();
  std::mt19937 rng(seed);
  Data d = MakeData(p, rng);
  d.config.path = path;
  d.config.cublaslt_min_rows = cublaslt_min_rows;
  d.config.int4_kernel_shape = int4_shape;
  auto gemm = WeightOnlyGemm::Create(d.config);
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  const WeightOnlyPath used = gemm->PathFor(p.m);
  SCOPED_TRACE(::testing::Message() << ToString(p) << ", path " << WeightOnlyPathName(used)
                                    << ", u4 shape " << int4_shape << ", seed " << seed);
  const size_t out_bytes = static_cast<size_t>(p.m * p.n * 2);
  constexpr size_t kGuard = 4096;
  DeviceBuffer x = Upload(d.x);
  DeviceBuffer y = testing::Poisoned(out_bytes + kGuard);
  // The cuBLASLt path dequantizes into this (kDequantizePerRun, the default).
  DeviceBuffer scratch = testing::Poisoned(std::max<size_t>(gemm->scratch_bytes(p.m, path), 16));
  const Status run = gemm->Run(x.data(), p.m, y.data(),
                               {scratch.data(), gemm->scratch_bytes(p.m, path)}, nullptr, path);
  ASSERT_TRUE(run.ok()) << run.ToString();
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<uint8_t> raw = Download<uint8_t>(y, out_bytes + kGuard);
  for (size_t i = out_bytes; i < raw.size(); ++i)
    ASSERT_EQ(raw[i], 0xFF) << "byte " << i - out_bytes << " past the output was written";
  std::vector<uint16_t> got(static_cast<size_t>(p.m * p.n));
  std::memcpy(got.data(), raw.data(), out_bytes);

  const double sum_budget =
      std::ldexp(1.0, used == WeightOnlyPath::kCublasLtBf16 ? -8 : -11) * (p.gelu ? 1.13 : 1.0);
  int64_t bad = 0;
  for (int64_t i = 0; i < p.m; ++i)
    for (int64_t j = 0; j < p.n; ++j) {
      double acc = 0, magnitude = 0;
      for (int64_t k = 0; k < p.k; ++k) {
        const double prod =
            static_cast<double>(BFloat16ToFloat(d.x[i * p.k + k])) * d.w[j * p.k + k];
        acc += prod;
        magnitude += std::fabs(prod);
      }
      if (p.bias) {
        acc += d.bias[j];
        magnitude += std::fabs(d.bias[j]);
      }
      const double ref = p.gelu ? Gelu(acc) : acc;
      const double out = BFloat16ToFloat(got[i * p.n + j]);
      const double tolerance = std::ldexp(std::fabs(ref), -8) + sum_budget * magnitude;
      if (!(std::fabs(out - ref) <= tolerance) && ++bad <= 5)
        ADD_FAILURE() << "y[" << i << "," << j << "] = " << out << ", reference " << ref
                      << " (tolerance " << tolerance << ")";
    }
  EXPECT_EQ(bad, 0) << "of " << p.m * p.n << " outputs";
}

class WeightOnlyGemmTest : public ::testing::Test {
 protected:
  void SetUp() override { OCTET_SKIP_WITHOUT_CUDA_DEVICE(); }
};

// Every group size at every m of the list, on the kernel paths only
// (cublaslt_min_rows 0), alternating layouts and epilogues; N not a multiple
// of the 16- or 32-column blocks, K not a multiple of the 128-value chunk.
TEST_F(WeightOnlyGemmTest, Int4AllGroupsAndRowCounts) {
  int variant = 0;
  for (int64_t group : {32, 64, 128})
    for (int64_t m : {1, 3, 16, 17, 128, 300}) {
      Problem p;
      p.m = m;
      p.n = 200 + 8 * variant % 3 + (variant % 2);  // odd N too
      p.k = group * (group == 128 ? 5 : 7);
      p.group = group;
      p.layout = variant % 2 == 0 ? WeightLayout::kKN : WeightLayout::kNK;
      p.bias = variant % 3 != 2;
      p.gelu = variant % 2 == 1;
      ++variant;
      RunAndCompare(p, WeightOnlyPath::kAuto, 0);
    }
}

TEST_F(WeightOnlyGemmTest, Int8AllRowCounts) {
  int variant = 0;
  for (int64_t m : {1, 3, 16, 17, 128, 300}) {
    Problem p;
    p.m = m;
    p.n = 136 + 5 * variant;
    p.k = variant % 2 == 0 ? 328 : 1024;  // 328: not a multiple of the 64-value chunk
    p.layout = variant % 2 == 0 ? WeightLayout::kNK : WeightLayout::kKN;
    p.bias = variant % 3 != 1;
    p.gelu = variant % 2 == 0;
    ++variant;
    RunAndCompare(p, WeightOnlyPath::kAuto, 0);
  }
}

// Each path forced, including the streaming variants at m > 16 (several row
// tiles) and the cuBLASLt path at small m.
TEST_F(WeightOnlyGemmTest, EveryPathBothCodeTypes) {
  for (WeightOnlyPath path :
       {WeightOnlyPath::kStreaming8, WeightOnlyPath::kStreaming16, WeightOnlyPath::kStreaming16x32,
        WeightOnlyPath::kTensorCore32, WeightOnlyPath::kCublasLtBf16})
    for (int64_t group : {0, 64})
      for (int64_t m : {2, 45}) {
        Problem p;
        p.m = m;
        p.n = 96 + 3;
        p.k = 512;
        p.group = group;
        p.bias = true;
        p.gelu = m == 45;
        RunAndCompare(p, path, 1);
      }
}

// Every m from 1 to 17 on the u4 kernels (8- and 16-row tiles and their
// edges), N not a multiple of the 16-column tile (or of 32), K with fewer
// chunks than warps (some warps own no K) or not a multiple of the chunk.
TEST_F(WeightOnlyGemmTest, Int4SmallRowsEveryM) {
  for (int64_t m = 1; m <= 17; ++m) {
    Problem p;
    p.m = m;
    p.n = m % 2 == 0 ? 40 : 75;
    p.group = m % 3 == 0 ? 32 : m % 3 == 1 ? 128 : 64;
    p.k = m % 4 < 2 ? 384 : p.group * 13;
    p.layout = m % 2 == 0 ? WeightLayout::kNK : WeightLayout::kKN;
    p.bias = m % 3 != 0;
    p.gelu = m % 4 == 3;
    RunAndCompare(p, WeightOnlyPath::kAuto, 0);
  }
}

// N = 4500: 282 column tiles of 16, more than twice the SMs, where the u4
// 8-row path takes its 4-warp shape; K slices of 0 (K = 384: 3 chunks for 8
// warps) up to 3 chunks per warp.
TEST_F(WeightOnlyGemmTest, Int4ManyColumnTiles) {
  int variant = 0;
  for (int64_t m : {1, 5, 9, 16, 33}) {
    Problem p;
    p.m = m;
    p.n = 4500;
    p.k = variant % 2 == 0 ? 384 : 2176;
    p.group = variant % 3 == 2 ? 64 : 128;
    p.layout = variant % 2 == 0 ? WeightLayout::kNK : WeightLayout::kKN;
    p.bias = true;
    p.gelu = variant % 2 == 1;
    ++variant;
    RunAndCompare(p, WeightOnlyPath::kAuto, 0);
  }
}

// Long K: each warp walks many chunks (17 per warp at K = 4352 / 128 / 8 is
// not even: slices of 4 and 5 chunks), so the load ring wraps.
TEST_F(WeightOnlyGemmTest, LongK) {
  for (int64_t group : {0, 128, 32}) {
    Problem p;
    p.m = 5;
    p.n = 264;
    p.k = 4352;
    p.group = group;
    p.bias = true;
    RunAndCompare(p, WeightOnlyPath::kAuto, 0);
  }
}

// Every instantiated u4 kernel shape forced (group 128: the benchmark's sweep
// shapes too; 32 and 64: the paths'), at m = 1, 7, 16, 33 (one to five row
// tiles, the last one partial). N = 200..202: n_pad = 224, so a 64-column
// block passes n_pad (its second column warp owns no tile), with K = 9 chunks:
// the launcher's cluster split of 2 or 4 blocks gives K slices of 1 and 2
// chunks, or none. N = 4500 with K = 3 chunks: many blocks (no split), warps
// with no chunk.
TEST_F(WeightOnlyGemmTest, Int4EveryKernelShape) {
  int variant = 0;
  for (int64_t group : {128, 64, 32})
    for (int shape = 0; shape < WeightOnlyInt4KernelShapes(group); ++shape)
      for (int64_t m : {1, 7, 16, 33}) {
        const bool wide = variant % 4 == 3;
        Problem p;
        p.m = m;
        p.n = wide ? 4500 : 200 + variant % 3;
        p.k = wide ? 384 : 1152;
        p.group = group;
        p.layout = variant % 2 == 0 ? WeightLayout::kNK : WeightLayout::kKN;
        p.bias = variant % 3 != 1;
        p.gelu = variant % 5 == 2;
        ++variant;
        RunAndCompare(p, WeightOnlyPath::kAuto, 0, shape);
      }
}

// Every u4 kernel shape on long K runs: N = 4500 (282 tiles) and K = 4224
// (33 chunks), so the shapes walk many stages of their rings.
TEST_F(WeightOnlyGemmTest, Int4EveryKernelShapeLongRuns) {
  int variant = 0;
  for (int64_t group : {128, 64, 32})
    for (int shape = 0; shape < WeightOnlyInt4KernelShapes(group); ++shape) {
      Problem p;
      p.m = 1 + variant % 3 * 4;  // 1, 5, 9
      p.n = 4500;
      p.k = 4224;
      p.group = group;
      p.layout = variant % 2 == 0 ? WeightLayout::kNK : WeightLayout::kKN;
      p.bias = variant % 3 != 2;
      p.gelu = variant % 4 == 1;
      ++variant;
      RunAndCompare(p, WeightOnlyPath::kAuto, 0, shape);
    }
}

// Every path shape of group 128 with more blocks than the GPU holds at once
// (m = 24: 3 row tiles, N = 4500), so a second wave reuses the shared memory
// of finished blocks; K = 640.
TEST_F(WeightOnlyGemmTest, Int4PathShapesSeveralWaves) {
  for (int shape = 0; shape < WeightOnlyInt4KernelShapes(64); ++shape) {
    Problem p;
    p.m = 24;
    p.n = 4500;
    p.k = 640;
    p.group = 128;
    p.layout = shape % 2 == 0 ? WeightLayout::kNK : WeightLayout::kKN;
    p.bias = true;
    RunAndCompare(p, WeightOnlyPath::kAuto, 0, shape);
  }
}

// The automatic choice: kernels up to cublaslt_min_rows, cuBLASLt (on
// weights dequantized into the scratch) from there.
TEST_F(WeightOnlyGemmTest, AutoPathUsesCublasLtFromThreshold) {
  Problem p;
  p.m = 64;
  p.n = 128;
  p.k = 256;
  p.group = 128;
  std::mt19937 rng(1);
  Data d = MakeData(p, rng);
  d.config.cublaslt_min_rows = 64;
  auto gemm = WeightOnlyGemm::Create(d.config);
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  EXPECT_EQ(gemm->PathFor(1), WeightOnlyPath::kStreaming8);
  EXPECT_EQ(gemm->PathFor(8), WeightOnlyPath::kStreaming8);
  EXPECT_EQ(gemm->PathFor(16), WeightOnlyPath::kStreaming16x32);
  EXPECT_EQ(gemm->PathFor(17), WeightOnlyPath::kStreaming16);
  EXPECT_EQ(gemm->PathFor(32), WeightOnlyPath::kStreaming16);
  EXPECT_EQ(gemm->PathFor(33), WeightOnlyPath::kStreaming16x32);
  EXPECT_EQ(gemm->PathFor(63), WeightOnlyPath::kStreaming16x32);
  EXPECT_EQ(gemm->PathFor(64), WeightOnlyPath::kCublasLtBf16);
  RunAndCompare(p, WeightOnlyPath::kAuto, 64);
}

// The cuBLASLt path's weights dequantized on the device by each Run are the
// host's resident copy bit for bit: with the same workspace cuBLASLt picks
// the same algorithm, so the outputs must be identical. u4 at every group
// size with K not a multiple of the 128-value chunk, i8 with K not a multiple
// of its 64-value chunk; N not a multiple of the 32-column padding; both
// layouts.
TEST_F(WeightOnlyGemmTest, PerRunDequantizationMatchesResidentCopy) {
  for (int64_t group : {0, 32, 64, 128}) {
    Problem p;
    p.m = 40;
    p.n = 99;
    p.k = group == 0 ? 200 : 384 + (group == 128 ? 0 : group);
    p.group = group;
    p.bias = true;
    p.gelu = group == 64;
    p.layout = group == 32 ? WeightLayout::kNK : WeightLayout::kKN;
    SCOPED_TRACE(ToString(p));
    std::mt19937 rng(testing::FreshSeed());
    Data d = MakeData(p, rng);
    d.config.bf16_weights = Bf16Weights::kResidentCopy;
    auto resident = WeightOnlyGemm::Create(d.config);
    d.config.bf16_weights = Bf16Weights::kDequantizePerRun;
    auto per_run = WeightOnlyGemm::Create(d.config);
    ASSERT_TRUE(resident.ok()) << resident.status().ToString();
    ASSERT_TRUE(per_run.ok()) << per_run.status().ToString();
    ASSERT_EQ(per_run->PathFor(p.m), WeightOnlyPath::kCublasLtBf16);
    const size_t weights_bytes = per_run->scratch_bytes(p.m) - resident->scratch_bytes(p.m);
    EXPECT_GE(weights_bytes, static_cast<size_t>(p.n * p.k * 2));
    EXPECT_LE(per_run->scratch_bytes(p.m), WeightOnlyGemm::MaxScratchBytes(p.n, p.k));
    EXPECT_EQ(per_run->scratch_bytes(32), 0u);  // the kernels need none
    DeviceBuffer x = Upload(d.x);
    const size_t out_bytes = static_cast<size_t>(p.m * p.n * 2);
    DeviceBuffer y1 = testing::Poisoned(out_bytes), y2 = testing::Poisoned(out_bytes);
    // The per-run scratch poisoned, so padding read as weights would show.
    DeviceBuffer s1 = testing::Poisoned(resident->scratch_bytes(p.m));
    DeviceBuffer s2 = testing::Poisoned(per_run->scratch_bytes(p.m));
    ASSERT_TRUE(resident->Run(x.data(), p.m, y1.data(), {s1.data(), s1.bytes()}, nullptr).ok());
    const Status run = per_run->Run(x.data(), p.m, y2.data(), {s2.data(), s2.bytes()}, nullptr);
    ASSERT_TRUE(run.ok()) << run.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<uint16_t> a = Download<uint16_t>(y1, p.m * p.n);
    const std::vector<uint16_t> b = Download<uint16_t>(y2, p.m * p.n);
    int64_t differ = 0;
    for (size_t i = 0; i < a.size(); ++i)
      if (a[i] != b[i] && ++differ <= 5)
        ADD_FAILURE() << "y[" << i / p.n << "," << i % p.n << "]: resident " << a[i] << ", per run "
                      << b[i];
    EXPECT_EQ(differ, 0);
  }
}

// Scratch for the cuBLASLt path: too little (or misaligned) is an error that
// names the bytes; the kernel paths and a resident copy need none.
TEST_F(WeightOnlyGemmTest, CublasLtPathChecksItsScratch) {
  Problem p;
  p.m = 48;
  p.n = 64;
  p.k = 256;
  p.group = 128;
  std::mt19937 rng(4);
  Data d = MakeData(p, rng);
  auto gemm = WeightOnlyGemm::Create(d.config);
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  DeviceBuffer x = Upload(d.x), y = testing::Poisoned(p.m * p.n * 2);
  const size_t need = gemm->scratch_bytes(p.m);
  DeviceBuffer scratch = testing::Poisoned(need + 16);
  const Status none = gemm->Run(x.data(), p.m, y.data(), nullptr);
  EXPECT_EQ(none.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(none.message().find(std::to_string(need) + " bytes"), std::string::npos)
      << none.ToString();
  const Status small =
      gemm->Run(x.data(), p.m, y.data(), {scratch.data(), size_t(p.n * p.k)}, nullptr);
  EXPECT_EQ(small.code(), StatusCode::kInvalidArgument) << small.ToString();
  const Status misaligned =
      gemm->Run(x.data(), p.m, y.data(), {static_cast<char*>(scratch.data()) + 8, need}, nullptr);
  EXPECT_EQ(misaligned.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(misaligned.message().find("16-byte aligned"), std::string::npos)
      << misaligned.ToString();
  EXPECT_TRUE(gemm->Run(x.data(), p.m, y.data(), {scratch.data(), need}, nullptr).ok());
  EXPECT_TRUE(gemm->Run(x.data(), 16, y.data(), nullptr).ok());  // a kernel path
  d.config.bf16_weights = Bf16Weights::kResidentCopy;
  auto resident = WeightOnlyGemm::Create(d.config);
  ASSERT_TRUE(resident.ok()) << resident.status().ToString();
  EXPECT_TRUE(resident->Run(x.data(), p.m, y.data(), nullptr).ok());  // no workspace
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

// RunF32: the cuBLASLt path writing f32 (what the runtime's f32 activations
// take, without a bf16 round trip), against the CPU reference with the
// cuBLASLt path's budget; only on that path.
TEST_F(WeightOnlyGemmTest, CublasLtPathWritesF32) {
  for (int64_t group : {0, 128}) {
    Problem p;
    p.m = 40;
    p.n = 72;
    p.k = 256;
    p.group = group;
    p.bias = true;
    p.gelu = group == 0;
    SCOPED_TRACE(ToString(p));
    std::mt19937 rng(testing::FreshSeed());
    Data d = MakeData(p, rng);
    auto gemm = WeightOnlyGemm::Create(d.config);
    ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
    ASSERT_TRUE(gemm->WritesF32(p.m));
    ASSERT_FALSE(gemm->WritesF32(16));
    DeviceBuffer x = Upload(d.x), y = testing::Poisoned(p.m * p.n * 4);
    DeviceBuffer scratch = testing::Poisoned(gemm->scratch_bytes(p.m));
    const WeightOnlyScratch lend{scratch.data(), scratch.bytes()};
    const Status kernel_path = gemm->RunF32(x.data(), 16, y.as<float>(), lend, nullptr);
    EXPECT_EQ(kernel_path.code(), StatusCode::kInvalidArgument) << kernel_path.ToString();
    const Status run = gemm->RunF32(x.data(), p.m, y.as<float>(), lend, nullptr);
    ASSERT_TRUE(run.ok()) << run.ToString();
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<float> got = Download<float>(y, p.m * p.n);
    int64_t bad = 0;
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        double acc = d.bias[j], magnitude = std::fabs(d.bias[j]);
        for (int64_t k = 0; k < p.k; ++k) {
          const double prod =
              static_cast<double>(BFloat16ToFloat(d.x[i * p.k + k])) * d.w[j * p.k + k];
          acc += prod;
          magnitude += std::fabs(prod);
        }
        const double ref = p.gelu ? Gelu(acc) : acc;
        // bf16-rounded weights and bias (2^-8 S, as RunAndCompare), no output rounding.
        const double tolerance = std::ldexp(magnitude, -8) * (p.gelu ? 1.13 : 1.0) + 1e-6;
        if (!(std::fabs(got[i * p.n + j] - ref) <= tolerance) && ++bad <= 5)
          ADD_FAILURE() << "y[" << i << "," << j << "] = " << got[i * p.n + j] << ", reference "
                        << ref << " (tolerance " << tolerance << ")";
      }
    EXPECT_EQ(bad, 0);
  }
}

// TuneInt4Shape times each shape of m's path; a GEMM created with the
// result runs that shape at those rows (bit for bit the forced shape's
// output) and the rule's elsewhere (bit for bit an untuned GEMM's).
TEST_F(WeightOnlyGemmTest, Int4TunedShapeRunsAtItsRows) {
  Problem p;
  p.m = 24;    // x's rows: the most any run below takes
  p.n = 4500;  // 282 column tiles: more blocks than one wave for some shapes
  p.k = 1024;
  p.group = 128;
  p.bias = true;
  std::mt19937 rng(testing::FreshSeed());
  const Data d = MakeData(p, rng);
  auto gemm = WeightOnlyGemm::Create(d.config);
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  const DeviceBuffer x = Upload(d.x);
  for (int64_t m : {1, 5, 16, 24}) {
    SCOPED_TRACE(::testing::Message() << "m " << m);
    auto tuning = gemm->TuneInt4Shape(m);
    ASSERT_TRUE(tuning.ok()) << tuning.status().ToString();
    EXPECT_EQ(tuning->m, m);
    ASSERT_FALSE(tuning->timings.empty());
    double best = 1e30;
    int best_shape = -1;
    bool rule_timed = false;
    for (const Int4ShapeTiming& t : tuning->timings) {
      EXPECT_GT(t.us, 0.0) << "shape " << t.shape;
      EXPECT_LT(t.us, 1e4) << "shape " << t.shape;
      if (t.us < best) best = t.us, best_shape = t.shape;
      rule_timed |= t.shape == tuning->rule_shape;
    }
    EXPECT_EQ(tuning->best_shape, best_shape);
    EXPECT_TRUE(rule_timed) << "the rule's shape " << tuning->rule_shape << " was not timed";
    std::printf("m %lld: rule shape %d, tuned shape %d (%.2f us)\n", static_cast<long long>(m),
                tuning->rule_shape, tuning->best_shape, best);

    // The least likely shape of the path stands in for a tuning result, so
    // that the tuned run differs from the rule's where the kernels differ.
    const int tuned = tuning->timings.back().shape;
    WeightOnlyGemmConfig tuned_config = d.config, forced_config = d.config;
    tuned_config.tuned_int4_shape = tuned;
    tuned_config.tuned_rows = m;
    forced_config.int4_kernel_shape = tuned;
    auto with_tuning = WeightOnlyGemm::Create(tuned_config);
    auto forced = WeightOnlyGemm::Create(forced_config);
    ASSERT_TRUE(with_tuning.ok() && forced.ok());
    auto run = [&](const WeightOnlyGemm& g, int64_t rows) {
      DeviceBuffer y = testing::Poisoned(static_cast<size_t>(rows * p.n * 2));
      EXPECT_TRUE(g.Run(x.data(), rows, y.data(), nullptr).ok());
      EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      return Download<uint16_t>(y, static_cast<size_t>(rows * p.n));
    };
    EXPECT_EQ(run(*with_tuning, m), run(*forced, m)) << "tuned shape " << tuned;
    const int64_t other = m == 1 ? 2 : m - 1;
    EXPECT_EQ(run(*with_tuning, other), run(*gemm, other));
  }
  // Rows that run cuBLASLt have no u4 shape to tune.
  const auto cublaslt = gemm->TuneInt4Shape(33);
  ASSERT_FALSE(cublaslt.ok());
  EXPECT_EQ(cublaslt.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cublaslt.status().ToString().find("cuBLASLt"), std::string::npos);
}

TEST_F(WeightOnlyGemmTest, RunRejectsMisalignedAndNullBuffers) {
  Problem p;
  p.m = 4;
  p.n = 64;
  p.k = 128;
  p.group = 64;
  std::mt19937 rng(2);
  auto gemm = WeightOnlyGemm::Create(MakeData(p, rng).config);
  ASSERT_TRUE(gemm.ok()) << gemm.status().ToString();
  DeviceBuffer x = testing::Poisoned(1024 + 16), y = testing::Poisoned(1024);
  const Status misaligned =
      gemm->Run(static_cast<const char*>(x.data()) + 2, p.m, y.data(), nullptr);
  EXPECT_EQ(misaligned.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(misaligned.message().find("16-byte aligned"), std::string::npos)
      << misaligned.ToString();
  EXPECT_EQ(gemm->Run(nullptr, p.m, y.data(), nullptr).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(gemm->Run(x.data(), 0, y.data(), nullptr).ok());
}

// ---- configuration errors: reported before the device is touched ----------

void ExpectConfigError(const WeightOnlyGemmConfig& config, StatusCode code, const char* needle) {
  const auto gemm = WeightOnlyGemm::Create(config);
  ASSERT_FALSE(gemm.ok());
  EXPECT_EQ(gemm.status().code(), code) << gemm.status().ToString();
  EXPECT_NE(gemm.status().ToString().find(needle), std::string::npos) << gemm.status().ToString();
}

WeightOnlyGemmConfig ValidInt4Config() {
  Problem p;
  p.m = 1;
  p.n = 16;
  p.k = 128;
  p.group = 64;
  std::mt19937 rng(3);
  return MakeData(p, rng).config;
}

TEST(WeightOnlyGemmConfigTest, RejectsBadShapesAndTypes) {
  WeightOnlyGemmConfig c = ValidInt4Config();
  c.group_size = 48;
  ExpectConfigError(c, StatusCode::kInvalidArgument, "group_size 48");

  c = ValidInt4Config();  // K = 128, group 64: scales [2, 16]
  c.group_size = 128;
  ExpectConfigError(c, StatusCode::kInvalidArgument, "scales of shape [1,16]");

  c = ValidInt4Config();
  c.codes = Tensor(DType::kU4, {96, 16});  // K = 96 with group 64
  ExpectConfigError(c, StatusCode::kInvalidArgument, "multiple of the group size 64");

  c = ValidInt4Config();
  c.codes = Tensor(DType::kI4, {128, 16});
  ExpectConfigError(c, StatusCode::kUnimplemented, "signed int4");

  c = ValidInt4Config();
  c.zero_points = Tensor(DType::kI8, {2, 16});
  ExpectConfigError(c, StatusCode::kInvalidArgument, "zero points must be u4");

  c = ValidInt4Config();
  c.bias = Tensor(DType::kF32, {15});
  ExpectConfigError(c, StatusCode::kInvalidArgument, "bias must be f32 [16]");

  c = ValidInt4Config();
  c.scales.data<float>()[3] = NAN;
  ExpectConfigError(c, StatusCode::kInvalidArgument, "not finite");

  c = ValidInt4Config();
  c.path = WeightOnlyPath::kCublasLtBf16;
  c.cublaslt_min_rows = 0;
  ExpectConfigError(c, StatusCode::kInvalidArgument, "turns the cuBLASLt path off");

  c = ValidInt4Config();  // group 64: the path shapes only
  c.int4_kernel_shape = WeightOnlyInt4KernelShapes(64);
  ExpectConfigError(c, StatusCode::kInvalidArgument, "not a u4 kernel shape");

  c = ValidInt4Config();
  c.tuned_int4_shape = WeightOnlyInt4KernelShapes(64);
  c.tuned_rows = 1;
  ExpectConfigError(c, StatusCode::kInvalidArgument, "tuned_int4_shape");
  c.tuned_int4_shape = 0;
  c.tuned_rows = 0;
  ExpectConfigError(c, StatusCode::kInvalidArgument, "at least one row");

  WeightOnlyGemmConfig i8;
  i8.codes = Tensor(DType::kI8, {100, 32});  // K = 100
  i8.scales = Tensor(DType::kF32, {32});
  ExpectConfigError(i8, StatusCode::kInvalidArgument, "multiple of 8");
  i8.codes = Tensor(DType::kI8, {104, 32});
  i8.zero_points = Tensor(DType::kI8, {32});
  ExpectConfigError(i8, StatusCode::kUnimplemented, "symmetric");
  i8.zero_points = Tensor();
  i8.scales = Tensor(DType::kF32, {31});
  ExpectConfigError(i8, StatusCode::kInvalidArgument, "f32 scales [32]");
  i8.scales = Tensor(DType::kF32, {32});
  i8.group_size = 32;
  ExpectConfigError(i8, StatusCode::kInvalidArgument, "per channel");
  i8.group_size = 0;
  i8.int4_kernel_shape = 0;
  ExpectConfigError(i8, StatusCode::kInvalidArgument, "not a u4 kernel shape");
  i8.int4_kernel_shape = -1;
  i8.tuned_int4_shape = 0;
  i8.tuned_rows = 1;
  ExpectConfigError(i8, StatusCode::kInvalidArgument, "tuned_int4_shape");
}

TEST(WeightOnlyGemmConfigTest, NoDeviceIsNotFound) {
  std::string reason;
  if (DeviceAvailable(&reason)) GTEST_SKIP() << "a GPU is present";
  const auto gemm = WeightOnlyGemm::Create(ValidInt4Config());
  ASSERT_FALSE(gemm.ok());
  EXPECT_EQ(gemm.status().code(), StatusCode::kNotFound) << gemm.status().ToString();
}

}  // namespace
}  // namespace octet::cuda
