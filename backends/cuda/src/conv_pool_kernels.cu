// conv_pool_kernels.h. All memory-bound gathers: one thread per output
// element in a grid-stride loop, consecutive threads on consecutive output
// pixels (coalesced writes; the reads are strided by the window's stride and
// mostly hit L1/L2, every input element being read by about kh * kw / (sh *
// sw) windows).
#include <cuda_bf16.h>

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "octet/cuda/conv_pool_kernels.h"
#include "octet/cuda/cuda_status.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

unsigned BlocksFor(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

// Plain ints for the device: the sizes of one problem.
struct Geometry {
  int64_t c, h, w, o, oh, ow;
  int64_t kh, kw, sh, sw, pt, pl, pb, pr, dh, dw;
};

Geometry MakeGeometry(const Conv2dDims& d, const Window2d& w) {
  return {d.channels,   d.height,    d.width,      d.out_channels, d.out_height, d.out_width,
          w.kernel_h,   w.kernel_w,  w.stride_h,   w.stride_w,     w.pad_top,    w.pad_left,
          w.pad_bottom, w.pad_right, w.dilation_h, w.dilation_w};
}

// One block row per (image, tap row r): the tap's channel and offsets are
// uniform across the block, and the threads run over the output pixels with
// 32-bit index math (a pixel count fits; image and row offsets are 64-bit).
// Each thread writes kVec consecutive pixels of the row: kVec = 8 (pixels %
// 8 == 0) as one 16-byte store, since scalar 2-byte stores made the gather
// of resnet's stem (244 MB of cols at batch 64) most of its convolution's
// time; the 8 pixels may span two output rows.
template <int kVec>
__global__ void Im2ColBf16Kernel(const float* __restrict__ x, Geometry g, int64_t batch,
                                 int64_t rows, int64_t ones_rows,
                                 __nv_bfloat16* __restrict__ cols) {
  static_assert(kVec == 1 || kVec == 8, "one bf16 or one 16-byte store per thread");
  using Store = std::conditional_t<kVec == 8, uint4, __nv_bfloat16>;
  const int ow = static_cast<int>(g.ow), h = static_cast<int>(g.h), w = static_cast<int>(g.w);
  const int sh = static_cast<int>(g.sh), sw = static_cast<int>(g.sw);
  const int pixels = static_cast<int>(g.oh * g.ow), taps = static_cast<int>(g.kh * g.kw);
  const int groups = pixels / kVec;
  const int64_t k = g.c * taps;
  const int first = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
  const int step = static_cast<int>(gridDim.x * blockDim.x);
  for (int64_t b = blockIdx.z; b < batch; b += gridDim.z)
    for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
      Store* dst = reinterpret_cast<Store*>(cols + (b * rows + r) * pixels);
      alignas(16) __nv_bfloat16 v[kVec];
      if (r >= k) {  // the bias rows of ones, then zeros
        for (int j = 0; j < kVec; ++j) v[j] = __float2bfloat16_rn(r < k + ones_rows ? 1.f : 0.f);
        for (int q = first; q < groups; q += step) dst[q] = *reinterpret_cast<const Store*>(v);
        continue;
      }
      const int c = static_cast<int>(r / taps), tap = static_cast<int>(r % taps);
      const int ih0 =
          (tap / static_cast<int>(g.kw)) * static_cast<int>(g.dh) - static_cast<int>(g.pt);
      const int iw0 =
          (tap % static_cast<int>(g.kw)) * static_cast<int>(g.dw) - static_cast<int>(g.pl);
      const float* xc = x + (b * g.c + c) * g.h * g.w;
      for (int q = first; q < groups; q += step) {
        int oh = kVec * q / ow, oc = kVec * q - oh * ow;
#pragma unroll
        for (int j = 0; j < kVec; ++j) {
          const int ih = oh * sh + ih0, iw = oc * sw + iw0;
          const bool inside = static_cast<unsigned>(ih) < static_cast<unsigned>(h) &&
                              static_cast<unsigned>(iw) < static_cast<unsigned>(w);
          v[j] = __float2bfloat16_rn(inside ? __ldg(xc + ih * w + iw) : 0.f);
          if (++oc == ow) oc = 0, ++oh;
        }
        dst[q] = *reinterpret_cast<const Store*>(v);
      }
    }
}

