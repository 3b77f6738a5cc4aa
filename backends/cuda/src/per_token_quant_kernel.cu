// Per-token quantization. Memory-bound: it reads the row once from device
// memory and writes k bytes and one scale. Rows whose length is a multiple of
// the 16-byte vector (and at most 16 vectors per thread) go to the vectorised
// kernels: a warp per row (K <= 2048 f32 / 4096 bf16; 8 rows per block) or a
// block per row beyond, the row held in registers between the absolute
// maximum and the codes, 16-byte loads, 4- or 8-byte code stores. Other rows:
// one block per row, scalar, two passes (the second from L1/L2). The
// arithmetic is the same in all (IEEE division, round-half-even), so the
// codes are the same, bit for bit.
#include <cuda_bf16.h>

#include "layer_norm_row.cuh"
#include "octet/cuda/cuda_status.h"
#include "per_token_quant_kernel.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float ToFloat(float v) { return v; }
__device__ __forceinline__ float ToFloat(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ float BlockMax(float v) {
  __shared__ float warp_max[kThreads / 32];
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = v;
  __syncthreads();
  v = warp_max[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) v = fmaxf(v, warp_max[w]);
  return v;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    QuantizeRowsKernel(const T* src, int64_t k, float qmax, float min_scale, int8_t* codes,
                       float* scales) {
  const int64_t row = blockIdx.x;
  const T* x = src + row * k;
  float absmax = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) absmax = fmaxf(absmax, fabsf(ToFloat(x[i])));
  absmax = BlockMax(absmax);
  // IEEE division and round-half-even (rintf), as QuantizeLinear computes;
  // fmaxf/fminf ignore a NaN operand, so NaN inputs give code -128 as on the CPU.
  const float scale = fmaxf(__fdiv_rn(absmax, qmax), min_scale);
  if (threadIdx.x == 0) scales[row] = scale;
  int8_t* q = codes + row * k;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) {
    const float v = rintf(__fdiv_rn(ToFloat(x[i]), scale));
    q[i] = static_cast<int8_t>(fminf(127.f, fmaxf(-128.f, v)));
  }
}

// LayerNorm then per-token quantization of each f32 row, without writing the
// normalised row: its values are computed twice (for the absolute maximum,
// then for the codes) from x, which the second pass reads from L1/L2.
// layer_norm_row.cuh makes them bit-identical to LayerNormKernel's, so the
// codes are those of the unfused pair.
__global__ void __launch_bounds__(kThreads)
    LayerNormQuantizeRowsKernel(const float* src, int64_t k, const float* ln_scale,
                                const float* ln_bias, float epsilon, float qmax, float min_scale,
                                int8_t* codes, float* scales) {
  static_assert(kThreads == kLayerNormThreads, "one block shape for both kernels");
  const int64_t row = blockIdx.x;
  const float* x = src + row * k;
  const LayerNormRowStats stats = LayerNormStats(x, k, epsilon);
  float absmax = 0.f;
  for (int64_t i = threadIdx.x; i < k; i += kThreads)
    absmax = fmaxf(absmax, fabsf(LayerNormValue(x[i], stats, ln_scale[i], ln_bias, i)));
  absmax = BlockMax(absmax);
  const float scale = fmaxf(__fdiv_rn(absmax, qmax), min_scale);
  if (threadIdx.x == 0) scales[row] = scale;
  int8_t* q = codes + row * k;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) {
    const float y = LayerNormValue(x[i], stats, ln_scale[i], ln_bias, i);
    const float v = rintf(__fdiv_rn(y, scale));
    q[i] = static_cast<int8_t>(fminf(127.f, fmaxf(-128.f, v)));
  }
}

// The codes of one vector's elems values, packed little-endian (4 or 8 bytes).
template <int kElems>
__device__ __forceinline__ void StoreCodes(const float (&v)[kElems], float scale, int8_t* q,
                                           bool aligned) {
  uint32_t word[kElems / 4];
#pragma unroll
  for (int w = 0; w < kElems / 4; ++w) word[w] = 0;
#pragma unroll
  for (int c = 0; c < kElems; ++c) {
    const float r = rintf(__fdiv_rn(v[c], scale));
    const int code = static_cast<int>(fminf(127.f, fmaxf(-128.f, r)));
    word[c / 4] |= (static_cast<uint32_t>(code) & 0xffu) << (8 * (c % 4));
  }
  if (aligned) {
    if constexpr (kElems == 4)
      *reinterpret_cast<uint32_t*>(q) = word[0];
    else
      *reinterpret_cast<uint2*>(q) = make_uint2(word[0], word[1]);
  } else {
#pragma unroll
    for (int c = 0; c < kElems; ++c) q[c] = static_cast<int8_t>(word[c / 4] >> (8 * (c % 4)));
  }
}

