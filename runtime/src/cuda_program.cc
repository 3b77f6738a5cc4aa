// The cuda target's DeviceProgram and DeviceRunner (device_program.h).
//
// Per session: one non-blocking stream and, per set of input dims (batch
// size), one cudaMalloc holding the activation arena of the module's memory
// plan (the compile-time plan at its reference dims, the same planner at
// other dims) followed by the input and output slots. It is made on the first
// run at those dims (at Session::Create for the module's own dims) and kept
// (the last kMaxPlans), so runs at a known shape allocate nothing on the
// device. Each run: inputs copied host -> device, the ops (eagerly the first
// time at a shape, then as a CUDA graph captured from that run's sequence),
// outputs copied device -> host, one stream synchronisation.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>

#include "arena_plan.h"
#include "cuda_executors.h"
#include "device_program.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/cudnn_conv.h"
#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"

namespace octet::runtime {
namespace {

constexpr const char kCudaArch[] = "sm_90a";
constexpr int64_t kIoAlignment = 256;  // of the input / output places after the arena

int64_t AlignUp(int64_t v, int64_t a) { return (v + a - 1) / a * a; }

std::string SymbolsText(const std::map<std::string, int64_t>& symbols) {
  std::string s;
  for (const auto& [sym, v] : symbols) s += (s.empty() ? "" : ", ") + sym + "=" + std::to_string(v);
  return s.empty() ? "static dims" : s;
}

// Events owned for the runner's life.
class Event {
 public:
  static Expected<Event> Create() {
    Event e;
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&e.event_));
    return e;
  }
  Event() = default;
  Event(Event&& o) noexcept : event_(std::exchange(o.event_, nullptr)) {}
  Event& operator=(Event&& o) noexcept {
    std::swap(event_, o.event_);
    return *this;
  }
  ~Event() {
    if (event_ != nullptr) (void)cudaEventDestroy(event_);
  }
  cudaEvent_t get() const { return event_; }

 private:
  cudaEvent_t event_ = nullptr;
};

// Everything a run at one set of input dims needs on the device.
struct DevicePlan {
  std::map<std::string, int64_t> symbols;
  cuda::DeviceBuffer memory;         // arena, then the input and output places
  std::vector<DeviceTensor> values;  // per slot (constants: data null)
  std::vector<int64_t> io_bytes;     // per slot: bytes of an input / output place
  int64_t arena_bytes = 0;
  cudaGraphExec_t graph = nullptr;  // captured after the first eager run
  bool eager_ran = false;

  DevicePlan() = default;
  DevicePlan(const DevicePlan&) = delete;
  DevicePlan& operator=(const DevicePlan&) = delete;
  ~DevicePlan() {
    if (graph != nullptr) (void)cudaGraphExecDestroy(graph);
  }
};

class CudaProgram;

class CudaRunner : public DeviceRunner {
 public:
  CudaRunner(const CudaProgram& program, cuda::Stream stream, Event start, Event stop,
             bool use_graphs)
      : program_(program),
        stream_(std::move(stream)),
        start_(std::move(start)),
        stop_(std::move(stop)),
        use_graphs_(use_graphs) {}

  Expected<DevicePlan*> PlanFor(const std::map<std::string, int64_t>& symbols);
  Expected<std::vector<Tensor>> Run(const std::vector<const Tensor*>& inputs,
                                    const std::map<std::string, int64_t>& symbols,
                                    std::vector<Session::OpProfile>* profile) override;
  const Session::DeviceRunInfo& last_run() const override { return last_run_; }

 private:
  static constexpr size_t kMaxPlans = 4;
  Status RunOps(const DevicePlan& plan) const;
  Status RunProfiled(const DevicePlan& plan, std::vector<Session::OpProfile>* profile,
                     float* total_ms);
  Status Capture(DevicePlan& plan);
  Status RunAndCopy(DevicePlan& plan, const std::vector<const Tensor*>& inputs,
                    std::vector<Tensor>* outputs, std::vector<Session::OpProfile>* profile);

  const CudaProgram& program_;
  cuda::Stream stream_;
  Event start_, stop_;
  bool use_graphs_;
  std::vector<std::unique_ptr<DevicePlan>> plans_;  // most recently used last
  Session::DeviceRunInfo last_run_;
};

