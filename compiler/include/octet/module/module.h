// The compiled module: what a backend produces and the runtime loads. One file
// holds a description (target, requirements, tensor slots, op list, memory
// plan) and the weight sections, which are mapped, not copied, at load. The
// byte layout is in module_format.h and docs/module-format.md.
//
// Thread safety: a LoadedModule is immutable after LoadModule returns, so any
// number of threads may read it at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "octet/dtype.h"
#include "octet/module/memory_plan.h"
#include "octet/module/module_format.h"
#include "octet/shape.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

// Targets a module can be compiled for; the loader refuses a module whose
// target differs from the one the caller expects.
bool IsKnownModuleTarget(const std::string& target);  // "x86", "cuda", "reference"

enum class SlotKind { kInput, kOutput, kActivation, kConstant };
const char* SlotKindName(SlotKind kind);  // "input", "output", "activation", "constant"

// One tensor the ops read or write. Graph inputs and outputs live in caller
// buffers; activations live in the arena (or, when `dynamic`, are allocated by
// the runtime per run because their size depends on the input shapes);
// constants are weight sections.
struct TensorSlot {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;  // static, symbolic ("N") or unknown ("?") dims
  SlotKind kind = SlotKind::kActivation;
  // Activations that are not dynamic: placement in the arena and the byte size
  // reserved there, computed for the plan's reference dims.
  bool dynamic = false;
  int64_t arena_offset = -1;
  int64_t byte_size = -1;
  // Constants: index of the weight section holding the tensor's raw bytes
  // (row-major, exactly DTypeStorageBytes(dtype, numel) long).
  int64_t weight_section = -1;

  bool operator==(const TensorSlot& o) const;
  bool operator!=(const TensorSlot& o) const { return !(*this == o); }
};

using ModuleAttrValue =
    std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>>;

struct ModuleAttr {
  std::string name;
  ModuleAttrValue value;
  // Floats compare bitwise, so an attribute holding NaN equals its copy.
  bool operator==(const ModuleAttr& o) const;
  bool operator!=(const ModuleAttr& o) const { return !(*this == o); }
};

// One kernel call. Slot indices refer to ModuleDesc::slots.
struct ModuleOp {
  std::string kernel;  // "x86.int8_conv", "reference.Relu"
  std::string name;    // the source node, for errors and profiles
  std::vector<ModuleAttr> attrs;
  std::vector<int32_t> inputs;  // -1 is an absent optional input
  std::vector<int32_t> outputs;
  std::vector<int32_t> weight_sections;  // pre-packed weights the kernel reads directly
  // (output position, input position) pairs the kernel can compute in place:
  // the memory planner may give the output the input's buffer when this op
  // is the input's last use, and the loader's plan check accepts that overlap.
  std::vector<std::pair<int32_t, int32_t>> inplace;

  const ModuleAttr* FindAttr(const std::string& attr_name) const;
  // The attribute's value, `dflt` when it is absent (an error without one),
  // or an error naming the op when it holds another type.
  template <typename T>
  Expected<T> Get(const std::string& attr_name, std::optional<T> dflt = std::nullopt) const;

  bool operator==(const ModuleOp& o) const;
  bool operator!=(const ModuleOp& o) const { return !(*this == o); }
};

// The arena layout chosen at compile time.
struct ModuleMemoryPlan {
  int64_t arena_size = 0;  // bytes; a multiple of alignment
  int64_t alignment = 64;  // of the arena base and every activation offset
  // Values of the symbolic dims the activation sizes were computed for.
  std::map<std::string, int64_t> reference_dims;
  bool operator==(const ModuleMemoryPlan& o) const {
    return arena_size == o.arena_size && alignment == o.alignment &&
           reference_dims == o.reference_dims;
  }
};

struct ModuleDesc {
  std::string target;
  // What the machine must provide, checked by the backend at load:
  // {"isa": "avx2"}, {"reduce_range": "1"}.
  std::map<std::string, std::string> requirements;
  std::map<std::string, std::string> metadata;  // free-form: producer, source model, ...
  std::vector<TensorSlot> slots;
  std::vector<ModuleOp> ops;  // in execution order
  ModuleMemoryPlan memory_plan;

  bool operator==(const ModuleDesc& o) const;
  bool operator!=(const ModuleDesc& o) const { return !(*this == o); }
};

