// Bf16Attention kernels for head dims 16, 32, 48 and 64 (attention_kernel.cuh).
#include "attention_kernel.cuh"

namespace octet::cuda::attention {

OCTET_ATTENTION_INSTANTIATE(16)
OCTET_ATTENTION_INSTANTIATE(32)
OCTET_ATTENTION_INSTANTIATE(48)
OCTET_ATTENTION_INSTANTIATE(64)

}  // namespace octet::cuda::attention