__global__ void GroupedConvKernel(const float* __restrict__ x, const float* __restrict__ wt,
                                  const float* __restrict__ bias, const float* residual, Geometry g,
                                  int64_t batch, int64_t groups, bool relu, float* y) {
  const int64_t pixels = g.oh * g.ow, total = batch * g.o * pixels;
  const int64_t cg = g.c / groups, og = g.o / groups;
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t e = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t p = e % pixels, o = (e / pixels) % g.o, b = e / (pixels * g.o);
    const int64_t oh = p / g.ow, ow = p % g.ow, c0 = (o / og) * cg;
    float acc = 0.f;
    for (int64_t c = 0; c < cg; ++c) {
      const float* xc = x + (b * g.c + c0 + c) * g.h * g.w;
      const float* wc = wt + (o * cg + c) * g.kh * g.kw;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t ih = oh * g.sh - g.pt + i * g.dh;
        if (ih < 0 || ih >= g.h) continue;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t iw = ow * g.sw - g.pl + j * g.dw;
          if (iw >= 0 && iw < g.w) acc = fmaf(xc[ih * g.w + iw], wc[i * g.kw + j], acc);
        }
      }
    }
    if (bias != nullptr) acc += bias[o];
    if (residual != nullptr) acc += residual[e];
    y[e] = relu ? fmaxf(acc, 0.f) : acc;
  }
}

// One thread per output pixel (consecutive threads on consecutive pixels of
// a plane), looping over planes: the window's position and its bounds are
// worked out once per pixel, not per output (the kernel was issue-bound on
// that index math, resnet18's max pool at batch 64 taking 2.4x its memory
// traffic). kK = 3: the 3x3 window unrolled (resnet's pool); 0: any window.
// Index is int where the tensors have fewer than 2^31 elements (64-bit
// division is emulated on the GPU).
template <typename Index, int kK>
__global__ void Pool2dKernel(const float* __restrict__ x, Geometry g64, Index planes, int kind,
                             float* __restrict__ y) {
  const Index h = static_cast<Index>(g64.h), w = static_cast<Index>(g64.w);
  const Index out_w = static_cast<Index>(g64.ow);
  const int kh = kK > 0 ? kK : static_cast<int>(g64.kh),
            kw = kK > 0 ? kK : static_cast<int>(g64.kw);
  const Index pixels = static_cast<Index>(g64.oh) * out_w;
  const Index p = static_cast<Index>(blockIdx.x) * static_cast<Index>(blockDim.x) +
                  static_cast<Index>(threadIdx.x);
  if (p >= pixels) return;
  const Index oh = p / out_w, ow = p - oh * out_w;
  const Index ih0 = oh * static_cast<Index>(g64.sh) - static_cast<Index>(g64.pt);
  const Index iw0 = ow * static_cast<Index>(g64.sw) - static_cast<Index>(g64.pl);
  const Index dh = static_cast<Index>(g64.dh), dw = static_cast<Index>(g64.dw);
  // count_include_pad counts the taps inside the padded input.
  int padded_taps = 0, inside_taps = 0;
  for (int i = 0; i < kh; ++i)
    for (int j = 0; j < kw; ++j) {
      const Index ih = ih0 + i * dh, iw = iw0 + j * dw;
      inside_taps += ih >= 0 && ih < h && iw >= 0 && iw < w;
      padded_taps += ih >= -static_cast<Index>(g64.pt) && ih < h + static_cast<Index>(g64.pb) &&
                     iw >= -static_cast<Index>(g64.pl) && iw < w + static_cast<Index>(g64.pr);
    }
  const float divisor = static_cast<float>(kind == 1 ? padded_taps : inside_taps);
  for (Index plane = static_cast<Index>(blockIdx.y); plane < planes;
       plane += static_cast<Index>(gridDim.y)) {
    const float* xp = x + static_cast<int64_t>(plane) * h * w;
    float best = -INFINITY, sum = 0.f;
#pragma unroll
    for (int i = 0; i < kh; ++i) {
      const Index ih = ih0 + i * dh;
      if (ih < 0 || ih >= h) continue;
#pragma unroll
      for (int j = 0; j < kw; ++j) {
        const Index iw = iw0 + j * dw;
        if (iw < 0 || iw >= w) continue;
        const float v = __ldg(xp + ih * w + iw);
        best = fmaxf(best, v);
        sum += v;
      }
    }
    y[static_cast<int64_t>(plane) * pixels + p] = kind == 0 ? best : sum / divisor;
  }
}