// The codes and scale of a row held as y[j][c] (element 4 (lane + j kGroup)
// + c, vectors below nvec) by the kGroup threads of a group: the absolute
// maximum over the group, scale = max(absmax / qmax, min_scale), the codes
// at q (the row's first code) and the scale at *scale_out.
template <int kGroup, int kVecs>
__device__ __forceinline__ void QuantizeRowVecs(const float (&y)[kVecs][4], int64_t nvec, int lane,
                                                float qmax, float min_scale, bool aligned,
                                                int8_t* q, float* scale_out) {
  float absmax = 0.f;
#pragma unroll
  for (int j = 0; j < kVecs; ++j)
    if (lane + int64_t{j} * kGroup < nvec)
#pragma unroll
      for (int c = 0; c < 4; ++c) absmax = fmaxf(absmax, fabsf(y[j][c]));
  absmax = RowGroupMax<kGroup>(absmax);
  const float scale = fmaxf(__fdiv_rn(absmax, qmax), min_scale);
  if (lane == 0) *scale_out = scale;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int64_t v = lane + int64_t{j} * kGroup;
    if (v < nvec) StoreCodes(y[j], scale, q + 4 * v, aligned);
  }
}

// kGroup threads per row (a warp, or the block), kVecs 16-byte vectors per
// thread held in registers. aligned: src 16-byte and codes 8-byte aligned.
template <typename T, int kGroup, int kVecs>
__global__ void __launch_bounds__(kThreads)
    QuantizeRowsVecKernel(const T* src, int64_t rows, int64_t k, float qmax, float min_scale,
                          bool aligned, int8_t* codes, float* scales) {
  constexpr int kElems = kRowVecElems<T>;
  const int lane = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t row = int64_t{blockIdx.x} * (kThreads / kGroup) + threadIdx.x / kGroup;
  if (row >= rows) return;  // a whole group (kGroup < kThreads only)
  const int64_t nvec = k / kElems;
  const T* x = src + row * k;
  uint4 r[kVecs];
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int64_t v = lane + int64_t{j} * kGroup;
    r[j] = v < nvec ? LoadRowVec(x + kElems * v, aligned) : make_uint4(0, 0, 0, 0);
  }
  float absmax = 0.f;  // padding vectors are zeros
#pragma unroll
  for (int j = 0; j < kVecs; ++j)
#pragma unroll
    for (int c = 0; c < kElems; ++c) absmax = fmaxf(absmax, fabsf(RowVecElem<T>(r[j], c)));
  absmax = RowGroupMax<kGroup>(absmax);
  const float scale = fmaxf(__fdiv_rn(absmax, qmax), min_scale);
  if (lane == 0) scales[row] = scale;
  int8_t* q = codes + row * k;
#pragma unroll
  for (int j = 0; j < kVecs; ++j) {
    const int64_t v = lane + int64_t{j} * kGroup;
    if (v >= nvec) continue;
    float f[kElems];
#pragma unroll
    for (int c = 0; c < kElems; ++c) f[c] = RowVecElem<T>(r[j], c);
    StoreCodes(f, scale, q + kElems * v, aligned);
  }
}

// LayerNormRowVec (the arithmetic of LayerNormVecKernel, float_kernels.cu,
// with the same shape for the same k), then the codes of the normalised row.
// aligned: src, ln_scale, ln_bias 16-byte and codes 8-byte aligned.
template <int kGroup, int kVecs>
__global__ void __launch_bounds__(kThreads)
    LayerNormQuantizeRowsVecKernel(const float* src, int64_t rows, int64_t k, const float* ln_scale,
                                   const float* ln_bias, float epsilon, float qmax, float min_scale,
                                   bool aligned, int8_t* codes, float* scales) {
  const int lane = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t row = int64_t{blockIdx.x} * (kThreads / kGroup) + threadIdx.x / kGroup;
  if (row >= rows) return;
  const int64_t nvec = k / 4;
  float y[kVecs][4];
  LayerNormRowVec<kGroup, kVecs>(src + row * k, k, ln_scale, ln_bias, epsilon, aligned, lane, y);
  QuantizeRowVecs<kGroup, kVecs>(y, nvec, lane, qmax, min_scale, aligned, codes + row * k,
                                 scales + row);
}

// 4 values of an addend row at p (4-aligned element offset), as f32 bits.
template <typename T>
__device__ __forceinline__ uint4 LoadAddendVec(const T* p, bool aligned) {
  if constexpr (std::is_same_v<T, float>) {
    return LoadRowVec(p, aligned);
  } else {
    const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
    uint2 w;
    if (aligned) {
      w = *reinterpret_cast<const uint2*>(p);
    } else {
      w = make_uint2(unsigned{h[0]} | (unsigned{h[1]} << 16),
                     unsigned{h[2]} | (unsigned{h[3]} << 16));
    }
    return make_uint4(w.x << 16, w.x & 0xffff0000u, w.y << 16, w.y & 0xffff0000u);
  }
}

