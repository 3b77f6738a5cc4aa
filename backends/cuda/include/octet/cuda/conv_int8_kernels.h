// The gathers of the int8-dynamic convolution (docs/cuda-backend.md,
// "int8 convolutions"): the preset quantizes a Conv's input with one scale
// per image (passes/quant/include/octet/quant/convert.h), so
//
//   absmax[b]      = max |x[b]| over the image's C * H * W values
//   scale[b]       = max(absmax[b] / qmax, min_scale)           (f32 division)
//   codes[m, k]    = saturate_int8(round_half_even(x_k / scale[b]))
//
// where row m = (b, oh, ow) of the im2col matrix [batch * OH * OW, k_padded]
// is one output pixel and column k = (i * kw + j) * C + c its window's tap
// (i, j) of channel c (0 in the padding and for k >= C * kh * kw). Every row
// of image b carries scale[b] (row_scales[m]), so Int8DynamicGemm's
// per-row x per-channel dequantization is exact. Codes are bit-identical to
// the reference interpreter's QuantizeLinear (IEEE division, rintf).
//
// Pixel-major rows with the channel innermost make the GEMM's output [pixels,
// O], that is NHWC, and make an NHWC input the fast case (16 channels of one
// pixel are 64 contiguous bytes). As the other kernels: device pointers and a
// stream, nothing allocated, nothing synchronised (graph-capturable).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/cuda/conv_pool_kernels.h"
#include "octet/status.h"

namespace octet::cuda {

enum class ActLayout { kNchw, kNhwc };

// absmax[b] = max |x| over image b's image_size floats, b < batch (the image
// is contiguous in NCHW and in NHWC alike). absmax is overwritten.
Status ImageAbsMax(const float* x, int64_t batch, int64_t image_size, float* absmax,
                   cudaStream_t stream);

// The quantized im2col rows above: codes i8 [batch * OH * OW, k_padded]
// (k_padded a multiple of 16, >= C * kh * kw; 16-byte aligned) and
// row_scales f32 [batch * OH * OW], from x f32 in `layout` (dims as NCHW
// sizes) and ImageAbsMax's absmax. With zero_fill (here and in
// Im2ColQuantizeInt8Nhwc16), also zero_fill[0, zero_count) = 0 before the
// stream's next work: the op's own per-image maximum that its GEMM's epilogue
// raises next, zeroed by the gather kernel (NHWC, C % 16 == 0) rather than
// by a memset node of its own, or by a memset where the gather takes another
// kernel.
Status Im2ColQuantizeInt8(const float* x, ActLayout layout, const Conv2dDims& dims,
                          const Window2d& window, int64_t k_padded, const float* absmax, float qmax,
                          float min_scale, int8_t* codes, float* row_scales, cudaStream_t stream,
                          float* zero_fill = nullptr, int64_t zero_count = 0);

// Inputs of at most kMaxPixelChannels channels (resnet's conv1: 3) with rows
// of at most kMaxStagedRowBytes codes: the same codes and row scales as
// Im2ColQuantizeInt8, in two passes: each input value quantized once into
// pixel_codes u32 [batch, H, W] (channel c in byte c), then the rows
// gathered from those words. pixel_codes is scratch the caller provides
// (4-byte aligned).
constexpr int64_t kMaxPixelChannels = 4;
constexpr int64_t kMaxStagedRowBytes = 512;
Status Im2ColQuantizeInt8Pixels(const float* x, ActLayout layout, const Conv2dDims& dims,
                                const Window2d& window, int64_t k_padded, const float* absmax,
                                float qmax, float min_scale, uint32_t* pixel_codes, int8_t* codes,
                                float* row_scales, cudaStream_t stream);

// NHWC inputs with C % 16 == 0 (resnet's convolutions after the stem): the
// same codes and row scales as Im2ColQuantizeInt8, in two passes: x
// quantized once into x_codes i8 [batch, H, W, C] (each value once, where
// the direct gather quantizes it once per window that holds it: 9 times for
// a 3x3 stride-1 window), then the rows copied from those codes in 16-byte
// chunks (16 channels of one tap; zeros in the padding and past the taps).
// x and x_codes must be 16-byte aligned; x_codes is scratch the caller
// provides.
Status Im2ColQuantizeInt8Nhwc16(const float* x, const Conv2dDims& dims, const Window2d& window,
                                int64_t k_padded, const float* absmax, float qmax, float min_scale,
                                int8_t* x_codes, int8_t* codes, float* row_scales,
                                cudaStream_t stream, float* zero_fill = nullptr,
                                int64_t zero_count = 0);

// The first pass of Im2ColQuantizeInt8Nhwc16 alone, for the implicit GEMM
// (Int8DynamicGemm::RunConv), which gathers its rows from the codes itself:
// x_codes i8 = each value of x (NHWC, or any layout: images are contiguous)
// quantized with its image's scale, image_scales f32 [batch] = those scales
// (the rows' scales, one per image). image_size = C * H * W, a multiple of
// 16; x and x_codes 16-byte aligned. zero_fill as in Im2ColQuantizeInt8.
Status QuantizeInt8Nhwc16(const float* x, int64_t batch, int64_t image_size, const float* absmax,
                          float qmax, float min_scale, int8_t* x_codes, float* image_scales,
                          cudaStream_t stream, float* zero_fill = nullptr, int64_t zero_count = 0);

// Whether Im2ColQuantizeInt8Nhwc16 is the faster gather for this input and
// window: it takes NHWC with C % 16 == 0, a value must lie in at least 4
// windows on average (kh * kw >= 4 * sh * sw: 3x3 stride 1, not 3x3 stride
// 2, nor 1x1, where the direct gather quantizes each value at most once),
// and the input must be large enough for the saved quantizations to pay for
// a second kernel (at least 2^20 values; measured on the H100,
// docs/cuda-backend.md).
bool QuantizeOnceFirst(const Conv2dDims& dims, const Window2d& window);

// Whether the implicit GEMM (QuantizeInt8Nhwc16 into an x_codes scratch,
// then Int8DynamicGemm::RunConv on the codes) is the faster convolution for
// this input and window, against a rows gather and the GEMM on its rows (x
// NHWC, C % 16 == 0, at most 32 taps): through TMA's im2col mode
// (Int8ConvTakesIm2colMode) wherever the windows cover the input (kh * kw
// >= sh * sw); with the cp.async gather where QuantizeOnceFirst holds and
// the output has at least 8192 pixels (docs/cuda-backend.md has the
// measurements).
bool ImplicitGemmFirst(const Conv2dDims& dims, const Window2d& window);

}  // namespace octet::cuda
