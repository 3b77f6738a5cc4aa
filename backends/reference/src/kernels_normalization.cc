// placeholder until the kernels land
#include "octet/reference/kernel.h"
namespace octet::reference {
void RegisterNormalizationKernels(KernelRegistry&) {}
}  // namespace octet::reference
