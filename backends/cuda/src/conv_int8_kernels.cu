// conv_int8_kernels.h.
#include <cuda_runtime.h>

#include <algorithm>

#include "octet/cuda/conv_int8_kernels.h"
#include "octet/cuda/cuda_status.h"

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

__device__ __forceinline__ uint32_t Pack4(int8_t a, int8_t b, int8_t c, int8_t d) {
  return static_cast<uint32_t>(static_cast<uint8_t>(a)) |
         static_cast<uint32_t>(static_cast<uint8_t>(b)) << 8 |
         static_cast<uint32_t>(static_cast<uint8_t>(c)) << 16 |
         static_cast<uint32_t>(static_cast<uint8_t>(d)) << 24;
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
// The longest row it stages (kRowThreads rows of k_padded / 4 + 1 words:
// 33 KiB at 512).
constexpr int kMaxStagedRowBytes = 512;

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
              const float v = kNhwc ? img[(ih * g.w + iw) * g.c + c] : img[(c * g.h + ih) * g.w + iw];
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
    uint32_t* dst = reinterpret_cast<uint32_t*>(codes + m0 * g.k_padded);
    // Word t of the block's rows is word w of row r, t = r * words + w; r and
    // w advance by step_rows and step_words (kRowThreads = step_rows * words
    // + step_words) without a division per word.
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
    __syncthreads();
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

Status Im2ColQuantizeInt8(const float* x, ActLayout layout, const Conv2dDims& d, const Window2d& w,
                          int64_t k_padded, const float* absmax, float qmax, float min_scale,
                          int8_t* codes, float* row_scales, cudaStream_t stream) {
  const int64_t k = d.channels * w.kernel_h * w.kernel_w;
  if (d.batch < 0 || d.channels <= 0 || d.height <= 0 || d.width <= 0 || d.out_height < 0 ||
      d.out_width < 0 || w.kernel_h <= 0 || w.kernel_w <= 0 || w.stride_h <= 0 || w.stride_w <= 0 ||
      w.dilation_h <= 0 || w.dilation_w <= 0 || w.pad_top < 0 || w.pad_left < 0)
    return InvalidArgument("Im2ColQuantizeInt8: bad dims or window (input [", d.batch, ",",
                           d.channels, ",", d.height, ",", d.width, "], kernel ", w.kernel_h, "x",
                           w.kernel_w, ")");
  if (k_padded % 16 != 0 || k_padded < k)
    return InvalidArgument("Im2ColQuantizeInt8: k_padded = ", k_padded,
                           " must be a multiple of 16 holding the ", k, " taps");
  if (!(qmax > 0.f) || !(min_scale > 0.f))
    return InvalidArgument("Im2ColQuantizeInt8: qmax ", qmax, " and min_scale ", min_scale,
                           " must be positive");
  const int64_t rows = d.batch * d.out_height * d.out_width;
  if (rows == 0) return Status::Ok();
  if (x == nullptr || absmax == nullptr || codes == nullptr || row_scales == nullptr)
    return InvalidArgument("Im2ColQuantizeInt8: null x, absmax, codes or row_scales");
  if (reinterpret_cast<uintptr_t>(codes) % 16 != 0)
    return InvalidArgument("Im2ColQuantizeInt8: codes must be 16-byte aligned");
  const int64_t image = d.channels * d.height * d.width;
  if (image >= (int64_t{1} << 31) || d.out_height * d.out_width >= (int64_t{1} << 31) ||
      k_padded >= (int64_t{1} << 31))
    return InvalidArgument("Im2ColQuantizeInt8: images, planes and rows must stay below 2^31 ",
                           "elements");
  Im2ColGeometry g;
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
  const int64_t total = rows * g.chunks;
  const bool nhwc = layout == ActLayout::kNhwc;
  if (nhwc && d.channels % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0) {
    Im2ColQuantizeKernel<true>
        <<<GridFor(total), kThreads, 0, stream>>>(x, nhwc, g, total, absmax, codes, row_scales);
  } else if (k_padded <= kMaxStagedRowBytes) {
    const int words = g.k_padded / 4;
    const size_t shared = size_t{kRowThreads} * (words + 1) * sizeof(uint32_t);
    const unsigned blocks = static_cast<unsigned>(
        std::min<int64_t>((rows + kRowThreads - 1) / kRowThreads, 132 * 64));
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

}  // namespace octet::cuda