class CudaProgram : public DeviceProgram {
 public:
  CudaProgram(const LoadedModule& module, std::vector<std::unique_ptr<CudaOpExecutor>> executors)
      : module_(module), executors_(std::move(executors)) {
    const ModuleDesc& d = module.desc();
    for (size_t i = 0; i < d.slots.size(); ++i) {
      if (d.slots[i].kind == SlotKind::kInput) input_slots_.push_back(static_cast<int32_t>(i));
      if (d.slots[i].kind == SlotKind::kOutput) output_slots_.push_back(static_cast<int32_t>(i));
    }
  }

  Expected<std::unique_ptr<DeviceRunner>> NewRunner(const SessionOptions& options) const override {
    OCTET_ASSIGN_OR_RETURN(cuda::Stream stream, cuda::Stream::Create());
    OCTET_ASSIGN_OR_RETURN(Event start, Event::Create());
    OCTET_ASSIGN_OR_RETURN(Event stop, Event::Create());
    auto runner = std::make_unique<CudaRunner>(*this, std::move(stream), std::move(start),
                                               std::move(stop), options.cuda_graphs);
    OCTET_RETURN_IF_ERROR(runner->PlanFor(desc().memory_plan.reference_dims).status());
    return std::unique_ptr<DeviceRunner>(std::move(runner));
  }

  const ModuleDesc& desc() const { return module_.desc(); }
  const std::string& source() const { return module_.source(); }
  const std::vector<std::unique_ptr<CudaOpExecutor>>& executors() const { return executors_; }
  const std::vector<int32_t>& input_slots() const { return input_slots_; }
  const std::vector<int32_t>& output_slots() const { return output_slots_; }

 private:
  const LoadedModule& module_;  // owned by the Module, which outlives its sessions
  std::vector<std::unique_ptr<CudaOpExecutor>> executors_;
  std::vector<int32_t> input_slots_, output_slots_;
};

Expected<DevicePlan*> CudaRunner::PlanFor(const std::map<std::string, int64_t>& symbols) {
  for (size_t i = 0; i < plans_.size(); ++i)
    if (plans_[i]->symbols == symbols) {
      std::rotate(plans_.begin() + i, plans_.begin() + i + 1, plans_.end());
      return plans_.back().get();
    }
  const ModuleDesc& d = program_.desc();
  OCTET_ASSIGN_OR_RETURN(ArenaPlan layout, PlanArenaLayout(d, symbols));
  auto plan = std::make_unique<DevicePlan>();
  plan->symbols = symbols;
  plan->arena_bytes = layout.arena_size;
  plan->values.resize(d.slots.size());
  plan->io_bytes.assign(d.slots.size(), 0);
  std::vector<int64_t> offsets = layout.offsets;
  int64_t end = AlignUp(layout.arena_size, kIoAlignment);
  for (size_t i = 0; i < d.slots.size(); ++i) {
    const TensorSlot& s = d.slots[i];
    DeviceTensor& v = plan->values[i];
    v.dtype = s.dtype;
    if (s.kind == SlotKind::kConstant) continue;
    v.dims = SlotDimsAt(s, symbols);
    if (v.dims.empty() && s.shape.rank() > 0)
      return Unimplemented("slot '", s.name, "' of ", program_.source(), " has dims ",
                           s.shape.ToString(), " that the inputs do not fix (at ",
                           SymbolsText(symbols),
                           "); cuda modules need every size known before "
                           "the run");
    if (s.kind == SlotKind::kActivation) {
      if (!layout.InArena(static_cast<int32_t>(i)))
        return Internal("activation '", s.name, "' has no place in the arena plan");
      continue;
    }
    plan->io_bytes[i] = DTypeStorageBytes(s.dtype, v.numel());
    offsets[i] = end;
    end = AlignUp(end + plan->io_bytes[i], kIoAlignment);
  }
  auto memory = cuda::DeviceBuffer::Allocate(static_cast<size_t>(end));
  if (!memory.ok())
    return memory.status().WithContext("device arena of " + std::to_string(end) + " bytes for " +
                                       program_.source() + " at " + SymbolsText(symbols));
  plan->memory = std::move(*memory);
  auto* base = static_cast<uint8_t*>(plan->memory.data());
  for (size_t i = 0; i < d.slots.size(); ++i)
    if (offsets[i] >= 0) plan->values[i].data = base + offsets[i];
  if (plans_.size() >= kMaxPlans) plans_.erase(plans_.begin());  // least recently used
  plans_.push_back(std::move(plan));
  return plans_.back().get();
}

