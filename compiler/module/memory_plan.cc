// Liveness analysis and greedy-by-size arena placement; see memory_plan.h.
#include "octet/module/memory_plan.h"

#include <algorithm>
#include <functional>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>

namespace octet {
namespace {

std::string TensorName(const MemoryPlanProblem& p, int32_t t) {
  std::ostringstream os;
  os << "tensor " << t;
  if (!p.tensors[t].name.empty()) os << " '" << p.tensors[t].name << "'";
  return os.str();
}

std::string OpName(const MemoryPlanProblem& p, size_t i) {
  std::ostringstream os;
  os << "op " << i;
  if (!p.ops[i].name.empty()) os << " '" << p.ops[i].name << "'";
  return os.str();
}

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Rounds up to the alignment; nullopt on overflow.
std::optional<int64_t> AlignUp(int64_t v, int64_t alignment) {
  if (v > std::numeric_limits<int64_t>::max() - (alignment - 1)) return std::nullopt;
  return (v + alignment - 1) & ~(alignment - 1);
}

Status CheckProblem(const MemoryPlanProblem& p) {
  if (!IsPowerOfTwo(p.alignment))
    return InvalidArgument("memory plan alignment ", p.alignment, " is not a power of two");
  for (size_t t = 0; t < p.tensors.size(); ++t)
    if (p.tensors[t].size < 0 || !AlignUp(p.tensors[t].size, p.alignment))
      return InvalidArgument(TensorName(p, static_cast<int32_t>(t)), " has invalid size ",
                             p.tensors[t].size);
  return Status::Ok();
}

// Whether output tensor `out` of op `i` may share input tensor `in`'s buffer:
// the op declares the pair and `in` dies at this op.
bool InPlaceAllowed(const MemoryPlanProblem& p, const std::vector<Lifetime>& life, size_t i,
                    int32_t out, int32_t in) {
  const MemoryPlanOp& op = p.ops[i];
  if (life[in].last != static_cast<int32_t>(i)) return false;
  for (const auto& [po, pi] : op.inplace) {
    if (po < 0 || pi < 0 || static_cast<size_t>(po) >= op.outputs.size() ||
        static_cast<size_t>(pi) >= op.inputs.size())
      continue;
    if (op.outputs[po] == out && op.inputs[pi] == in) return true;
  }
  return false;
}

// A run of tensors chained by in-place reuse; its lifetime is the union of
// theirs (contiguous, since each starts where the previous one dies).
struct Buffer {
  int32_t first, last;
  int64_t size;  // aligned
};

enum class Fit { kBest, kLowest, kHighest };

// Places buffers one by one in `order` among the already-placed buffers whose
// lifetimes overlap: kBest takes the smallest gap that holds it, kLowest the
// lowest, kHighest the highest below `ceiling` (else the lowest). With no gap
// big enough, a buffer goes after everything it overlaps.
Expected<std::vector<int64_t>> Place(const std::vector<Buffer>& buffers,
                                     const std::vector<int32_t>& order,
                                     const std::function<Fit(int32_t)>& fit, int64_t ceiling,
                                     int64_t* arena) {
  constexpr int64_t kOpen = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> offsets(buffers.size(), -1);
  std::vector<int32_t> placed, overlapping;
  std::vector<std::pair<int64_t, int64_t>> gaps;  // [begin, end), the last one open
  *arena = 0;
  for (int32_t bi : order) {
    const Buffer& b = buffers[bi];
    overlapping.clear();
    for (int32_t q : placed)
      if (buffers[q].first <= b.last && b.first <= buffers[q].last) overlapping.push_back(q);
    std::sort(overlapping.begin(), overlapping.end(),
              [&](int32_t x, int32_t y) { return offsets[x] < offsets[y]; });
    gaps.clear();
    int64_t end = 0;
    for (int32_t q : overlapping) {
      if (offsets[q] > end) gaps.push_back({end, offsets[q]});
      end = std::max(end, offsets[q] + buffers[q].size);
    }
    gaps.push_back({end, kOpen});
    int64_t at = -1;
    const Fit how = fit(bi);
    if (how == Fit::kBest) {
      int64_t best_len = kOpen;
      for (const auto& [g0, g1] : gaps)
        if (g1 != kOpen && g1 - g0 >= b.size && g1 - g0 < best_len) {
          at = g0;
          best_len = g1 - g0;
        }
    } else if (how == Fit::kHighest) {
      for (auto it = gaps.rbegin(); it != gaps.rend() && at < 0; ++it) {
        const int64_t top = std::min(it->second, ceiling);
        if (top - it->first >= b.size) at = top - b.size;
      }
    }
    if (at < 0)  // kLowest, or nothing else fits: the lowest gap that holds it
      for (const auto& [g0, g1] : gaps)
        if (g1 - g0 >= b.size) {
          at = g0;
          break;
        }
    if (at > kOpen - b.size) return OutOfRange("memory plan: the arena exceeds 2^63 bytes");
    offsets[bi] = at;
    *arena = std::max(*arena, at + b.size);
    placed.push_back(bi);
  }
  return offsets;
}

// Peak bytes of buffers live at one op: no plan can use less.
int64_t PeakBytes(const std::vector<Buffer>& buffers, size_t num_ops) {
  // Saturates instead of overflowing on absurd sizes (the plan then fails cleanly).
  std::vector<int64_t> live(num_ops, 0);
  for (const Buffer& b : buffers)
    for (int32_t i = b.first; i <= b.last; ++i)
      if (__builtin_add_overflow(live[i], b.size, &live[i]))
        live[i] = std::numeric_limits<int64_t>::max();
  return live.empty() ? 0 : *std::max_element(live.begin(), live.end());
}

}  // namespace

Expected<std::vector<Lifetime>> ComputeLifetimes(const MemoryPlanProblem& p) {
  const int32_t n = static_cast<int32_t>(p.tensors.size());
  std::vector<Lifetime> life(n);
  std::vector<int32_t> writer(n, -1);
  // Writers first, so a read can be checked against a write that comes later.
  for (size_t i = 0; i < p.ops.size(); ++i) {
    for (int32_t t : p.ops[i].outputs) {
      if (t < 0 || t >= n)
        return OutOfRange(OpName(p, i), " writes tensor ", t, ", but there are ", n, " tensors");
      if (writer[t] != -1)
        return InvalidArgument(TensorName(p, t), " is written by ", OpName(p, writer[t]),
                               " and again by ", OpName(p, i));
      writer[t] = static_cast<int32_t>(i);
      life[t].first = life[t].last = static_cast<int32_t>(i);
    }
  }
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const int32_t at = static_cast<int32_t>(i);
    for (int32_t t : p.ops[i].inputs) {
      if (t == -1) continue;
      if (t < -1 || t >= n)
        return OutOfRange(OpName(p, i), " reads tensor ", t, ", but there are ", n, " tensors");
      if (writer[t] >= at)
        return InvalidArgument(OpName(p, i), " reads ", TensorName(p, t), " before ",
                               OpName(p, writer[t]), " writes it");
      if (writer[t] == -1 && p.tensors[t].in_arena)
        return InvalidArgument(OpName(p, i), " reads arena ", TensorName(p, t),
                               ", which no op writes");
      if (life[t].first == -1) life[t].first = at;
      life[t].last = std::max(life[t].last, at);
    }
  }
  for (int32_t t = 0; t < n; ++t)
    if (p.tensors[t].in_arena && writer[t] == -1)
      return InvalidArgument("arena ", TensorName(p, t), " is never written by any op");
  return life;
}

