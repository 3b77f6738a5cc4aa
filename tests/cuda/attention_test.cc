// Bf16Attention (octet/cuda/attention.h) against a double-precision
// evaluation of the same formula on the CPU, with fresh seeded random bf16
// inputs: plain attention, SAM's decomposed relative position terms on a
// 14x14 window and a 32x32 global grid (64x64 would take the reference
// minutes), query and key grids that differ, heads read from a packed qkv
// [B, N, 3, H, d] tensor with the output written as [B, N, H, d], lengths
// that are not multiples of the 128-query / 64-key blocks, every head dim.
//
// Tolerance, per output element O = sum_j P_j V_j (P the softmax row):
// the bf16 inputs are exact inputs of the reference, so the errors are the
// kernel's own roundings.
//  - P is rounded to bf16 before the P V product: each term's relative error
//    is at most u = 2^-8, so |error| <= u * A with A = sum_j P_j |V_j|; the
//    row sum is taken from the unrounded P, so it adds nothing here.
//  - O is rounded to bf16: u * |O|.
//  - A score's f32 error: its products accumulate in f32 on the tensor cores
//    (Q K^T) and in FFMA (the position terms), at most (d + 8) * 2^-23 * m
//    with m the sum of the absolute products (the 2^-23 allows the tensor
//    cores' truncating adds), and the conversion to base 2 and ex2.approx add
//    2^-21 * |score|; a score error e changes P_j by a relative 2e at most
//    (numerator and row sum), so 2 * max_j e_j * A. Shift-form tables are
//    multiplied on the tensor cores as bf16 hi + lo (within 2^-18 of the
//    table) over 2d products: (2^-18 + 2d 2^-23) m_rel, m_rel the position
//    terms' share of m, which 2^-15 m_rel more covers for d <= 128 (with the
//    (d + 8) 2^-23 m_rel above).
//  - The f32 sums over kv_len keys of P V and of P: (kv_len + 32) * 2^-23 * A.
// The P rounding dominates: 2^-8 * A against ~1e-4 * A for the rest at d = 64.
#include "octet/cuda/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "cuda_test_util.h"

