// TuneCudaModule in a build without the CUDA backend.
#include "octet/runtime/tune.h"

namespace octet::runtime {

Expected<std::vector<TunedOp>> TuneCudaModule(CompiledModule*) {
  return Unimplemented("--tune measures kernels on a GPU; this octet was built without CUDA");
}

}  // namespace octet::runtime
