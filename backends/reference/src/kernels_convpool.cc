// Conv, ConvTranspose and the pooling operators (MaxPool, AveragePool,
// GlobalAveragePool, GlobalMaxPool), for any number of spatial dimensions.
// The convolutions run on the shared GEMM (conv_impl.h); pooling is a direct
// loop over windows, parallel over (batch, channel) planes.
#include <algorithm>
#include <cmath>
#include <limits>

#include "conv_geometry.h"
#include "conv_impl.h"
#include "kernel_util.h"
#include "octet/reference/kernel.h"
#include "tensor_convert.h"

namespace octet::reference {
namespace {

std::vector<int64_t> OutputDims(const ConvGeometry& g) {
  std::vector<int64_t> dims = {g.batch, g.out_channels};
  for (const WindowDim& w : g.dims) dims.push_back(w.out);
  return dims;
}

Status CheckSameDType(const KernelContext& ctx, const char* names) {
  const DType want = ctx.input(0)->dtype();
  for (int i = 1; i < ctx.num_inputs(); ++i) {
    const Tensor* t = ctx.input(i);
    if (t != nullptr && t->dtype() != want)
      return ctx.Fail(names, " must all have the same dtype but input 0 is ", DTypeName(want),
                      " and input ", i, " is ", DTypeName(t->dtype()));
  }
  return Status::Ok();
}

// Runs a float/double convolution driver on the node's tensors; f16 and bf16
// are computed in float.
template <typename Driver>
Status RunFloatConv(KernelContext& ctx, const ConvGeometry& g, Driver driver) {
  const Tensor& x = *ctx.input(0);
  const Tensor& w = *ctx.input(1);
  const Tensor* b = ctx.input(2);
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(x.dtype(), OutputDims(g)));
  switch (x.dtype()) {
    case DType::kF32:
      driver(g, x.data<float>(), w.data<float>(), b ? b->data<float>() : nullptr, y.data<float>(),
             ctx.num_threads);
      break;
    case DType::kF64:
      driver(g, x.data<double>(), w.data<double>(), b ? b->data<double>() : nullptr,
             y.data<double>(), ctx.num_threads);
      break;
    case DType::kF16:
    case DType::kBF16: {
      const std::vector<float> xf = ReadAs<float>(x), wf = ReadAs<float>(w);
      const std::vector<float> bf = b ? ReadAs<float>(*b) : std::vector<float>();
      std::vector<float> yf(y.numel());
      driver(g, xf.data(), wf.data(), b ? bf.data() : nullptr, yf.data(), ctx.num_threads);
      WriteFrom(yf.data(), y);
      break;
    }
    default:
      return ctx.Fail("X must be f32, f64, f16 or bf16 but is ", DTypeName(x.dtype()));
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

Status ConvKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(ConvGeometry g, ResolveConv(ctx, 0, 1, 2));
  OCTET_RETURN_IF_ERROR(CheckSameDType(ctx, "X, W and B"));
  return RunFloatConv(ctx, g,
                      [](const ConvGeometry& geo, const auto* x, const auto* w, const auto* b,
                         auto* y, int threads) { ConvForward(geo, x, w, b, y, threads); });
}

Status ConvTransposeKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(ConvGeometry g, ResolveConvTranspose(ctx));
  OCTET_RETURN_IF_ERROR(CheckSameDType(ctx, "X, W and B"));
  return RunFloatConv(ctx, g,
                      [](const ConvGeometry& geo, const auto* x, const auto* w, const auto* b,
                         auto* y, int threads) { ConvTransposeForward(geo, x, w, b, y, threads); });
}

// ----------------------------------------------------------------------------
// Pooling

struct PoolPlan {
  std::vector<WindowDim> dims;
  int64_t planes = 0;  // batch * channels
  int64_t in_size = 1;
  int64_t out_size = 1;
  int64_t kernel_size = 1;
};

Expected<PoolPlan> ResolvePool(const KernelContext& ctx, bool allow_ceil) {
  const Tensor* x = ctx.input(0);
  if (x == nullptr) return ctx.Fail("input X is required");
  if (x->rank() < 3)
    return ctx.Fail("X must have shape [N, C, spatial...] (rank >= 3) but has shape ",
                    x->ShapeString());
  const std::vector<int64_t> in_spatial(x->dims().begin() + 2, x->dims().end());
  OCTET_ASSIGN_OR_RETURN(WindowAttrs attrs,
                         ReadWindowAttrs(ctx, static_cast<int>(in_spatial.size()), nullptr));
  int64_t ceil_mode = 0;
  if (allow_ceil) {
    OCTET_ASSIGN_OR_RETURN(ceil_mode, ctx.node.GetInt("ceil_mode", 0));
  }
  PoolPlan plan;
  OCTET_ASSIGN_OR_RETURN(plan.dims, ResolveForwardWindows(ctx, attrs, in_spatial, ceil_mode != 0));
  plan.planes = x->dim(0) * x->dim(1);
  for (const WindowDim& w : plan.dims) {
    plan.in_size *= w.in;
    plan.out_size *= w.out;
    plan.kernel_size *= w.kernel;
  }
  return plan;
}

std::vector<int64_t> PoolOutputDims(const Tensor& x, const PoolPlan& plan) {
  std::vector<int64_t> dims = {x.dim(0), x.dim(1)};
  for (const WindowDim& w : plan.dims) dims.push_back(w.out);
  return dims;
}

// One output position's window: per dimension, the first input coordinate
// and the range [lo, hi) of kernel indices that land inside the input (a
// contiguous range, dilation or not), plus how many window elements lie in the
// padded input (count_include_pad's divisor).
struct PoolWindow {
  std::vector<int64_t> start, lo, hi;
  int64_t padded_count = 1;
};

// Per dimension and output index, the window's start and kernel ranges. They
// depend on one coordinate only, so they are tabulated once instead of being
// recomputed (with divisions) for every output of every plane.
struct WindowTables {
  std::vector<std::vector<int64_t>> start, lo, hi, padded;
};

WindowTables MakeWindowTables(const PoolPlan& plan) {
  WindowTables t;
  for (const WindowDim& wd : plan.dims) {
    std::vector<int64_t> start(wd.out), lo(wd.out), hi(wd.out), padded(wd.out);
    for (int64_t o = 0; o < wd.out; ++o) {
      const int64_t s = o * wd.stride - wd.pad_begin;
      // Number of kernel indices k with s + k * dilation < limit.
      auto below = [&](int64_t limit) {
        return s >= limit ? 0 : std::min(wd.kernel, (limit - 1 - s) / wd.dilation + 1);
      };
      start[o] = s;
      lo[o] = s >= 0 ? 0 : std::min(wd.kernel, (-s + wd.dilation - 1) / wd.dilation);
      hi[o] = std::max(lo[o], below(wd.in));
      padded[o] = below(wd.in + wd.pad_end);  // s >= -pad_begin always
    }
    t.start.push_back(std::move(start));
    t.lo.push_back(std::move(lo));
    t.hi.push_back(std::move(hi));
    t.padded.push_back(std::move(padded));
  }
  return t;
}

// Calls fn(out_index, window) for every output position of one plane.
template <typename Fn>
void ForEachWindow(const PoolPlan& plan, const WindowTables& t, Fn&& fn) {
  const int r = static_cast<int>(plan.dims.size());
  std::vector<int64_t> o(r, 0);
  PoolWindow w;
  w.start.resize(r);
  w.lo.resize(r);
  w.hi.resize(r);
  for (int64_t out = 0; out < plan.out_size; ++out) {
    w.padded_count = 1;
    for (int d = 0; d < r; ++d) {
      w.start[d] = t.start[d][o[d]];
      w.lo[d] = t.lo[d][o[d]];
      w.hi[d] = t.hi[d][o[d]];
      w.padded_count *= t.padded[d][o[d]];
    }
    fn(out, w);
    for (int d = r - 1; d >= 0; --d) {
      if (++o[d] < plan.dims[d].out) break;
      o[d] = 0;
    }
  }
}

// Calls visit(offset) with the row-major input offset of every window element
// inside the input, in row-major kernel order. `k` is scratch of rank size.
template <typename Visit>
void ForEachInWindow(const PoolPlan& plan, const PoolWindow& w,
                     const std::vector<int64_t>& in_stride, std::vector<int64_t>& k,
                     Visit&& visit) {
  const int r = static_cast<int>(plan.dims.size());
  for (int d = 0; d < r; ++d) {
    if (w.hi[d] <= w.lo[d]) return;
    k[d] = w.lo[d];
  }
  const WindowDim& last = plan.dims[r - 1];
  for (;;) {
    int64_t base = 0;
    for (int d = 0; d < r - 1; ++d)
      base += (w.start[d] + k[d] * plan.dims[d].dilation) * in_stride[d];
    for (int64_t kk = w.lo[r - 1]; kk < w.hi[r - 1]; ++kk)
      visit(base + w.start[r - 1] + kk * last.dilation);
    int d = r - 2;
    for (; d >= 0; --d) {
      if (++k[d] < w.hi[d]) break;
      k[d] = w.lo[d];
    }
    if (d < 0) return;
  }
}

std::vector<int64_t> InputStrides(const PoolPlan& plan) {
  std::vector<int64_t> s(plan.dims.size(), 1);
  for (int d = static_cast<int>(plan.dims.size()) - 2; d >= 0; --d)
    s[d] = s[d + 1] * plan.dims[d + 1].in;
  return s;
}

template <typename T>
void MaxPoolPlanes(const PoolPlan& plan, const T* x, T* y, int64_t* indices, bool column_major,
                   int threads) {
  const int r = static_cast<int>(plan.dims.size());
  const std::vector<int64_t> in_stride = InputStrides(plan);
  const WindowTables tables = MakeWindowTables(plan);
  ParallelFor(plan.planes, threads, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> k(r);
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * plan.in_size;
      ForEachWindow(plan, tables, [&](int64_t out, const PoolWindow& w) {
        // A window entirely in padding (only possible with pads >= kernel)
        // yields the lowest value, as onnxruntime does.
        T best = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                      : std::numeric_limits<T>::lowest();
        int64_t best_off = -1;
        ForEachInWindow(plan, w, in_stride, k, [&](int64_t off) {
          if (best_off < 0 || xp[off] > best) {  // first maximum wins ties
            best = xp[off];
            best_off = off;
          }
        });
        y[p * plan.out_size + out] = best;
        if (indices == nullptr) return;
        // Indices are flat positions in the whole input tensor, in row-major or
        // (storage_order = 1) column-major order of the spatial dims.
        int64_t flat = std::max<int64_t>(best_off, 0);
        if (column_major) {
          // Decode the row-major coordinates and re-encode them with the first
          // spatial dim varying fastest.
          int64_t rem = flat, col = 0, col_stride = 1;
          for (int d = 0; d < r; ++d) {
            col += rem / in_stride[d] * col_stride;
            rem %= in_stride[d];
            col_stride *= plan.dims[d].in;
          }
          flat = col;
        }
        indices[p * plan.out_size + out] = p * plan.in_size + flat;
      });
    }
  });
}

