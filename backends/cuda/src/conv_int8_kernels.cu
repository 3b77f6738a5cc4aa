// conv_int8_kernels.h.
#include <cuda_runtime.h>

#include <algorithm>

#include "octet/cuda/conv_int8_kernels.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/int8_kernels.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

// Non-negative floats order as their bit patterns, so the maximum of |x|
// across blocks is an atomicMax on the bits (absmax starts at +0).
__global__ void ImageAbsMaxKernel(const float* __restrict__ x, int64_t image_size,
                                  unsigned* __restrict__ absmax_bits) {
  const float* img = x + blockIdx.y * image_size;
  float m = 0.f;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int64_t first = int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
  if (image_size % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
    const float4* v = reinterpret_cast<const float4*>(img);
    for (int64_t i = first; i < image_size / 4; i += stride) {
      const float4 f = v[i];
      m = fmaxf(m, fmaxf(fmaxf(fabsf(f.x), fabsf(f.y)), fmaxf(fabsf(f.z), fabsf(f.w))));
    }
  } else {
    for (int64_t i = first; i < image_size; i += stride) m = fmaxf(m, fabsf(img[i]));
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2)
    m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
  __shared__ float warp_max[kThreads / 32];
  if (threadIdx.x % 32 == 0) warp_max[threadIdx.x / 32] = m;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / 32; ++w) m = fmaxf(m, warp_max[w]);
    atomicMax(absmax_bits + blockIdx.y, __float_as_uint(m));
  }
}

struct Im2ColGeometry {
  int c, h, w, oh, ow, kh, kw, sh, sw, pt, pl, dh, dw;
  int k, k_padded, chunks;  // chunks: 16-byte chunks of a row (k_padded / 16)
  float qmax, min_scale;
};

// saturate(round_half_even(v / scale)) with the IEEE quotient, as
// QuantizeLinear computes, from v * inv_scale (inv_scale = 1 / scale rounded)
// where that provably gives the same code, and from the division otherwise.
// q = v * inv_scale is within 2^-23 |v / scale| of the exact quotient (two
// roundings of 2^-24), and the IEEE quotient within 2^-24 of it; so unless q
// lies within 2^-21 |q| of a rounding boundary n + 1/2, the exact quotient,
// the IEEE one and q all round to the same integer (and the IEEE quotient is
// not itself a tie). q - rintf(q) is exact (|q - rint(q)| <= 1/2, same
// binade or below). A quotient that small near a tie is rare (about 2^-20 of
// the values that quantize to +-64..127, fewer below), so the division's slow
// path costs nothing measurable; NaN and infinities take the fast path and
// give what the division gives (NaN saturates through fmaxf / fminf alike).
__device__ __forceinline__ int8_t Quantize(float v, float scale, float inv_scale) {
  float q = v * inv_scale;
  const float r = rintf(q);
  if (0.5f - fabsf(q - r) <= fabsf(q) * 0x1p-21f) q = __fdiv_rn(v, scale);
  return static_cast<int8_t>(fminf(127.f, fmaxf(-128.f, rintf(q))));
}

// n / d for 0 <= n < 2^31 as a multiply-high and a shift (Granlund and
// Montgomery, as CUTLASS's FastDivmod): m = ceil(2^p / d) with p = 31 +
// ceil(log2 d). A 64-bit division is a long subroutine on the GPU and a
// 32-bit one about 20 instructions; the gathers take five per 16 codes.
struct FastDiv {
  int d = 1;
  unsigned mul = 0, shift = 0;
  static FastDiv Of(int divisor) {
    FastDiv f;
    f.d = divisor;
    if (divisor == 1) return f;
    int log2 = 0;
    while ((int64_t{1} << log2) < divisor) ++log2;
    const unsigned p = 31 + log2;
    f.mul = static_cast<unsigned>(((uint64_t{1} << p) + divisor - 1) / divisor);
    f.shift = p - 32;
    return f;
  }
  __device__ __forceinline__ int Div(int n) const {
    return d == 1 ? n : static_cast<int>(__umulhi(static_cast<unsigned>(n), mul) >> shift);
  }
};

__device__ __forceinline__ uint32_t Pack4(int8_t a, int8_t b, int8_t c, int8_t d) {
  return static_cast<uint32_t>(static_cast<uint8_t>(a)) |
         static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
}

// 16 consecutive floats (four float4 loads) as one 16-byte chunk of codes,
// quantized with the image's scale.
__device__ __forceinline__ uint4 QuantizeChunk16(const float4* src, float scale, float inv_scale) {
  float4 f[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) f[q] = src[q];
  uint32_t w[4];
#pragma unroll
  for (int q = 0; q < 4; ++q)
    w[q] = Pack4(Quantize(f[q].x, scale, inv_scale), Quantize(f[q].y, scale, inv_scale),
                 Quantize(f[q].z, scale, inv_scale), Quantize(f[q].w, scale, inv_scale));
  return make_uint4(w[0], w[1], w[2], w[3]);
}

