// Bf16Attention kernels for head dims 80, 96, 112 and 128 (attention_kernel.cuh).
#include "attention_kernel.cuh"

namespace octet::cuda::attention {

OCTET_ATTENTION_INSTANTIATE(80)
OCTET_ATTENTION_INSTANTIATE(96)
OCTET_ATTENTION_INSTANTIATE(112)
OCTET_ATTENTION_INSTANTIATE(128)

}  // namespace octet::cuda::attention
