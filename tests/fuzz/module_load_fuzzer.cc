// libFuzzer target for the compiled module loader: arbitrary bytes must load
// or give an error, never crash, hang, or read outside the input. Each input
// is tried as it is and again with its checksums recomputed
// (ResealModuleImage); without that, nearly every mutation would stop at a
// checksum and the checks behind it would never run.
//
// OCTET_MODULE_FUZZ_SEEDS=DIR writes a few valid modules into DIR at start-up,
// to use as the seed corpus.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "octet/module/module.h"

namespace {

using namespace octet;  // NOLINT

TensorSlot Slot(std::string name, DType dtype, Shape shape, SlotKind kind) {
  TensorSlot s;
  s.name = std::move(name);
  s.dtype = dtype;
  s.shape = std::move(shape);
  s.kind = kind;
  return s;
}

// input -> op (packed weights, constant) -> activation -> op (in place) ->
// activation (dynamic) -> op -> output.
void WriteSeeds(const std::string& dir) {
  ModuleDesc d;
  d.target = "x86";
  d.requirements = {{"isa", "avx2"}, {"reduce_range", "1"}};
  d.metadata = {{"producer", "fuzz seed"}};
  d.memory_plan.reference_dims = {{"N", 2}};
  const Dim n = Dim::Symbol("N");
  d.slots.push_back(Slot("x", DType::kU8, Shape({n, 8}), SlotKind::kInput));
  d.slots.push_back(Slot("w", DType::kI8, Shape({8, 4}), SlotKind::kConstant));
  d.slots[1].weight_section = 0;
  d.slots.push_back(Slot("a", DType::kI32, Shape({n, 4}), SlotKind::kActivation));
  d.slots[2].byte_size = 32;
  d.slots.push_back(Slot("b", DType::kI32, Shape({n, 4}), SlotKind::kActivation));
  d.slots[3].byte_size = 32;
  d.slots.push_back(Slot("c", DType::kF32, Shape({Dim::Unknown()}), SlotKind::kActivation));
  d.slots[4].dynamic = true;
  d.slots.push_back(Slot("y", DType::kF32, Shape({n, 4}), SlotKind::kOutput));
  ModuleOp mm;
  mm.kernel = "x86.int8_matmul";
  mm.name = "mm";
  mm.attrs = {{"scale", 0.5f},
              {"nan", std::numeric_limits<float>::quiet_NaN()},
              {"dims", std::vector<int64_t>{8, 4}},
              {"scales", std::vector<float>{1.0f, -2.5f}},
              {"layout", std::string("AB8a4b")}};
  mm.inputs = {0, 1, -1};
  mm.outputs = {2};
  mm.weight_sections = {1};
  ModuleOp relu{"x86.relu", "relu", {}, {2}, {3}, {}, {{0, 0}}};
  ModuleOp flat{"x86.flatten", "flat", {{"axis", int64_t{0}}}, {3}, {4}, {}, {}};
  ModuleOp deq{"x86.dequantize", "deq", {}, {4}, {5}, {}, {}};
  d.ops = {mm, relu, flat, deq};
  if (!PlanModuleMemory(&d).ok()) std::abort();
  const std::vector<WeightSection> weights = {{"w", std::vector<uint8_t>(32, 7)},
                                              {"w.packed", std::vector<uint8_t>(100, 1)}};
  if (!WriteModule(d, weights, dir + "/seed_full.octet").ok()) std::abort();
  ModuleDesc empty;
  empty.target = "reference";
  if (!WriteModule(empty, {}, dir + "/seed_empty.octet").ok()) std::abort();
  d.ops.resize(1);
  d.slots.resize(3);
  d.target = "cuda";
  if (!PlanModuleMemory(&d).ok()) std::abort();
  if (!WriteModule(d, weights, dir + "/seed_small.octet").ok()) std::abort();
}

void Check(const std::string& bytes) {
  auto m = LoadModuleFromBytes(bytes, "fuzz input");
  if (!m.ok()) {
    if (m.status().message().empty()) __builtin_trap();
    return;
  }
  // A module that loads has readable weights, valid constant views, and
  // survives a write and a load unchanged.
  std::vector<WeightSection> weights;
  for (const WeightView& w : m->weights())
    weights.push_back({w.name, std::vector<uint8_t>(w.data, w.data + w.size)});
  for (size_t i = 0; i < m->desc().slots.size(); ++i)
    if (m->desc().slots[i].kind == SlotKind::kConstant &&
        !m->ConstantTensor(static_cast<int>(i)).ok())
      __builtin_trap();
  auto again = SerializeModule(m->desc(), weights);
  if (!again.ok()) __builtin_trap();
  auto reloaded = LoadModuleFromBytes(*again, "re-serialized module");
  if (!reloaded.ok() || reloaded->desc() != m->desc()) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  if (const char* dir = std::getenv("OCTET_MODULE_FUZZ_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  Check(bytes);
  if (octet::ResealModuleImage(&bytes)) Check(bytes);
  return 0;
}