// One thread per 16-byte chunk of a row. kNhwc16: NHWC input with
// C % 16 == 0, so a chunk is 16 channels of one tap: four 16-byte loads
// (x 16-byte aligned). Otherwise each of the 16 columns is located and read
// on its own (any layout, any C; e.g. conv1's 3 channels).
template <bool kNhwc16>
__global__ void Im2ColQuantizeKernel(const float* __restrict__ x, bool nhwc, Im2ColGeometry g,
                                     int64_t total_chunks, const float* __restrict__ absmax,
                                     int8_t* __restrict__ codes, float* __restrict__ row_scales) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  const int pixels = g.oh * g.ow;
  const int64_t rows = total_chunks / g.chunks;
  for (int64_t t = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; t < total_chunks; t += stride) {
    // NCHW: consecutive threads take consecutive rows (output pixels) of one
    // chunk, so that each of the 16 loads is coalesced across the warp
    // (neighbouring pixels of one channel plane); the 16-byte stores are then
    // a row pitch apart. NHWC: consecutive chunks of a row (contiguous both
    // ways).
    const bool pixel_major = !kNhwc16 && !nhwc;
    const int64_t m = pixel_major ? t % rows : t / g.chunks;
    const int chunk = static_cast<int>(pixel_major ? t / rows : t - m * g.chunks);
    const int b = static_cast<int>(m / pixels), p = static_cast<int>(m - int64_t{b} * pixels);
    const int oh = p / g.ow, ow = p - oh * g.ow;
    const float scale = fmaxf(__fdiv_rn(absmax[b], g.qmax), g.min_scale);
    const float inv_scale = __frcp_rn(scale);
    if (chunk == 0) row_scales[m] = scale;
    const int k0 = chunk * 16;
    uint32_t word[4];
    if constexpr (kNhwc16) {
      const int tap = k0 / g.c, c0 = k0 - tap * g.c;
      const int i = tap / g.kw, j = tap - i * g.kw;
      const int ih = oh * g.sh - g.pt + i * g.dh, iw = ow * g.sw - g.pl + j * g.dw;
      if (k0 < g.k && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
          static_cast<unsigned>(iw) < static_cast<unsigned>(g.w)) {
        const float4* src =
            reinterpret_cast<const float4*>(x + ((int64_t{b} * g.h + ih) * g.w + iw) * g.c + c0);
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float4 f = src[q];
          word[q] = Pack4(Quantize(f.x, scale, inv_scale), Quantize(f.y, scale, inv_scale),
                          Quantize(f.z, scale, inv_scale), Quantize(f.w, scale, inv_scale));
        }
      } else {
        word[0] = word[1] = word[2] = word[3] = 0;
      }
    } else {
      int8_t v[16];
#pragma unroll
      for (int e = 0; e < 16; ++e) {
        const int k = k0 + e;
        float value = 0.f;
        if (k < g.k) {
          const int tap = k / g.c, c = k - tap * g.c;
          const int i = tap / g.kw, j = tap - i * g.kw;
          const int ih = oh * g.sh - g.pt + i * g.dh, iw = ow * g.sw - g.pl + j * g.dw;
          if (static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
              static_cast<unsigned>(iw) < static_cast<unsigned>(g.w))
            value = nhwc ? x[((int64_t{b} * g.h + ih) * g.w + iw) * g.c + c]
                         : x[((int64_t{b} * g.c + c) * g.h + ih) * g.w + iw];
        }
        v[e] = Quantize(value, scale, inv_scale);
      }
#pragma unroll
      for (int q = 0; q < 4; ++q)
        word[q] = Pack4(v[4 * q], v[4 * q + 1], v[4 * q + 2], v[4 * q + 3]);
    }
    *reinterpret_cast<uint4*>(codes + m * g.k_padded + k0) =
        make_uint4(word[0], word[1], word[2], word[3]);
  }
}

// Rows of the staged gather below: one thread each.
constexpr int kRowThreads = 64;
// The longest row it stages is kMaxStagedRowBytes (conv_int8_kernels.h):
// kRowThreads rows of k_padded / 4 + 1 words, 33 KiB at 512.

// Copies a block's staged rows (block_rows rows of `words` words, `pitch`
// words apart in shared memory) to dst, where they are contiguous, with
// coalesced stores: word t of the block's rows is word w of row r, t = r *
// words + w; r and w advance by step_rows and step_words (kRowThreads =
// step_rows * words + step_words) without a division per word.
__device__ __forceinline__ void StoreStagedRows(const uint32_t* staged, int pitch, int words,
                                                int block_rows, int step_rows, int step_words,
                                                uint32_t* dst) {
  int r = threadIdx.x / words, w = threadIdx.x - r * words;
  for (int t = threadIdx.x; t < block_rows * words; t += kRowThreads) {
    dst[t] = staged[r * pitch + w];
    r += step_rows;
    w += step_words;
    if (w >= words) {
      w -= words;
      ++r;
    }
  }
}