// The op sequence, enqueued on the stream (also while capturing).
Status CudaRunner::RunOps(const DevicePlan& plan) const {
  const ModuleDesc& d = program_.desc();
  std::vector<DeviceTensor> in, out;
  for (size_t k = 0; k < d.ops.size(); ++k) {
    const ModuleOp& op = d.ops[k];
    in.clear();
    out.clear();
    for (int32_t s : op.inputs) in.push_back(s >= 0 ? plan.values[s] : DeviceTensor());
    for (int32_t s : op.outputs) out.push_back(plan.values[s]);
    OCTET_RETURN_IF_ERROR(program_.executors()[k]->Run(in, out, stream_.get()));
  }
  return Status::Ok();
}

// Eager, with an event pair around every op.
Status CudaRunner::RunProfiled(const DevicePlan& plan, std::vector<Session::OpProfile>* profile,
                               float* total_ms) {
  const ModuleDesc& d = program_.desc();
  std::vector<Event> events;
  for (size_t k = 0; k <= d.ops.size(); ++k) {
    OCTET_ASSIGN_OR_RETURN(Event e, Event::Create());
    events.push_back(std::move(e));
  }
  std::vector<DeviceTensor> in, out;
  OCTET_CUDA_RETURN_IF_ERROR(cudaEventRecord(events[0].get(), stream_.get()));
  for (size_t k = 0; k < d.ops.size(); ++k) {
    const ModuleOp& op = d.ops[k];
    in.clear();
    out.clear();
    for (int32_t s : op.inputs) in.push_back(s >= 0 ? plan.values[s] : DeviceTensor());
    for (int32_t s : op.outputs) out.push_back(plan.values[s]);
    OCTET_RETURN_IF_ERROR(program_.executors()[k]->Run(in, out, stream_.get()));
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventRecord(events[k + 1].get(), stream_.get()));
  }
  OCTET_RETURN_IF_ERROR(stream_.Synchronize());
  for (size_t k = 0; k < d.ops.size(); ++k) {
    float ms = 0;
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, events[k].get(), events[k + 1].get()));
    (*profile)[k].calls += 1;
    (*profile)[k].total_ms += ms;
  }
  OCTET_CUDA_RETURN_IF_ERROR(
      cudaEventElapsedTime(total_ms, events.front().get(), events.back().get()));
  return Status::Ok();
}

// Records the op sequence as a graph. Thread-local capture mode: other
// threads' sessions may keep calling unsafe APIs (cudaMalloc) meanwhile.
Status CudaRunner::Capture(DevicePlan& plan) {
  OCTET_CUDA_RETURN_IF_ERROR(
      cudaStreamBeginCapture(stream_.get(), cudaStreamCaptureModeThreadLocal));
  Status ops = RunOps(plan);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream_.get(), &graph);
  if (!ops.ok()) {
    if (graph != nullptr) (void)cudaGraphDestroy(graph);
    return ops.WithContext("capturing a CUDA graph");
  }
  OCTET_CUDA_RETURN_IF_ERROR(ended);
  const cudaError_t made = cudaGraphInstantiate(&plan.graph, graph, 0);
  (void)cudaGraphDestroy(graph);
  OCTET_CUDA_RETURN_IF_ERROR(made);
  return Status::Ok();
}

Status CudaRunner::RunAndCopy(DevicePlan& plan, const std::vector<const Tensor*>& inputs,
                              std::vector<Tensor>* outputs,
                              std::vector<Session::OpProfile>* profile) {
  const ModuleDesc& d = program_.desc();
  cudaStream_t stream = stream_.get();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int32_t slot = program_.input_slots()[i];
    const int64_t bytes = inputs[i]->nbytes();
    if (bytes != plan.io_bytes[slot])
      return Internal("input '", d.slots[slot].name, "' has ", bytes, " bytes, its place ",
                      plan.io_bytes[slot]);
    if (bytes > 0)
      OCTET_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(plan.values[slot].data, inputs[i]->raw(),
                                                 static_cast<size_t>(bytes), cudaMemcpyHostToDevice,
                                                 stream));
  }
  last_run_.graph_replayed = false;
  float ms = 0;
  if (profile != nullptr) {
    OCTET_RETURN_IF_ERROR(RunProfiled(plan, profile, &ms));
  } else {
    // The first run at a shape is eager (so that kernel errors are reported
    // as themselves, not as a failed capture); later ones replay its graph.
    if (use_graphs_ && plan.eager_ran && plan.graph == nullptr)
      OCTET_RETURN_IF_ERROR(Capture(plan));
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventRecord(start_.get(), stream));
    if (plan.graph != nullptr) {
      OCTET_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(plan.graph, stream));
      last_run_.graph_replayed = true;
    } else {
      OCTET_RETURN_IF_ERROR(RunOps(plan));
    }
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventRecord(stop_.get(), stream));
  }
  outputs->clear();
  for (int32_t slot : program_.output_slots()) {
    const DeviceTensor& v = plan.values[slot];
    Tensor t(v.dtype, v.dims);
    if (t.nbytes() > 0)
      OCTET_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(t.raw(), v.data, static_cast<size_t>(t.nbytes()),
                                                 cudaMemcpyDeviceToHost, stream));
    outputs->push_back(std::move(t));
  }
  // Kernel faults surface here, named by the synchronising call.
  OCTET_RETURN_IF_ERROR(stream_.Synchronize());
  plan.eager_ran = true;
  if (profile == nullptr)
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, start_.get(), stop_.get()));
  last_run_.device_ms = ms;
  last_run_.arena_bytes = plan.arena_bytes;
  last_run_.used_module_plan = plan.symbols == d.memory_plan.reference_dims;
  return Status::Ok();
}

