#include "conv_impl.h"

#include <algorithm>

#include "gemm.h"

namespace octet::reference {
namespace {

// Along one dimension, input/output positions i = base + t * stride for t in
// [0, count). Returns the sub-range [lo, hi) of t for which i lies in [0, extent).
// Computing it once per run keeps the copy loops free of bounds checks.
void ValidRange(int64_t base, int64_t stride, int64_t extent, int64_t count, int64_t* lo,
                int64_t* hi) {
  int64_t l = base >= 0 ? 0 : (-base + stride - 1) / stride;
  int64_t h = base >= extent ? 0 : (extent - base + stride - 1) / stride;
  l = std::min(l, count);
  h = std::clamp(h, l, count);
  *lo = l;
  *hi = h;
}

// Produces rows [k0, k0+kc) x columns [n0, n0+nc) of the im2col matrix of one
// image and one channel group. Row k is (input channel, kernel offset); column
// p is an output position. Walks the output positions in runs along the
// innermost dimension so that the common stride-1 case is a plain copy.
template <typename T>
void Im2ColBlock(const ConvGeometry& g, const T* x, int64_t k0, int64_t kc, int64_t n0, int64_t nc,
                 T* dst) {
  const int r = g.rank();
  const int64_t ks = g.kernel_size(), in_size = g.in_size();
  std::vector<int64_t> kd(r), o(r), in_stride(r, 1);
  for (int d = r - 2; d >= 0; --d) in_stride[d] = in_stride[d + 1] * g.dims[d + 1].in;
  const WindowDim& last = g.dims[r - 1];
  for (int64_t kk = 0; kk < kc; ++kk) {
    const int64_t k = k0 + kk;
    const T* xc = x + (k / ks) * in_size;
    int64_t rem = k % ks;
    for (int d = r - 1; d >= 0; --d) {
      kd[d] = rem % g.dims[d].kernel;
      rem /= g.dims[d].kernel;
    }
    int64_t pos = n0;
    for (int d = r - 1; d >= 0; --d) {
      o[d] = pos % g.dims[d].out;
      pos /= g.dims[d].out;
    }
    T* row = dst + kk * nc;
    for (int64_t j = 0; j < nc;) {
      const int64_t run = std::min(last.out - o[r - 1], nc - j);
      T* seg = row + j;
      bool inside = true;
      int64_t off = 0;
      for (int d = 0; d < r - 1 && inside; ++d) {
        const WindowDim& w = g.dims[d];
        const int64_t i = o[d] * w.stride - w.pad_begin + kd[d] * w.dilation;
        inside = i >= 0 && i < w.in;
        off += i * in_stride[d];
      }
      if (!inside) {
        std::fill(seg, seg + run, T(0));
      } else {
        const int64_t base = o[r - 1] * last.stride - last.pad_begin + kd[r - 1] * last.dilation;
        int64_t lo, hi;
        ValidRange(base, last.stride, last.in, run, &lo, &hi);
        std::fill(seg, seg + lo, T(0));
        const T* src = xc + off;
        if (last.stride == 1) {
          std::copy(src + (base + lo), src + (base + hi), seg + lo);
        } else {
          for (int64_t t = lo; t < hi; ++t) seg[t] = src[base + t * last.stride];
        }
        std::fill(seg + hi, seg + run, T(0));
      }
      j += run;
      o[r - 1] += run;
      for (int d = r - 1; d > 0 && o[d] == g.dims[d].out; --d) {
        o[d] = 0;
        ++o[d - 1];
      }
    }
  }
}

bool IsPointwise(const ConvGeometry& g) {
  for (const WindowDim& w : g.dims)
    if (w.kernel != 1 || w.stride != 1 || w.pad_begin != 0 || w.pad_end != 0) return false;
  return true;
}

// Fills each output channel plane with its bias (or zero).
template <typename T>
void InitOutput(const T* bias, int64_t batch, int64_t channels, int64_t plane, T* y) {
  for (int64_t n = 0; n < batch; ++n)
    for (int64_t m = 0; m < channels; ++m) {
      T* out = y + (n * channels + m) * plane;
      std::fill(out, out + plane, bias != nullptr ? bias[m] : T(0));
    }
}

// Adds one column row (a kernel offset `kd` of one output channel, over all
// input positions) into the output plane `yc`.
template <typename T>
void Col2ImRow(const ConvGeometry& g, const std::vector<int64_t>& kd, const T* col, T* yc) {
  const int r = g.rank();
  std::vector<int64_t> i(r, 0), out_stride(r, 1);
  for (int d = r - 2; d >= 0; --d) out_stride[d] = out_stride[d + 1] * g.dims[d + 1].out;
  const WindowDim& last = g.dims[r - 1];
  const int64_t in_size = g.in_size();
  for (int64_t p = 0; p < in_size; p += last.in) {
    bool inside = true;
    int64_t off = 0;
    for (int d = 0; d < r - 1 && inside; ++d) {
      const WindowDim& w = g.dims[d];
      const int64_t o = i[d] * w.stride - w.pad_begin + kd[d] * w.dilation;
      inside = o >= 0 && o < w.out;
      off += o * out_stride[d];
    }
    if (inside) {
      const int64_t base = -last.pad_begin + kd[r - 1] * last.dilation;
      int64_t lo, hi;
      ValidRange(base, last.stride, last.out, last.in, &lo, &hi);
      const T* src = col + p;
      for (int64_t t = lo; t < hi; ++t) yc[off + base + t * last.stride] += src[t];
    }
    for (int d = r - 2; d >= 0; --d) {
      if (++i[d] < g.dims[d].in) break;
      i[d] = 0;
    }
  }
}

}  // namespace

// Column matrices larger than this (in elements, per image) are never
// materialised: 64 Mi floats is 256 MiB.
constexpr int64_t kMaxColumnElements = int64_t{1} << 26;

template <typename T>
void ConvForward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                 int num_threads) {
  const int64_t cin_g = g.in_channels / g.group, cout_g = g.out_channels / g.group;
  const int64_t k = cin_g * g.kernel_size(), p = g.out_size(), in_size = g.in_size();
  if (bias != nullptr) InitOutput(bias, g.batch, g.out_channels, p, y);
  auto problem = [&](int64_t n, int64_t gi) {
    GemmProblem<T> prob;
    prob.m = cout_g;
    prob.n = p;
    prob.k = k;
    prob.a = RowMajorView(w + gi * cout_g * k, k);
    prob.c = y + (n * g.out_channels + gi * cout_g) * p;
    prob.ldc = p;
    prob.accumulate = bias != nullptr;
    return prob;
  };
  auto group_input = [&](int64_t n, int64_t gi) {
    return x + (n * g.in_channels + gi * cin_g) * in_size;
  };
  std::vector<GemmProblem<T>> problems;
  if (IsPointwise(g)) {
    // A 1x1, stride-1, unpadded convolution is a plain GEMM on the input.
    for (int64_t n = 0; n < g.batch; ++n)
      for (int64_t gi = 0; gi < g.group; ++gi) {
        problems.push_back(problem(n, gi));
        problems.back().b = RowMajorView(group_input(n, gi), in_size);
      }
    RunGemms(problems, num_threads);
    return;
  }
  // On-the-fly im2col regenerates B once per block of kGemmRowBlock output
  // channels; with several such blocks, building the column matrix once per
  // image is cheaper (ResNet's later stages: 256-512 channels, 7x7 outputs).
  const int64_t rows = g.group * k;
  if (cout_g > kGemmRowBlock && rows * p <= kMaxColumnElements) {
    std::vector<T> col(rows * p);
    for (int64_t n = 0; n < g.batch; ++n) {
      ParallelFor(rows, num_threads, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end;) {
          const int64_t gi = r / k, count = std::min(end, (gi + 1) * k) - r;
          Im2ColBlock(g, group_input(n, gi), r - gi * k, count, 0, p, col.data() + r * p);
          r += count;
        }
      });
      problems.clear();
      for (int64_t gi = 0; gi < g.group; ++gi) {
        problems.push_back(problem(n, gi));
        problems.back().b = RowMajorView(col.data() + gi * k * p, p);
      }
      RunGemms(problems, num_threads);
    }
    return;
  }
  std::vector<GemmBlockFn<T>> im2col;
  im2col.reserve(g.batch * g.group);  // the problems point into it: no reallocation
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const T* xg = group_input(n, gi);
      im2col.emplace_back([&g, xg](int64_t k0, int64_t kc, int64_t n0, int64_t nc, T* dst) {
        Im2ColBlock(g, xg, k0, kc, n0, nc, dst);
      });
      problems.push_back(problem(n, gi));
      problems.back().b_block = &im2col.back();
    }
  }
  RunGemms(problems, num_threads);
}