// Max pooling over NHWC: one thread per output pixel and kVec channels
// (consecutive threads on consecutive channels, so that each tap's loads and
// the stores are contiguous across the warp), 32-bit index math (the host
// checks the sizes). MaxPoolNhwcItem computes and stores item e (kVec
// channels of one output pixel) and returns the largest |y| of it (fmaxf
// drops NaN, as ImageAbsMax does).
template <int kVec>
__device__ __forceinline__ float MaxPoolNhwcItem(const float* __restrict__ x, const Geometry& g64,
                                                 int e, float* __restrict__ y) {
  using V = std::conditional_t<kVec == 4, float4, float>;
  const int c = static_cast<int>(g64.c), groups = c / kVec;
  const int h = static_cast<int>(g64.h), w = static_cast<int>(g64.w);
  const int out_h = static_cast<int>(g64.oh), out_w = static_cast<int>(g64.ow);
  const int kh = static_cast<int>(g64.kh), kw = static_cast<int>(g64.kw);
  const int sh = static_cast<int>(g64.sh), sw = static_cast<int>(g64.sw);
  const int pt = static_cast<int>(g64.pt), pl = static_cast<int>(g64.pl);
  const int dh = static_cast<int>(g64.dh), dw = static_cast<int>(g64.dw);
  const int group = e % groups, pixel = e / groups;
  const int ow = pixel % out_w, rest = pixel / out_w;
  const int oh = rest % out_h, b = rest / out_h;
  float best[kVec];
#pragma unroll
  for (int v = 0; v < kVec; ++v) best[v] = -INFINITY;
  for (int i = 0; i < kh; ++i) {
    const int ih = oh * sh - pt + i * dh;
    if (static_cast<unsigned>(ih) >= static_cast<unsigned>(h)) continue;
    for (int j = 0; j < kw; ++j) {
      const int iw = ow * sw - pl + j * dw;
      if (static_cast<unsigned>(iw) >= static_cast<unsigned>(w)) continue;
      const V in = reinterpret_cast<const V*>(x)[((b * h + ih) * w + iw) * groups + group];
      const float* f = reinterpret_cast<const float*>(&in);
#pragma unroll
      for (int v = 0; v < kVec; ++v) best[v] = fmaxf(best[v], f[v]);
    }
  }
  V out;
  float* o = reinterpret_cast<float*>(&out);
  float largest = 0.f;
#pragma unroll
  for (int v = 0; v < kVec; ++v) {
    o[v] = best[v];
    largest = fmaxf(largest, fabsf(best[v]));
  }
  reinterpret_cast<V*>(y)[e] = out;
  return largest;
}

template <int kVec>
__global__ void MaxPoolNhwcKernel(const float* __restrict__ x, Geometry g64, int total,
                                  float* __restrict__ y) {
  const int stride = static_cast<int>(gridDim.x * blockDim.x);
  for (int e = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x); e < total; e += stride)
    MaxPoolNhwcItem<kVec>(x, g64, e, y);
}

