// MatMul, Gemm and Einsum reference kernels against naive loops written here.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "linalg_test_util.h"

namespace octet::testing_linalg {
namespace {

// Naive numpy matmul in double: promotes 1-D operands, broadcasts batch dims.
// Also returns, per output element, the sum of |a*b| for the fp32 tolerance.
struct Reference {
  std::vector<int64_t> dims;
  std::vector<double> values, abs_sums;
  int64_t k = 0;
};

Reference NaiveMatMul(const Tensor& a, const Tensor& b) {
  std::vector<int64_t> ad = a.dims(), bd = b.dims();
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  const int64_t m = ad[ad.size() - 2], k = ad.back(), n = bd.back();
  const size_t batch_rank = std::max(ad.size(), bd.size()) - 2;
  std::vector<int64_t> abatch(batch_rank, 1), bbatch(batch_rank, 1), obatch(batch_rank);
  std::copy(ad.begin(), ad.end() - 2, abatch.end() - (ad.size() - 2));
  std::copy(bd.begin(), bd.end() - 2, bbatch.end() - (bd.size() - 2));
  for (size_t i = 0; i < batch_rank; ++i) obatch[i] = std::max(abatch[i], bbatch[i]);
  Reference r;
  r.k = k;
  r.dims = obatch;
  if (a.rank() > 1) r.dims.push_back(m);
  if (b.rank() > 1) r.dims.push_back(n);
  const int64_t count = NumElements(obatch);
  const std::vector<double> av = AsDoubles(a), bv = AsDoubles(b);
  for (int64_t bi = 0; bi < count; ++bi) {
    // Decompose the batch index and map it into A's and B's (broadcast) batch.
    int64_t rem = bi, aoff = 0, boff = 0, astride = 1, bstride = 1;
    for (int d = static_cast<int>(batch_rank) - 1; d >= 0; --d) {
      const int64_t idx = rem % obatch[d];
      rem /= obatch[d];
      aoff += (abatch[d] == 1 ? 0 : idx) * astride;
      boff += (bbatch[d] == 1 ? 0 : idx) * bstride;
      astride *= abatch[d];
      bstride *= bbatch[d];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, abs_s = 0;
        for (int64_t p = 0; p < k; ++p) {
          const double prod = av[(aoff * m + i) * k + p] * bv[(boff * k + p) * n + j];
          s += prod;
          abs_s += std::fabs(prod);
        }
        r.values.push_back(s);
        r.abs_sums.push_back(abs_s);
      }
  }
  return r;
}

std::vector<double> Fp32Tolerances(const Reference& r) {
  std::vector<double> tol;
  for (double s : r.abs_sums) tol.push_back(Fp32DotTolerance(r.k, s));
  return tol;
}

TEST(MatMulTest, MatchesNaiveLoopsOnManyShapes) {
  std::mt19937 rng(42);
  const std::vector<std::pair<std::vector<int64_t>, std::vector<int64_t>>> cases = {
      {{1, 1}, {1, 1}},
      {{7, 13}, {13, 5}},
      {{33, 65}, {65, 17}},       // ragged edges of every register tile
      {{2, 197, 96}, {96, 70}},   // batch folded into rows (B shared)
      {{2, 1, 5, 6}, {3, 6, 4}},  // broadcast batch dims on both sides
      {{3, 4, 9}, {3, 9, 2}},
      {{9}, {9, 4}},             // 1-D A
      {{2, 5, 9}, {9}},          // 1-D B
      {{11}, {11}},              // both 1-D: a scalar
      {{300, 260}, {260, 530}},  // several cache blocks in every dimension
  };
  for (const auto& [ad, bd] : cases) {
    const Tensor a = RandomTensor(rng, DType::kF32, ad);
    const Tensor b = RandomTensor(rng, DType::kF32, bd);
    auto out = RunOp("MatMul", {a, b});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Reference ref = NaiveMatMul(a, b);
    ExpectNear((*out)[0], ref.dims, ref.values, Fp32Tolerances(ref),
               "MatMul " + a.ShapeString() + " x " + b.ShapeString());
  }
}

TEST(MatMulTest, EmptyInnerDimensionGivesZeros) {
  auto out = RunOp("MatMul", {Tensor(DType::kF32, {3, 0}), Tensor(DType::kF32, {0, 2})});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  ExpectNear((*out)[0], {3, 2}, std::vector<double>(6, 0.0), std::vector<double>(6, 0.0),
             "empty K");
}

TEST(MatMulTest, DoubleAndIntegerTypes) {
  std::mt19937 rng(7);
  // f64: products of values in [-1, 1] summed in double; 1e-12 is ~1000 ulps.
  {
    const Tensor a = RandomTensor(rng, DType::kF64, {4, 37, 19});
    const Tensor b = RandomTensor(rng, DType::kF64, {19, 23});
    auto out = RunOp("MatMul", {a, b});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Reference ref = NaiveMatMul(a, b);
    ExpectNear((*out)[0], ref.dims, ref.values, std::vector<double>(ref.values.size(), 1e-12),
               "f64");
  }
  // Integers are exact.
  for (DType t : {DType::kI32, DType::kI64, DType::kU32}) {
    const Tensor a = RandomTensor(rng, t, {5, 8}, t == DType::kU32 ? 0 : -100, 100);
    const Tensor b = RandomTensor(rng, t, {2, 8, 3}, t == DType::kU32 ? 0 : -100, 100);
    auto out = RunOp("MatMul", {a, b});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    const Reference ref = NaiveMatMul(a, b);
    ExpectNear((*out)[0], ref.dims, ref.values, std::vector<double>(ref.values.size(), 0.0),
               std::string(DTypeName(t)));
  }
}

TEST(MatMulTest, Int32WrapsOnOverflow) {
  const Tensor a = Tensor::FromVector<int32_t>({1 << 30, 1 << 30}, {1, 2});
  const Tensor b = Tensor::FromVector<int32_t>({2, 2}, {2, 1});
  auto out = RunOp("MatMul", {a, b});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // 2^31 + 2^31 = 2^32, which wraps to 0 in int32.
  EXPECT_EQ((*out)[0].data<int32_t>()[0], 0);
}

TEST(MatMulTest, InnerDimensionMismatchNamesNodeAndShapes) {
  auto out = RunOp("MatMul", {Tensor(DType::kF32, {2, 3}), Tensor(DType::kF32, {4, 5})});
  ASSERT_FALSE(out.ok());
  const std::string msg = out.status().message();
  EXPECT_NE(msg.find("node_MatMul"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[2,3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[4,5]"), std::string::npos) << msg;
}

TEST(GemmTest, AttributesAndBiasShapes) {
  std::mt19937 rng(3);
  struct Case {
    int64_t m, n, k;
    int64_t trans_a, trans_b;
    float alpha, beta;
    std::vector<int64_t> c_dims;  // empty with has_c=false: no C
    bool has_c;
  };
  const std::vector<Case> cases = {
      {5, 7, 3, 0, 0, 1.0f, 1.0f, {}, false},    {13, 9, 21, 1, 0, 0.5f, 1.0f, {13, 9}, true},
      {13, 9, 21, 0, 1, 1.0f, 2.0f, {9}, true},  {13, 9, 21, 1, 1, -1.5f, 0.25f, {13, 1}, true},
      {64, 70, 129, 0, 0, 1.0f, 1.0f, {}, true},  // scalar C
      {8, 8, 8, 0, 0, 1.0f, 0.0f, {8, 8}, true},  // beta 0: C ignored
  };
  for (const Case& c : cases) {
    const Tensor a =
        RandomTensor(rng, DType::kF32,
                     c.trans_a ? std::vector<int64_t>{c.k, c.m} : std::vector<int64_t>{c.m, c.k});
    const Tensor b =
        RandomTensor(rng, DType::kF32,
                     c.trans_b ? std::vector<int64_t>{c.n, c.k} : std::vector<int64_t>{c.k, c.n});
    const Tensor bias = c.has_c ? RandomTensor(rng, DType::kF32, c.c_dims) : Tensor();
    Attrs attrs = {
        {"transA", c.trans_a}, {"transB", c.trans_b}, {"alpha", c.alpha}, {"beta", c.beta}};
    auto out = RunOp("Gemm", {a, b, bias}, attrs);
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    std::vector<double> want, tol;
    for (int64_t i = 0; i < c.m; ++i)
      for (int64_t j = 0; j < c.n; ++j) {
        double s = 0, abs_s = 0;
        for (int64_t p = 0; p < c.k; ++p) {
          const double av = a.GetAsDouble(c.trans_a ? p * c.m + i : i * c.k + p);
          const double bv = b.GetAsDouble(c.trans_b ? j * c.k + p : p * c.n + j);
          s += av * bv;
          abs_s += std::fabs(av * bv);
        }
        double cv = 0;
        if (c.has_c && c.beta != 0.0f) {
          const int64_t ci = c.c_dims.empty()       ? 0
                             : c.c_dims.size() == 1 ? j
                             : c.c_dims[1] == 1     ? i
                                                    : i * c.n + j;
          cv = c.beta * bias.GetAsDouble(ci);
        }
        want.push_back(c.alpha * s + cv);
        tol.push_back(std::fabs(c.alpha) * Fp32DotTolerance(c.k, abs_s) + 1e-6 * std::fabs(cv));
      }
    ExpectNear((*out)[0], {c.m, c.n}, want, tol, "Gemm m=" + std::to_string(c.m));
  }
}

TEST(GemmTest, InnerMismatchIsAnError) {
  auto out = RunOp("Gemm", {Tensor(DType::kF32, {2, 3}), Tensor(DType::kF32, {2, 5})});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("node_Gemm"), std::string::npos);
}

// Naive einsum: loops over every assignment of every label and multiplies the
// addressed operand elements into the output. Labels are single characters;
// "..." is not supported here (tests spell broadcast dims out instead).
std::vector<double> NaiveEinsum(const std::string& equation, const std::vector<Tensor>& ins,
                                std::vector<int64_t>* out_dims) {
  const size_t arrow = equation.find("->");
  std::vector<std::string> terms;
  std::string lhs = equation.substr(0, arrow), cur;
  for (char c : lhs) {
    if (c == ',') {
      terms.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  terms.push_back(cur);
  std::string out = equation.substr(arrow + 2);
  std::map<char, int64_t> size;
  for (size_t t = 0; t < terms.size(); ++t)
    for (size_t d = 0; d < terms[t].size(); ++d)
      size[terms[t][d]] = std::max(size[terms[t][d]], ins[t].dim(static_cast<int>(d)));
  std::vector<char> labels;
  for (const auto& [c, s] : size) labels.push_back(c);
  out_dims->clear();
  for (char c : out) out_dims->push_back(size[c]);
  std::vector<double> result(NumElements(*out_dims), 0.0);
  std::map<char, int64_t> idx;
  int64_t total = 1;
  for (char c : labels) total *= size[c];
  for (int64_t flat = 0; flat < total; ++flat) {
    int64_t rem = flat;
    for (int l = static_cast<int>(labels.size()) - 1; l >= 0; --l) {
      idx[labels[l]] = rem % size[labels[l]];
      rem /= size[labels[l]];
    }
    double prod = 1;
    for (size_t t = 0; t < terms.size(); ++t) {
      int64_t off = 0;
      for (size_t d = 0; d < terms[t].size(); ++d) {
        const int64_t extent = ins[t].dim(static_cast<int>(d));
        off = off * extent + (extent == 1 ? 0 : idx[terms[t][d]]);
      }
      prod *= ins[t].GetAsDouble(off);
    }
    int64_t o = 0;
    for (char c : out) o = o * size[c] + idx[c];
    result[o] += prod;
  }
  return result;
}

TEST(EinsumTest, MatchesNaiveEvaluation) {
  std::mt19937 rng(11);
  struct Case {
    std::string equation;     // given to the kernel
    std::string explicit_eq;  // the same with "->" spelled out, for the naive loop
    std::vector<std::vector<int64_t>> shapes;
  };
  const std::vector<Case> cases = {
      {"bhwc,hkc->bhwk", "bhwc,hkc->bhwk", {{2, 5, 6, 8}, {5, 7, 8}}},  // SAM rel-pos (h)
      {"bhwc,wkc->bhwk", "bhwc,wkc->bhwk", {{2, 5, 6, 8}, {6, 7, 8}}},  // SAM rel-pos (w)
      {"ij,jk", "ij,jk->ik", {{4, 5}, {5, 3}}},                         // implicit output
      {"ba", "ba->ab", {{3, 4}}},                                       // implicit transpose
      {"ii->i", "ii->i", {{5, 5}}},                                     // diagonal
      {"ii", "ii->", {{4, 4}}},                                         // trace
      {"i,i", "i,i->", {{6}, {6}}},
      {"ij->", "ij->", {{3, 7}}},
      {"bij,bjk->bik", "bij,bjk->bik", {{3, 2, 5}, {3, 5, 4}}},
      {"ij,jk,kl->il", "ij,jk,kl->il", {{3, 4}, {4, 5}, {5, 2}}},
      {"i,j->ij", "i,j->ij", {{3}, {4}}},                              // outer product
      {"bii,bi->b", "bii,bi->b", {{2, 3, 3}, {2, 3}}},                 // diagonal + contraction
      {"...ij,...jk->...ik", "xij,xjk->xik", {{1, 3, 4}, {5, 4, 2}}},  // broadcast ellipsis
      {"abc,cd->abd", "abc,cd->abd", {{2, 3, 4}, {4, 5}}},
      {"ij,ij->i", "ij,ij->i", {{4, 6}, {4, 6}}},  // batched dot
  };
  for (const Case& c : cases) {
    std::vector<Tensor> ins;
    for (const auto& s : c.shapes) ins.push_back(RandomTensor(rng, DType::kF32, s));
    auto out = RunOp("Einsum", ins, {{"equation", c.equation}});
    ASSERT_TRUE(out.ok()) << c.equation << ": " << out.status().ToString();
    std::vector<int64_t> dims;
    const std::vector<double> want = NaiveEinsum(c.explicit_eq, ins, &dims);
    // Values in [-1, 1] and at most a few dozen terms per output: 1e-5
    // comfortably covers fp32 summation error (~ terms * 2^-24).
    ExpectNear((*out)[0], dims, want, std::vector<double>(want.size(), 1e-5), c.equation);
  }
}

TEST(EinsumTest, IntegerAndDoubleTypes) {
  std::mt19937 rng(5);
  for (DType t : {DType::kI32, DType::kI64, DType::kF64}) {
    const Tensor a = RandomTensor(rng, t, {3, 4}, -10, 10);
    const Tensor b = RandomTensor(rng, t, {4, 2}, -10, 10);
    auto out = RunOp("Einsum", {a, b}, {{"equation", std::string("ij,jk->ik")}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    EXPECT_EQ((*out)[0].dtype(), t);
    std::vector<int64_t> dims;
    const std::vector<double> want = NaiveEinsum("ij,jk->ik", {a, b}, &dims);
    ExpectNear((*out)[0], dims, want, std::vector<double>(want.size(), 1e-9),
               std::string(DTypeName(t)));
  }
}

TEST(EinsumTest, BadEquationsAreErrors) {
  const Tensor a(DType::kF32, {2, 3});
  EXPECT_FALSE(RunOp("Einsum", {a}, {{"equation", std::string("ijk->i")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {a}, {{"equation", std::string("ij->k")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {a}, {{"equation", std::string("i1->i")}}).ok());
  EXPECT_FALSE(RunOp("Einsum", {a, a}, {{"equation", std::string("ij->i")}}).ok());
}

// Throughput probe, not a correctness test: run with
// --gtest_also_run_disabled_tests --gtest_filter='*Benchmark*'.
TEST(MatMulTest, DISABLED_Benchmark) {
  std::mt19937 rng(1);
  const Tensor a = RandomTensor(rng, DType::kF32, {1024, 768});
  const Tensor b = RandomTensor(rng, DType::kF32, {768, 768});
  ASSERT_TRUE(RunOp("MatMul", {a, b}).ok());
  const int reps = 10;
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  for (int i = 0; i < reps; ++i) ASSERT_TRUE(RunOp("MatMul", {a, b}).ok());
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // CPU seconds over all threads: on a shared machine wall time mostly
  // measures the other tenants, GFLOP per CPU-second measures the kernel.
  const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  const double flops = 2.0 * 1024 * 768 * 768 * reps;
  std::printf("MatMul 1024x768x768, 2 threads: %.2f ms, %.1f GFLOP/s wall, %.1f GFLOP per CPU-s\n",
              1e3 * s / reps, flops / s / 1e9, flops / cpu / 1e9);
}

}  // namespace
}  // namespace octet::testing_linalg