Expected<MemoryPlan> PlanMemory(const MemoryPlanProblem& p) {
  OCTET_RETURN_IF_ERROR(CheckProblem(p));
  OCTET_ASSIGN_OR_RETURN(std::vector<Lifetime> life, ComputeLifetimes(p));
  const size_t n = p.tensors.size();

  // Tensors chained by in-place reuse share one buffer.
  std::vector<Buffer> buffers;
  std::vector<int32_t> buffer_of(n, -1);
  std::vector<bool> donated(n, false);
  MemoryPlan plan;
  plan.inplace_with.assign(n, -1);
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const MemoryPlanOp& op = p.ops[i];
    for (size_t o = 0; o < op.outputs.size(); ++o) {
      const int32_t t = op.outputs[o];
      if (!p.tensors[t].in_arena) continue;
      const int64_t size = *AlignUp(p.tensors[t].size, p.alignment);
      int32_t reuse = -1;
      for (const auto& [po, pi] : op.inplace) {
        if (po != static_cast<int32_t>(o) || pi < 0 || static_cast<size_t>(pi) >= op.inputs.size())
          continue;
        const int32_t x = op.inputs[pi];
        if (x < 0 || !p.tensors[x].in_arena || donated[x]) continue;
        if (!InPlaceAllowed(p, life, i, t, x)) continue;
        if (size > buffers[buffer_of[x]].size) continue;
        reuse = x;
        break;
      }
      if (reuse >= 0) {
        donated[reuse] = true;
        buffer_of[t] = buffer_of[reuse];
        Buffer& b = buffers[buffer_of[t]];
        b.last = std::max(b.last, life[t].last);
        plan.inplace_with[t] = reuse;
      } else {
        buffer_of[t] = static_cast<int32_t>(buffers.size());
        buffers.push_back({life[t].first, life[t].last, size});
      }
    }
  }

  // Strategy 1, greedy by size: largest first (ties by birth, then index, so
  // plans are deterministic), each into the best-fitting gap.
  std::vector<int32_t> order(buffers.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    if (buffers[a].size != buffers[b].size) return buffers[a].size > buffers[b].size;
    if (buffers[a].first != buffers[b].first) return buffers[a].first < buffers[b].first;
    return a < b;
  });
  int64_t arena = 0;
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> offsets,
                         Place(
                             buffers, order, [](int32_t) { return Fit::kBest; }, 0, &arena));

  // Greedy by size can miss the optimum even on a chain (a large tensor put
  // at the bottom where its small neighbour needed room). Strategy 2 places
  // buffers in birth order, alternately at the bottom and at the top of the
  // lower bound, which is optimal on chains; the smaller arena wins.
  const int64_t bound = PeakBytes(buffers, p.ops.size());
  if (arena > bound) {
    std::stable_sort(order.begin(), order.end(),
                     [&](int32_t a, int32_t b) { return buffers[a].first < buffers[b].first; });
    int64_t arena2 = 0;
    auto alternate = [&](int32_t b) { return buffers[b].first % 2 ? Fit::kHighest : Fit::kLowest; };
    OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> offsets2,
                           Place(buffers, order, alternate, bound, &arena2));
    if (arena2 < arena) {
      arena = arena2;
      offsets = std::move(offsets2);
    }
  }

  plan.arena_size = arena;  // a multiple of the alignment: every offset and size is
  plan.offsets.assign(n, -1);
  for (size_t t = 0; t < n; ++t)
    if (buffer_of[t] >= 0) plan.offsets[t] = offsets[buffer_of[t]];
  return plan;
}

