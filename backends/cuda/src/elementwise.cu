// Elementwise f32 kernels: the op is a functor template parameter, so each
// (op, kernel shape) pair compiles to its own loop with no per-element
// branch on the op. Flat kernels take float4 when every pointer is 16-byte
// aligned and the count a multiple of 4; the broadcast kernel splits the flat
// index with 32-bit division when the output has fewer than 2^31 elements.
#include <cmath>

#include "elementwise_kernel.h"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

template <BinaryOp kOp>
__device__ __forceinline__ float Apply(float a, float b) {
  if constexpr (kOp == BinaryOp::kAdd) return __fadd_rn(a, b);
  if constexpr (kOp == BinaryOp::kSub) return __fsub_rn(a, b);
  if constexpr (kOp == BinaryOp::kMul) return __fmul_rn(a, b);
  if constexpr (kOp == BinaryOp::kDiv) return __fdiv_rn(a, b);
  if constexpr (kOp == BinaryOp::kPow) {
    if (b == 2.f) return __fmul_rn(a, a);
    if (b == 0.5f) return __fsqrt_rn(a);
    if (b == 1.f) return a;
    return powf(a, b);
  }
  // NaN in either operand gives NaN, as numpy's maximum / minimum.
  if constexpr (kOp == BinaryOp::kMax) return (a != a || b != b) ? a + b : fmaxf(a, b);
  if constexpr (kOp == BinaryOp::kMin) return (a != a || b != b) ? a + b : fminf(a, b);
  return 0.f;
}

template <UnaryOp kOp>
__device__ __forceinline__ float Apply(float x) {
  if constexpr (kOp == UnaryOp::kRelu) return x > 0.f ? x : (x != x ? x : 0.f);
  if constexpr (kOp == UnaryOp::kSqrt) return __fsqrt_rn(x);
  if constexpr (kOp == UnaryOp::kErf) return erff(x);
  if constexpr (kOp == UnaryOp::kExp) return expf(x);
  if constexpr (kOp == UnaryOp::kNeg) return -x;
  if constexpr (kOp == UnaryOp::kSigmoid) return __fdiv_rn(1.f, 1.f + expf(-x));
  if constexpr (kOp == UnaryOp::kTanh) return tanhf(x);
  if constexpr (kOp == UnaryOp::kReciprocal) return __frcp_rn(x);
  if constexpr (kOp == UnaryOp::kAbs) return fabsf(x);
  return 0.f;
}

__device__ __forceinline__ float4 Load4(const float* p, int64_t i, bool scalar) {
  if (scalar) {
    const float v = *p;
    return make_float4(v, v, v, v);
  }
  return reinterpret_cast<const float4*>(p)[i];
}

template <BinaryOp kOp>
__global__ void __launch_bounds__(kThreads)
    BinaryFlat4Kernel(const float* a, bool a_scalar, const float* b, bool b_scalar, float4* out,
                      int64_t n4) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n4; i += stride) {
    const float4 x = Load4(a, i, a_scalar), y = Load4(b, i, b_scalar);
    out[i] = make_float4(Apply<kOp>(x.x, y.x), Apply<kOp>(x.y, y.y), Apply<kOp>(x.z, y.z),
                         Apply<kOp>(x.w, y.w));
  }
}

template <BinaryOp kOp>
__global__ void __launch_bounds__(kThreads)
    BinaryFlatKernel(const float* a, bool a_scalar, const float* b, bool b_scalar, float* out,
                     int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n; i += stride)
    out[i] = Apply<kOp>(a[a_scalar ? 0 : i], b[b_scalar ? 0 : i]);
}

template <BinaryOp kOp, typename Index>
__global__ void __launch_bounds__(kThreads)
    BinaryBroadcastKernel(const BroadcastParams p, const float* a, const float* b, float* out) {
  const Index n = static_cast<Index>(p.numel);
  const Index stride = static_cast<Index>(gridDim.x) * kThreads;
  for (Index i = static_cast<Index>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    Index rest = i;
    int64_t ia = 0, ib = 0;
#pragma unroll
    for (int d = kMaxElementwiseRank - 1; d >= 0; --d) {
      if (d >= p.rank) continue;
      const Index size = static_cast<Index>(p.dims[d]);
      const Index q = rest / size;
      const int64_t idx = static_cast<int64_t>(rest - q * size);
      rest = q;
      ia += idx * p.a_strides[d];
      ib += idx * p.b_strides[d];
    }
    out[i] = Apply<kOp>(a[ia], b[ib]);
  }
}

template <UnaryOp kOp>
__global__ void __launch_bounds__(kThreads)
    UnaryFlat4Kernel(const float4* x, float4* y, int64_t n4) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n4; i += stride) {
    const float4 v = x[i];
    y[i] = make_float4(Apply<kOp>(v.x), Apply<kOp>(v.y), Apply<kOp>(v.z), Apply<kOp>(v.w));
  }
}

template <UnaryOp kOp>
__global__ void __launch_bounds__(kThreads) UnaryFlatKernel(const float* x, float* y, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * kThreads;
  for (int64_t i = int64_t{blockIdx.x} * kThreads + threadIdx.x; i < n; i += stride)
    y[i] = Apply<kOp>(x[i]);
}

