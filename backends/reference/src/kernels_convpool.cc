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

// Calls fn(out_index, window) for every output position of one plane, where
// `window` lists, for each kernel element, its row-major input offset or -1 when
// it falls in padding, and `coords` its per-dimension input coordinates.
template <typename Fn>
void ForEachWindow(const PoolPlan& plan, Fn&& fn) {
  const int r = static_cast<int>(plan.dims.size());
  std::vector<int64_t> o(r, 0), kd(r), start(r);
  std::vector<int64_t> offsets(plan.kernel_size);
  std::vector<int64_t> coords(plan.kernel_size * r);
  for (int64_t out = 0; out < plan.out_size; ++out) {
    for (int d = 0; d < r; ++d) start[d] = o[d] * plan.dims[d].stride - plan.dims[d].pad_begin;
    std::fill(kd.begin(), kd.end(), 0);
    for (int64_t k = 0; k < plan.kernel_size; ++k) {
      int64_t off = 0;
      bool inside = true;
      for (int d = 0; d < r; ++d) {
        const int64_t i = start[d] + kd[d] * plan.dims[d].dilation;
        coords[k * r + d] = i;
        inside = inside && i >= 0 && i < plan.dims[d].in;
        off = off * plan.dims[d].in + i;
      }
      offsets[k] = inside ? off : -1;
      for (int d = r - 1; d >= 0; --d) {
        if (++kd[d] < plan.dims[d].kernel) break;
        kd[d] = 0;
      }
    }
    fn(out, offsets, coords);
    for (int d = r - 1; d >= 0; --d) {
      if (++o[d] < plan.dims[d].out) break;
      o[d] = 0;
    }
  }
}

template <typename T>
void MaxPoolPlanes(const PoolPlan& plan, const T* x, T* y, int64_t* indices, bool column_major,
                   int threads) {
  const int r = static_cast<int>(plan.dims.size());
  ParallelFor(plan.planes, threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const T* xp = x + p * plan.in_size;
      ForEachWindow(plan, [&](int64_t out, const std::vector<int64_t>& offsets,
                              const std::vector<int64_t>& coords) {
        T best = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                      : std::numeric_limits<T>::lowest();
        int64_t best_k = -1;
        for (int64_t k = 0; k < plan.kernel_size; ++k) {
          if (offsets[k] < 0) continue;
          const T v = xp[offsets[k]];
          if (best_k < 0 || v > best) {
            best = v;
            best_k = k;
          }
        }
        y[p * plan.out_size + out] = best;
        if (indices == nullptr) return;
        // Indices are flat positions in the whole input tensor, in row-major or
        // (storage_order = 1) column-major order of the spatial dims.
        int64_t flat = 0;
        if (best_k >= 0 && column_major) {
          for (int d = r - 1; d >= 0; --d) flat = flat * plan.dims[d].in + coords[best_k * r + d];
        } else if (best_k >= 0) {
          flat = offsets[best_k];
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
  ParallelFor(plan.planes, ctx.num_threads, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      const double* xp = xd.data() + p * plan.in_size;
      ForEachWindow(plan, [&](int64_t out, const std::vector<int64_t>& offsets,
                              const std::vector<int64_t>& coords) {
        double sum = 0;
        int64_t count = 0;
        for (int64_t k = 0; k < plan.kernel_size; ++k) {
          if (offsets[k] >= 0) {
            sum += xp[offsets[k]];
            ++count;
          } else if (count_include_pad) {
            // Padding counts, but positions past the end padding (which
            // ceil_mode can create) do not.
            bool in_padded = true;
            for (int d = 0; d < r; ++d) {
              const int64_t i = coords[k * r + d];
              in_padded = in_padded && i >= -plan.dims[d].pad_begin &&
                          i < plan.dims[d].in + plan.dims[d].pad_end;
            }
            count += in_padded;
          }
        }
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