// The row prologue of QuantizeRowsPerTokenConfig (row_map, add_rows), then
// the optional LayerNorm (LayerNormRowVecs: the same values, bit for bit, as
// LayerNormQuantizeRowsVecKernel for this k) and the codes. One group of
// kGroup threads per output row. add is null without add_rows (AddT is then
// float and unused); ln_scale null without a LayerNorm. aligned: src, add,
// sum, ln_scale and ln_bias 16-byte (add 8-byte when bf16), codes 8-byte.
template <int kGroup, int kVecs, typename AddT>
__global__ void __launch_bounds__(kThreads)
    PrologueQuantizeRowsVecKernel(const float* src, const int32_t* row_map, const AddT* add,
                                  const int32_t* add_map, float* sum, int64_t rows, int64_t k,
                                  const float* ln_scale, const float* ln_bias, float epsilon,
                                  float qmax, float min_scale, bool aligned, int8_t* codes,
                                  float* scales) {
  const int lane = static_cast<int>(threadIdx.x) % kGroup;
  const int64_t row = int64_t{blockIdx.x} * (kThreads / kGroup) + threadIdx.x / kGroup;
  if (row >= rows) return;  // a whole group
  const int64_t nvec = k / 4;
  int8_t* q = codes + row * k;
  const int64_t src_row = row_map != nullptr ? row_map[row] : row;
  if (src_row < 0) {  // padding: a row of zeros has scale max(0 / qmax, min_scale), codes 0
    if (lane == 0) scales[row] = fmaxf(__fdiv_rn(0.f, qmax), min_scale);
    const float zeros[4] = {0.f, 0.f, 0.f, 0.f};
    for (int64_t v = lane; v < nvec; v += kGroup) StoreCodes(zeros, 1.f, q + 4 * v, aligned);
    return;
  }
  uint4 r[kVecs];
  LoadRowVecs<kGroup, kVecs>(src + src_row * k, k, aligned, lane, r);
  if (add != nullptr) {
    const int64_t add_row = add_map != nullptr ? add_map[row] : row;
#pragma unroll
    for (int j = 0; j < kVecs; ++j) {
      const int64_t v = lane + int64_t{j} * kGroup;
      if (v >= nvec) continue;
      if (add_row >= 0) {
        const uint4 b = LoadAddendVec(add + add_row * k + 4 * v, aligned);
        r[j] = make_uint4(
            __float_as_uint(__fadd_rn(RowVecElem<float>(r[j], 0), RowVecElem<float>(b, 0))),
            __float_as_uint(__fadd_rn(RowVecElem<float>(r[j], 1), RowVecElem<float>(b, 1))),
            __float_as_uint(__fadd_rn(RowVecElem<float>(r[j], 2), RowVecElem<float>(b, 2))),
            __float_as_uint(__fadd_rn(RowVecElem<float>(r[j], 3), RowVecElem<float>(b, 3))));
      }
      float* out = sum + row * k + 4 * v;
      if (aligned) {
        *reinterpret_cast<uint4*>(out) = r[j];
      } else {
#pragma unroll
        for (int c = 0; c < 4; ++c) out[c] = RowVecElem<float>(r[j], c);
      }
    }
  }
  float y[kVecs][4];
  if (ln_scale != nullptr) {
    LayerNormRowVecs<kGroup, kVecs>(r, k, ln_scale, ln_bias, epsilon, aligned, lane, y);
  } else {
#pragma unroll
    for (int j = 0; j < kVecs; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) y[j][c] = RowVecElem<float>(r[j], c);
  }
  QuantizeRowVecs<kGroup, kVecs>(y, nvec, lane, qmax, min_scale, aligned, q, scales + row);
}

bool Aligned(const void* p, uintptr_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

unsigned VecGrid(int64_t rows, int group) {
  const int64_t per_block = kThreads / group;
  return static_cast<unsigned>((rows + per_block - 1) / per_block);
}

}  // namespace

