// Device targets in a runtime built without CUDA (OCTET_CUDA off or no
// toolkit): cuda modules are recognised, and refused at load with the reason.
#include "device_program.h"

namespace octet::runtime {

bool IsDeviceTarget(const std::string& target) { return target == "cuda"; }

Status CheckDeviceRequirements(const LoadedModule& module) {
  return Unimplemented(module.source(), " is compiled for target '", module.desc().target,
                       "'; this runtime was built without CUDA (configure with -DOCTET_CUDA=ON "
                       "and the CUDA toolkit to run it)");
}

Expected<int64_t> DeviceMemoryInUseBytes() {
  return Unimplemented("device memory: this runtime was built without CUDA");
}

Expected<std::shared_ptr<const DeviceProgram>> CreateDeviceProgram(
    const LoadedModule& module, const std::vector<Tensor>& /*constants*/) {
  return CheckDeviceRequirements(module);
}

}  // namespace octet::runtime
