// Where a session puts activations for one set of input dims. The module's
// own plan (made at compile time for its reference dims, usually a batch of 1)
// is used as it is; for other dims (another batch size) the session plans
// again with the same planner (octet/module/memory_plan.h) over the sizes at
// those dims, once, and keeps the result for later runs at the same dims. So
// every run places its activations in an arena, whatever the batch.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octet/module/module.h"
#include "octet/status.h"

namespace octet::runtime {

struct ArenaPlan {
  std::map<std::string, int64_t> symbols;  // the dims this plan is for
  std::vector<int64_t> offsets;            // per slot; -1: not in the arena
  std::vector<int64_t> bytes;              // per slot placed in the arena
  std::vector<std::vector<int64_t>> dims;  // per slot placed in the arena
  int64_t arena_size = 0;
  std::shared_ptr<uint8_t> arena;  // arena_size bytes, 64-byte aligned

  bool InArena(int32_t slot) const { return offsets[slot] >= 0; }
  uint8_t* At(int32_t slot) const { return arena.get() + offsets[slot]; }
};

// The slot's dims at `symbols` (the values of the inputs' symbolic dims), or
// empty when one is unknown there.
std::vector<int64_t> SlotDimsAt(const TensorSlot& slot,
                                const std::map<std::string, int64_t>& symbols);

// Offsets and sizes only (`arena` stays null): for arenas that live elsewhere
// (the cuda target's device arena, runtime/src/cuda_program.cc).
Expected<ArenaPlan> PlanArenaLayout(const ModuleDesc& desc,
                                    const std::map<std::string, int64_t>& symbols);

// The plan for `symbols` (the values of the inputs' symbolic dims): the
// module's own when they are its reference dims, else a new one. Activations
// whose size is unknown at those dims stay out of the arena (allocated per
// run). Fails only when the arena cannot be allocated.
Expected<ArenaPlan> MakeArenaPlan(const ModuleDesc& desc,
                                  const std::map<std::string, int64_t>& symbols,
                                  const std::string& module_name);

}  // namespace octet::runtime
