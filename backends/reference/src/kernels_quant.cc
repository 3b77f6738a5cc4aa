// placeholder until the kernels land
#include "octet/reference/kernel.h"
namespace octet::reference {
void RegisterQuantKernels(KernelRegistry&) {}
}  // namespace octet::reference
