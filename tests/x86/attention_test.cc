// F32Attention (attention.h) against a double-precision evaluation of the
// same formula, with fresh seeded random inputs: plain attention, SAM's
// decomposed relative position terms, query blocks with a shorter last block,
// strided operands (heads inside a packed QKV tensor, the output written as
// [B, N, H, d]), and thread counts.
//
// Tolerance, with u = 2^-24: a score sums d products and two position terms
// of d products each in f32, so it is within e = (d + 4) u * mag of the exact
// value, mag = the sum of the absolute products (computed below per score).
// Softmax turns an absolute score error e into a relative probability error
// of at most about 2e, plus oneDNN's exp polynomial (8 u) and the row sum
// ((kv + 2) u). O = sum_j p_j v_j with sum_j p_j = 1 adds kv u more, so
// |O - O_exact| <= (2 e + (2 kv + 12) u) * max|v|.
#include "octet/x86/attention.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "x86_test_util.h"

namespace octet::x86::testing {
namespace {

constexpr double kU = 0x1p-24;

struct Case {
  int64_t batch, heads, q_len, kv_len, d;
  int64_t q_h = 0, q_w = 0, k_h = 0, k_w = 0;  // rel-pos grids (0: none)
  bool packed = false;                         // Q, K, V inside [B, N, 3, H, d]; O as [B, N, H, d]
};

// Element (b, h, t, c) of an operand with the given strides.
double At(const std::vector<float>& x, const AttentionStrides& s, int64_t b, int64_t h, int64_t t,
          int64_t c) {
  return x[b * s[0] + h * s[1] + t * s[2] + c];
}

void Check(const Case& tc, int threads, uint32_t seed_offset) {
  SCOPED_TRACE(::testing::Message()
               << "batch " << tc.batch << " heads " << tc.heads << " q " << tc.q_len << " kv "
               << tc.kv_len << " d " << tc.d << " rel " << tc.q_h << "x" << tc.q_w << " packed "
               << tc.packed << " threads " << threads);
  std::mt19937 rng(Seed(seed_offset));
  const int64_t B = tc.batch, H = tc.heads, d = tc.d;
  F32AttentionConfig c;
  c.batch = B;
  c.heads = H;
  c.q_len = tc.q_len;
  c.kv_len = tc.kv_len;
  c.head_dim = d;
  c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  std::vector<float> q, k, v, qkv;
  if (tc.packed) {
    ASSERT_EQ(tc.q_len, tc.kv_len);
    const int64_t n = tc.q_len;
    qkv = RandomFloats(static_cast<size_t>(B * n * 3 * H * d), rng, -2.f, 2.f);
    // [B, N, 3, H, d]: batch stride N*3*H*d, head stride d, token stride 3*H*d.
    c.q_strides = c.k_strides = c.v_strides = {n * 3 * H * d, d, 3 * H * d};
    c.out_strides = {n * H * d, d, H * d};
  } else {
    q = RandomFloats(static_cast<size_t>(B * H * tc.q_len * d), rng, -2.f, 2.f);
    k = RandomFloats(static_cast<size_t>(B * H * tc.kv_len * d), rng, -2.f, 2.f);
    v = RandomFloats(static_cast<size_t>(B * H * tc.kv_len * d), rng, -2.f, 2.f);
  }
  if (tc.q_h > 0) {
    c.rel_pos_h =
        Tensor::FromVector(RandomFloats(static_cast<size_t>(tc.q_h * tc.k_h * d), rng, -0.5f, 0.5f),
                           {tc.q_h, tc.k_h, d});
    c.rel_pos_w =
        Tensor::FromVector(RandomFloats(static_cast<size_t>(tc.q_w * tc.k_w * d), rng, -0.5f, 0.5f),
                           {tc.q_w, tc.k_w, d});
  }
  auto attn = F32Attention::Create(c);
  ASSERT_TRUE(attn.ok()) << attn.status().ToString();
  const AttentionStrides qs = tc.packed ? c.q_strides : DenseAttentionStrides(H, tc.q_len, d);
  const AttentionStrides ks = tc.packed ? c.k_strides : DenseAttentionStrides(H, tc.kv_len, d);
  const AttentionStrides os = tc.packed ? c.out_strides : DenseAttentionStrides(H, tc.q_len, d);
  const std::vector<float>& Q = tc.packed ? qkv : q;
  const std::vector<float>& K = tc.packed ? qkv : k;
  const std::vector<float>& V = tc.packed ? qkv : v;
  const int64_t k_off = tc.packed ? H * d : 0, v_off = tc.packed ? 2 * H * d : 0;
  std::vector<float> out(static_cast<size_t>(B * H * tc.q_len * d), -7.f);
  ASSERT_TRUE(attn->Run(Q.data(), K.data() + k_off, V.data() + v_off, out.data(), threads).ok());

  const float* rh = tc.q_h > 0 ? c.rel_pos_h.data<float>() : nullptr;
  const float* rw = tc.q_h > 0 ? c.rel_pos_w.data<float>() : nullptr;
  double worst = 0;
  std::vector<double> s(tc.kv_len), mag(tc.kv_len);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < tc.q_len; ++i) {
        double vmax = 0, emax = 0;
        for (int64_t j = 0; j < tc.kv_len; ++j) {
          double dot = 0, m = 0;
          for (int64_t x = 0; x < d; ++x) {
            const double p = c.scale * At(Q, qs, b, h, i, x) * At(K, ks, b, h, j, x + k_off);
            dot += p;
            m += std::fabs(p);
          }
          if (rh != nullptr) {
            const int64_t qy = i / tc.q_w, qx = i % tc.q_w, ky = j / tc.k_w, kx = j % tc.k_w;
            for (int64_t x = 0; x < d; ++x) {
              const double qv = At(Q, qs, b, h, i, x);
              const double ph = qv * rh[(qy * tc.k_h + ky) * d + x];
              const double pw = qv * rw[(qx * tc.k_w + kx) * d + x];
              dot += ph + pw;
              m += std::fabs(ph) + std::fabs(pw);
            }
          }
          s[j] = dot;
          emax = std::max(emax, (d + 4) * kU * m);
        }
        const double mx = *std::max_element(s.begin(), s.end());
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t x = 0; x < d; ++x) {
          double o = 0;
          for (int64_t j = 0; j < tc.kv_len; ++j) {
            const double vj = At(V, ks, b, h, j, x + v_off);
            o += s[j] / sum * vj;
            vmax = std::max(vmax, std::fabs(vj));
          }
          const double tol = (2 * emax + (2 * tc.kv_len + 12) * kU) * vmax;
          const double got = out[b * os[0] + h * os[1] + i * os[2] + x];
          ASSERT_LE(std::fabs(got - o), tol)
              << "b " << b << " h " << h << " row " << i << " ch " << x;
          worst = std::max(worst, std::fabs(got - o) / tol);
        }
      }
  if (std::getenv("OCTET_X86_TEST_REPORT")) std::printf("largest error / tolerance %.3f\n", worst);
}

