// Convolution drivers on plain arrays, shared by Conv, ConvTranspose,
// ConvInteger and QLinearConv. Both lower to the shared GEMM: the forward
// convolution multiplies W by im2col(X), generated block by block so the column
// matrix is never stored whole; the transposed convolution multiplies W^T by X
// and scatters the columns back (col2im).
//
// Layouts are ONNX's: X [N, C, spatial...], Y [N, M, spatial...], Conv W
// [M, C/group, kernel...], ConvTranspose W [C, M/group, kernel...]. Padding
// reads as zero, so integer callers subtract zero points before calling.
// Instantiated for float and double.
#pragma once

#include "conv_geometry.h"

namespace octet::reference {

// y = conv(x, w) + bias (bias may be null).
template <typename T>
void ConvForward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                 int num_threads);

// y = conv_transpose(x, w) + bias (bias may be null).
template <typename T>
void ConvTransposeForward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          int num_threads);

}  // namespace octet::reference