// The same, with the per-image max |y| (image_items items an image) raised
// into absmax_bits as the bits of a non-negative float (atomicMax; zeroed by
// the caller). The grid strides by whole blocks, so that each step of a
// block covers kThreads consecutive items, almost always of one image: the
// block reduces them and raises one atomic (a step across two images raises
// one per thread). One atomic per warp took 40 us more than the plain pool
// on resnet18's stem at batch 64 (100,000 atomics on 64 addresses, serialised
// per address); four items a thread and an atomic per block, 24 us more.
template <int kVec>
__global__ void __launch_bounds__(kThreads)
    MaxPoolNhwcAbsMaxKernel(const float* __restrict__ x, Geometry g64, int total,
                            float* __restrict__ y, unsigned* __restrict__ absmax_bits,
                            int image_items) {
  __shared__ float warp_max[kThreads / 32];
  const int lane = static_cast<int>(threadIdx.x % 32), warp = static_cast<int>(threadIdx.x / 32);
  for (int first = static_cast<int>(blockIdx.x) * kThreads; first < total;
       first += static_cast<int>(gridDim.x) * kThreads) {
    const int e = first + static_cast<int>(threadIdx.x);
    float largest = e < total ? MaxPoolNhwcItem<kVec>(x, g64, e, y) : 0.f;
    const int image = first / image_items;
    if (image != (min(first + kThreads, total) - 1) / image_items) {  // across two images
      if (e < total && largest > 0.f)
        atomicMax(absmax_bits + e / image_items, __float_as_uint(largest));
      continue;  // uniform across the block: no barrier is skipped by some threads only
    }
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2)
      largest = fmaxf(largest, __shfl_xor_sync(0xffffffffu, largest, offset));
    if (lane == 0) warp_max[warp] = largest;
    __syncthreads();
    if (threadIdx.x == 0) {
      for (int w = 1; w < kThreads / 32; ++w) largest = fmaxf(largest, warp_max[w]);
      if (largest > 0.f) atomicMax(absmax_bits + image, __float_as_uint(largest));
    }
    __syncthreads();  // warp_max is rewritten by the next step
  }
}

__global__ void GlobalAveragePoolKernel(const float* __restrict__ x, int64_t planes,
                                        int64_t plane_size, float* __restrict__ y) {
  const int64_t warps = int64_t{gridDim.x} * (blockDim.x / 32);
  const int lane = threadIdx.x % 32;
  for (int64_t plane = int64_t{blockIdx.x} * (blockDim.x / 32) + threadIdx.x / 32; plane < planes;
       plane += warps) {
    const float* xp = x + plane * plane_size;
    float sum = 0.f;
    for (int64_t i = lane; i < plane_size; i += 32) sum += xp[i];
#pragma unroll
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    if (lane == 0) y[plane] = sum / static_cast<float>(plane_size);
  }
}

__global__ void GeluErfKernel(float* y, int64_t n) {
  const int64_t stride = int64_t{gridDim.x} * blockDim.x;
  for (int64_t i = int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = y[i];
    y[i] = 0.5f * v * (1.f + erff(v * 0.70710678118654752f));
  }
}

Status CheckWindow(const char* what, const Conv2dDims& d, const Window2d& w) {
  if (d.batch < 0 || d.channels <= 0 || d.height <= 0 || d.width <= 0 || d.out_height < 0 ||
      d.out_width < 0 || w.kernel_h <= 0 || w.kernel_w <= 0 || w.stride_h <= 0 || w.stride_w <= 0 ||
      w.dilation_h <= 0 || w.dilation_w <= 0 || w.pad_top < 0 || w.pad_left < 0 ||
      w.pad_bottom < 0 || w.pad_right < 0)
    return InvalidArgument(what, ": bad dims or window (input [", d.batch, ",", d.channels, ",",
                           d.height, ",", d.width, "], kernel ", w.kernel_h, "x", w.kernel_w, ")");
  return Status::Ok();
}

}  // namespace

