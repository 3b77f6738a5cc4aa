// Modules whose ops all run on an accelerator (target "cuda") do not go
// through OpExecutor, whose contract is host tensors: their ops take device
// pointers, and the whole op sequence runs on one stream, possibly replayed
// as a CUDA graph. The Module holds a DeviceProgram instead of host
// executors (built once at load: weights uploaded, kernels created), and
// each Session gets a DeviceRunner from it (its stream and device arenas).
// Session::Run checks the inputs, then hands them to the runner; the host
// API is the same for every target.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octet/module/module.h"
#include "octet/runtime/module.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::runtime {

class DeviceRunner {
 public:
  virtual ~DeviceRunner() = default;
  // `inputs`: the module's inputs in module order, already checked against
  // its input types, with `symbols` the values of their symbolic dims.
  // Copies them to the device, runs every op, copies the outputs back and
  // returns them in module order (host tensors the caller owns). With
  // `profile`, per-op device time is added to it (one entry per op).
  virtual Expected<std::vector<Tensor>> Run(const std::vector<const Tensor*>& inputs,
                                            const std::map<std::string, int64_t>& symbols,
                                            std::vector<Session::OpProfile>* profile) = 0;
  // Of the last successful Run.
  virtual const Session::DeviceRunInfo& last_run() const = 0;
};

class DeviceProgram {
 public:
  virtual ~DeviceProgram() = default;
  // Allocates the device arena of the module's own plan now, so that a
  // failure shows at Session::Create.
  virtual Expected<std::unique_ptr<DeviceRunner>> NewRunner(
      const SessionOptions& options) const = 0;
};

// Whether `target`'s ops run on a device ("cuda"), whether or not this
// runtime was built with its backend (device_program_none.cc refuses then).
bool IsDeviceTarget(const std::string& target);
// Refuses, with the reason, a device module whose requirements this machine
// does not meet (no GPU, another GPU architecture, a runtime built without
// CUDA, an unknown requirement).
Status CheckDeviceRequirements(const LoadedModule& module);
// Bytes of device memory in use on the current device (cudaMemGetInfo's
// total - free); Unimplemented in a runtime built without CUDA.
Expected<int64_t> DeviceMemoryInUseBytes();
// Creates every op's device executor and uploads the weights.
Expected<std::shared_ptr<const DeviceProgram>> CreateDeviceProgram(
    const LoadedModule& module, const std::vector<Tensor>& constants);

}  // namespace octet::runtime