// One thread per im2col row (output pixel) for rows of at most
// kMaxStagedRowBytes: the thread quantizes its window's taps in column order
// ((i * kw + j) * C + c), four codes to a 32-bit word, into its row of the
// block's staging area, whose pitch of k_padded / 4 + 1 words is odd so that
// the threads' word writes fall in distinct banks; the block then copies its
// rows, contiguous in `codes`, consecutive threads on consecutive words
// (coalesced). This is the path of inputs with few channels (resnet's conv1:
// 3 NCHW channels, 147 taps in 160-byte rows), where a 16-column chunk spans
// several taps and channels and each column would be located on its own.
template <bool kNhwc>
__global__ void __launch_bounds__(kRowThreads)
    Im2ColQuantizeRowsKernel(const float* __restrict__ x, Im2ColGeometry g, int64_t rows,
                             int step_rows, int step_words, const float* __restrict__ absmax,
                             int8_t* __restrict__ codes, float* __restrict__ row_scales) {
  extern __shared__ uint32_t staged[];
  const int words = g.k_padded / 4, pitch = words + 1;
  const int pixels = g.oh * g.ow;
  const int64_t image = int64_t{g.c} * g.h * g.w;
  uint32_t* row = staged + threadIdx.x * pitch;
  for (int64_t m0 = int64_t{blockIdx.x} * kRowThreads; m0 < rows;
       m0 += int64_t{gridDim.x} * kRowThreads) {
    const int64_t m = m0 + threadIdx.x;
    if (m < rows) {
      const int b = static_cast<int>(m / pixels), p = static_cast<int>(m - int64_t{b} * pixels);
      const int oh = p / g.ow, ow = p - oh * g.ow;
      const float scale = fmaxf(__fdiv_rn(absmax[b], g.qmax), g.min_scale);
      const float inv_scale = __frcp_rn(scale);
      row_scales[m] = scale;
      const float* img = x + b * image;
      uint32_t word = 0;
      int k = 0;
      for (int i = 0; i < g.kh; ++i) {
        const int ih = oh * g.sh - g.pt + i * g.dh;
        for (int j = 0; j < g.kw; ++j) {
          const int iw = ow * g.sw - g.pl + j * g.dw;
          const bool inside = static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                              static_cast<unsigned>(iw) < static_cast<unsigned>(g.w);
          for (int c = 0; c < g.c; ++c, ++k) {
            if (inside) {
              const float v =
                  kNhwc ? img[(ih * g.w + iw) * g.c + c] : img[(c * g.h + ih) * g.w + iw];
              word |= static_cast<uint32_t>(static_cast<uint8_t>(Quantize(v, scale, inv_scale)))
                      << (8 * (k % 4));
            }
            if (k % 4 == 3) {
              row[k / 4] = word;
              word = 0;
            }
          }
        }
      }
      // The last partial word, then zeros up to k_padded.
      if (k % 4 != 0) row[k / 4] = word;
      for (int w = (k + 3) / 4; w < words; ++w) row[w] = 0;
    }
    __syncthreads();
    const int block_rows = static_cast<int>(min(int64_t{kRowThreads}, rows - m0));
    StoreStagedRows(staged, pitch, words, block_rows, step_rows, step_words,
                    reinterpret_cast<uint32_t*>(codes + m0 * g.k_padded));
    __syncthreads();
  }
}

// zero_fill[0, count) = 0 by the first threads of the grid: the op's next
// per-image maximum (raised by its GEMM's epilogue), zeroed by the gather
// that runs before that GEMM instead of by a memset node of its own.
__device__ __forceinline__ void ZeroFill(float* zero_fill, int count) {
  for (int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); i < count;
       i += static_cast<int>(gridDim.x * blockDim.x))
    zero_fill[i] = 0.f;
}

// The divisors of the 32-bit gathers below.
struct Im2ColDivisors {
  FastDiv chunks, pixels, ow, tap_chunks, kw;
};

// Where 16-byte chunk t of the NHWC, C % 16 == 0 im2col rows comes from:
// its row m (of image b), its first column k0, and the offset in values of
// its 16 input channels (NHWC), -1 in the padding and past K.
struct ChunkSource {
  int m, b, k0, offset;
};

__device__ __forceinline__ ChunkSource LocateChunk(int t, const Im2ColGeometry& g,
                                                   const Im2ColDivisors& div) {
  ChunkSource c;
  c.m = div.chunks.Div(t);
  const int chunk = t - c.m * g.chunks;
  c.b = div.pixels.Div(c.m);
  const int p = c.m - c.b * (g.oh * g.ow);
  const int oh = div.ow.Div(p), ow = p - oh * g.ow;
  c.k0 = chunk * 16;
  const int tap = div.tap_chunks.Div(chunk), c0 = (chunk - tap * (g.c / 16)) * 16;
  const int i = div.kw.Div(tap), j = tap - i * g.kw;
  const int ih = oh * g.sh - g.pt + i * g.dh, iw = ow * g.sw - g.pl + j * g.dw;
  const bool inside = c.k0 < g.k && static_cast<unsigned>(ih) < static_cast<unsigned>(g.h) &&
                      static_cast<unsigned>(iw) < static_cast<unsigned>(g.w);
  c.offset = inside ? ((c.b * g.h + ih) * g.w + iw) * g.c + c0 : -1;
  return c;
}

