// The memory planner: plans verify (no two live tensors overlap), in-place
// reuse happens exactly when allowed, the arena is never larger than the sum
// of the tensors and is optimal on chains.
#include "octet/module/memory_plan.h"

#include <algorithm>
#include <map>
#include <set>

#include "module_test_util.h"

namespace octet {
namespace {

int64_t Align(int64_t v) { return (v + 63) / 64 * 64; }

MemoryPlanTensor T(int64_t size, bool in_arena = true) {
  MemoryPlanTensor t;
  t.size = size;
  t.in_arena = in_arena;
  return t;
}

MemoryPlanOp Op(std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                std::vector<std::pair<int32_t, int32_t>> inplace = {}) {
  MemoryPlanOp op;
  op.inputs = std::move(inputs);
  op.outputs = std::move(outputs);
  op.inplace = std::move(inplace);
  return op;
}

// A chain: graph input -> op 0 -> t1 -> op 1 -> t2 ... -> graph output.
MemoryPlanProblem Chain(const std::vector<int64_t>& sizes, bool inplace) {
  MemoryPlanProblem p;
  p.tensors.push_back(T(0, false));
  for (int64_t s : sizes) p.tensors.push_back(T(s, true));
  p.tensors.push_back(T(0, false));
  const int32_t n = static_cast<int32_t>(p.tensors.size());
  for (int32_t i = 0; i + 1 < n; ++i) {
    MemoryPlanOp op = Op({i}, {i + 1});
    if (inplace) op.inplace = {{0, 0}};
    p.ops.push_back(op);
  }
  return p;
}

// Independent of VerifyMemoryPlan: every pair of arena tensors live at a
// common op must be disjoint, or an allowed in-place pair at equal offsets.
void CheckNoLiveOverlap(const MemoryPlanProblem& p, const MemoryPlan& plan) {
  auto life = ComputeLifetimes(p);
  ASSERT_TRUE(life.ok());
  const size_t n = p.tensors.size();
  for (size_t a = 0; a < n; ++a) {
    if (!p.tensors[a].in_arena) {
      EXPECT_EQ(plan.offsets[a], -1);
      continue;
    }
    EXPECT_EQ(plan.offsets[a] % 64, 0);
    EXPECT_LE(plan.offsets[a] + p.tensors[a].size, plan.arena_size);
    for (size_t b = a + 1; b < n; ++b) {
      if (!p.tensors[b].in_arena) continue;
      const Lifetime la = (*life)[a], lb = (*life)[b];
      if (la.last < lb.first || lb.last < la.first) continue;
      const int64_t a0 = plan.offsets[a], a1 = a0 + p.tensors[a].size;
      const int64_t b0 = plan.offsets[b], b1 = b0 + p.tensors[b].size;
      if (a1 <= b0 || b1 <= a0) continue;
      // Overlap is only fine for an in-place pair: b written over a (or the
      // reverse) at the op where the donor dies.
      const bool ok = (plan.inplace_with[b] == static_cast<int32_t>(a) && la.last == lb.first) ||
                      (plan.inplace_with[a] == static_cast<int32_t>(b) && lb.last == la.first);
      EXPECT_TRUE(ok && a0 == b0) << "tensors " << a << " and " << b << " overlap";
    }
  }
}

// Peak bytes live at any op, counting a chain of in-place tensors once: no
// valid plan can use less.
int64_t LowerBound(const MemoryPlanProblem& p, const MemoryPlan& plan) {
  auto life = ComputeLifetimes(p);
  std::vector<int32_t> root(p.tensors.size());
  for (size_t t = 0; t < root.size(); ++t) {
    int32_t r = static_cast<int32_t>(t);
    while (plan.inplace_with[r] >= 0) r = plan.inplace_with[r];
    root[t] = r;
  }
  int64_t best = 0;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    std::map<int32_t, int64_t> live;  // root -> largest member live here
    for (size_t t = 0; t < p.tensors.size(); ++t)
      if (p.tensors[t].in_arena && (*life)[t].first <= static_cast<int32_t>(i) &&
          static_cast<int32_t>(i) <= (*life)[t].last)
        live[root[t]] = std::max(live[root[t]], Align(p.tensors[t].size));
    int64_t sum = 0;
    for (const auto& kv : live) sum += kv.second;
    best = std::max(best, sum);
  }
  return best;
}

TEST(MemoryPlan, ChainsAreOptimal) {
  // Greedy by size alone puts 10 at the bottom and then needs 22 units here;
  // the optimum, 17, needs 10 at the top.
  const MemoryPlanProblem hard = Chain({640, 320, 512, 576}, false);
  auto hard_plan = PlanMemory(hard);
  ASSERT_TRUE(hard_plan.ok());
  EXPECT_EQ(hard_plan->arena_size, 17 * 64);
  EXPECT_TRUE(VerifyMemoryPlan(hard, *hard_plan).ok());

  const uint64_t seed = module_testing::FreshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (int iter = 0; iter < 500; ++iter) {
    std::vector<int64_t> sizes(2 + rng() % 12);
    for (auto& s : sizes) s = 1 + static_cast<int64_t>(rng() % 5000);
    const MemoryPlanProblem p = Chain(sizes, false);
    auto plan = PlanMemory(p);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    ASSERT_TRUE(VerifyMemoryPlan(p, *plan).ok());
    // In a chain only neighbours are live together.
    int64_t optimum = 0;
    for (size_t i = 0; i + 1 < sizes.size(); ++i)
      optimum = std::max(optimum, Align(sizes[i]) + Align(sizes[i + 1]));
    ASSERT_EQ(plan->arena_size, optimum) << "chain of " << sizes.size() << " at iteration " << iter;
  }
}

TEST(MemoryPlan, InPlaceChainUsesOneBuffer) {
  const MemoryPlanProblem p = Chain({4096, 4096, 4000, 1}, true);
  auto plan = PlanMemory(p);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->arena_size, 4096);
  for (int t = 1; t <= 4; ++t) EXPECT_EQ(plan->offsets[t], 0);
  EXPECT_EQ(plan->inplace_with[1], -1);  // its input is the graph input
  EXPECT_EQ(plan->inplace_with[2], 1);
  EXPECT_EQ(plan->inplace_with[4], 3);
  EXPECT_TRUE(VerifyMemoryPlan(p, *plan).ok());
}