Status Im2ColBf16(const float* x, const Conv2dDims& dims, const Window2d& window, int64_t rows,
                  int64_t ones_rows, void* cols, cudaStream_t stream) {
  OCTET_RETURN_IF_ERROR(CheckWindow("Im2ColBf16", dims, window));
  const int64_t k = dims.channels * window.kernel_h * window.kernel_w;
  if (ones_rows < 0 || rows < k + ones_rows)
    return InvalidArgument("Im2ColBf16: ", rows, " rows cannot hold ", k, " taps and ", ones_rows,
                           " rows of ones");
  const int64_t pixels = dims.out_height * dims.out_width;
  if (dims.batch * rows * pixels == 0) return Status::Ok();
  if (x == nullptr || cols == nullptr) return InvalidArgument("Im2ColBf16: null x or cols");
  if (pixels >= (int64_t{1} << 31) || dims.height * dims.width >= (int64_t{1} << 31))
    return InvalidArgument("Im2ColBf16: planes of 2^31 elements or more are not supported");
  // 16-byte stores where every row of cols is whole groups of 8 pixels (and
  // cols, allocated by the runtime, 16-byte aligned), for horizontal strides
  // up to 2: there a thread's 8 reads share few sectors (resnet's stem, 1000
  // -> 410 us at batch 64 on the H100); at SAM's stride 16 each is a sector of
  // its own and the one-pixel kernel was faster (256 against 283 us, vit_b
  // batch 8; build/cuda_conv_bench).
  const bool by8 =
      pixels % 8 == 0 && reinterpret_cast<uintptr_t>(cols) % 16 == 0 && window.stride_w <= 2;
  const int64_t per_row = by8 ? pixels / 8 : pixels;
  const dim3 grid(static_cast<unsigned>(std::min<int64_t>((per_row + kThreads - 1) / kThreads, 64)),
                  static_cast<unsigned>(std::min<int64_t>(rows, 65535)),
                  static_cast<unsigned>(std::min<int64_t>(dims.batch, 65535)));
  auto* const kernel = by8 ? Im2ColBf16Kernel<8> : Im2ColBf16Kernel<1>;
  kernel<<<grid, kThreads, 0, stream>>>(x, MakeGeometry(dims, window), dims.batch, rows, ones_rows,
                                        static_cast<__nv_bfloat16*>(cols));
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Im2ColBf16Kernel");
  return Status::Ok();
}

Status GroupedConv2dF32(const float* x, const float* w, const float* bias, const float* residual,
                        const Conv2dDims& dims, const Window2d& window, int64_t groups, bool relu,
                        float* y, cudaStream_t stream) {
  OCTET_RETURN_IF_ERROR(CheckWindow("GroupedConv2dF32", dims, window));
  if (groups <= 0 || dims.channels % groups != 0 || dims.out_channels % groups != 0)
    return InvalidArgument("GroupedConv2dF32: ", groups, " groups do not divide ", dims.channels,
                           " input and ", dims.out_channels, " output channels");
  const int64_t total = dims.batch * dims.out_channels * dims.out_height * dims.out_width;
  if (total == 0) return Status::Ok();
  if (x == nullptr || w == nullptr || y == nullptr)
    return InvalidArgument("GroupedConv2dF32: null x, w or y");
  GroupedConvKernel<<<BlocksFor(total), kThreads, 0, stream>>>(
      x, w, bias, residual, MakeGeometry(dims, window), dims.batch, groups, relu, y);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GroupedConvKernel");
  return Status::Ok();
}