// The NHWC, C % 16 == 0 gather of Im2ColQuantizeKernel<true> with 32-bit
// indices and FastDiv (rows * chunks and the input below 2^31): one thread
// per 16-byte chunk, 16 channels of one tap, four 16-byte loads. The 64-bit
// divisions of the general kernel cost more than the loads and the
// quantization together (resnet18's layer1 at batch 64: 124 us a gather).
__global__ void Im2ColQuantizeNhwc16Kernel(const float* __restrict__ x, Im2ColGeometry g,
                                           Im2ColDivisors div, int total_chunks,
                                           const float* __restrict__ absmax,
                                           int8_t* __restrict__ codes,
                                           float* __restrict__ row_scales,
                                           float* __restrict__ zero_fill, int zero_count) {
  ZeroFill(zero_fill, zero_count);
  for (int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); t < total_chunks;
       t += static_cast<int>(gridDim.x * blockDim.x)) {
    const ChunkSource c = LocateChunk(t, g, div);
    const float scale = fmaxf(__fdiv_rn(absmax[c.b], g.qmax), g.min_scale);
    const float inv_scale = __frcp_rn(scale);
    if (c.k0 == 0) row_scales[c.m] = scale;
    uint4 word = make_uint4(0, 0, 0, 0);
    if (c.offset >= 0)
      word = QuantizeChunk16(reinterpret_cast<const float4*>(x + c.offset), scale, inv_scale);
    *reinterpret_cast<uint4*>(codes + int64_t{c.m} * g.k_padded + c.k0) = word;
  }
}

// Inputs of at most 4 channels (resnet's conv1: 3), in two passes. First
// each pixel's channels are quantized once into one 32-bit word (channel c
// in byte c, zeros above C): pixel_codes [N, H, W]. Then one thread per
// im2col row appends its window's taps, C bytes each, to a 64-bit shift
// register and stages the row in shared memory as Im2ColQuantizeRowsKernel
// does. The direct form quantizes every input value kh * kw / (sh * sw)
// times (12 for the 7x7 stride-2 stem) with a branch per value, and took
// 293 us at batch 64.
template <bool kNhwc>
__global__ void QuantizePixelsKernel(const float* __restrict__ x, int c, int plane, int images,
                                     const float* __restrict__ absmax, float qmax, float min_scale,
                                     uint32_t* __restrict__ pixel_codes) {
  const int total = images * plane;
  for (int e = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); e < total;
       e += static_cast<int>(gridDim.x * blockDim.x)) {
    const int b = e / plane, p = e - b * plane;
    const float scale = fmaxf(__fdiv_rn(absmax[b], qmax), min_scale);
    const float inv_scale = __frcp_rn(scale);
    uint32_t word = 0;
    for (int ch = 0; ch < c; ++ch) {
      const float v = kNhwc ? x[int64_t{e} * c + ch] : x[(int64_t{b} * c + ch) * plane + p];
      word |= static_cast<uint32_t>(static_cast<uint8_t>(Quantize(v, scale, inv_scale)))
              << (8 * ch);
    }
    pixel_codes[e] = word;
  }
}

__global__ void __launch_bounds__(kRowThreads)
    Im2ColPixelsKernel(const uint32_t* __restrict__ pixel_codes, Im2ColGeometry g, int rows,
                       FastDiv pixels_div, FastDiv ow_div, int step_rows, int step_words,
                       const float* __restrict__ absmax, int8_t* __restrict__ codes,
                       float* __restrict__ row_scales) {
  extern __shared__ uint32_t staged[];
  const int words = g.k_padded / 4, pitch = words + 1;
  const int bits = 8 * g.c;
  const uint64_t mask = (uint64_t{1} << bits) - 1;
  uint32_t* row = staged + threadIdx.x * pitch;
  for (int m0 = static_cast<int>(blockIdx.x) * kRowThreads; m0 < rows;
       m0 += static_cast<int>(gridDim.x) * kRowThreads) {
    const int m = m0 + static_cast<int>(threadIdx.x);
    if (m < rows) {
      const int b = pixels_div.Div(m), p = m - b * (g.oh * g.ow);
      const int oh = ow_div.Div(p), ow = p - oh * g.ow;
      row_scales[m] = fmaxf(__fdiv_rn(absmax[b], g.qmax), g.min_scale);
      const uint32_t* img = pixel_codes + b * g.h * g.w;
      uint64_t pending = 0;  // the codes not yet stored, lowest first
      int pending_bits = 0, w = 0;
      for (int i = 0; i < g.kh; ++i) {
        const int ih = oh * g.sh - g.pt + i * g.dh;
        const bool row_inside = static_cast<unsigned>(ih) < static_cast<unsigned>(g.h);
        for (int j = 0; j < g.kw; ++j) {
          const int iw = ow * g.sw - g.pl + j * g.dw;
          const uint32_t px = row_inside && static_cast<unsigned>(iw) < static_cast<unsigned>(g.w)
                                  ? img[ih * g.w + iw]
                                  : 0u;
          pending |= (uint64_t{px} & mask) << pending_bits;
          pending_bits += bits;
          if (pending_bits >= 32) {
            row[w++] = static_cast<uint32_t>(pending);
            pending >>= 32;
            pending_bits -= 32;
          }
        }
      }
      if (pending_bits > 0) row[w++] = static_cast<uint32_t>(pending);
      for (; w < words; ++w) row[w] = 0;
    }
    __syncthreads();
    const int block_rows = min(kRowThreads, rows - m0);
    StoreStagedRows(staged, pitch, words, block_rows, step_rows, step_words,
                    reinterpret_cast<uint32_t*>(codes + int64_t{m0} * g.k_padded));
    __syncthreads();
  }
}