TEST(MemoryPlan, InPlaceOnlyWhenSafe) {
  // t1 is read by op 1 (in place allowed) and again by op 2: not its last use.
  MemoryPlanProblem p;
  p.tensors = {T(0, false), T(256, true), T(256, true), T(256, true), T(0, false)};
  p.ops = {Op({0}, {1}), Op({1}, {2}, {{0, 0}}), Op({1, 2}, {3}), Op({3}, {4})};
  auto plan = PlanMemory(p);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->inplace_with[2], -1);
  EXPECT_NE(plan->offsets[1], plan->offsets[2]);
  EXPECT_TRUE(VerifyMemoryPlan(p, *plan).ok());
  CheckNoLiveOverlap(p, *plan);

  // An output larger than its input does not take the input's buffer.
  const MemoryPlanProblem grow = Chain({64, 128}, true);
  plan = PlanMemory(grow);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->inplace_with[2], -1);
  EXPECT_EQ(plan->arena_size, 192);

  // Not allowed by the op: no reuse, even when the input dies.
  const MemoryPlanProblem plain = Chain({64, 64}, false);
  plan = PlanMemory(plain);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->inplace_with[2], -1);
  EXPECT_EQ(plan->arena_size, 128);

  // One input cannot be given to two outputs.
  MemoryPlanProblem two;
  two.tensors = {T(0, false), T(64, true), T(64, true), T(64, true), T(0, false)};
  two.ops = {Op({0}, {1}), Op({1}, {2, 3}, {{0, 0}, {1, 0}}), Op({2, 3}, {4})};
  plan = PlanMemory(two);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->inplace_with[2], 1);
  EXPECT_EQ(plan->inplace_with[3], -1);
  EXPECT_TRUE(VerifyMemoryPlan(two, *plan).ok());
}

MemoryPlanProblem RandomDag(std::mt19937_64& rng) {
  MemoryPlanProblem p;
  const int inputs = 1 + static_cast<int>(rng() % 3);
  for (int i = 0; i < inputs; ++i) p.tensors.push_back(T(0, false));
  const int ops = 1 + static_cast<int>(rng() % 40);
  for (int i = 0; i < ops; ++i) {
    MemoryPlanOp op;
    const int32_t existing = static_cast<int32_t>(p.tensors.size());
    const int num_in = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < num_in; ++k) {
      // Mostly recent tensors, sometimes far back (long lifetimes), sometimes absent.
      const int32_t back =
          static_cast<int32_t>(rng() % 4 == 0 ? rng() % existing : rng() % std::min(existing, 4));
      op.inputs.push_back(rng() % 20 == 0 ? -1 : existing - 1 - back);
    }
    const int num_out = 1 + static_cast<int>(rng() % 2);
    for (int k = 0; k < num_out; ++k) {
      const int64_t size = rng() % 10 == 0 ? 0 : 1 + static_cast<int64_t>(rng() % 3000);
      p.tensors.push_back(T(size, rng() % 8 != 0));  // some are graph outputs
      op.outputs.push_back(static_cast<int32_t>(p.tensors.size() - 1));
      if (rng() % 2) op.inplace.push_back({k, static_cast<int32_t>(rng() % num_in)});
    }
    p.ops.push_back(op);
  }
  return p;
}

