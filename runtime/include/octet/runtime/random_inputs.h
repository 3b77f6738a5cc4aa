// Seeded random input data, shared by ReferenceSession and runtime::Module so
// that `octet run` gives a model and its compiled module the same inputs.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "octet/ir.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

// Floats uniform in [-1, 1), integers in [0, 10), bools fair coins; symbolic
// dims take `symbolic_dim`. Unknown ranks or dims are errors naming the input.
Expected<std::map<std::string, Tensor>> MakeRandomInputs(
    const std::vector<std::pair<std::string, TensorType>>& inputs, uint64_t seed,
    int64_t symbolic_dim);

}  // namespace octet