Expected<std::vector<Tensor>> CudaRunner::Run(const std::vector<const Tensor*>& inputs,
                                              const std::map<std::string, int64_t>& symbols,
                                              std::vector<Session::OpProfile>* profile) {
  OCTET_ASSIGN_OR_RETURN(DevicePlan * plan, PlanFor(symbols));
  std::vector<Tensor> outputs;
  Status s = RunAndCopy(*plan, inputs, &outputs, profile);
  if (!s.ok()) {
    // Leave the stream idle for the next run; a sticky error (a kernel
    // fault) keeps failing every later call, as CUDA defines it.
    (void)cudaStreamSynchronize(stream_.get());
    return s.WithContext(program_.source());
  }
  return outputs;
}

}  // namespace

bool IsDeviceTarget(const std::string& target) { return target == "cuda"; }

Status CheckDeviceRequirements(const LoadedModule& m) {
  const ModuleDesc& d = m.desc();
  for (const auto& [key, value] : d.requirements) {
    if (key == "target" && value == d.target) continue;
    if (key == "cuda_arch" && value == kCudaArch) continue;
    if (key == "cudnn" && value == "9" && cuda::CudnnConv::Built()) continue;
    if (key == "cudnn")
      return Unimplemented(m.source(), " runs its float convolutions on cuDNN ", value,
                           ", which this runtime was built without: compile the model with "
                           "`--cuda-conv im2col`, or rebuild Octet with cuDNN 9");
    return Unimplemented(m.source(), " requires ", key, "=", value,
                         ", which this runtime does not provide (it has cuda_arch=", kCudaArch,
                         ")");
  }
  std::string reason;
  if (!cuda::DeviceAvailable(&reason))
    return NotFound(m.source(), " is a cuda module and this machine has no usable CUDA device (",
                    reason, ")");
  OCTET_ASSIGN_OR_RETURN(cuda::DeviceProperties p, cuda::GetDeviceProperties());
  if (p.compute_capability() != 90)
    return Unimplemented(m.source(), " needs a ", kCudaArch,
                         " GPU (compute capability 9.0, "
                         "Hopper); device ",
                         p.ToString(), " is not one");
  return Status::Ok();
}

Expected<int64_t> DeviceMemoryInUseBytes() {
  size_t free = 0, total = 0;
  OCTET_CUDA_RETURN_IF_ERROR(cudaMemGetInfo(&free, &total));
  return static_cast<int64_t>(total - free);
}

Expected<std::shared_ptr<const DeviceProgram>> CreateDeviceProgram(
    const LoadedModule& module, const std::vector<Tensor>& constants) {
  const ModuleDesc& d = module.desc();
  std::vector<std::unique_ptr<CudaOpExecutor>> executors;
  for (const ModuleOp& op : d.ops) {
    OCTET_ASSIGN_OR_RETURN(std::unique_ptr<CudaOpExecutor> e,
                           CreateCudaOpExecutor(d, op, constants));
    executors.push_back(std::move(e));
  }
  for (const TensorSlot& s : d.slots)
    if (s.kind == SlotKind::kActivation && s.dynamic)
      return Unimplemented("activation '", s.name, "' of ", module.source(),
                           " is dynamic (its size depends on data); cuda modules need every size "
                           "known before the run");
  return std::shared_ptr<const DeviceProgram>(new CudaProgram(module, std::move(executors)));
}

}  // namespace octet::runtime