Status MaxPoolKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(PoolPlan plan, ResolvePool(ctx, true));
  OCTET_ASSIGN_OR_RETURN(int64_t storage_order, ctx.node.GetInt("storage_order", 0));
  const Tensor& x = *ctx.input(0);
  const std::vector<int64_t> dims = PoolOutputDims(x, plan);
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(x.dtype(), dims));
  Tensor indices;
  if (ctx.num_outputs() > 1) indices = Tensor(DType::kI64, dims);
  int64_t* idx = indices.defined() ? indices.data<int64_t>() : nullptr;
  const bool col_major = storage_order == 1;
  switch (x.dtype()) {
    case DType::kF32:
      MaxPoolPlanes(plan, x.data<float>(), y.data<float>(), idx, col_major, ctx.num_threads);
      break;
    case DType::kF64:
      MaxPoolPlanes(plan, x.data<double>(), y.data<double>(), idx, col_major, ctx.num_threads);
      break;
    case DType::kI8:
      MaxPoolPlanes(plan, x.data<int8_t>(), y.data<int8_t>(), idx, col_major, ctx.num_threads);
      break;
    case DType::kU8:
      MaxPoolPlanes(plan, x.data<uint8_t>(), y.data<uint8_t>(), idx, col_major, ctx.num_threads);
      break;
    case DType::kF16:
    case DType::kBF16: {
      // Widening to float and back is exact, and max only selects.
      const std::vector<float> xf = ReadAs<float>(x);
      std::vector<float> yf(y.numel());
      MaxPoolPlanes(plan, xf.data(), yf.data(), idx, col_major, ctx.num_threads);
      WriteFrom(yf.data(), y);
      break;
    }
    default:
      return ctx.Fail("X must be f32, f64, f16, bf16, i8 or u8 but is ", DTypeName(x.dtype()));
  }
  ctx.outputs[0] = std::move(y);
  if (ctx.num_outputs() > 1) ctx.outputs[1] = std::move(indices);
  return Status::Ok();
}