namespace octet::cuda {
namespace {

using testing::Download;
using testing::Upload;

constexpr double kBf16U = 0x1p-8;

struct Case {
  int64_t batch, heads, q_len, kv_len, d;
  int64_t q_h = 0, q_w = 0, k_h = 0, k_w = 0;  // position grids (0: none)
  bool packed = false;                         // Q, K, V inside [B, N, 3, H, d]; O as [B, N, H, d]
  DType table_type = DType::kF32;
  // Shift-form tables (entry (a, b) = U[a - b + k - 1], SAM's get_rel_pos on
  // equal grids), which non-patch blocks multiply on the tensor cores; f32
  // ones hold full f32 values (not bf16), so that U's lo half is exercised.
  bool shift = false;
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  os << "batch " << c.batch << " heads " << c.heads << " q " << c.q_len << " kv " << c.kv_len
     << " d " << c.d;
  if (c.q_h > 0)
    os << " rel " << c.q_h << "x" << c.q_w << " / " << c.k_h << "x" << c.k_w << " "
       << DTypeName(c.table_type) << (c.shift ? " shift-form" : "");
  return os << (c.packed ? " packed qkv" : " dense");
}

// Values of a bf16 vector (what the kernel sees).
std::vector<double> Widen(const std::vector<uint16_t>& v) {
  std::vector<double> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = BFloat16ToFloat(v[i]);
  return out;
}

// A position table [q, k, d] with values in [-0.5, 0.5], exactly
// representable in bf16 so that an f32 and a bf16 table hold the same numbers.
Tensor RandomTable(int64_t q, int64_t k, int64_t d, DType type, std::mt19937& rng,
                   std::vector<double>* values) {
  const std::vector<uint16_t> bits =
      testing::ToBf16(testing::RandomFloats(static_cast<size_t>(q * k * d), rng, -0.5f, 0.5f));
  *values = Widen(bits);
  if (type == DType::kBF16) {
    Tensor t(DType::kBF16, {q, k, d});
    std::memcpy(t.raw(), bits.data(), bits.size() * sizeof(uint16_t));
    return t;
  }
  std::vector<float> f(values->begin(), values->end());
  return Tensor::FromVector(f, {q, k, d});
}

// A shift-form table [q, k, d]: entry (a, b) is row a - b + k - 1 of a random
// U [q + k - 1, d] with values in [-0.5, 0.5] (bf16 values for a bf16 table,
// full f32 values otherwise).
Tensor ShiftTable(int64_t q, int64_t k, int64_t d, DType type, std::mt19937& rng,
                  std::vector<double>* values) {
  const int64_t rows = q + k - 1;
  const std::vector<float> u =
      testing::RandomFloats(static_cast<size_t>(rows * d), rng, -0.5f, 0.5f);
  const std::vector<uint16_t> u_bits = testing::ToBf16(u);
  values->assign(static_cast<size_t>(q * k * d), 0.0);
  Tensor t(type, {q, k, d});
  for (int64_t a = 0; a < q; ++a)
    for (int64_t b = 0; b < k; ++b)
      for (int64_t c = 0; c < d; ++c) {
        const size_t dst = static_cast<size_t>((a * k + b) * d + c);
        const size_t src = static_cast<size_t>((a - b + k - 1) * d + c);
        if (type == DType::kBF16) {
          t.data<uint16_t>()[dst] = u_bits[src];
          (*values)[dst] = BFloat16ToFloat(u_bits[src]);
        } else {
          t.data<float>()[dst] = u[src];
          (*values)[dst] = u[src];
        }
      }
  return t;
}

void Check(const Case& tc) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = testing::FreshSeed();
  SCOPED_TRACE(::testing::Message() << tc << ", seed " << seed);
  std::mt19937 rng(seed);
  const int64_t B = tc.batch, H = tc.heads, d = tc.d, nq = tc.q_len, nk = tc.kv_len;
  Bf16AttentionConfig c;
  c.batch = B;
  c.heads = H;
  c.q_len = nq;
  c.kv_len = nk;
  c.head_dim = d;
  c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  AttentionStrides qs = DenseAttentionStrides(H, nq, d), ks = DenseAttentionStrides(H, nk, d);
  AttentionStrides os = qs;
  int64_t k_off = 0, v_off = 0;  // of K and V inside the input buffer (packed)
  std::vector<uint16_t> q_bits, k_bits, v_bits;
  size_t out_elements = static_cast<size_t>(B * H * nq * d);
  if (tc.packed) {
    ASSERT_EQ(nq, nk);
    q_bits = testing::ToBf16(
        testing::RandomFloats(static_cast<size_t>(B * nq * 3 * H * d), rng, -2.f, 2.f));
    qs = ks = {nq * 3 * H * d, d, 3 * H * d};  // [B, N, 3, H, d]
    os = {nq * H * d, d, H * d};               // [B, N, H, d]
    c.q_strides = c.k_strides = c.v_strides = qs;
    c.out_strides = os;
    k_off = H * d;
    v_off = 2 * H * d;
  } else {
    q_bits =
        testing::ToBf16(testing::RandomFloats(static_cast<size_t>(B * H * nq * d), rng, -2, 2));
    k_bits =
        testing::ToBf16(testing::RandomFloats(static_cast<size_t>(B * H * nk * d), rng, -2, 2));
    v_bits =
        testing::ToBf16(testing::RandomFloats(static_cast<size_t>(B * H * nk * d), rng, -2, 2));
  }
  std::vector<double> rh, rw;
  if (tc.q_h > 0) {
    const auto table = tc.shift ? ShiftTable : RandomTable;
    c.rel_pos_h = table(tc.q_h, tc.k_h, d, tc.table_type, rng, &rh);
    c.rel_pos_w = table(tc.q_w, tc.k_w, d, tc.table_type, rng, &rw);
  }
  auto attn = Bf16Attention::Create(c);
  ASSERT_TRUE(attn.ok()) << attn.status().ToString();

