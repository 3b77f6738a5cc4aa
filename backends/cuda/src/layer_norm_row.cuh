// LayerNorm of one row, shared by the LayerNorm kernel (float_kernels.cu) and
// the fused LayerNorm + per-token quantization (per_token_quant_kernel.cu):
// both must give the same normalised values bit for bit, so that fusing the
// two changes no code. Hence one reduction order per row length (both kernels
// choose their shape with ChooseRowVecShape), and explicit round-to-nearest
// operations (no contraction into fma that the compiler might do differently
// in the two kernels).
//
// Two forms: the vectorised one (LayerNormRowVec: a group of 32 or 256
// threads per row, the row held in registers as 16-byte vectors, read once
// from memory) for row lengths that are a multiple of the vector, and the
// scalar one (LayerNormStats / LayerNormValue: one block of kLayerNormThreads
// per row, the row read three times) for the others. The row vectors and the
// group reductions are also used by the per-token quantization of bf16 rows.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

namespace octet::cuda {

constexpr int kLayerNormThreads = 256;

// The sum of v over the block, in a fixed order (warps by shuffles, then the
// warp sums in order), returned to every thread.
__device__ __forceinline__ float LayerNormBlockSum(float v) {
  __shared__ float warp_sum[kLayerNormThreads / 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  __syncthreads();  // warp_sum may still be read by a previous call
  if (threadIdx.x % 32 == 0) warp_sum[threadIdx.x / 32] = v;
  __syncthreads();
  v = 0.f;
#pragma unroll
  for (int w = 0; w < kLayerNormThreads / 32; ++w) v += warp_sum[w];
  return v;
}

struct LayerNormRowStats {
  float mean, inv_std;
};

// Mean, then the biased variance of the centred values (two passes, so a large
// mean does not cancel the variance away); IEEE sqrt and division, as the
// reference interpreter computes 1 / sqrt(var + epsilon).
__device__ __forceinline__ LayerNormRowStats LayerNormStats(const float* x, int64_t k,
                                                            float epsilon) {
  float sum = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kLayerNormThreads) sum += x[i];
  const float mean = __fdiv_rn(LayerNormBlockSum(sum), static_cast<float>(k));
  float squares = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kLayerNormThreads) {
    const float d = __fsub_rn(x[i], mean);
    squares = __fmaf_rn(d, d, squares);
  }
  const float var = __fdiv_rn(LayerNormBlockSum(squares), static_cast<float>(k));
  return {mean, __fdiv_rn(1.f, __fsqrt_rn(__fadd_rn(var, epsilon)))};
}

// (x - mean) * inv_std * scale (+ bias), rounded step by step.
__device__ __forceinline__ float LayerNormValue(float x, LayerNormRowStats s, float scale,
                                                const float* bias, int64_t i) {
  const float v = __fmul_rn(__fmul_rn(__fsub_rn(x, s.mean), s.inv_std), scale);
  return bias != nullptr ? __fadd_rn(v, bias[i]) : v;
}

// ---- Vectorised rows ----------------------------------------------------

// A row is read as 16-byte vectors (4 f32 or 8 bf16 values, kept as raw bits);
// thread `lane` of a group of kGroup threads holds vectors lane, lane + kGroup,
// lane + 2 kGroup, ... (at most kVecs of them), so loads and stores coalesce.
template <typename T>
constexpr int kRowVecElems = sizeof(uint4) / sizeof(T);

// One 16-byte vector at p: a single load when `aligned` (p 16-byte aligned),
// else element by element (the same values either way).
template <typename T>
__device__ __forceinline__ uint4 LoadRowVec(const T* p, bool aligned) {
  if (aligned) return *reinterpret_cast<const uint4*>(p);
  if constexpr (std::is_same_v<T, float>) {
    const unsigned* w = reinterpret_cast<const unsigned*>(p);
    return make_uint4(w[0], w[1], w[2], w[3]);
  } else {
    const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
    auto pair = [&](int i) { return unsigned{h[i]} | (unsigned{h[i + 1]} << 16); };
    return make_uint4(pair(0), pair(2), pair(4), pair(6));
  }
}

__device__ __forceinline__ unsigned RowVecWord(const uint4& v, int w) {
  return w == 0 ? v.x : w == 1 ? v.y : w == 2 ? v.z : v.w;
}

// Element c of a vector, as f32 (bf16 -> f32 is exact).
template <typename T>
__device__ __forceinline__ float RowVecElem(const uint4& v, int c) {
  if constexpr (std::is_same_v<T, float>) {
    return __uint_as_float(RowVecWord(v, c));
  } else {
    const unsigned w = RowVecWord(v, c / 2);
    return __uint_as_float(c % 2 == 0 ? w << 16 : w & 0xffff0000u);
  }
}

