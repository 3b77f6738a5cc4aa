// placeholder until the kernels land
#include "octet/reference/kernel.h"
namespace octet::reference {
void RegisterLinalgKernels(KernelRegistry&) {}
}  // namespace octet::reference
