#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "arena_plan.h"
#include "device_program.h"
#include "octet/reference/interpreter.h"
#include "octet/runtime/module.h"

namespace octet::runtime {

Session::Session(std::shared_ptr<const Module> module, int num_threads, bool profile)
    : module_(std::move(module)), num_threads_(num_threads), profiling_(profile) {
  if (profiling_) ResetProfile();
}

void Session::ResetProfile() {
  profile_.clear();
  for (const ModuleOp& op : module_->loaded().desc().ops) profile_.push_back({op.name, op.kernel});
}

Session::~Session() = default;

const Session::DeviceRunInfo* Session::last_device_run() const {
  return device_runner_ != nullptr ? &device_runner_->last_run() : nullptr;
}

// The inputs, checked and bound to their slots by CheckInputs, go to the
// device runner, which copies them in, runs and copies the outputs out.
Expected<std::map<std::string, Tensor>> Session::RunOnDevice(
    const std::map<std::string, int64_t>& symbols) {
  const Module& m = *module_;
  std::vector<const Tensor*> inputs;
  for (int32_t s : m.input_slots_) inputs.push_back(&values_[s]);
  OCTET_ASSIGN_OR_RETURN(std::vector<Tensor> outputs,
                         device_runner_->Run(inputs, symbols, profiling_ ? &profile_ : nullptr));
  const DeviceRunInfo& info = device_runner_->last_run();
  last_run_used_arena_ = info.used_module_plan;
  last_run_arena_bytes_ = info.arena_bytes;
  std::map<std::string, Tensor> result;
  for (size_t i = 0; i < outputs.size(); ++i)
    result[m.loaded().desc().slots[m.output_slots_[i]].name] = std::move(outputs[i]);
  return result;
}

Expected<std::unique_ptr<Session>> Session::Create(std::shared_ptr<const Module> module,
                                                   const SessionOptions& options) {
  if (module == nullptr) return InvalidArgument("Session::Create: no module");
  int threads = options.num_threads;
  if (threads <= 0) threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  std::unique_ptr<Session> s(new Session(std::move(module), threads, options.profile));
  const ModuleDesc& d = s->module_->loaded().desc();
  s->values_.resize(d.slots.size());
  if (s->module_->device_ != nullptr) {
    OCTET_ASSIGN_OR_RETURN(s->device_runner_, s->module_->device_->NewRunner(options));
    return s;
  }
  // The module's own plan, allocated now so that a failure shows at creation.
  OCTET_ASSIGN_OR_RETURN(ArenaPlan plan, MakeArenaPlan(d, d.memory_plan.reference_dims,
                                                       s->module_->loaded().source()));
  s->plans_.push_back(std::make_unique<ArenaPlan>(std::move(plan)));
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

Status Session::CheckInputs(const std::map<std::string, Tensor>& inputs,
                            std::map<std::string, int64_t>* symbols) {
  const Module& m = *module_;
  for (size_t i = 0; i < m.inputs_.size(); ++i) {
    const TensorInfo& info = m.inputs_[i];
    auto it = inputs.find(info.name);
    if (it == inputs.end()) return InvalidArgument("missing input '", info.name, "'");
    OCTET_RETURN_IF_ERROR(reference::CheckTensorMatchesType(
        it->second, TensorType(info.dtype, info.shape), "input '" + info.name + "'", *symbols));
    values_[m.input_slots_[i]] = it->second;
  }
  if (inputs.size() != m.inputs_.size())
    for (const auto& [name, t] : inputs) {
      bool known = false;
      for (const TensorInfo& info : m.inputs_) known = known || info.name == name;
      if (!known) return InvalidArgument("'", name, "' is not an input of the module");
    }
  return Status::Ok();
}

Expected<const ArenaPlan*> Session::PlanFor(const std::map<std::string, int64_t>& symbols) {
  for (size_t i = 0; i < plans_.size(); ++i) {
    if (plans_[i]->symbols != symbols) continue;
    // Most recently used last; the module's own plan (index 0) stays put.
    if (i > 0 && i + 1 < plans_.size())
      std::rotate(plans_.begin() + i, plans_.begin() + i + 1, plans_.end());
    return i == 0 ? plans_[0].get() : plans_.back().get();
  }
  OCTET_ASSIGN_OR_RETURN(
      ArenaPlan plan, MakeArenaPlan(module_->loaded().desc(), symbols, module_->loaded().source()));
  if (plans_.size() >= kMaxPlans) plans_.erase(plans_.begin() + 1);  // least recently used
  plans_.push_back(std::make_unique<ArenaPlan>(std::move(plan)));
  return plans_.back().get();
}

void Session::StoreOutput(int32_t slot, Tensor t, const ArenaPlan& plan) {
  const int64_t arena_size = plan.arena_size;
  uint8_t* base = plan.arena.get();
  const auto* p = static_cast<const uint8_t*>(t.raw());
  const bool in_arena = base != nullptr && p >= base && p < base + arena_size;
  if (plan.InArena(slot) && t.raw() == plan.At(slot)) {
    values_[slot] = std::move(t);  // written in place by the kernel
  } else if (plan.InArena(slot) && t.nbytes() <= plan.bytes[slot]) {
    // Reference kernels allocate; copy into the planned place. A kernel may
    // return a view of its input (Reshape), which lies elsewhere in the arena.
    uint8_t* dst = plan.At(slot);
    if (t.nbytes() > 0) std::memmove(dst, t.raw(), static_cast<size_t>(t.nbytes()));
    values_[slot] = Tensor::View(t.dtype(), t.dims(), dst, plan.arena);
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
void Session::BindArenaOutputs(const ModuleOp& op, std::vector<Tensor>& outs,
                               const ArenaPlan& plan) {
  const ModuleDesc& d = module_->loaded().desc();
  for (size_t j = 0; j < op.outputs.size(); ++j) {
    const int32_t slot = op.outputs[j];
    if (!plan.InArena(slot)) continue;
    outs[j] = Tensor::View(d.slots[slot].dtype, plan.dims[slot], plan.At(slot), plan.arena);
  }
}

Expected<std::map<std::string, Tensor>> Session::RunLocked(
    const std::map<std::string, Tensor>& inputs) {
  const Module& m = *module_;
  const ModuleDesc& d = m.loaded().desc();
  std::map<std::string, int64_t> symbols;
  OCTET_RETURN_IF_ERROR(CheckInputs(inputs, &symbols));
  if (device_runner_ != nullptr) return RunOnDevice(symbols);
  OCTET_ASSIGN_OR_RETURN(const ArenaPlan* plan, PlanFor(symbols));
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
    BindArenaOutputs(op, outs, *plan);
    const auto start =
        profiling_ ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    OCTET_RETURN_IF_ERROR(m.executors_[k]->Run(args, outs, num_threads_));
    for (size_t j = 0; j < op.outputs.size(); ++j) {
      if (!outs[j].defined())
        return Internal("op '", op.name, "' (", op.kernel, ") did not produce output ", j);
      StoreOutput(op.outputs[j], std::move(outs[j]), *plan);
    }
    if (profiling_) {
      profile_[k].calls += 1;
      profile_[k].total_ms +=
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count();
    }
    for (int32_t s : m.release_after_[k]) values_[s] = Tensor();
  }
  last_run_used_arena_ = plan == plans_[0].get();
  last_run_arena_bytes_ = plan->arena_size;
  std::map<std::string, Tensor> result;
  for (int32_t s : m.output_slots_) result[d.slots[s].name] = std::move(values_[s]);
  return result;
}

}  // namespace octet::runtime
