// Reduction and softmax kernels (reduce.h). Both are memory-bound: a warp
// reads a contiguous row 32 floats at a time; in the column kernel a warp
// reduces 32 neighbouring outputs, so it reads 32 neighbouring floats per step.
#include <cmath>

#include "octet/cuda/cuda_status.h"
#include "reduce_kernel.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// Sums in double; max in f32 (NaN wins, as numpy).
template <ReduceOp kOp>
struct Acc {
  using T = double;
  static __device__ T Init() { return 0.0; }
  static __device__ T Step(T acc, float v) { return acc + static_cast<double>(v); }
  static __device__ T Merge(T a, T b) { return a + b; }
  static __device__ float Finish(T acc, int64_t count) {
    return kOp == ReduceOp::kMean ? static_cast<float>(acc / static_cast<double>(count))
                                  : static_cast<float>(acc);
  }
};

template <>
struct Acc<ReduceOp::kMax> {
  using T = float;
  static __device__ T Init() { return -INFINITY; }
  static __device__ T Step(T acc, float v) { return (v > acc || v != v) ? v : acc; }
  static __device__ T Merge(T a, T b) { return (b > a || b != b) ? b : a; }
  static __device__ float Finish(T acc, int64_t) { return acc; }
};

__device__ __forceinline__ int64_t Offset(int64_t index, int rank, const int64_t* dims,
                                          const int64_t* strides) {
  if (rank == 1) return index * strides[0];
  int64_t off = 0;
#pragma unroll
  for (int d = kMaxReduceRank - 1; d >= 0; --d) {
    if (d >= rank) continue;
    const int64_t q = index / dims[d];
    off += (index - q * dims[d]) * strides[d];
    index = q;
  }
  return off;
}

// One warp per output; the innermost reduced dim is contiguous.
template <ReduceOp kOp>
__global__ void __launch_bounds__(kThreads)
    ReduceRowsKernel(const ReduceParams p, const float* __restrict__ x, float* __restrict__ y) {
  using A = Acc<kOp>;
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * kWarps;
  for (int64_t o = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32; o < p.outputs; o += warps) {
    const float* base = x + Offset(o, p.kept_rank, p.kept_dims, p.kept_strides);
    typename A::T acc = A::Init();
    for (int64_t r = lane; r < p.count; r += 32)
      acc = A::Step(acc, base[Offset(r, p.reduced_rank, p.reduced_dims, p.reduced_strides)]);
#pragma unroll
    for (int s = 16; s > 0; s /= 2) acc = A::Merge(acc, __shfl_xor_sync(0xffffffffu, acc, s));
    if (lane == 0) y[o] = A::Finish(acc, p.count);
  }
}

// 32 neighbouring outputs per block (neighbouring in x, so each warp reads
// 32 neighbouring floats per step), each reduced by kWarps threads that take
// every kWarps-th reduced element, then combined in a fixed order through
// shared memory: [1, 256, 64, 64] over the channels (SAM's LayerNorm2d) is
// 128 blocks of 32-step loops instead of 16 blocks of 256-step loops.
template <ReduceOp kOp>
__global__ void __launch_bounds__(kThreads)
    ReduceColumnsKernel(const ReduceParams p, const float* __restrict__ x, float* __restrict__ y) {
  using A = Acc<kOp>;
  __shared__ typename A::T partial[kWarps][32];
  const int lane = threadIdx.x % 32, part = threadIdx.x / 32;
  for (int64_t first = int64_t{blockIdx.x} * 32; first < p.outputs;
       first += int64_t{gridDim.x} * 32) {
    const int64_t o = first + lane;
    typename A::T acc = A::Init();
    if (o < p.outputs) {
      const float* base = x + Offset(o, p.kept_rank, p.kept_dims, p.kept_strides);
      for (int64_t r = part; r < p.count; r += kWarps)
        acc = A::Step(acc, base[Offset(r, p.reduced_rank, p.reduced_dims, p.reduced_strides)]);
    }
    partial[part][lane] = acc;
    __syncthreads();
    if (part == 0 && o < p.outputs) {
#pragma unroll
      for (int w = 1; w < kWarps; ++w) acc = A::Merge(acc, partial[w][lane]);
      y[o] = A::Finish(acc, p.count);
    }
    __syncthreads();  // partial is rewritten by the next group
  }
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int s = 16; s > 0; s /= 2) {
    const float o = __shfl_xor_sync(0xffffffffu, v, s);
    v = (o > v || o != o) ? o : v;
  }
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int s = 16; s > 0; s /= 2) v += __shfl_xor_sync(0xffffffffu, v, s);
  return v;
}

// One warp per row of k: max, sum of exp, then the normalised exps.
__global__ void __launch_bounds__(kThreads)
    SoftmaxKernel(const float* x, int64_t rows, int64_t k, float* y) {
  const int lane = threadIdx.x % 32;
  const int64_t warps = int64_t{gridDim.x} * kWarps;
  for (int64_t row = int64_t{blockIdx.x} * kWarps + threadIdx.x / 32; row < rows; row += warps) {
    const float* in = x + row * k;
    float* out = y + row * k;
    float m = -INFINITY;
    for (int64_t i = lane; i < k; i += 32) {
      const float v = in[i];
      m = (v > m || v != v) ? v : m;
    }
    m = WarpMax(m);
    float sum = 0.f;
    for (int64_t i = lane; i < k; i += 32) sum += expf(in[i] - m);
    sum = WarpSum(sum);
    for (int64_t i = lane; i < k; i += 32) out[i] = __fdiv_rn(expf(in[i] - m), sum);
  }
}

unsigned BlocksFor(int64_t work, int per_block) {
  const int64_t blocks = (work + per_block - 1) / per_block;
  return static_cast<unsigned>(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

template <ReduceOp kOp>
void Reduce(const ReduceParams& p, const float* x, float* y, cudaStream_t stream) {
  if (p.inner_reduced)
    ReduceRowsKernel<kOp><<<BlocksFor(p.outputs, kWarps), kThreads, 0, stream>>>(p, x, y);
  else
    ReduceColumnsKernel<kOp><<<BlocksFor(p.outputs, 32), kThreads, 0, stream>>>(p, x, y);
}

}  // namespace

Status LaunchReduce(ReduceOp op, const ReduceParams& p, const float* x, float* y,
                    cudaStream_t stream) {
  switch (op) {
    case ReduceOp::kSum:
      Reduce<ReduceOp::kSum>(p, x, y, stream);
      break;
    case ReduceOp::kMean:
      Reduce<ReduceOp::kMean>(p, x, y, stream);
      break;
    case ReduceOp::kMax:
      Reduce<ReduceOp::kMax>(p, x, y, stream);
      break;
    default:
      return InvalidArgument("ReduceF32: unknown op ", static_cast<int>(op));
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("ReduceKernel");
  return Status::Ok();
}

Status LaunchSoftmax(const float* x, int64_t rows, int64_t k, float* y, cudaStream_t stream) {
  SoftmaxKernel<<<BlocksFor(rows, kWarps), kThreads, 0, stream>>>(x, rows, k, y);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("SoftmaxKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