// Reductions over a group of 32 threads (a warp: shuffles only) or of
// kLayerNormThreads (the block: shuffles, then the warps' partial results in
// warp order through shared memory). The sum's order is fixed by kGroup.
template <int kGroup>
__device__ __forceinline__ float RowGroupSum(float v) {
  static_assert(kGroup == 32 || kGroup == kLayerNormThreads, "a warp or the block per row");
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v = __fadd_rn(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if constexpr (kGroup == 32) {
    return v;
  } else {
    __shared__ float part[kGroup / 32];
    __syncthreads();  // part may still be read by a previous call
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    v = part[0];
#pragma unroll
    for (int w = 1; w < kGroup / 32; ++w) v = __fadd_rn(v, part[w]);
    return v;
  }
}

template <int kGroup>
__device__ __forceinline__ float RowGroupMax(float v) {
  static_assert(kGroup == 32 || kGroup == kLayerNormThreads, "a warp or the block per row");
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if constexpr (kGroup == 32) {
    return v;
  } else {
    __shared__ float part[kGroup / 32];
    __syncthreads();
    if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = v;
    __syncthreads();
    v = part[0];
#pragma unroll
    for (int w = 1; w < kGroup / 32; ++w) v = fmaxf(v, part[w]);
    return v;
  }
}

// Threads per row (32 or kLayerNormThreads) and vectors per thread for rows
// of k values of `elems` per vector; group 0 when the vectorised kernels do
// not apply (k not a multiple of the vector, or too long to hold).
struct RowVecShape {
  int group = 0, vecs = 0;
};

inline RowVecShape ChooseRowVecShape(int64_t k, int elems) {
  if (k <= 0 || k % elems != 0) return {};
  const int64_t nvec = k / elems;
  for (int group : {32, kLayerNormThreads}) {
    const int64_t per_thread = (nvec + group - 1) / group;
    for (int vecs : {2, 4, 6, 8, 12, 16})
      if (per_thread <= vecs) return {group, vecs};
  }
  return {};
}

// Calls f(std::integral_constant<int, group>, std::integral_constant<int,
// vecs>) for a shape ChooseRowVecShape returned (group != 0).
template <typename F>
void DispatchRowVecShape(RowVecShape s, F&& f) {
  auto with_group = [&](auto group) {
    switch (s.vecs) {
      case 2:
        return f(group, std::integral_constant<int, 2>{});
      case 4:
        return f(group, std::integral_constant<int, 4>{});
      case 6:
        return f(group, std::integral_constant<int, 6>{});
      case 8:
        return f(group, std::integral_constant<int, 8>{});
      case 12:
        return f(group, std::integral_constant<int, 12>{});
      default:
        return f(group, std::integral_constant<int, 16>{});
    }
  };
  if (s.group == 32) return with_group(std::integral_constant<int, 32>{});
  return with_group(std::integral_constant<int, kLayerNormThreads>{});
}

// Row x (k f32 values, k % 4 == 0) into the registers of the kGroup threads
// of a group (this thread is `lane`): r[j] is vector lane + j kGroup, zeros
// past k / 4. aligned: x is 16-byte aligned.
template <int kGroup, int kVecs>
__device__ __forceinline__ void LoadRowVecs(const float* x, int64_t k, bool aligned, int lane,
                                            uint4 (&r)[kVecs]) {
  const int64_t nvec = k / 4;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int64_t v = lane + int64_t{j} * kGroup;
    r[j] = v < nvec ? LoadRowVec(x + 4 * v, aligned) : make_uint4(0, 0, 0, 0);
  }
}

// The LayerNorm of a row held as LoadRowVecs leaves it, into y: y[j][c] is
// element 4 (lane + j kGroup) + c, for the vectors below k / 4. The same
// arithmetic as LayerNormStats / LayerNormValue (mean, biased variance of the
// centred values, IEEE sqrt and division), in this group's order.
// aligned: scale and bias (when not null) are 16-byte aligned.
template <int kGroup, int kVecs>
__device__ __forceinline__ void LayerNormRowVecs(const uint4 (&r)[kVecs], int64_t k,
                                                 const float* scale, const float* bias,
                                                 float epsilon, bool aligned, int lane,
                                                 float (&y)[kVecs][4]) {
  const int64_t nvec = k / 4;
  float sum = 0.f;
#pragma unroll
  for (int j = 0; j < kVecs; ++j)
    if (lane + int64_t{j} * kGroup < nvec)
#pragma unroll
      for (int c = 0; c < 4; ++c) sum = __fadd_rn(sum, RowVecElem<float>(r[j], c));
  const float mean = __fdiv_rn(RowGroupSum<kGroup>(sum), static_cast<float>(k));
  float squares = 0.f;
#pragma unroll
  for (int j = 0; j < kVecs; ++j)
    if (lane + int64_t{j} * kGroup < nvec)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const float d = __fsub_rn(RowVecElem<float>(r[j], c), mean);
        squares = __fmaf_rn(d, d, squares);
      }
  const float var = __fdiv_rn(RowGroupSum<kGroup>(squares), static_cast<float>(k));
  const LayerNormRowStats stats{mean, __fdiv_rn(1.f, __fsqrt_rn(__fadd_rn(var, epsilon)))};
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int64_t v = lane + int64_t{j} * kGroup;
    if (v >= nvec) continue;
    const uint4 g = LoadRowVec(scale + 4 * v, aligned);
    const uint4 b = bias != nullptr ? LoadRowVec(bias + 4 * v, aligned) : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const float n =
          __fmul_rn(__fmul_rn(__fsub_rn(RowVecElem<float>(r[j], c), stats.mean), stats.inv_std),
                    RowVecElem<float>(g, c));
      y[j][c] = bias != nullptr ? __fadd_rn(n, RowVecElem<float>(b, c)) : n;
    }
  }
}

// The LayerNorm of row x, read once (LoadRowVecs, then LayerNormRowVecs).
// aligned: x, scale and bias (when not null) are 16-byte aligned.
template <int kGroup, int kVecs>
__device__ __forceinline__ void LayerNormRowVec(const float* x, int64_t k, const float* scale,
                                                const float* bias, float epsilon, bool aligned,
                                                int lane, float (&y)[kVecs][4]) {
  uint4 r[kVecs];
  LoadRowVecs<kGroup, kVecs>(x, k, aligned, lane, r);
  LayerNormRowVecs<kGroup, kVecs>(r, k, scale, bias, epsilon, aligned, lane, y);
}

}  // namespace octet::cuda
