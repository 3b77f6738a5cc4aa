// placeholder until the kernels land
#include "octet/reference/kernel.h"
namespace octet::reference {
void RegisterConvPoolKernels(KernelRegistry&) {}
}  // namespace octet::reference
