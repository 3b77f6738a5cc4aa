// The x86 backend's fp32 kernels (float_kernels.h, oneDNN) as a kernel
// provider for the reference interpreter (reference::InterpreterOptions::kernels)
// and for the ref.* ops of compiled x86 modules, so that the float ops the
// reference kernels run slowly run on oneDNN:
//
//   Conv                f32, 2-D, auto_pad NOTSET, any group / strides /
//                       dilations / pads, constant W, constant optional B
//                                                      => F32Conv2d (NHWC
//                       between two reorders; NCHW where oneDNN has no fast
//                       NHWC kernel)
//   MatMul              f32, A [..., M, K] x B [K, N], or both with batch dims
//                       that are equal or all 1 on one side => F32MatMul
//   Gemm                f32, transA 0, transB 0 or 1, alpha = beta = 1, C
//                       absent or constant [N] / [1, N] => F32MatMul (+bias)
//   Softmax             f32, over the last axis (opset-13 semantics)
//                                                      => F32Softmax
//   LayerNormalization  f32, axis the last one, constant Scale [C] and
//                       optional B [C], one output      => F32LayerNorm
//   Transpose           f32, rank 2..12                 => one oneDNN reorder
//                       (the input read through permuted strides)
//   Pow                 f32 x, exponent the scalar 2    => F32Eltwise square
//   Slice               f32, constant starts / ends / axes, unit steps
//                                                      => one reorder of the box
//   Pad                 f32, mode constant, value 0, constant pads >= 0
//                                                      => zero fill + one reorder
//   Add, Sub, Mul, Div  f32, numpy broadcasting          => F32Binary, where
//                       oneDNN has a fast kernel for the broadcast
//
// Anything else, and any configuration oneDNN refuses or would run on its own
// slow reference implementation ("ref:any"), runs the reference
// kernel (reference::KernelRegistry), so the provider never fails where the
// reference would succeed. Results agree with the reference kernels to fp32
// rounding, not bit for bit: the reference interpreter without a provider stays
// the ground truth.
//
// Kernels are created (oneDNN primitive, packed constant weights) on the first
// run of a node with given input dims and dtypes and cached in the provider
// under a mutex, keyed by (const Node*, input dims): one entry per node and
// distinct input shape, each with its own packed weights. Constant inputs (W,
// B, Scale) are read when the kernel is created. So a provider must not outlive
// the graph whose nodes it ran (nor see a node's constants change): make one
// per graph or per interpreter. Runs may happen from several threads at once;
// each sets its oneDNN thread count from the kernel context
// (SetKernelThreads).
//
// oneDNN's OpenMP threads spin for a while after each kernel (libgomp's
// default wait policy); reference kernels run next start their own threads
// and share the cores with the spinning ones. On a small machine that eats
// part of the gain; OMP_WAIT_POLICY=passive in the environment avoids it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "octet/reference/kernel.h"

namespace octet::x86 {

std::shared_ptr<const reference::KernelProvider> MakeFloatKernelProvider();

// What a provider from MakeFloatKernelProvider has prepared so far, one line
// per node and input shape, for logs and tests:
//   "Conv 'c1' (f32[1,8,9,9], f32[4,8,3,3], none): F32Conv2d ... [brgconv:avx2]"
//   "Conv 'c2' (f32[2,4,9], f32[5,4,3], none): reference kernel"
// Empty for any other provider.
std::vector<std::string> DescribeFloatKernels(const reference::KernelProvider& provider);

}  // namespace octet::x86
