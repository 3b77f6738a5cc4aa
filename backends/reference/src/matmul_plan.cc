#include "matmul_plan.h"

#include "conv_geometry.h"
#include "kernel_util.h"

namespace octet::reference {

Expected<MatMulPlan> PlanMatMul(const KernelContext& ctx, const std::vector<int64_t>& a_dims,
                                const std::vector<int64_t>& b_dims) {
  if (a_dims.empty() || b_dims.empty())
    return ctx.Fail("MatMul operands must have rank >= 1 but A is ", DimsString(a_dims),
                    " and B is ", DimsString(b_dims));
  MatMulPlan plan;
  plan.a_dims = a_dims;
  plan.b_dims = b_dims;
  if (a_dims.size() == 1) plan.a_dims.insert(plan.a_dims.begin(), 1);
  if (b_dims.size() == 1) plan.b_dims.push_back(1);
  const size_t ra = plan.a_dims.size(), rb = plan.b_dims.size();
  plan.m = plan.a_dims[ra - 2];
  plan.k = plan.a_dims[ra - 1];
  plan.n = plan.b_dims[rb - 1];
  if (plan.b_dims[rb - 2] != plan.k)
    return ctx.Fail("inner dimensions differ: A ", DimsString(a_dims), " has K = ", plan.k,
                    " but B ", DimsString(b_dims), " has K = ", plan.b_dims[rb - 2]);
  const std::vector<int64_t> a_batch(plan.a_dims.begin(), plan.a_dims.end() - 2);
  const std::vector<int64_t> b_batch(plan.b_dims.begin(), plan.b_dims.end() - 2);
  auto batch = BroadcastShapes(a_batch, b_batch);
  if (!batch.ok())
    return ctx.Fail("batch dimensions of A ", DimsString(a_dims), " and B ", DimsString(b_dims),
                    " do not broadcast");
  plan.out_dims = *batch;
  if (a_dims.size() > 1) plan.out_dims.push_back(plan.m);
  if (b_dims.size() > 1) plan.out_dims.push_back(plan.n);

  int64_t count = 1;
  for (int64_t d : *batch) count *= d;
  int64_t b_count = 1;
  for (int64_t d : b_batch) b_count *= d;
  const BroadcastIndexer a_index(a_batch, *batch), b_index(b_batch, *batch);
  for (int64_t i = 0; i < count; ++i) {
    plan.a_batch.push_back(a_index.Map(i));
    plan.b_batch.push_back(b_index.Map(i));
  }
  // A's batch entries are contiguous in order exactly when A is not broadcast.
  std::vector<int64_t> a_batch_full(batch->size() - a_batch.size(), 1);
  a_batch_full.insert(a_batch_full.end(), a_batch.begin(), a_batch.end());
  if (b_count == 1 && a_batch_full == *batch) {
    plan.rows = count * plan.m;
    if (count > 0) plan.items.push_back({0, 0, 0});
  } else {
    plan.rows = plan.m;
    for (int64_t i = 0; i < count; ++i)
      plan.items.push_back({plan.a_batch[i] * plan.m * plan.k, plan.b_batch[i] * plan.k * plan.n,
                            i * plan.m * plan.n});
  }
  return plan;
}

}  // namespace octet::reference