// Pass 1 of Im2ColQuantizeInt8Nhwc16: each value of x quantized once, 16
// consecutive values (16 channels of one pixel, in one image since C % 16 ==
// 0) a thread: four 16-byte loads, one 16-byte store.
// With image_scales (QuantizeInt8Nhwc16), the first threads also write each
// image's scale.
__global__ void QuantizeNhwc16Kernel(const float* __restrict__ x, FastDiv image_chunks,
                                     int total_chunks, const float* __restrict__ absmax, float qmax,
                                     float min_scale, int8_t* __restrict__ x_codes,
                                     float* __restrict__ zero_fill, int zero_count,
                                     float* __restrict__ image_scales, int images) {
  ZeroFill(zero_fill, zero_count);
  if (image_scales != nullptr) {
    const int b = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    if (b < images) image_scales[b] = fmaxf(__fdiv_rn(absmax[b], qmax), min_scale);
  }
  for (int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); t < total_chunks;
       t += static_cast<int>(gridDim.x * blockDim.x)) {
    const int b = image_chunks.Div(t);
    const float scale = fmaxf(__fdiv_rn(absmax[b], qmax), min_scale);
    const float inv_scale = __frcp_rn(scale);
    reinterpret_cast<uint4*>(x_codes)[t] =
        QuantizeChunk16(reinterpret_cast<const float4*>(x) + int64_t{t} * 4, scale, inv_scale);
  }
}

// Pass 2: Im2ColQuantizeNhwc16Kernel's chunks and indexing, copied from the
// codes of pass 1 (one 16-byte load, L2-resident across the taps that share
// it) instead of loaded as floats and quantized.
__global__ void Im2ColCodesNhwc16Kernel(const int8_t* __restrict__ x_codes, Im2ColGeometry g,
                                        Im2ColDivisors div, int total_chunks,
                                        const float* __restrict__ absmax,
                                        int8_t* __restrict__ codes,
                                        float* __restrict__ row_scales) {
  for (int t = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); t < total_chunks;
       t += static_cast<int>(gridDim.x * blockDim.x)) {
    const ChunkSource c = LocateChunk(t, g, div);
    if (c.k0 == 0) row_scales[c.m] = fmaxf(__fdiv_rn(absmax[c.b], g.qmax), g.min_scale);
    uint4 word = make_uint4(0, 0, 0, 0);
    if (c.offset >= 0) word = *reinterpret_cast<const uint4*>(x_codes + c.offset);
    *reinterpret_cast<uint4*>(codes + int64_t{c.m} * g.k_padded + c.k0) = word;
  }
}

unsigned GridFor(int64_t work) {
  // Enough blocks to fill the GPU several times over; the loops stride.
  return static_cast<unsigned>(
      std::max<int64_t>(1, std::min<int64_t>((work + kThreads - 1) / kThreads, 132 * 64)));
}

}  // namespace

Status ImageAbsMax(const float* x, int64_t batch, int64_t image_size, float* absmax,
                   cudaStream_t stream) {
  if (batch < 0 || image_size <= 0 || batch > 65535)
    return InvalidArgument("ImageAbsMax: ", batch, " images of ", image_size,
                           " values (batch must be in [0, 65535])");
  if (batch == 0) return Status::Ok();
  if (x == nullptr || absmax == nullptr) return InvalidArgument("ImageAbsMax: null x or absmax");
  OCTET_CUDA_RETURN_IF_ERROR(
      cudaMemsetAsync(absmax, 0, static_cast<size_t>(batch) * sizeof(float), stream));
  // About 8 float4 per thread, at most 1024 blocks per image.
  const int64_t per_block = int64_t{kThreads} * 32;
  const dim3 grid(static_cast<unsigned>(std::max<int64_t>(
                      1, std::min<int64_t>((image_size + per_block - 1) / per_block, 1024))),
                  static_cast<unsigned>(batch));
  ImageAbsMaxKernel<<<grid, kThreads, 0, stream>>>(x, image_size,
                                                   reinterpret_cast<unsigned*>(absmax));
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("ImageAbsMaxKernel");
  return Status::Ok();
}

