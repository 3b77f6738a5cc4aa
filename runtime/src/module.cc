#include "octet/runtime/module.h"

#include <algorithm>

#include "device_program.h"
#include "octet/runtime/random_inputs.h"
#ifdef OCTET_HAVE_X86
#include "x86_executor.h"
#endif

namespace octet::runtime {
namespace {

constexpr const char kReferenceTarget[] = "reference";
#ifdef OCTET_HAVE_X86
constexpr const char kTargets[] = "'reference', 'x86' and 'cuda'";
#else
constexpr const char kTargets[] = "'reference' and 'cuda' (built without oneDNN, so not 'x86')";
#endif

// Reference modules may require only "target" naming their own target; x86
// modules also "reduce_range", which the x86 backend checks against the CPU.
// Anything else belongs to a backend that is not linked here.
Status CheckRequirements(const LoadedModule& m) {
  const ModuleDesc& d = m.desc();
  if (IsDeviceTarget(d.target)) return CheckDeviceRequirements(m);
#ifdef OCTET_HAVE_X86
  if (d.target == "x86") return CheckX86Requirements(m);
#endif
  if (d.target != kReferenceTarget)
    return Unimplemented(m.source(), " is compiled for target '", d.target, "'; this runtime runs ",
                         kTargets, " modules");
  for (const auto& [key, value] : d.requirements)
    if (key != "target" || value != d.target)
      return Unimplemented(m.source(), " requires ", key, "=", value,
                           ", which this runtime does not provide");
  return Status::Ok();
}

}  // namespace

Expected<std::shared_ptr<const Module>> Module::Load(const std::string& path,
                                                     const LoadOptions& options) {
  OCTET_ASSIGN_OR_RETURN(LoadedModule loaded, LoadModule(path, options));
  OCTET_RETURN_IF_ERROR(CheckRequirements(loaded));
  std::shared_ptr<Module> m(new Module(std::move(loaded)));
  Status s = m->Bind();
  if (!s.ok()) return s.WithContext("module '" + path + "'");
  return std::shared_ptr<const Module>(std::move(m));
}

Status Module::Bind() {
  const ModuleDesc& d = loaded_.desc();
  const int32_t num_slots = static_cast<int32_t>(d.slots.size());
  constants_.resize(num_slots);
  std::vector<int32_t> last_read(num_slots, -1), written_at(num_slots, -1);
  for (int32_t i = 0; i < num_slots; ++i) {
    const TensorSlot& s = d.slots[i];
    if (s.kind == SlotKind::kConstant) {
      OCTET_ASSIGN_OR_RETURN(constants_[i], loaded_.ConstantTensor(i));
    } else if (s.kind == SlotKind::kInput) {
      inputs_.push_back({s.name, s.dtype, s.shape});
      input_slots_.push_back(i);
    } else if (s.kind == SlotKind::kOutput) {
      outputs_.push_back({s.name, s.dtype, s.shape});
      output_slots_.push_back(i);
    }
  }
  if (IsDeviceTarget(d.target)) {
    OCTET_ASSIGN_OR_RETURN(device_, CreateDeviceProgram(loaded_, constants_));
    return Status::Ok();
  }
  const int32_t num_ops = static_cast<int32_t>(d.ops.size());
  for (int32_t k = 0; k < num_ops; ++k) {
    OCTET_ASSIGN_OR_RETURN(std::unique_ptr<OpExecutor> e, CreateOpExecutor(d, k, constants_));
    executors_.push_back(std::move(e));
    for (int32_t s : d.ops[k].inputs)
      if (s >= 0) last_read[s] = k;
    for (int32_t s : d.ops[k].outputs) written_at[s] = k;
  }
  // Each activation is dropped after its last reader (or its writer when
  // nothing reads it), so per-run allocations are freed as early as possible.
  release_after_.resize(num_ops);
  for (int32_t i = 0; i < num_slots; ++i)
    if (d.slots[i].kind == SlotKind::kActivation && written_at[i] >= 0)
      release_after_[std::max(last_read[i], written_at[i])].push_back(i);
  return Status::Ok();
}

Expected<std::map<std::string, Tensor>> Module::MakeRandomInputs(uint64_t seed,
                                                                 int64_t symbolic_dim) const {
  std::vector<std::pair<std::string, TensorType>> types;
  for (const TensorInfo& in : inputs_) types.emplace_back(in.name, TensorType(in.dtype, in.shape));
  return octet::MakeRandomInputs(types, seed, symbolic_dim);
}

Expected<int64_t> DeviceMemoryInUse() { return DeviceMemoryInUseBytes(); }

}  // namespace octet::runtime
