#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "octet/reference/interpreter.h"
#include "octet/runtime/module.h"

namespace octet::runtime {
namespace {

std::shared_ptr<uint8_t> AllocateArena(int64_t bytes, int64_t alignment) {
  if (bytes <= 0) return nullptr;
  void* p = std::aligned_alloc(static_cast<size_t>(alignment), static_cast<size_t>(bytes));
  if (p == nullptr) return nullptr;
  return std::shared_ptr<uint8_t>(static_cast<uint8_t*>(p), [](uint8_t* q) { std::free(q); });
}

}  // namespace

Session::Session(std::shared_ptr<const Module> module, int num_threads)
    : module_(std::move(module)), num_threads_(num_threads) {}

Expected<std::unique_ptr<Session>> Session::Create(std::shared_ptr<const Module> module,
                                                   const SessionOptions& options) {
  if (module == nullptr) return InvalidArgument("Session::Create: no module");
  int threads = options.num_threads;
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::unique_ptr<Session> s(new Session(std::move(module), threads));
  const ModuleMemoryPlan& plan = s->module_->loaded().desc().memory_plan;
  s->arena_ = AllocateArena(plan.arena_size, plan.alignment);
  if (plan.arena_size > 0 && s->arena_ == nullptr)
    return Error(StatusCode::kOutOfRange, "cannot allocate the activation arena of ",
                 plan.arena_size, " bytes for module '", s->module_->loaded().source(), "'");
  s->values_.resize(s->module_->loaded().desc().slots.size());
  return s;
}

Expected<std::map<std::string, Tensor>> Session::Run(const std::map<std::string, Tensor>& inputs) {
  std::lock_guard<std::mutex> lock(mu_);
  auto result = RunLocked(inputs);
  // Drop everything, also after an error: no caller tensor outlives the run
  // here, and per-run allocations are returned.
  for (Tensor& t : values_) t = Tensor();
  return result;
}

Status Session::CheckInputs(const std::map<std::string, Tensor>& inputs, bool* at_reference_dims) {
  const Module& m = *module_;
  std::map<std::string, int64_t> symbols;
  for (size_t i = 0; i < m.inputs_.size(); ++i) {
    const TensorInfo& info = m.inputs_[i];
    auto it = inputs.find(info.name);
    if (it == inputs.end()) return InvalidArgument("missing input '", info.name, "'");
    OCTET_RETURN_IF_ERROR(reference::CheckTensorMatchesType(
        it->second, TensorType(info.dtype, info.shape), "input '" + info.name + "'", symbols));
    values_[m.input_slots_[i]] = it->second;
  }
  if (inputs.size() != m.inputs_.size())
    for (const auto& [name, t] : inputs) {
      bool known = false;
      for (const TensorInfo& info : m.inputs_) known = known || info.name == name;
      if (!known) return InvalidArgument("'", name, "' is not an input of the module");
    }
  *at_reference_dims = true;
  for (const auto& [sym, value] : m.loaded().desc().memory_plan.reference_dims) {
    auto it = symbols.find(sym);
    if (it == symbols.end() || it->second != value) *at_reference_dims = false;
  }
  return Status::Ok();
}

void Session::StoreOutput(int32_t slot, Tensor t, bool use_arena) {
  const TensorSlot& s = module_->loaded().desc().slots[slot];
  uint8_t* base = arena_.get();
  const int64_t arena_size = module_->loaded().desc().memory_plan.arena_size;
  const auto* p = static_cast<const uint8_t*>(t.raw());
  const bool in_arena = base != nullptr && p >= base && p < base + arena_size;
  if (use_arena && s.kind == SlotKind::kActivation && !s.dynamic && t.nbytes() <= s.byte_size &&
      t.raw() == base + s.arena_offset) {
    values_[slot] = std::move(t);  // written in place by the kernel
  } else if (use_arena && s.kind == SlotKind::kActivation && !s.dynamic &&
             t.nbytes() <= s.byte_size) {
    // Reference kernels allocate; copy into the planned place. A kernel may
    // return a view of its input (Reshape), which lies elsewhere in the arena.
    uint8_t* dst = base + s.arena_offset;
    if (t.nbytes() > 0) std::memmove(dst, t.raw(), static_cast<size_t>(t.nbytes()));
    values_[slot] = Tensor::View(t.dtype(), t.dims(), dst, arena_);
  } else if (in_arena) {
    // A view of an arena tensor that is not itself planned there (an output,
    // a dynamic activation): that memory is reused later, so copy it out.
    values_[slot] = t.Clone();
  } else {
    values_[slot] = std::move(t);
  }
}

// Planned activations as views of their arena place, for kernels that write
// there directly (reference kernels ignore them and allocate).
void Session::BindArenaOutputs(const ModuleOp& op, std::vector<Tensor>& outs) {
  const ModuleDesc& d = module_->loaded().desc();
  for (size_t j = 0; j < op.outputs.size(); ++j) {
    const int32_t slot = op.outputs[j];
    const std::vector<int64_t>& dims = module_->planned_dims_[slot];
    if (dims.empty()) continue;
    const TensorSlot& s = d.slots[slot];
    outs[j] = Tensor::View(s.dtype, dims, arena_.get() + s.arena_offset, arena_);
  }
}

Expected<std::map<std::string, Tensor>> Session::RunLocked(
    const std::map<std::string, Tensor>& inputs) {
  const Module& m = *module_;
  const ModuleDesc& d = m.loaded().desc();
  bool use_arena = false;
  OCTET_RETURN_IF_ERROR(CheckInputs(inputs, &use_arena));
  use_arena = use_arena && arena_ != nullptr;
  std::vector<const Tensor*> args;
  std::vector<Tensor> outs;
  for (size_t k = 0; k < d.ops.size(); ++k) {
    const ModuleOp& op = d.ops[k];
    args.clear();
    for (int32_t s : op.inputs)
      args.push_back(s < 0                                    ? nullptr
                     : d.slots[s].kind == SlotKind::kConstant ? &m.constants_[s]
                                                              : &values_[s]);
    outs.assign(op.outputs.size(), Tensor());
    if (use_arena) BindArenaOutputs(op, outs);
    OCTET_RETURN_IF_ERROR(m.executors_[k]->Run(args, outs, num_threads_));
    for (size_t j = 0; j < op.outputs.size(); ++j) {
      if (!outs[j].defined())
        return Internal("op '", op.name, "' (", op.kernel, ") did not produce output ", j);
      StoreOutput(op.outputs[j], std::move(outs[j]), use_arena);
    }
    for (int32_t s : m.release_after_[k]) values_[s] = Tensor();
  }
  last_run_used_arena_ = use_arena;
  std::map<std::string, Tensor> result;
  for (int32_t s : m.output_slots_) result[d.slots[s].name] = std::move(values_[s]);
  return result;
}

}  // namespace octet::runtime