template <typename T>
void ConvTransposeForward(const ConvGeometry& g, const T* x, const T* w, const T* bias, T* y,
                          int num_threads) {
  const int64_t cin_g = g.in_channels / g.group, cout_g = g.out_channels / g.group;
  const int64_t ks = g.kernel_size(), in_size = g.in_size(), out_size = g.out_size();
  InitOutput(bias, g.batch, g.out_channels, out_size, y);
  // The column matrix has ks rows per output channel; output channels are done
  // in chunks so that it stays below kMaxColumnElements.
  const int64_t per_channel = std::max<int64_t>(1, g.group * ks * in_size);
  const int64_t chunk = std::clamp<int64_t>(kMaxColumnElements / per_channel, 1, cout_g);
  std::vector<T> col(g.group * chunk * ks * in_size);
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t m0 = 0; m0 < cout_g; m0 += chunk) {
      const int64_t mc = std::min(chunk, cout_g - m0), rows = mc * ks;
      // col[group] = W_group^T (rows of channels m0.. x cin_g) * X_group (cin_g x in_size).
      std::vector<GemmProblem<T>> problems;
      for (int64_t gi = 0; gi < g.group; ++gi) {
        GemmProblem<T> prob;
        prob.m = rows;
        prob.n = in_size;
        prob.k = cin_g;
        prob.a = TransposedView(w + gi * cin_g * cout_g * ks + m0 * ks, cout_g * ks);
        prob.b = RowMajorView(x + (n * g.in_channels + gi * cin_g) * in_size, in_size);
        prob.c = col.data() + gi * rows * in_size;
        prob.ldc = in_size;
        problems.push_back(prob);
      }
      RunGemms(problems, num_threads);
      // Each output channel only receives its own column rows, so channels can
      // be scattered in parallel without races.
      ParallelFor(g.group * mc, num_threads, [&](int64_t begin, int64_t end) {
        std::vector<int64_t> kd(g.rank());
        for (int64_t c = begin; c < end; ++c) {
          const int64_t gi = c / mc, m = c % mc;
          T* yc = y + (n * g.out_channels + gi * cout_g + m0 + m) * out_size;
          for (int64_t kidx = 0; kidx < ks; ++kidx) {
            int64_t rem = kidx;
            for (int d = g.rank() - 1; d >= 0; --d) {
              kd[d] = rem % g.dims[d].kernel;
              rem /= g.dims[d].kernel;
            }
            Col2ImRow(g, kd, col.data() + ((gi * mc + m) * ks + kidx) * in_size, yc);
          }
        }
      });
    }
  }
}

template void ConvForward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                 float*, int);
template void ConvForward<double>(const ConvGeometry&, const double*, const double*, const double*,
                                  double*, int);
template void ConvTransposeForward<float>(const ConvGeometry&, const float*, const float*,
                                          const float*, float*, int);
template void ConvTransposeForward<double>(const ConvGeometry&, const double*, const double*,
                                           const double*, double*, int);

}  // namespace octet::reference
