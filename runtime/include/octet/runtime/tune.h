// Measured kernel choices for cuda modules (`octet compile --target cuda
// --tune`, on the GPU the module will run on): each int8 GEMM's tile is timed
// at the module's planned shape for every schedule the kernel has, and the
// fastest is stored in the op (attributes "tuned_tile" and "tuned_rows"); each
// int4 weight-only GEMM whose planned rows run a u4 kernel (not cuBLASLt) has
// its path's kernel shapes timed the same way ("tuned_int4_shape" and
// "tuned_rows"). Loading picks the stored choice without measuring. Runs at
// other row counts use the kernel's model. A module without the attributes
// runs as before.
#pragma once

#include <string>
#include <vector>

#include "octet/compile/compile.h"
#include "octet/status.h"

namespace octet::runtime {

struct TunedOp {
  std::string op;                  // the op's name
  int64_t m = 0, n = 0, k = 0;     // the GEMM's shape at the planned dims
  std::vector<std::string> tiles;  // the tiles (u4 kernel shapes) tried
  std::vector<double> ms;          // median device time of each
  std::string chosen;              // the fastest
  std::string model_choice;        // what the model would have picked
};

// Measures on the current GPU and annotates `module` (target "cuda").
// NotFound without a usable GPU, Unimplemented in a build without CUDA.
Expected<std::vector<TunedOp>> TuneCudaModule(CompiledModule* module);

}  // namespace octet::runtime