Status LaunchLayerNormQuantizeRows(const float* src, int64_t rows, int64_t k, const float* ln_scale,
                                   const float* ln_bias, float epsilon, float qmax, float min_scale,
                                   int8_t* codes, float* scales, cudaStream_t stream) {
  static_assert(kThreads == kLayerNormThreads, "one block shape for both kernels");
  const RowVecShape shape = ChooseRowVecShape(k, 4);
  if (shape.group != 0) {
    const bool aligned = Aligned(src, 16) && Aligned(ln_scale, 16) &&
                         (ln_bias == nullptr || Aligned(ln_bias, 16)) && Aligned(codes, 8);
    DispatchRowVecShape(shape, [&](auto group, auto vecs) {
      LayerNormQuantizeRowsVecKernel<decltype(group)::value, decltype(vecs)::value>
          <<<VecGrid(rows, shape.group), kThreads, 0, stream>>>(
              src, rows, k, ln_scale, ln_bias, epsilon, qmax, min_scale, aligned, codes, scales);
    });
    OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("LayerNormQuantizeRowsVecKernel");
    return Status::Ok();
  }
  LayerNormQuantizeRowsKernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      src, k, ln_scale, ln_bias, epsilon, qmax, min_scale, codes, scales);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("LayerNormQuantizeRowsKernel");
  return Status::Ok();
}

Status LaunchQuantizeRowsPerToken(const void* src, bool src_bf16, int64_t rows, int64_t k,
                                  float qmax, float min_scale, int8_t* codes, float* scales,
                                  cudaStream_t stream) {
  const RowVecShape shape = ChooseRowVecShape(k, src_bf16 ? 8 : 4);
  if (shape.group != 0) {
    const bool aligned = Aligned(src, 16) && Aligned(codes, 8);
    DispatchRowVecShape(shape, [&](auto group, auto vecs) {
      constexpr int kGroup = decltype(group)::value, kVecs = decltype(vecs)::value;
      const unsigned grid = VecGrid(rows, shape.group);
      if (src_bf16) {
        QuantizeRowsVecKernel<__nv_bfloat16, kGroup, kVecs>
            <<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(src), rows, k, qmax,
                                            min_scale, aligned, codes, scales);
      } else {
        QuantizeRowsVecKernel<float, kGroup, kVecs><<<grid, kThreads, 0, stream>>>(
            static_cast<const float*>(src), rows, k, qmax, min_scale, aligned, codes, scales);
      }
    });
    OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("QuantizeRowsVecKernel");
    return Status::Ok();
  }
  const dim3 grid(static_cast<unsigned>(rows));
  if (src_bf16) {
    QuantizeRowsKernel<<<grid, kThreads, 0, stream>>>(static_cast<const __nv_bfloat16*>(src), k,
                                                      qmax, min_scale, codes, scales);
  } else {
    QuantizeRowsKernel<<<grid, kThreads, 0, stream>>>(static_cast<const float*>(src), k, qmax,
                                                      min_scale, codes, scales);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("QuantizeRowsKernel");
  return Status::Ok();
}

bool RowPrologueSupported(int64_t k) { return ChooseRowVecShape(k, 4).group != 0; }

Status LaunchPrologueQuantizeRows(const float* src, const int32_t* row_map, const void* add,
                                  bool add_bf16, const int32_t* add_map, float* sum, int64_t rows,
                                  int64_t k, const float* ln_scale, const float* ln_bias,
                                  float epsilon, float qmax, float min_scale, int8_t* codes,
                                  float* scales, cudaStream_t stream) {
  const RowVecShape shape = ChooseRowVecShape(k, 4);
  if (shape.group == 0)
    return Unimplemented(
        "the row prologue of the per-token quantization takes rows of a multiple "
        "of 4 values, at most 16384; k = ",
        k);
  const bool aligned =
      Aligned(src, 16) && Aligned(codes, 8) && (ln_scale == nullptr || Aligned(ln_scale, 16)) &&
      (ln_bias == nullptr || Aligned(ln_bias, 16)) &&
      (add == nullptr || Aligned(add, add_bf16 ? 8 : 16)) && (sum == nullptr || Aligned(sum, 16));
  DispatchRowVecShape(shape, [&](auto group, auto vecs) {
    constexpr int kGroup = decltype(group)::value, kVecs = decltype(vecs)::value;
    const unsigned grid = VecGrid(rows, shape.group);
    if (add != nullptr && add_bf16) {
      PrologueQuantizeRowsVecKernel<kGroup, kVecs, __nv_bfloat16><<<grid, kThreads, 0, stream>>>(
          src, row_map, static_cast<const __nv_bfloat16*>(add), add_map, sum, rows, k, ln_scale,
          ln_bias, epsilon, qmax, min_scale, aligned, codes, scales);
    } else {
      PrologueQuantizeRowsVecKernel<kGroup, kVecs, float><<<grid, kThreads, 0, stream>>>(
          src, row_map, static_cast<const float*>(add), add_map, sum, rows, k, ln_scale, ln_bias,
          epsilon, qmax, min_scale, aligned, codes, scales);
    }
  });
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("PrologueQuantizeRowsVecKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