namespace {

// Checks the arguments shared by the gathers and fills the geometry; *rows
// = 0 means nothing to do.
Status MakeIm2ColGeometry(const char* what, const float* x, const Conv2dDims& d, const Window2d& w,
                          int64_t k_padded, const float* absmax, float qmax, float min_scale,
                          const int8_t* codes, const float* row_scales, Im2ColGeometry* geometry,
                          int64_t* rows) {
  const int64_t k = d.channels * w.kernel_h * w.kernel_w;
  *rows = 0;
  if (d.batch < 0 || d.channels <= 0 || d.height <= 0 || d.width <= 0 || d.out_height < 0 ||
      d.out_width < 0 || w.kernel_h <= 0 || w.kernel_w <= 0 || w.stride_h <= 0 || w.stride_w <= 0 ||
      w.dilation_h <= 0 || w.dilation_w <= 0 || w.pad_top < 0 || w.pad_left < 0)
    return InvalidArgument(what, ": bad dims or window (input [", d.batch, ",", d.channels, ",",
                           d.height, ",", d.width, "], kernel ", w.kernel_h, "x", w.kernel_w, ")");
  if (k_padded % 16 != 0 || k_padded < k)
    return InvalidArgument(what, ": k_padded = ", k_padded,
                           " must be a multiple of 16 holding the ", k, " taps");
  if (!(qmax > 0.f) || !(min_scale > 0.f))
    return InvalidArgument(what, ": qmax ", qmax, " and min_scale ", min_scale,
                           " must be positive");
  if (d.batch * d.out_height * d.out_width == 0) return Status::Ok();
  if (x == nullptr || absmax == nullptr || codes == nullptr || row_scales == nullptr)
    return InvalidArgument(what, ": null x, absmax, codes or row_scales");
  if (reinterpret_cast<uintptr_t>(codes) % 16 != 0)
    return InvalidArgument(what, ": codes must be 16-byte aligned");
  const int64_t image = d.channels * d.height * d.width;
  if (image >= (int64_t{1} << 31) || d.out_height * d.out_width >= (int64_t{1} << 31) ||
      k_padded >= (int64_t{1} << 31))
    return InvalidArgument(what, ": images, planes and rows must stay below 2^31 elements");
  Im2ColGeometry& g = *geometry;
  g.c = static_cast<int>(d.channels), g.h = static_cast<int>(d.height);
  g.w = static_cast<int>(d.width), g.oh = static_cast<int>(d.out_height);
  g.ow = static_cast<int>(d.out_width), g.kh = static_cast<int>(w.kernel_h);
  g.kw = static_cast<int>(w.kernel_w);
  g.sh = static_cast<int>(w.stride_h), g.sw = static_cast<int>(w.stride_w);
  g.pt = static_cast<int>(w.pad_top), g.pl = static_cast<int>(w.pad_left);
  g.dh = static_cast<int>(w.dilation_h), g.dw = static_cast<int>(w.dilation_w);
  g.k = static_cast<int>(k), g.k_padded = static_cast<int>(k_padded);
  g.chunks = static_cast<int>(k_padded / 16);
  g.qmax = qmax, g.min_scale = min_scale;
  *rows = d.batch * d.out_height * d.out_width;
  return Status::Ok();
}

}  // namespace

namespace {

// The zero_fill contract of the gathers (conv_int8_kernels.h): a gather
// kernel that takes it zeroes it, the others leave it to a memset.
Status CheckZeroFill(const char* what, float* zero_fill, int64_t zero_count) {
  if (zero_count < 0 || zero_count >= (int64_t{1} << 31) ||
      (zero_count > 0 && zero_fill == nullptr))
    return InvalidArgument(what, ": zero_fill of ", zero_count, " floats at ",
                           static_cast<const void*>(zero_fill));
  return Status::Ok();
}

Status MemsetZeroFill(float* zero_fill, int64_t zero_count, cudaStream_t stream) {
  if (zero_count > 0)
    OCTET_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(zero_fill, 0, static_cast<size_t>(zero_count) * sizeof(float), stream));
  return Status::Ok();
}

}  // namespace