// A weight section to write.
struct WeightSection {
  std::string name;
  std::vector<uint8_t> bytes;
};

// A loaded weight section: a pointer into the mapped file, 64-byte aligned,
// valid while the LoadedModule (or a copy of its storage()) lives.
struct WeightView {
  std::string name;
  const uint8_t* data = nullptr;
  int64_t size = 0;
};

// Checks a description against itself and against the sizes of its weight
// sections: names, dtypes, slot indices, SSA order (each activation and output
// written once, before it is read), constants matching their sections, and the
// memory plan (aligned, inside the arena, no overlap of live activations
// except declared in-place pairs). The writer refuses, and the loader rejects,
// a description that fails it.
Status ValidateModuleDesc(const ModuleDesc& desc, const std::vector<int64_t>& weight_sizes);

// The memory-planning problem of a description's activations: one planner
// tensor per slot (in the arena: non-dynamic activations, with byte_size),
// one planner op per op.
MemoryPlanProblem MemoryPlanProblemFromModule(const ModuleDesc& desc);
// Plans the arena for a description whose activation slots have byte sizes:
// sets their arena offsets and memory_plan.arena_size / alignment.
Status PlanModuleMemory(ModuleDesc* desc);

// Writes the module atomically (a temporary file in the same folder, renamed
// into place), after ValidateModuleDesc. Errors name the file.
Status WriteModule(const ModuleDesc& desc, const std::vector<WeightSection>& weights,
                   const std::string& path);
// The same bytes in memory (for tests, the fuzzer and small modules).
Expected<std::string> SerializeModule(const ModuleDesc& desc,
                                      const std::vector<WeightSection>& weights);

struct LoadOptions {
  // The target the caller can run; empty accepts any. A mismatch is an error
  // naming both.
  std::string expected_target;
  // Checking the weight CRCs reads every weight byte once; services that load
  // a trusted file often may skip it. The header, section table and
  // description are always checked.
  bool verify_weight_checksums = true;
};

class LoadedModule {
 public:
  LoadedModule(LoadedModule&&) noexcept = default;
  LoadedModule& operator=(LoadedModule&&) noexcept = default;
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;
  ~LoadedModule() = default;  // the storage's deleter unmaps the file

  const ModuleDesc& desc() const { return desc_; }
  uint32_t format_version() const { return format_version_; }
  const std::vector<WeightView>& weights() const { return weights_; }
  const std::string& source() const { return source_; }  // the path, for messages
  // Owns the mapping; hold a copy to keep weight pointers valid longer.
  const std::shared_ptr<const void>& storage() const { return storage_; }
  // A constant slot as a tensor viewing its weight section (no copy). The
  // memory is mapped read-only: writing through the view faults.
  Expected<Tensor> ConstantTensor(int slot) const;

 private:
  friend class ModuleLoader;
  LoadedModule() = default;
  std::shared_ptr<const void> storage_;
  ModuleDesc desc_;
  std::vector<WeightView> weights_;
  uint32_t format_version_ = 0;
  std::string source_;
};

// Maps `path` (read-only, MAP_PRIVATE) and checks magic, version, header,
// section table, every offset and size, checksums, the description and the
// target. A truncated or corrupt file gives an error saying what is wrong; it
// never reads outside the file. The file must not be modified in place while
// loaded (WriteModule replaces files by rename, which is safe).
Expected<LoadedModule> LoadModule(const std::string& path, const LoadOptions& options = {});
// The same checks on bytes in memory, which are copied into a 64-byte aligned
// buffer the module owns. `what` names the bytes in errors.
Expected<LoadedModule> LoadModuleFromBytes(std::string_view bytes, const std::string& what,
                                           const LoadOptions& options = {});

// --- implementation of ModuleOp::Get ------------------------------------------

template <typename T>
Expected<T> ModuleOp::Get(const std::string& attr_name, std::optional<T> dflt) const {
  const ModuleAttr* a = FindAttr(attr_name);
  if (a == nullptr) {
    if (dflt) return *dflt;
    return InvalidArgument("op '", name, "' (", kernel, ") has no attribute '", attr_name, "'");
  }
  if (const T* v = std::get_if<T>(&a->value)) return *v;
  return InvalidArgument("op '", name, "' (", kernel, ") attribute '", attr_name,
                         "' has another type than the kernel expects");
}

}  // namespace octet