  DeviceBuffer q_dev = Upload(q_bits), k_dev, v_dev;
  if (!tc.packed) {
    k_dev = Upload(k_bits);
    v_dev = Upload(v_bits);
  }
  const uint16_t* q_ptr = q_dev.as<uint16_t>();
  const uint16_t* k_ptr = tc.packed ? q_ptr + k_off : k_dev.as<uint16_t>();
  const uint16_t* v_ptr = tc.packed ? q_ptr + v_off : v_dev.as<uint16_t>();
  constexpr size_t kGuard = 64;  // elements after the output that must stay untouched
  DeviceBuffer out_dev = testing::Poisoned((out_elements + kGuard) * 2);
  ASSERT_TRUE(attn->Run(q_ptr, k_ptr, v_ptr, out_dev.data(), nullptr).ok());
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<uint16_t> out = Download<uint16_t>(out_dev, out_elements + kGuard);
  for (size_t i = out_elements; i < out.size(); ++i)
    ASSERT_EQ(out[i], 0xFFFF) << "write past the output at element " << i;

  // Same inputs, same result, bit for bit (no races, no order dependence).
  ASSERT_TRUE(attn->Run(q_ptr, k_ptr, v_ptr, out_dev.data(), nullptr).ok());
  ASSERT_EQ(Download<uint16_t>(out_dev, out_elements),
            std::vector<uint16_t>(out.begin(), out.end() - kGuard));

