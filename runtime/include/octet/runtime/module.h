// The embeddable runtime over compiled modules (docs/module-format.md):
//
//   auto module = octet::runtime::Module::Load("model.octet");   // once
//   auto session = octet::runtime::Session::Create(*module);     // once per thread
//   auto outputs = (*session)->Run({{"input", tensor}});          // many times
//
// Thread safety: a Module is immutable after Load and may be shared by any
// number of threads and Sessions (weights are mapped once and shared). A
// Session owns mutable per-run state (its activation arena), so give each
// thread its own Session; concurrent Run calls on one Session are serialised
// by a mutex rather than racing, so they are safe but do not run in parallel.
//
// Memory: a Session allocates its arena once, sized by the module's memory
// plan for the reference values of the symbolic dims (usually N=1). The first
// run at other dims (another batch size) plans the arena for them with the
// same planner and allocates it; later runs at those dims reuse it (a session
// keeps the plans of its last few input shapes). Optimised kernels (x86)
// write into their planned place directly; reference kernels allocate their
// outputs, which are then copied into place. Outputs are always separate
// tensors owned by the caller.
//
// cuda modules (docs/cuda-backend.md, "Lowering and runtime") keep the same
// host API: Load uploads the weights to the GPU once; a Session owns a CUDA
// stream and a device arena per input shape (allocated once per shape, as
// above); Run copies the inputs to the device, runs every op there (replaying
// a CUDA graph from the second run at a shape), and copies the outputs back
// before it returns. Loading one on a machine without a suitable GPU fails
// with the reason.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "octet/module/module.h"
#include "octet/runtime/op_executor.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::runtime {

struct ArenaPlan;     // runtime/src/arena_plan.h
class DeviceProgram;  // runtime/src/device_program.h
class DeviceRunner;

struct TensorInfo {
  std::string name;
  DType dtype = DType::kUndefined;
  Shape shape;  // static, symbolic ("N") or unknown dims
};

class Module {
 public:
  // Loads and checks the file (LoadModule), refuses targets and requirements
  // this runtime cannot provide, and creates every op's executor once. An
  // unknown kernel id is an error naming the op and the id.
  static Expected<std::shared_ptr<const Module>> Load(const std::string& path,
                                                      const LoadOptions& options = {});

  const std::string& target() const { return loaded_.desc().target; }
  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  const LoadedModule& loaded() const { return loaded_; }
  // Whether the ops run on a device (target cuda) rather than on the host.
  bool on_device() const { return device_ != nullptr; }

  // Seeded random inputs (as ReferenceSession::MakeRandomInputs, so a .onnx
  // and its .octet get the same data); symbolic dims take `symbolic_dim`.
  Expected<std::map<std::string, Tensor>> MakeRandomInputs(uint64_t seed,
                                                           int64_t symbolic_dim = 1) const;

 private:
  friend class Session;
  explicit Module(LoadedModule loaded) : loaded_(std::move(loaded)) {}
  Status Bind();

  LoadedModule loaded_;
  std::vector<TensorInfo> inputs_, outputs_;
  std::vector<int32_t> input_slots_, output_slots_;
  std::vector<Tensor> constants_;                       // per slot; views of the weight sections
  std::vector<std::unique_ptr<OpExecutor>> executors_;  // per op
  std::vector<std::vector<int32_t>> release_after_;     // per op: activations last read there
  // Device targets (cuda): the ops' device executors, instead of executors_.
  std::shared_ptr<const DeviceProgram> device_;
};

struct SessionOptions {
  int num_threads = 0;  // threads per kernel; 0: all hardware threads
  // Time every op of every run (a clock read before and after each op).
  bool profile = false;
  // cuda modules: replay each input shape's op sequence as a CUDA graph from
  // its second run on (profiled runs stay eager).
  bool cuda_graphs = true;
};

// Bytes of device memory in use on the current CUDA device: cudaMemGetInfo's
// total minus free, so every process's allocations, the CUDA context's and
// the libraries' included. The difference across Module::Load and a first
// Session::Run is what a module costs on the device (`octet bench` prints
// it). Unimplemented in a runtime built without CUDA; an error without a GPU.
Expected<int64_t> DeviceMemoryInUse();

class Session {
 public:
  static Expected<std::unique_ptr<Session>> Create(std::shared_ptr<const Module> module,
                                                   const SessionOptions& options = {});

  // Inputs by name. Missing or unknown names, and dtypes or shapes that do not
  // match the module's inputs (symbolic dims bind consistently), are errors.
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& inputs);

  const Module& module() const { return *module_; }
  int64_t arena_bytes() const { return module_->loaded().desc().memory_plan.arena_size; }
  // Whether the last successful Run used the module's own (compile-time)
  // arena plan, i.e. ran at the plan's reference dims.
  bool last_run_used_arena() const { return last_run_used_arena_; }
  // Bytes of the arena the last Run used (its plan for those input dims).
  int64_t last_run_arena_bytes() const { return last_run_arena_bytes_; }

  // Per op, in module order, when profiling: calls and time summed over runs
  // (the op's kernel plus placing its outputs).
  struct OpProfile {
    std::string name, kernel;
    int64_t calls = 0;
    double total_ms = 0;
  };
  const std::vector<OpProfile>& profile() const { return profile_; }
  void ResetProfile();

  // Device modules (cuda): what the last successful Run did on the device.
  struct DeviceRunInfo {
    // From the first op's start to the last op's end (CUDA events), copies
    // excluded; profiled runs are eager with an event pair per op.
    double device_ms = 0;
    bool graph_replayed = false;  // the ops ran as one CUDA graph
    int64_t arena_bytes = 0;      // of the device arena the run used
    bool used_module_plan = false;
  };
  // Null for host targets (reference, x86).
  const DeviceRunInfo* last_device_run() const;

  ~Session();

 private:
  Session(std::shared_ptr<const Module> module, int num_threads, bool profile);
  Status CheckInputs(const std::map<std::string, Tensor>& inputs,
                     std::map<std::string, int64_t>* symbols);
  Expected<const ArenaPlan*> PlanFor(const std::map<std::string, int64_t>& symbols);
  void StoreOutput(int32_t slot, Tensor t, const ArenaPlan& plan);
  void BindArenaOutputs(const ModuleOp& op, std::vector<Tensor>& outs, const ArenaPlan& plan);
  Expected<std::map<std::string, Tensor>> RunLocked(const std::map<std::string, Tensor>& inputs);
  Expected<std::map<std::string, Tensor>> RunOnDevice(
      const std::map<std::string, int64_t>& symbols);

  std::shared_ptr<const Module> module_;
  int num_threads_;
  // Arena plans by input dims, most recently used last (at most kMaxPlans).
  static constexpr size_t kMaxPlans = 4;
  std::vector<std::unique_ptr<ArenaPlan>> plans_;
  std::vector<Tensor> values_;  // per slot, during a run
  std::mutex mu_;               // Run is not reentrant: serialise it
  bool profiling_ = false;
  std::vector<OpProfile> profile_;
  bool last_run_used_arena_ = false;
  int64_t last_run_arena_bytes_ = 0;
  std::unique_ptr<DeviceRunner> device_runner_;  // device modules only
};

}  // namespace octet::runtime