Status Pool2dF32(const float* x, const Conv2dDims& dims, const Window2d& window, PoolKind kind,
                 float* y, cudaStream_t stream) {
  OCTET_RETURN_IF_ERROR(CheckWindow("Pool2dF32", dims, window));
  const int64_t planes = dims.batch * dims.channels;
  const int64_t total = planes * dims.out_height * dims.out_width;
  if (total == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("Pool2dF32: null x or y");
  const int k = kind == PoolKind::kMax ? 0 : (kind == PoolKind::kAverageIncludePad ? 1 : 2);
  const int64_t in_total = planes * dims.height * dims.width;
  const int64_t pixels = dims.out_height * dims.out_width;
  // Blocks over a plane's pixels, times enough plane groups for about eight
  // blocks per SM; each thread loops over its group's planes.
  const int64_t pixel_blocks = (pixels + kThreads - 1) / kThreads;
  if (pixel_blocks > 0x7FFFFFFF)
    return InvalidArgument("Pool2dF32: ", pixels, " output pixels per plane is too many");
  const dim3 grid(static_cast<unsigned>(pixel_blocks),
                  static_cast<unsigned>(std::clamp<int64_t>(1056 / pixel_blocks, 1,
                                                            std::min<int64_t>(planes, 65535))));
  const Geometry g = MakeGeometry(dims, window);
  const bool three = window.kernel_h == 3 && window.kernel_w == 3;
  if (total < (int64_t{1} << 31) && in_total < (int64_t{1} << 31)) {
    if (three)
      Pool2dKernel<int, 3><<<grid, kThreads, 0, stream>>>(x, g, static_cast<int>(planes), k, y);
    else
      Pool2dKernel<int, 0><<<grid, kThreads, 0, stream>>>(x, g, static_cast<int>(planes), k, y);
  } else {
    Pool2dKernel<int64_t, 0><<<grid, kThreads, 0, stream>>>(x, g, planes, k, y);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("Pool2dKernel");
  return Status::Ok();
}

Status MaxPool2dNhwcF32(const float* x, const Conv2dDims& dims, const Window2d& window, float* y,
                        cudaStream_t stream, float* y_absmax) {
  OCTET_RETURN_IF_ERROR(CheckWindow("MaxPool2dNhwcF32", dims, window));
  const int64_t total = dims.batch * dims.out_height * dims.out_width * dims.channels;
  if (total == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("MaxPool2dNhwcF32: null x or y");
  if (dims.batch * dims.height * dims.width * dims.channels >= (int64_t{1} << 31) ||
      total >= (int64_t{1} << 31))
    return InvalidArgument("MaxPool2dNhwcF32: tensors of 2^31 elements or more are not supported");
  const Geometry g = MakeGeometry(dims, window);
  const bool vec4 = dims.channels % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                    reinterpret_cast<uintptr_t>(y) % 16 == 0;
  const int items = static_cast<int>(vec4 ? total / 4 : total);
  if (y_absmax != nullptr) {
    OCTET_CUDA_RETURN_IF_ERROR(
        cudaMemsetAsync(y_absmax, 0, static_cast<size_t>(dims.batch) * sizeof(float), stream));
    unsigned* bits = reinterpret_cast<unsigned*>(y_absmax);
    const int image_items = static_cast<int>(items / dims.batch);
    if (vec4)
      MaxPoolNhwcAbsMaxKernel<4>
          <<<BlocksFor(items), kThreads, 0, stream>>>(x, g, items, y, bits, image_items);
    else
      MaxPoolNhwcAbsMaxKernel<1>
          <<<BlocksFor(items), kThreads, 0, stream>>>(x, g, items, y, bits, image_items);
  } else if (vec4) {
    MaxPoolNhwcKernel<4><<<BlocksFor(items), kThreads, 0, stream>>>(x, g, items, y);
  } else {
    MaxPoolNhwcKernel<1><<<BlocksFor(items), kThreads, 0, stream>>>(x, g, items, y);
  }
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("MaxPoolNhwcKernel");
  return Status::Ok();
}

Status GlobalAveragePoolF32(const float* x, int64_t planes, int64_t plane_size, float* y,
                            cudaStream_t stream) {
  if (planes < 0 || plane_size <= 0)
    return InvalidArgument("GlobalAveragePoolF32: ", planes, " planes of ", plane_size);
  if (planes == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("GlobalAveragePoolF32: null x or y");
  GlobalAveragePoolKernel<<<BlocksFor(planes * 32), kThreads, 0, stream>>>(x, planes, plane_size,
                                                                           y);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GlobalAveragePoolKernel");
  return Status::Ok();
}

Status GeluErfF32InPlace(float* y, int64_t n, cudaStream_t stream) {
  if (n < 0) return InvalidArgument("GeluErfF32InPlace: negative count ", n);
  if (n == 0) return Status::Ok();
  if (y == nullptr) return InvalidArgument("GeluErfF32InPlace: null y");
  GeluErfKernel<<<BlocksFor(n), kThreads, 0, stream>>>(y, n);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("GeluErfKernel");
  return Status::Ok();
}

}  // namespace octet::cuda
