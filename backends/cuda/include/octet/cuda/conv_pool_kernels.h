// The f32 NCHW kernels around the convolutions' bf16 GEMMs (docs/cuda-backend.md,
// "Convolutions, pooling, float GEMMs"): the im2col gather that converts to
// bf16 as it copies, a direct f32 convolution for grouped / depthwise
// convolutions, max / average pooling, global average pooling, and the exact
// (erf) GELU applied in place after a GEMM.
//
// Like the other kernels, these take device pointers and a stream, allocate
// nothing and do not synchronise, so they can be captured in a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/status.h"

namespace octet::cuda {

// A 2-D window over the last two dims of an NCHW tensor.
struct Window2d {
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
};

// Sizes of one NCHW convolution / pooling at run time.
struct Conv2dDims {
  int64_t batch = 0, channels = 0, height = 0, width = 0;   // the input
  int64_t out_channels = 0, out_height = 0, out_width = 0;  // the output
};

// cols[b, r, p] (bf16, [batch, rows, out_h * out_w]) for r < C * kh * kw the
// input element the window's tap r = (c, i, j) reads for output pixel p
// (0 in the padding), for C * kh * kw <= r < C * kh * kw + ones_rows 1.0 (the
// rows that multiply the bias columns of the weights), and 0 for the rest up
// to `rows`. x is f32 NCHW.
Status Im2ColBf16(const float* x, const Conv2dDims& dims, const Window2d& window, int64_t rows,
                  int64_t ones_rows, void* cols, cudaStream_t stream);

// A direct f32 convolution with `groups` groups (C and O multiples of it):
// y = act(conv(x, w) + bias + residual), w f32 [O, C / groups, kh, kw], bias
// [O] or null, residual f32 of y's dims or null, relu optional. One thread
// per output; for depthwise and small grouped convolutions.
Status GroupedConv2dF32(const float* x, const float* w, const float* bias, const float* residual,
                        const Conv2dDims& dims, const Window2d& window, int64_t groups, bool relu,
                        float* y, cudaStream_t stream);

enum class PoolKind { kMax, kAverageIncludePad, kAverageExcludePad };

// ONNX MaxPool / AveragePool over NCHW f32 (out_channels is ignored; the
// output dims, from the graph, carry ceil_mode). Average: the sum over the
// window's taps inside the input divided by the taps inside the input
// (exclude pad) or inside the padded input (include pad). Max of a window
// with no tap inside the input is -inf.
Status Pool2dF32(const float* x, const Conv2dDims& dims, const Window2d& window, PoolKind kind,
                 float* y, cudaStream_t stream);

// MaxPool as Pool2dF32's kMax over NHWC f32: x [N, H, W, C], y [N, OH, OW,
// C] (dims as NCHW sizes, out_channels ignored). The int8 convolutions'
// layout (conv_int8_kernels.h): resnet's stem max pool between two of them.
// With y_absmax (f32 [N]): also y_absmax[b] = max |y| over image b's outputs
// (overwritten), the per-image maximum the next int8 convolution quantizes
// y with, in place of its own ImageAbsMax pass.
Status MaxPool2dNhwcF32(const float* x, const Conv2dDims& dims, const Window2d& window, float* y,
                        cudaStream_t stream, float* y_absmax = nullptr);

// y[plane] = mean of x's plane of `plane_size` floats, for `planes` planes
// (GlobalAveragePool: planes = N * C, plane_size = H * W). One warp a plane.
Status GlobalAveragePoolF32(const float* x, int64_t planes, int64_t plane_size, float* y,
                            cudaStream_t stream);

// y[i] = x * (1 + erf(x / sqrt 2)) / 2 in place, n elements (PyTorch's exact
// GELU; cuBLASLt's GELU epilogue is the tanh approximation).
Status GeluErfF32InPlace(float* y, int64_t n, cudaStream_t stream);

// The layout change around cuDNN's bf16 channels-last convolution
// (cudnn_conv.h), per image a tiled transpose through shared memory:
// x f32 [N, C, HW] -> bf16 [N, HW, C] (rounded to nearest even).
Status NchwF32ToNhwcBf16(const float* x, int64_t batch, int64_t channels, int64_t pixels, void* y,
                         cudaStream_t stream);
// y f32 [N, O, HW] = relu?(conv bf16 [N, HW, O] + bias[o] + residual);
// bias and the residual may be null. The residual is f32 [N, O, HW] (may be
// y) or, when residual_nhwc is set, bf16 [N, HW, O] like conv.
Status NhwcBf16ToNchwF32(const void* conv, int64_t batch, int64_t channels, int64_t pixels,
                         const float* bias, const float* residual, bool relu, float* y,
                         cudaStream_t stream, const void* residual_nhwc = nullptr);
// In place over y bf16 [N, HW, C] (a convolution's output that the next
// convolution reads NHWC): y = relu?(y + bias[c] + residual), summed in f32
// and rounded once to bf16. The residual is bf16 [N, HW, C] (residual_nhwc,
// not y) or f32 [N, C, HW] (residual_nchw); bias and the residuals may be
// null, at most one residual given.
Status NhwcBf16EpilogueInPlace(void* y, int64_t batch, int64_t channels, int64_t pixels,
                               const float* bias, const void* residual_nhwc,
                               const float* residual_nchw, bool relu, cudaStream_t stream);

}  // namespace octet::cuda