TEST(MemoryPlan, RandomDagsNeverOverlapLiveTensors) {
  const uint64_t seed = module_testing::FreshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  int reused = 0;
  for (int iter = 0; iter < 400; ++iter) {
    SCOPED_TRACE("dag " + std::to_string(iter));
    const MemoryPlanProblem p = RandomDag(rng);
    auto plan = PlanMemory(p);
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    Status verified = VerifyMemoryPlan(p, *plan);
    ASSERT_TRUE(verified.ok()) << verified.ToString();
    CheckNoLiveOverlap(p, *plan);
    int64_t sum = 0;
    for (const auto& t : p.tensors)
      if (t.in_arena) sum += Align(t.size);
    EXPECT_LE(plan->arena_size, sum);
    EXPECT_GE(plan->arena_size, LowerBound(p, *plan));
    EXPECT_EQ(plan->arena_size % 64, 0);
    for (int32_t w : plan->inplace_with) reused += w >= 0;
    // Deterministic.
    auto again = PlanMemory(p);
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->offsets, plan->offsets);
  }
  EXPECT_GT(reused, 0);
}

TEST(MemoryPlan, VerifierNamesOverlappingTensors) {
  MemoryPlanProblem p = Chain({128, 128, 128}, false);
  p.tensors[1].name = "conv_out";
  p.tensors[2].name = "relu_out";
  p.ops[1].name = "relu";
  auto plan = PlanMemory(p);
  ASSERT_TRUE(plan.ok());
  MemoryPlan bad = *plan;
  bad.offsets[2] = bad.offsets[1] + 64;
  Status st = VerifyMemoryPlan(p, bad);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'relu_out'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("'conv_out'"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("op 1 'relu'"), std::string::npos) << st.message();

  // Same offset is still wrong when the op does not allow in place.
  bad.offsets[2] = bad.offsets[1];
  EXPECT_FALSE(VerifyMemoryPlan(p, bad).ok());
  bad = *plan;
  bad.offsets[1] = 32;
  EXPECT_NE(VerifyMemoryPlan(p, bad).message().find("not a non-negative multiple"),
            std::string::npos);
  bad = *plan;
  bad.offsets[1] = bad.arena_size;
  EXPECT_NE(VerifyMemoryPlan(p, bad).message().find("ends past the arena"), std::string::npos);
  bad = *plan;
  bad.offsets[0] = 0;
  EXPECT_NE(VerifyMemoryPlan(p, bad).message().find("not in the arena"), std::string::npos);
}

TEST(MemoryPlan, ProblemErrors) {
  auto message = [](const MemoryPlanProblem& p) { return PlanMemory(p).status().message(); };
  MemoryPlanProblem p;
  p.tensors = {T(64, true), T(64, true)};
  p.ops = {Op({0}, {1})};
  EXPECT_NE(message(p).find("reads arena tensor 0, which no op writes"), std::string::npos);
  p.ops = {Op({1}, {0}), Op({}, {1})};
  EXPECT_NE(message(p).find("op 0 reads tensor 1 before op 1 writes it"), std::string::npos);
  p.ops = {Op({}, {0}), Op({}, {0, 1})};
  EXPECT_NE(message(p).find("written by op 0 and again by op 1"), std::string::npos);
  p.ops = {Op({}, {0})};
  EXPECT_NE(message(p).find("tensor 1 is never written"), std::string::npos);
  p.ops = {Op({}, {0, 5})};
  EXPECT_NE(message(p).find("writes tensor 5"), std::string::npos);
  p.ops = {Op({}, {0, 1})};
  p.alignment = 3;
  EXPECT_NE(message(p).find("not a power of two"), std::string::npos);
  p.alignment = 64;
  p.tensors[1].size = -1;
  EXPECT_NE(message(p).find("invalid size"), std::string::npos);
}

TEST(MemoryPlan, EmptyAndZeroSized) {
  auto plan = PlanMemory(MemoryPlanProblem{});
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->arena_size, 0);
  const MemoryPlanProblem zeros = Chain({0, 0, 0}, false);
  plan = PlanMemory(zeros);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->arena_size, 0);
  EXPECT_TRUE(VerifyMemoryPlan(zeros, *plan).ok());
}

}  // namespace
}  // namespace octet
