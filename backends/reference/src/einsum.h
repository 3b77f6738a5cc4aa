// Einsum lives in its own file (it is the largest linalg kernel) and is
// registered by RegisterLinalgKernels.
#pragma once

#include "octet/reference/kernel.h"

namespace octet::reference {

Status EinsumKernel(KernelContext& ctx);

}  // namespace octet::reference
