// Window geometry shared by Conv, ConvTranspose, ConvInteger, QLinearConv and the
// pooling kernels: reading kernel_shape/strides/dilations/pads/auto_pad and
// turning them into per-dimension output sizes and begin paddings exactly as the
// ONNX spec defines them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "octet/reference/kernel.h"

namespace octet::reference {

// One spatial dimension of a sliding window.
struct WindowDim {
  int64_t in = 0;   // input extent
  int64_t out = 0;  // output extent
  int64_t kernel = 1;
  int64_t stride = 1;
  int64_t dilation = 1;
  int64_t pad_begin = 0;  // may be larger than the kernel; positions there read padding
  int64_t pad_end = 0;
  // Extent covered by one window: (kernel - 1) * dilation + 1.
  int64_t span() const { return (kernel - 1) * dilation + 1; }
};

struct WindowAttrs {
  std::string auto_pad = "NOTSET";
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: all begins, then all ends
};

// Reads the window attributes for `spatial` dimensions and validates them
// (lengths, positivity). kernel_shape comes from the attribute, or from
// `inferred_kernel` (the weight's spatial dims) when the attribute is absent and
// it is non-null; a present attribute must agree with it.
Expected<WindowAttrs> ReadWindowAttrs(const KernelContext& ctx, int spatial,
                                      const std::vector<int64_t>* inferred_kernel);

// Output extents and paddings of a forward window (Conv and pooling). Pooling
// passes ceil_mode; Conv always rounds down. Fails, naming the node, when the
// window does not fit the (padded) input.
Expected<std::vector<WindowDim>> ResolveForwardWindows(const KernelContext& ctx,
                                                       const WindowAttrs& attrs,
                                                       const std::vector<int64_t>& in_spatial,
                                                       bool ceil_mode);

// "[1,3,224,224]" for messages.
std::string DimsString(const std::vector<int64_t>& dims);

// Everything a convolution (forward or transposed) needs, batch and channels
// included. For ConvTranspose `in`/`out` of each window are the conv
// transpose's input and output (the output is the larger one).
struct ConvGeometry {
  int64_t batch = 0;
  int64_t in_channels = 0;
  int64_t out_channels = 0;
  int64_t group = 1;
  std::vector<WindowDim> dims;

  int rank() const { return static_cast<int>(dims.size()); }
  int64_t in_size() const;      // product of input spatial extents
  int64_t out_size() const;     // product of output spatial extents
  int64_t kernel_size() const;  // product of kernel extents
};

// Reads and checks Conv-style inputs (X [N,C,...], W [M,C/group,...], optional
// bias [M]) and attributes. Used by Conv, ConvInteger and QLinearConv; `x_index`,
// `w_index` and `b_index` say where those inputs sit (b_index < 0: no bias input).
Expected<ConvGeometry> ResolveConv(const KernelContext& ctx, int x_index, int w_index, int b_index);

// The same for ConvTranspose (W is [C, M/group, ...]; output_shape and
// output_padding honoured).
Expected<ConvGeometry> ResolveConvTranspose(const KernelContext& ctx);

}  // namespace octet::reference