Status AveragePoolKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(PoolPlan plan, ResolvePool(ctx, true));
  OCTET_ASSIGN_OR_RETURN(int64_t count_include_pad, ctx.node.GetInt("count_include_pad", 0));
  const Tensor& x = *ctx.input(0);
  if (!IsFloat(x.dtype()) || x.dtype() == DType::kF8E4M3 || x.dtype() == DType::kF8E5M2)
    return ctx.Fail("X must be f32, f64, f16 or bf16 but is ", DTypeName(x.dtype()));
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(x.dtype(), PoolOutputDims(x, plan)));
  const std::vector<double> xd = ReadAs<double>(x);
  std::vector<double> yd(y.numel());
  const int r = static_cast<int>(plan.dims.size());
  const std::vector<int64_t> in_stride = InputStrides(plan);
  const WindowTables tables = MakeWindowTables(plan);
  ParallelFor(plan.planes, ctx.num_threads, [&](int64_t begin, int64_t end) {
    std::vector<int64_t> k(r);
    for (int64_t p = begin; p < end; ++p) {
      const double* xp = xd.data() + p * plan.in_size;
      ForEachWindow(plan, tables, [&](int64_t out, const PoolWindow& w) {
        double sum = 0;
        int64_t count = 0;
        ForEachInWindow(plan, w, in_stride, k, [&](int64_t off) {
          sum += xp[off];
          ++count;
        });
        // count_include_pad counts padding too, but not positions past the end
        // padding (which ceil_mode can create).
        if (count_include_pad) count = w.padded_count;
        yd[p * plan.out_size + out] = count > 0 ? sum / static_cast<double>(count) : 0.0;
      });
    }
  });
  WriteFrom(yd.data(), y);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