Status VerifyMemoryPlan(const MemoryPlanProblem& p, const MemoryPlan& plan) {
  OCTET_RETURN_IF_ERROR(CheckProblem(p));
  OCTET_ASSIGN_OR_RETURN(std::vector<Lifetime> life, ComputeLifetimes(p));
  const size_t n = p.tensors.size();
  if (plan.offsets.size() != n)
    return InvalidArgument("memory plan has ", plan.offsets.size(), " offsets for ", n, " tensors");
  if (plan.arena_size < 0 || plan.arena_size % p.alignment != 0)
    return InvalidArgument("memory plan arena size ", plan.arena_size,
                           " is not a non-negative multiple of the alignment ", p.alignment);
  for (size_t i = 0; i < n; ++i) {
    const int32_t t = static_cast<int32_t>(i);
    const int64_t off = plan.offsets[i];
    if (!p.tensors[i].in_arena) {
      if (off != -1)
        return InvalidArgument(TensorName(p, t), " is not in the arena but has offset ", off);
      continue;
    }
    if (off < 0 || off % p.alignment != 0)
      return InvalidArgument(TensorName(p, t), " has arena offset ", off,
                             ", not a non-negative multiple of ", p.alignment);
    if (off > plan.arena_size || p.tensors[i].size > plan.arena_size - off)
      return OutOfRange(TensorName(p, t), " at arena offset ", off, " with ", p.tensors[i].size,
                        " bytes ends past the arena (", plan.arena_size, " bytes)");
  }

  // Sweep the ops: any two tensors that are live at the same op are both live
  // at the later one's birth, so checking each new tensor against everything
  // live at its birth covers every pair.
  std::vector<int32_t> live;
  for (size_t i = 0; i < p.ops.size(); ++i) {
    const int32_t at = static_cast<int32_t>(i);
    live.erase(
        std::remove_if(live.begin(), live.end(), [&](int32_t t) { return life[t].last < at; }),
        live.end());
    for (int32_t t : p.ops[i].outputs) {
      if (!p.tensors[t].in_arena) continue;
      const int64_t a0 = plan.offsets[t], a1 = a0 + p.tensors[t].size;
      for (int32_t u : live) {
        const int64_t b0 = plan.offsets[u], b1 = b0 + p.tensors[u].size;
        if (a0 >= b1 || b0 >= a1) continue;  // disjoint (or empty)
        if (a0 == b0 && InPlaceAllowed(p, life, i, t, u)) continue;
        return InvalidArgument("memory plan: ", TensorName(p, t), " [", a0, ", ", a1, ") and ",
                               TensorName(p, u), " [", b0, ", ", b1,
                               ") overlap in the arena while both are live at ", OpName(p, i));
      }
      live.push_back(t);
    }
  }
  return Status::Ok();
}

}  // namespace octet
