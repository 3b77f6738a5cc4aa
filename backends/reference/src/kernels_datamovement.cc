// placeholder until the kernels land
#include "octet/reference/kernel.h"
namespace octet::reference {
void RegisterDataMovementKernels(KernelRegistry&) {}
}  // namespace octet::reference