TEST(F32Attention, PlainAttention) { Check({2, 3, 37, 41, 16}, 2, 1); }

TEST(F32Attention, QueryBlocksWithShorterLastBlock) {
  // kv 3000: 32-row blocks, so 50 queries are one full block and one of 18.
  Case tc{1, 2, 50, 3000, 8};
  Check(tc, 2, 2);
  F32AttentionConfig c;
  c.heads = 2;
  c.q_len = 50;
  c.kv_len = 3000;
  c.head_dim = 8;
  auto attn = F32Attention::Create(c);
  ASSERT_TRUE(attn.ok());
  EXPECT_EQ(attn->block_rows(), 32);
}

TEST(F32Attention, DecomposedRelativePosition) {
  Check({2, 2, 35, 35, 8, 5, 7, 5, 7}, 2, 3);  // a window: queries and keys on one grid
  Check({1, 1, 12, 20, 4, 3, 4, 4, 5}, 1, 4);  // different query and key grids
}

TEST(F32Attention, PackedQkvAndInterleavedOutput) {
  Check({2, 3, 20, 20, 8, 4, 5, 4, 5, true}, 2, 5);
}

TEST(F32Attention, SameResultOnAnyThreadCount) {
  F32AttentionConfig c;
  c.batch = 2;
  c.heads = 2;
  c.q_len = c.kv_len = 70;
  c.head_dim = 8;
  c.scale = 0.3f;
  std::mt19937 rng(Seed(6));
  const size_t n = static_cast<size_t>(2 * 2 * 70 * 8);
  const auto q = RandomFloats(n, rng, -3, 3), k = RandomFloats(n, rng, -3, 3),
             v = RandomFloats(n, rng, -3, 3);
  auto attn = F32Attention::Create(c);
  ASSERT_TRUE(attn.ok());
  std::vector<float> one(n), four(n);
  ASSERT_TRUE(attn->Run(q.data(), k.data(), v.data(), one.data(), 1).ok());
  ASSERT_TRUE(attn->Run(q.data(), k.data(), v.data(), four.data(), 4).ok());
  EXPECT_EQ(one, four);  // each row is computed by one task with the same kernels
}