unsigned BlocksFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <BinaryOp kOp>
void BinaryFlat(const float* a, bool a_scalar, const float* b, bool b_scalar, float* out, int64_t n,
                cudaStream_t stream) {
  if (n % 4 == 0 && Aligned16(out) && (a_scalar || Aligned16(a)) && (b_scalar || Aligned16(b)))
    BinaryFlat4Kernel<kOp><<<BlocksFor(n / 4), kThreads, 0, stream>>>(
        a, a_scalar, b, b_scalar, reinterpret_cast<float4*>(out), n / 4);
  else
    BinaryFlatKernel<kOp><<<BlocksFor(n), kThreads, 0, stream>>>(a, a_scalar, b, b_scalar, out, n);
}

template <BinaryOp kOp>
void BinaryBroadcast(const BroadcastParams& p, const float* a, const float* b, float* out,
                     cudaStream_t stream) {
  if (p.numel < (int64_t{1} << 31))
    BinaryBroadcastKernel<kOp, uint32_t><<<BlocksFor(p.numel), kThreads, 0, stream>>>(p, a, b, out);
  else
    BinaryBroadcastKernel<kOp, uint64_t><<<BlocksFor(p.numel), kThreads, 0, stream>>>(p, a, b, out);
}

template <UnaryOp kOp>
void Unary(const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n % 4 == 0 && Aligned16(x) && Aligned16(y))
    UnaryFlat4Kernel<kOp><<<BlocksFor(n / 4), kThreads, 0, stream>>>(
        reinterpret_cast<const float4*>(x), reinterpret_cast<float4*>(y), n / 4);
  else
    UnaryFlatKernel<kOp><<<BlocksFor(n), kThreads, 0, stream>>>(x, y, n);
}

// A switch over the run-time op calling CALL(op) with the op as a constant.
#define OCTET_BINARY_SWITCH(op, CALL)                                         \
  switch (op) {                                                               \
    case BinaryOp::kAdd:                                                      \
      CALL(BinaryOp::kAdd);                                                   \
      break;                                                                  \
    case BinaryOp::kSub:                                                      \
      CALL(BinaryOp::kSub);                                                   \
      break;                                                                  \
    case BinaryOp::kMul:                                                      \
      CALL(BinaryOp::kMul);                                                   \
      break;                                                                  \
    case BinaryOp::kDiv:                                                      \
      CALL(BinaryOp::kDiv);                                                   \
      break;                                                                  \
    case BinaryOp::kPow:                                                      \
      CALL(BinaryOp::kPow);                                                   \
      break;                                                                  \
    case BinaryOp::kMax:                                                      \
      CALL(BinaryOp::kMax);                                                   \
      break;                                                                  \
    case BinaryOp::kMin:                                                      \
      CALL(BinaryOp::kMin);                                                   \
      break;                                                                  \
    default:                                                                  \
      return InvalidArgument("BinaryF32: unknown op ", static_cast<int>(op)); \
  }

#define OCTET_UNARY_SWITCH(op, CALL)                                         \
  switch (op) {                                                              \
    case UnaryOp::kRelu:                                                     \
      CALL(UnaryOp::kRelu);                                                  \
      break;                                                                 \
    case UnaryOp::kSqrt:                                                     \
      CALL(UnaryOp::kSqrt);                                                  \
      break;                                                                 \
    case UnaryOp::kErf:                                                      \
      CALL(UnaryOp::kErf);                                                   \
      break;                                                                 \
    case UnaryOp::kExp:                                                      \
      CALL(UnaryOp::kExp);                                                   \
      break;                                                                 \
    case UnaryOp::kNeg:                                                      \
      CALL(UnaryOp::kNeg);                                                   \
      break;                                                                 \
    case UnaryOp::kSigmoid:                                                  \
      CALL(UnaryOp::kSigmoid);                                               \
      break;                                                                 \
    case UnaryOp::kTanh:                                                     \
      CALL(UnaryOp::kTanh);                                                  \
      break;                                                                 \
    case UnaryOp::kReciprocal:                                               \
      CALL(UnaryOp::kReciprocal);                                            \
      break;                                                                 \
    case UnaryOp::kAbs:                                                      \
      CALL(UnaryOp::kAbs);                                                   \
      break;                                                                 \
    default:                                                                 \
      return InvalidArgument("UnaryF32: unknown op ", static_cast<int>(op)); \
  }

}  // namespace

Status LaunchBinaryFlat(BinaryOp op, const float* a, bool a_scalar, const float* b, bool b_scalar,
                        float* out, int64_t n, cudaStream_t stream) {
#define OCTET_CALL(k) BinaryFlat<k>(a, a_scalar, b, b_scalar, out, n, stream)
  OCTET_BINARY_SWITCH(op, OCTET_CALL)
#undef OCTET_CALL
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("BinaryFlatKernel");
  return Status::Ok();
}

Status LaunchBinaryBroadcast(BinaryOp op, const BroadcastParams& p, const float* a, const float* b,
                             float* out, cudaStream_t stream) {
#define OCTET_CALL(k) BinaryBroadcast<k>(p, a, b, out, stream)
  OCTET_BINARY_SWITCH(op, OCTET_CALL)
#undef OCTET_CALL
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("BinaryBroadcastKernel");
  return Status::Ok();
}

Status LaunchUnary(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream) {
#define OCTET_CALL(k) Unary<k>(x, y, n, stream)
  OCTET_UNARY_SWITCH(op, OCTET_CALL)
#undef OCTET_CALL
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("UnaryFlatKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
