// Elementwise f32 kernels of the cuda target: binary ops with NumPy
// broadcasting and unary ops. Memory-bound: same-shape operands and scalars
// take flat float4 kernels (when 16-byte aligned); other broadcasts a kernel
// over at most kMaxElementwiseRank merged dims with per-operand strides (0
// along broadcast dims), so a bias vector [K] or a per-channel [C,1,1] costs
// one or two index divisions per element. The op is a template parameter of
// the kernels (a functor on float), so a bf16 storage variant would only add
// load/store conversions.
//
// Results follow the reference interpreter's IEEE semantics: division and
// square root are correctly rounded (__fdiv_rn, __fsqrt_rn), Pow with
// exponent 2 is x*x, 0.5 is sqrt; exp, erf, tanh and pow otherwise use
// CUDA's libdevice functions (within 2 ulp of the exact value).
//
// Run only enqueues on `stream`; out may alias an operand of the output's
// shape (each element is read before it is written, by the same thread).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "octet/status.h"

namespace octet::cuda {

constexpr int kMaxElementwiseRank = 6;

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kPow, kMax, kMin };
enum class UnaryOp { kRelu, kSqrt, kErf, kExp, kNeg, kSigmoid, kTanh, kReciprocal, kAbs };

const char* BinaryOpName(BinaryOp op);  // "add", ...
const char* UnaryOpName(UnaryOp op);    // "relu", ...

// out = a op b, with a and b broadcast (NumPy rules: dims right-aligned, each
// 1 or the output's) to out_dims, which must be their broadcast shape. Rank
// at most kMaxElementwiseRank after merging neighbouring dims that broadcast
// alike.
Status BinaryF32(BinaryOp op, const float* a, const std::vector<int64_t>& a_dims, const float* b,
                 const std::vector<int64_t>& b_dims, float* out,
                 const std::vector<int64_t>& out_dims, cudaStream_t stream);

// y[i] = op(x[i]) for i < n; y may alias x.
Status UnaryF32(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream);

}  // namespace octet::cuda