Status Im2ColQuantizeInt8(const float* x, ActLayout layout, const Conv2dDims& d, const Window2d& w,
                          int64_t k_padded, const float* absmax, float qmax, float min_scale,
                          int8_t* codes, float* row_scales, cudaStream_t stream, float* zero_fill,
                          int64_t zero_count) {
  OCTET_RETURN_IF_ERROR(CheckZeroFill("Im2ColQuantizeInt8", zero_fill, zero_count));
  Im2ColGeometry g;
  int64_t rows = 0;
  OCTET_RETURN_IF_ERROR(MakeIm2ColGeometry("Im2ColQuantizeInt8", x, d, w, k_padded, absmax, qmax,
                                           min_scale, codes, row_scales, &g, &rows));
  if (rows == 0) return MemsetZeroFill(zero_fill, zero_count, stream);
  const int64_t image = d.channels * d.height * d.width;
  const int64_t total = rows * g.chunks;
  const bool nhwc = layout == ActLayout::kNhwc;
  const bool nhwc16 = nhwc && d.channels % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0;
  if (nhwc16 && total < (int64_t{1} << 31) && d.batch * image < (int64_t{1} << 31)) {
    Im2ColDivisors div;
    div.chunks = FastDiv::Of(g.chunks);
    div.pixels = FastDiv::Of(g.oh * g.ow);
    div.ow = FastDiv::Of(g.ow);
    div.tap_chunks = FastDiv::Of(g.c / 16);
    div.kw = FastDiv::Of(g.kw);
    Im2ColQuantizeNhwc16Kernel<<<GridFor(total), kThreads, 0, stream>>>(
        x, g, div, static_cast<int>(total), absmax, codes, row_scales, zero_fill,
        static_cast<int>(zero_count));
    OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Im2ColQuantizeNhwc16Kernel");
    return Status::Ok();
  }
  OCTET_RETURN_IF_ERROR(MemsetZeroFill(zero_fill, zero_count, stream));
  if (nhwc16) {
    Im2ColQuantizeKernel<true>
        <<<GridFor(total), kThreads, 0, stream>>>(x, nhwc, g, total, absmax, codes, row_scales);
  } else if (k_padded <= kMaxStagedRowBytes) {
    const int words = g.k_padded / 4;
    const size_t shared = size_t{kRowThreads} * (words + 1) * sizeof(uint32_t);
    const unsigned blocks =
        static_cast<unsigned>(std::min<int64_t>((rows + kRowThreads - 1) / kRowThreads, 132 * 64));
    const int step_rows = kRowThreads / words, step_words = kRowThreads % words;
    if (nhwc)
      Im2ColQuantizeRowsKernel<true><<<blocks, kRowThreads, shared, stream>>>(
          x, g, rows, step_rows, step_words, absmax, codes, row_scales);
    else
      Im2ColQuantizeRowsKernel<false><<<blocks, kRowThreads, shared, stream>>>(
          x, g, rows, step_rows, step_words, absmax, codes, row_scales);
  } else {
    Im2ColQuantizeKernel<false>
        <<<GridFor(total), kThreads, 0, stream>>>(x, nhwc, g, total, absmax, codes, row_scales);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Im2ColQuantizeKernel");
  return Status::Ok();
}

Status Im2ColQuantizeInt8Pixels(const float* x, ActLayout layout, const Conv2dDims& d,
                                const Window2d& w, int64_t k_padded, const float* absmax,
                                float qmax, float min_scale, uint32_t* pixel_codes, int8_t* codes,
                                float* row_scales, cudaStream_t stream) {
  Im2ColGeometry g;
  int64_t rows = 0;
  OCTET_RETURN_IF_ERROR(MakeIm2ColGeometry("Im2ColQuantizeInt8Pixels", x, d, w, k_padded, absmax,
                                           qmax, min_scale, codes, row_scales, &g, &rows));
  if (d.channels > kMaxPixelChannels || k_padded > kMaxStagedRowBytes)
    return InvalidArgument("Im2ColQuantizeInt8Pixels: ", d.channels, " channels and rows of ",
                           k_padded, " codes; the pixel path takes at most ", kMaxPixelChannels,
                           " channels and ", kMaxStagedRowBytes, " codes a row");
  if (rows == 0) return Status::Ok();
  if (pixel_codes == nullptr) return InvalidArgument("Im2ColQuantizeInt8Pixels: null pixel_codes");
  const int64_t plane = d.height * d.width;
  if (rows >= (int64_t{1} << 31) || d.batch * plane * d.channels >= (int64_t{1} << 31))
    return InvalidArgument("Im2ColQuantizeInt8Pixels: inputs and im2col rows must stay below 2^31");
  const int images = static_cast<int>(d.batch), plane32 = static_cast<int>(plane);
  if (layout == ActLayout::kNhwc)
    QuantizePixelsKernel<true><<<GridFor(d.batch * plane), kThreads, 0, stream>>>(
        x, g.c, plane32, images, absmax, qmax, min_scale, pixel_codes);
  else
    QuantizePixelsKernel<false><<<GridFor(d.batch * plane), kThreads, 0, stream>>>(
        x, g.c, plane32, images, absmax, qmax, min_scale, pixel_codes);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("QuantizePixelsKernel");
  const int words = g.k_padded / 4;
  const size_t shared = size_t{kRowThreads} * (words + 1) * sizeof(uint32_t);
  const unsigned blocks =
      static_cast<unsigned>(std::min<int64_t>((rows + kRowThreads - 1) / kRowThreads, 132 * 64));
  Im2ColPixelsKernel<<<blocks, kRowThreads, shared, stream>>>(
      pixel_codes, g, static_cast<int>(rows), FastDiv::Of(g.oh * g.ow), FastDiv::Of(g.ow),
      kRowThreads / words, kRowThreads % words, absmax, codes, row_scales);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Im2ColPixelsKernel");
  return Status::Ok();
}

bool QuantizeOnceFirst(const Conv2dDims& d, const Window2d& w) {
  // Measured on the H100 (docs/cuda-backend.md, ConvInt8Gather.GatherTimes):
  // resnet18's 3x3 stride-1 gathers (each value in 9 windows) at batch 64
  // take 1.10-1.21x less time in two passes, its 3x3 stride-2 ones (2.25
  // windows a value) 1.25-1.3x more: the second pass writes as many bytes
  // as the direct gather and the first adds a read and a write of the input,
  // which only many saved quantizations pay for. At batch 1 (at most 200,704
  // input values) the two passes take 6.8-8.3 us against 3.7-4.8 us: the
  // second launch is what they add.
  constexpr int64_t kMinValues = int64_t{1} << 20;
  return d.channels % 16 == 0 && w.kernel_h * w.kernel_w >= 4 * w.stride_h * w.stride_w &&
         d.batch * d.channels * d.height * d.width >= kMinValues;
}

bool ImplicitGemmFirst(const Conv2dDims& d, const Window2d& w) {
  // Measured on the H100 (docs/cuda-backend.md, "The implicit GEMM"):
  // through TMA's im2col mode the implicit GEMM is as fast as the rows GEMM
  // or faster at every resnet18 shape and batch, and saves the rows (1.0-2.1x
  // with the first passes), as long as the windows cover the input (a 1x1
  // stride-2 window reads a quarter of it: the direct gather quantizes only
  // that). With the cp.async gather (C % 128 != 0) it wins only where the
  // rows are many: layer1 at batch 64 (1.8x), not at batch 1 (0.7x), which
  // takes the two-pass rule and 8192 output pixels.
  constexpr int64_t kMinPixels = 8192;
  if (d.channels % 16 != 0 || w.kernel_h * w.kernel_w > 32) return false;
  if (Int8ConvTakesIm2colMode(d, w)) return w.kernel_h * w.kernel_w >= w.stride_h * w.stride_w;
  return QuantizeOnceFirst(d, w) && d.batch * d.out_height * d.out_width >= kMinPixels;
}

Status Im2ColQuantizeInt8Nhwc16(const float* x, const Conv2dDims& d, const Window2d& w,
                                int64_t k_padded, const float* absmax, float qmax, float min_scale,
                                int8_t* x_codes, int8_t* codes, float* row_scales,
                                cudaStream_t stream, float* zero_fill, int64_t zero_count) {
  OCTET_RETURN_IF_ERROR(CheckZeroFill("Im2ColQuantizeInt8Nhwc16", zero_fill, zero_count));
  Im2ColGeometry g;
  int64_t rows = 0;
  OCTET_RETURN_IF_ERROR(MakeIm2ColGeometry("Im2ColQuantizeInt8Nhwc16", x, d, w, k_padded, absmax,
                                           qmax, min_scale, codes, row_scales, &g, &rows));
  if (d.channels % 16 != 0)
    return InvalidArgument("Im2ColQuantizeInt8Nhwc16: ", d.channels,
                           " channels; this gather takes a multiple of 16");
  if (rows == 0) return MemsetZeroFill(zero_fill, zero_count, stream);
  if (x_codes == nullptr) return InvalidArgument("Im2ColQuantizeInt8Nhwc16: null x_codes");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(x_codes) % 16 != 0)
    return InvalidArgument("Im2ColQuantizeInt8Nhwc16: x and x_codes must be 16-byte aligned");
  const int64_t image = d.channels * d.height * d.width;
  const int64_t total = rows * g.chunks;
  if (total >= (int64_t{1} << 31) || d.batch * image >= (int64_t{1} << 31))
    return InvalidArgument("Im2ColQuantizeInt8Nhwc16: inputs and im2col matrices must stay below ",
                           "2^31 elements");
  const int64_t x_chunks = d.batch * image / 16;
  QuantizeNhwc16Kernel<<<GridFor(x_chunks), kThreads, 0, stream>>>(
      x, FastDiv::Of(static_cast<int>(image / 16)), static_cast<int>(x_chunks), absmax, qmax,
      min_scale, x_codes, zero_fill, static_cast<int>(zero_count), nullptr, 0);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("QuantizeNhwc16Kernel");
  Im2ColDivisors div;
  div.chunks = FastDiv::Of(g.chunks);
  div.pixels = FastDiv::Of(g.oh * g.ow);
  div.ow = FastDiv::Of(g.ow);
  div.tap_chunks = FastDiv::Of(g.c / 16);
  div.kw = FastDiv::Of(g.kw);
  Im2ColCodesNhwc16Kernel<<<GridFor(total), kThreads, 0, stream>>>(
      x_codes, g, div, static_cast<int>(total), absmax, codes, row_scales);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Im2ColCodesNhwc16Kernel");
  return Status::Ok();
}

