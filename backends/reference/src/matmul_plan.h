// Numpy-style matmul batching shared by MatMul, MatMulInteger and QLinearMatMul:
// 1-D operands are promoted (and the added dim dropped from the result), the
// batch dims broadcast, and each batch entry becomes one GEMM.
#pragma once

#include <cstdint>
#include <vector>

#include "gemm.h"
#include "octet/reference/kernel.h"

namespace octet::reference {

struct MatMulPlan {
  std::vector<int64_t> out_dims;
  int64_t m = 0, n = 0, k = 0;
  // A and B as the 2-D-or-more shapes actually multiplied (1-D operands promoted).
  std::vector<int64_t> a_dims, b_dims;
  // One GEMM per entry, each `rows` x n: element offsets of its A, B and C. When
  // B is shared by every batch entry and A is not broadcast, the whole batch is
  // one GEMM with rows = batch * m (bigger GEMMs run faster).
  struct Item {
    int64_t a, b, c;
  };
  std::vector<Item> items;
  int64_t rows = 0;
  // Per output batch entry (before folding): which batch entry of A and of B it
  // multiplies (indices into the flattened batch dims of a_dims / b_dims).
  std::vector<int64_t> a_batch, b_batch;
};

Expected<MatMulPlan> PlanMatMul(const KernelContext& ctx, const std::vector<int64_t>& a_dims,
                                const std::vector<int64_t>& b_dims);

// y = a x b for contiguous operands laid out as the plan's A, B and output.
template <typename C>
void RunPlannedMatMul(const MatMulPlan& plan, const C* a, const C* b, C* y, int threads) {
  std::vector<GemmProblem<C>> problems;
  for (const MatMulPlan::Item& item : plan.items) {
    GemmProblem<C> p;
    p.m = plan.rows;
    p.n = plan.n;
    p.k = plan.k;
    p.a = RowMajorView(a + item.a, plan.k);
    p.b = RowMajorView(b + item.b, plan.n);
    p.c = y + item.c;
    p.ldc = plan.n;
    problems.push_back(p);
  }
  RunGemms(problems, threads);
}

}  // namespace octet::reference