TEST(F32Attention, ConcurrentRunsFromSeveralThreads) {
  // One kernel shared by 4 threads (sessions do this), each with its own
  // OpenMP team and per-thread buffers: every run bitwise equal to a lone one.
  F32AttentionConfig c;
  c.batch = 1;
  c.heads = 3;
  c.q_len = c.kv_len = 35;
  c.head_dim = 8;
  c.scale = 0.4f;
  std::mt19937 rng(Seed(7));
  c.rel_pos_h = Tensor::FromVector(RandomFloats(5 * 5 * 8, rng, -0.5f, 0.5f), {5, 5, 8});
  c.rel_pos_w = Tensor::FromVector(RandomFloats(7 * 7 * 8, rng, -0.5f, 0.5f), {7, 7, 8});
  const size_t n = static_cast<size_t>(3 * 35 * 8);
  const auto q = RandomFloats(n, rng, -2, 2), k = RandomFloats(n, rng, -2, 2),
             v = RandomFloats(n, rng, -2, 2);
  auto attn = F32Attention::Create(c);
  ASSERT_TRUE(attn.ok()) << attn.status().ToString();
  std::vector<float> want(n);
  ASSERT_TRUE(attn->Run(q.data(), k.data(), v.data(), want.data(), 2).ok());
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      std::vector<float> got(n);
      for (int i = 0; i < 25; ++i) {
        if (!attn->Run(q.data(), k.data(), v.data(), got.data(), 2).ok() || got != want)
          ++mismatches;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(F32Attention, RejectsBadConfigurations) {
  F32AttentionConfig c;
  c.q_len = c.kv_len = 12;
  c.head_dim = 4;
  c.rel_pos_h = Tensor(DType::kF32, {3, 3, 4});
  auto only_h = F32Attention::Create(c);
  ASSERT_FALSE(only_h.ok());
  EXPECT_NE(only_h.status().message().find("go together"), std::string::npos);
  c.rel_pos_w = Tensor(DType::kF32, {5, 4, 4});  // 3x5 queries, but q_len is 12
  auto grid = F32Attention::Create(c);
  ASSERT_FALSE(grid.ok());
  EXPECT_NE(grid.status().message().find("do not match q_len 12"), std::string::npos)
      << grid.status().ToString();
  c.rel_pos_w = Tensor(DType::kF32, {4, 4, 3});  // wrong head dim
  EXPECT_FALSE(F32Attention::Create(c).ok());
  F32AttentionConfig strides;
  strides.q_len = strides.kv_len = 4;
  strides.head_dim = 8;
  strides.q_strides = {32, 32, 4};  // token stride below the 8 channels
  EXPECT_FALSE(F32Attention::Create(strides).ok());
}

}  // namespace
}  // namespace octet::x86::testing