// GlobalAveragePool / GlobalMaxPool: one value per (batch, channel) plane.
Status GlobalPoolKernel(KernelContext& ctx, bool is_max) {
  const Tensor* x = ctx.input(0);
  if (x == nullptr) return ctx.Fail("input X is required");
  if (x->rank() < 2)
    return ctx.Fail("X must have shape [N, C, spatial...] but has shape ", x->ShapeString());
  if (!IsFloat(x->dtype()) || x->dtype() == DType::kF8E4M3 || x->dtype() == DType::kF8E5M2)
    return ctx.Fail("X must be f32, f64, f16 or bf16 but is ", DTypeName(x->dtype()));
  std::vector<int64_t> dims = x->dims();
  int64_t plane = 1;
  for (int d = 2; d < x->rank(); ++d) {
    plane *= dims[d];
    dims[d] = 1;
  }
  if (plane == 0) return ctx.Fail("X ", x->ShapeString(), " has an empty spatial extent");
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(x->dtype(), dims));
  const std::vector<double> xd = ReadAs<double>(*x);
  std::vector<double> yd(y.numel());
  ParallelFor(y.numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const double* xp = xd.data() + p * plane;
      double acc = is_max ? xp[0] : 0.0;
      for (int64_t i = 0; i < plane; ++i) acc = is_max ? std::max(acc, xp[i]) : acc + xp[i];
      yd[p] = is_max ? acc : acc / static_cast<double>(plane);
    }
  });
  WriteFrom(yd.data(), y);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

}  // namespace

void RegisterConvPoolKernels(KernelRegistry& r) {
  r.Register("Conv", ConvKernel);
  r.Register("ConvTranspose", ConvTransposeKernel);
  r.Register("MaxPool", MaxPoolKernel);
  r.Register("AveragePool", AveragePoolKernel);
  r.Register("GlobalAveragePool", [](KernelContext& ctx) { return GlobalPoolKernel(ctx, false); });
  r.Register("GlobalMaxPool", [](KernelContext& ctx) { return GlobalPoolKernel(ctx, true); });
}

}  // namespace octet::reference
