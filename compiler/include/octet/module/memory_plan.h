// Activation memory planning: every intermediate tensor of a compiled module
// gets an offset in one arena, so a run does no allocation and tensors whose
// lifetimes do not overlap share bytes. Backend-independent: the planner sees
// only sizes, the op order and which outputs an op can compute in place.
//
// Algorithm: liveness by op index, then greedy by size with best fit (the
// "greedy by size" strategy of TFLite's ArenaPlanner, Pisarchyk & Lee 2020):
// buffers are placed largest first, each into the smallest gap between
// already-placed buffers whose lifetimes overlap its own, or after them. When
// that is above the peak-live lower bound, a second placement (birth order,
// alternately at the bottom and the top of the bound; optimal on chains) is
// tried and the smaller arena kept. O(buffers^2); 10k ops plan in ~0.15 s.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "octet/status.h"

namespace octet {

struct MemoryPlanTensor {
  int64_t size = 0;      // bytes
  bool in_arena = true;  // false: a graph input/output or constant, stored elsewhere
  std::string name;      // optional, for error messages
};

struct MemoryPlanOp {
  std::vector<int32_t> inputs;  // tensor indices; -1 is an absent optional input
  std::vector<int32_t> outputs;
  // (output position, input position): the kernel may write that output over
  // that input. The planner uses the pair only when the input is in the arena,
  // this op is its last use and the output is no larger.
  std::vector<std::pair<int32_t, int32_t>> inplace;
  std::string name;  // optional, for error messages
};

struct MemoryPlanProblem {
  std::vector<MemoryPlanTensor> tensors;
  std::vector<MemoryPlanOp> ops;  // in execution order
  int64_t alignment = 64;         // a power of two
};

struct MemoryPlan {
  int64_t arena_size = 0;             // a multiple of the alignment
  std::vector<int64_t> offsets;       // per tensor; -1 when not in the arena
  std::vector<int32_t> inplace_with;  // per tensor: the input whose buffer it took, or -1
};

// First and last op index at which a tensor is live (written or read); -1/-1
// for tensors no op touches.
struct Lifetime {
  int32_t first = -1;
  int32_t last = -1;
};

// Lifetimes of all tensors. Errors: an index out of range, an arena tensor
// read before it is written, written twice, or never written.
Expected<std::vector<Lifetime>> ComputeLifetimes(const MemoryPlanProblem& problem);

// Plans the arena. Deterministic: the same problem gives the same plan.
Expected<MemoryPlan> PlanMemory(const MemoryPlanProblem& problem);

// Checks a plan: offsets aligned and inside the arena, non-arena tensors at
// -1, and no two arena tensors that are live at the same op overlap, except
// an output placed exactly on an input that the op allows in place and that
// dies at that op. The error names both tensors and the op.
Status VerifyMemoryPlan(const MemoryPlanProblem& problem, const MemoryPlan& plan);

}  // namespace octet
