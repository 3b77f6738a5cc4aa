// What `octet run` and `octet bench` share: one interface over an ONNX model
// (imported, simplified, run by the reference interpreter) and a compiled
// module (run by a runtime::Session), picked by the file's magic bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::cli {

class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  virtual Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& in) = 0;
  // Seeded random data for every input; symbolic dims take `batch`.
  virtual Expected<std::map<std::string, Tensor>> RandomInputs(uint64_t seed, int64_t batch) = 0;
  virtual std::vector<std::string> InputNames() const = 0;
  // "reference interpreter" or "compiled module (target reference)".
  virtual std::string Engine() const = 0;
  // Compiled modules opened with profiling: forget the runs so far, and the
  // `rows` slowest ops (and the time per kernel id) as a table.
  virtual void ResetProfile() {}
  virtual std::string ProfileTable(int rows) const { return ""; }
  // Device modules (cuda): the device time of the last run in ms (CUDA
  // events around its ops, host<->device copies excluded); -1 elsewhere.
  virtual double LastDeviceMs() const { return -1; }
  // Device modules (cuda): bytes of device memory in use now beyond what was
  // in use before the module was loaded (runtime::DeviceMemoryInUse); -1
  // elsewhere or when it cannot be read.
  virtual int64_t DeviceBytesSinceOpen() const { return -1; }
};

// True when the file starts with the compiled-module magic (OCTETMOD).
bool IsCompiledModule(const std::string& path);
// `threads` <= 0: all hardware threads.
Expected<std::unique_ptr<ModelRunner>> OpenModel(const std::string& path, int threads,
                                                 bool profile = false);

}  // namespace octet::cli
