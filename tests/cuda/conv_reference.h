// A CPU reference convolution in double for the convolution kernel tests
// (conv_pool_test.cc, cudnn_conv_test.cc).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

#include "octet/cuda/conv_pool_kernels.h"
#include "octet/dtype.h"

namespace octet::cuda::testing {

struct ConvCase {
  Conv2dDims d;
  Window2d w;
  bool bias, residual, relu;
};

// v rounded to bf16 (nearest even), back in f32: the values the kernels see.
inline float RoundBf16(float v) { return BFloat16ToFloat(FloatToBFloat16(v)); }

inline int64_t OutSize(int64_t in, int64_t k, int64_t s, int64_t p0, int64_t p1, int64_t dil) {
  return (in + p0 + p1 - dil * (k - 1) - 1) / s + 1;
}

// y[b, o, p] and the magnitude sum |x w| of each output, in double.
inline void ReferenceConv(const std::vector<float>& x, const std::vector<float>& wt, int64_t groups,
                          const ConvCase& c, std::vector<double>* y, std::vector<double>* mag) {
  const Conv2dDims& d = c.d;
  const Window2d& w = c.w;
  const int64_t cg = d.channels / groups, og = d.out_channels / groups;
  y->assign(d.batch * d.out_channels * d.out_height * d.out_width, 0.0);
  mag->assign(y->size(), 0.0);
  for (int64_t b = 0; b < d.batch; ++b)
    for (int64_t o = 0; o < d.out_channels; ++o)
      for (int64_t oh = 0; oh < d.out_height; ++oh)
        for (int64_t ow = 0; ow < d.out_width; ++ow) {
          double acc = 0, m = 0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t i = 0; i < w.kernel_h; ++i)
              for (int64_t j = 0; j < w.kernel_w; ++j) {
                const int64_t ih = oh * w.stride_h - w.pad_top + i * w.dilation_h;
                const int64_t iw = ow * w.stride_w - w.pad_left + j * w.dilation_w;
                if (ih < 0 || ih >= d.height || iw < 0 || iw >= d.width) continue;
                const int64_t c_in = (o / og) * cg + ci;
                const double p =
                    double{x[((b * d.channels + c_in) * d.height + ih) * d.width + iw]} *
                    wt[((o * cg + ci) * w.kernel_h + i) * w.kernel_w + j];
                acc += p;
                m += std::fabs(p);
              }
          const int64_t e = ((b * d.out_channels + o) * d.out_height + oh) * d.out_width + ow;
          (*y)[e] = acc;
          (*mag)[e] = m;
        }
}

}  // namespace octet::cuda::testing
