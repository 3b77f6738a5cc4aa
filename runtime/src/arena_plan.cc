#include "arena_plan.h"

#include <cstdlib>

namespace octet::runtime {
namespace {

std::shared_ptr<uint8_t> AllocateArena(int64_t bytes, int64_t alignment) {
  if (bytes <= 0) return nullptr;
  const int64_t rounded = (bytes + alignment - 1) / alignment * alignment;
  void* p = std::aligned_alloc(static_cast<size_t>(alignment), static_cast<size_t>(rounded));
  if (p == nullptr) return nullptr;
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

}  // namespace

std::vector<int64_t> SlotDimsAt(const TensorSlot& s,
                                const std::map<std::string, int64_t>& symbols) {
  std::vector<int64_t> dims;
  for (const Dim& d : s.shape.dims()) {
    int64_t v = d.value();
    if (d.is_symbolic()) {
      auto it = symbols.find(d.symbol());
      v = it != symbols.end() ? it->second : -1;
    }
    if (v < 0) return {};
    dims.push_back(v);
  }
  return dims;
}

Expected<ArenaPlan> PlanArenaLayout(const ModuleDesc& desc,
                                    const std::map<std::string, int64_t>& symbols) {
  const size_t n = desc.slots.size();
  ArenaPlan plan;
  plan.symbols = symbols;
  plan.offsets.assign(n, -1);
  plan.bytes.assign(n, 0);
  plan.dims.resize(n);
  bool at_reference = true;
  for (const auto& [sym, value] : desc.memory_plan.reference_dims) {
    auto it = symbols.find(sym);
    at_reference = at_reference && it != symbols.end() && it->second == value;
  }
  MemoryPlanProblem problem = MemoryPlanProblemFromModule(desc);
  for (size_t i = 0; i < n; ++i) {
    const TensorSlot& s = desc.slots[i];
    problem.tensors[i].in_arena = false;
    if (s.kind != SlotKind::kActivation || s.dynamic || s.shape.rank() == 0) continue;
    std::vector<int64_t> dims = SlotDimsAt(s, symbols);
    if (dims.empty()) continue;
    int64_t numel = 1;
    for (int64_t d : dims) numel *= d;
    plan.bytes[i] = DTypeStorageBytes(s.dtype, numel);
    plan.dims[i] = std::move(dims);
    problem.tensors[i].in_arena = true;
    problem.tensors[i].size = plan.bytes[i];
  }
  if (at_reference) {
    for (size_t i = 0; i < n; ++i)
      if (problem.tensors[i].in_arena) plan.offsets[i] = desc.slots[i].arena_offset;
    plan.arena_size = desc.memory_plan.arena_size;
  } else {
    OCTET_ASSIGN_OR_RETURN(MemoryPlan placed, PlanMemory(problem));
    plan.offsets = placed.offsets;
    plan.arena_size = placed.arena_size;
  }
  return plan;
}

Expected<ArenaPlan> MakeArenaPlan(const ModuleDesc& desc,
                                  const std::map<std::string, int64_t>& symbols,
                                  const std::string& module_name) {
  OCTET_ASSIGN_OR_RETURN(ArenaPlan plan, PlanArenaLayout(desc, symbols));
  plan.arena = AllocateArena(plan.arena_size, desc.memory_plan.alignment);
  if (plan.arena_size > 0 && plan.arena == nullptr) {
    std::string dims;
    for (const auto& [sym, v] : symbols)
      dims += (dims.empty() ? "" : ", ") + sym + "=" + std::to_string(v);
    return Error(StatusCode::kOutOfRange, "cannot allocate the activation arena of ",
                 plan.arena_size, " bytes for module '", module_name, "' at ", dims);
  }
  return plan;
}

}  // namespace octet::runtime
