// The integer and QLinear matrix/convolution kernels (kernels_quant_gemm.cc),
// registered by RegisterQuantKernels.
#pragma once

#include "octet/reference/kernel.h"

namespace octet::reference {

Status MatMulIntegerKernel(KernelContext& ctx);
Status ConvIntegerKernel(KernelContext& ctx);
Status QLinearMatMulKernel(KernelContext& ctx);
Status QLinearConvKernel(KernelContext& ctx);

}  // namespace octet::reference