  const std::vector<double> Q = Widen(q_bits);
  const std::vector<double> K = tc.packed ? Q : Widen(k_bits);
  const std::vector<double> V = tc.packed ? Q : Widen(v_bits);
  const double scale = c.scale;
  double worst = 0;
  std::vector<double> s(nk), e(nk), rel_h(tc.k_h), rel_w(tc.k_w);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < nq; ++i) {
        const double* qi = &Q[b * qs[0] + h * qs[1] + i * qs[2]];
        std::vector<double> mag_h(tc.k_h), mag_w(tc.k_w);
        if (tc.q_h > 0) {
          const int64_t qy = i / tc.q_w, qx = i % tc.q_w;
          for (int64_t kh = 0; kh < tc.k_h; ++kh) {
            double acc = 0, m = 0;
            for (int64_t x = 0; x < d; ++x) {
              const double p = qi[x] * rh[(qy * tc.k_h + kh) * d + x];
              acc += p;
              m += std::fabs(p);
            }
            rel_h[kh] = acc;
            mag_h[kh] = m;
          }
          for (int64_t kw = 0; kw < tc.k_w; ++kw) {
            double acc = 0, m = 0;
            for (int64_t x = 0; x < d; ++x) {
              const double p = qi[x] * rw[(qx * tc.k_w + kw) * d + x];
              acc += p;
              m += std::fabs(p);
            }
            rel_w[kw] = acc;
            mag_w[kw] = m;
          }
        }
        double emax = 0;
        for (int64_t j = 0; j < nk; ++j) {
          const double* kj = &K[b * ks[0] + h * ks[1] + j * ks[2] + k_off];
          double dot = 0, m = 0;
          for (int64_t x = 0; x < d; ++x) {
            const double p = qi[x] * kj[x];
            dot += p;
            m += std::fabs(p);
          }
          dot *= scale;
          m *= std::fabs(scale);
          double m_rel = 0;
          if (tc.q_h > 0) {
            const int64_t kh = j / tc.k_w, kw = j % tc.k_w;
            dot += rel_h[kh] + rel_w[kw];
            m_rel = mag_h[kh] + mag_w[kw];
          }
          s[j] = dot;
          // Shift-form terms come from U = hi + lo (within 2^-18 of U) and
          // 2d tensor-core products (the header's 2^-15 m_rel).
          emax = std::max(emax, (d + 8) * 0x1p-23 * (m + m_rel) + 0x1p-21 * std::fabs(dot) +
                                    (tc.shift ? 0x1p-15 * m_rel : 0.0));
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (int64_t j = 0; j < nk; ++j) sum += (e[j] = std::exp(s[j] - mx));
        for (int64_t x = 0; x < d; ++x) {
          double o = 0, a = 0;
          for (int64_t j = 0; j < nk; ++j) {
            const double vj = V[b * ks[0] + h * ks[1] + j * ks[2] + v_off + x];
            o += e[j] / sum * vj;
            a += e[j] / sum * std::fabs(vj);
          }
          const double tol = kBf16U * (a + std::fabs(o)) + (2 * emax + (nk + 32) * 0x1p-23) * a;
          const double got = BFloat16ToFloat(out[b * os[0] + h * os[1] + i * os[2] + x]);
          ASSERT_LE(std::fabs(got - o), tol)
              << "b " << b << " h " << h << " row " << i << " channel " << x << ": got " << got
              << ", want " << o;
          worst = std::max(worst, std::fabs(got - o) / tol);
        }
      }
  if (std::getenv("OCTET_CUDA_TEST_REPORT"))
    std::printf("%s: largest error / tolerance %.3f\n", attn->description().c_str(), worst);
}

TEST(Bf16Attention, PlainAttention) {
  Check({2, 3, 37, 41, 64});
  Check({1, 2, 300, 200, 64});  // 3 query blocks (the last of 44), 4 key blocks (the last of 8)
  Check({1, 1, 1, 1, 64});
}

TEST(Bf16Attention, EveryHeadDim) {
  for (int64_t d = 16; d <= 128; d += 16) Check({1, 2, 130, 70, d});
}

TEST(Bf16Attention, SamWindowedRelativePosition) {
  // vit_b / vit_h windowed blocks: 14x14 windows, packed qkv, [B, N, H, d] output.
  Check({3, 2, 196, 196, 64, 14, 14, 14, 14, true});
  Check({2, 2, 196, 196, 80, 14, 14, 14, 14, true, DType::kBF16});
}

TEST(Bf16Attention, ShiftFormPositionTermsOnTheTensorCores) {
  // SAM's windows (vit_b d 64, vit_h d 80) with get_rel_pos-shaped tables.
  Check({3, 2, 196, 196, 64, 14, 14, 14, 14, true, DType::kF32, true});
  Check({2, 2, 196, 196, 80, 14, 14, 14, 14, true, DType::kBF16, true});
  // Grids that differ (U of 20 and 24 rows), one of width >= 64 (U of 69
  // rows), every head dim; a 64x64 key grid whose rel_h and rel_w take Q's
  // place in shared memory (U of 127 rows).
  Check({2, 1, 120, 135, 80, 12, 10, 9, 15, false, DType::kF32, true});
  Check({1, 1, 10, 195, 64, 2, 5, 3, 65, false, DType::kF32, true});
  for (int64_t d = 16; d <= 128; d += 16)
    Check({1, 2, 99, 99, d, 9, 11, 9, 11, false, DType::kF32, true});
  Check({1, 2, 128, 4096, 64, 2, 64, 64, 64, false, DType::kF32, true});
}

TEST(Bf16Attention, SamGlobalRelativePosition) {
  Check({1, 2, 1024, 1024, 64, 32, 32, 32, 32, true});  // SAM's 64x64 grid, quartered
  // Patch blocks (8 x 16 query rows of the grid per block) at d 80, 2 x 2
  // patches, a key grid narrower than a key block; and one patch against a
  // key grid wider than a key block with a partial last key block.
  Check({2, 2, 512, 576, 80, 16, 32, 24, 24, false, DType::kBF16});
  Check({1, 1, 128, 195, 64, 8, 16, 3, 65});
}

TEST(Bf16Attention, QueryAndKeyGridsDiffer) {
  Check({2, 1, 120, 135, 80, 12, 10, 9, 15});
  Check({1, 1, 35, 2800, 64, 5, 7, 40, 70, false, DType::kBF16});  // 44 key blocks
}

TEST(Bf16Attention, KeyRowsAsWideAsAKeyBlockOrWider) {
  // k_w >= 64: (kh, kw) from the tile's first key, one wrap at most; even
  // k_w reads rel_w in pairs, odd k_w one by one.
  Check({1, 2, 128, 4096, 64, 2, 64, 64, 64});  // SAM's global key grid
  // Patch blocks (query grids of 8 x 16 patches) whose key tiles each lie in
  // one grid row (k_w a multiple of 64): rel_h joins the row max.
  Check({1, 2, 128, 4096, 80, 8, 16, 64, 64});
  Check({2, 1, 256, 256, 64, 16, 16, 2, 128, false, DType::kBF16});
  Check({1, 1, 10, 195, 64, 2, 5, 3, 65});
  Check({1, 1, 21, 99, 32, 3, 7, 11, 9});  // narrow and odd
}

TEST(Bf16Attention, RejectsBadConfigurationsWithoutTouchingTheDevice) {
  Bf16AttentionConfig c;
  c.q_len = c.kv_len = 12;
  c.head_dim = 72;
  auto d72 = Bf16Attention::Create(c);
  ASSERT_EQ(d72.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(d72.status().message().find("multiples of 16 from 16 to 128"), std::string::npos)
      << d72.status().ToString();
  c.head_dim = 144;
  EXPECT_EQ(Bf16Attention::Create(c).status().code(), StatusCode::kInvalidArgument);
  c.head_dim = 64;
  c.v_dim = 32;
  EXPECT_EQ(Bf16Attention::Create(c).status().code(), StatusCode::kInvalidArgument);
  c.v_dim = 0;
  c.scale = NAN;
  EXPECT_EQ(Bf16Attention::Create(c).status().code(), StatusCode::kInvalidArgument);
  c.scale = 0.125f;
  c.q_strides = {12 * 68, 12 * 68, 68};  // rows of 68 elements: not 16-byte pieces
  auto strides = Bf16Attention::Create(c);
  ASSERT_EQ(strides.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(strides.status().message().find("multiples of 8"), std::string::npos)
      << strides.status().ToString();
  c.q_strides = {12 * 64, 64, 32};  // token stride below the channels
  EXPECT_EQ(Bf16Attention::Create(c).status().code(), StatusCode::kInvalidArgument);
  c.q_strides = {};
  c.rel_pos_h = Tensor(DType::kF32, {3, 3, 64});
  auto only_h = Bf16Attention::Create(c);
  ASSERT_EQ(only_h.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(only_h.status().message().find("go together"), std::string::npos);
  c.rel_pos_w = Tensor(DType::kF32, {5, 4, 64});  // 3x5 queries, but q_len is 12
  auto grid = Bf16Attention::Create(c);
  ASSERT_EQ(grid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(grid.status().message().find("do not match q_len 12"), std::string::npos)
      << grid.status().ToString();
  c.rel_pos_w = Tensor(DType::kI8, {4, 4, 64});
  EXPECT_EQ(Bf16Attention::Create(c).status().code(), StatusCode::kInvalidArgument);
  // A 200x200 key grid: rel_h and rel_w of 128 rows need 206 KiB beside Q, K and V.
  Bf16AttentionConfig big;
  big.q_len = 4;
  big.kv_len = 200 * 200;
  big.head_dim = 64;
  big.rel_pos_h = Tensor(DType::kF32, {2, 200, 64});
  big.rel_pos_w = Tensor(DType::kF32, {2, 200, 64});
  auto smem = Bf16Attention::Create(big);
  ASSERT_EQ(smem.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(smem.status().message().find("k_h + k_w up to about"), std::string::npos)
      << smem.status().ToString();
}

TEST(Bf16Attention, WithoutAGpuCreateSaysSo) {
  std::string reason;
  if (DeviceAvailable(&reason)) GTEST_SKIP() << "a CUDA device is present";
  Bf16AttentionConfig c;
  c.q_len = c.kv_len = 16;
  c.head_dim = 64;
  auto attn = Bf16Attention::Create(c);
  ASSERT_EQ(attn.status().code(), StatusCode::kNotFound);
  EXPECT_NE(attn.status().message().find("no CUDA device"), std::string::npos);
}

TEST(Bf16Attention, RunRejectsMisalignedOrNullBuffers) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  Bf16AttentionConfig c;
  c.q_len = c.kv_len = 16;
  c.head_dim = 64;
  auto attn = Bf16Attention::Create(c);
  ASSERT_TRUE(attn.ok()) << attn.status().ToString();
  DeviceBuffer buf = testing::Poisoned(4 * 16 * 64 * 2 + 64);
  const auto* base = buf.as<uint16_t>();
  uint16_t* out = buf.as<uint16_t>() + 3 * 16 * 64;
  EXPECT_EQ(attn->Run(base, base, nullptr, out, nullptr).code(), StatusCode::kInvalidArgument);
  auto misaligned = attn->Run(base + 4, base, base, out, nullptr);
  ASSERT_EQ(misaligned.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(misaligned.message().find("16-byte aligned"), std::string::npos);
  EXPECT_TRUE(attn->Run(base, base, base, out, nullptr).ok());
  EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
}  // namespace octet::cuda