Status QuantizeInt8Nhwc16(const float* x, int64_t batch, int64_t image_size, const float* absmax,
                          float qmax, float min_scale, int8_t* x_codes, float* image_scales,
                          cudaStream_t stream, float* zero_fill, int64_t zero_count) {
  OCTET_RETURN_IF_ERROR(CheckZeroFill("QuantizeInt8Nhwc16", zero_fill, zero_count));
  if (batch < 0 || image_size <= 0 || image_size % 16 != 0 || batch > 65535)
    return InvalidArgument("QuantizeInt8Nhwc16: ", batch, " images of ", image_size,
                           " values (batch in [0, 65535], images of a multiple of 16 values)");
  if (!(qmax > 0.f) || !(min_scale > 0.f))
    return InvalidArgument("QuantizeInt8Nhwc16: qmax ", qmax, " and min_scale ", min_scale,
                           " must be positive");
  if (batch * image_size >= (int64_t{1} << 31))
    return InvalidArgument("QuantizeInt8Nhwc16: inputs must stay below 2^31 elements");
  if (batch == 0) return MemsetZeroFill(zero_fill, zero_count, stream);
  if (x == nullptr || absmax == nullptr || x_codes == nullptr || image_scales == nullptr)
    return InvalidArgument("QuantizeInt8Nhwc16: null x, absmax, x_codes or image_scales");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(x_codes) % 16 != 0)
    return InvalidArgument("QuantizeInt8Nhwc16: x and x_codes must be 16-byte aligned");
  const int64_t x_chunks = batch * image_size / 16;
  // At least one thread per image for the scales.
  const unsigned grid = std::max<unsigned>(GridFor(x_chunks), (batch + kThreads - 1) / kThreads);
  QuantizeNhwc16Kernel<<<grid, kThreads, 0, stream>>>(
      x, FastDiv::Of(static_cast<int>(image_size / 16)), static_cast<int>(x_chunks), absmax, qmax,
      min_scale, x_codes, zero_fill, static_cast<int>(zero_count), image_scales,
      static_cast<int>(batch));
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("QuantizeNhwc16Kernel");
  return Status::Ok();
}

}  // namespace octet::cuda
