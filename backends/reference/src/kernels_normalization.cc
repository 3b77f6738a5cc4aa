// Softmax, LogSoftmax (opset-13 semantics: along one axis), and inference-mode
// BatchNormalization, LayerNormalization and InstanceNormalization.
//
// Statistics (softmax sums, means, variances) are computed in double so long
// rows still match numpy's float32 results to within float rounding; the
// final values are rounded once to the element type.
#include <array>
#include <cmath>
#include <vector>

#include "elementwise_util.h"

namespace octet::reference {
namespace {

// Splits [0, n) across threads only when there is enough work in total
// (`work` elements); rows are independent, so any split is deterministic.
template <typename Fn>
void ForRows(int64_t n, int64_t work, int num_threads, const Fn& fn) {
  if (work >= kParallelGrain && num_threads > 1 && n > 1) {
    ParallelFor(n, num_threads, fn);
  } else if (n > 0) {
    fn(int64_t{0}, n);
  }
}

Status SoftmaxKernel(KernelContext& ctx, bool log) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
  OCTET_RETURN_IF_ERROR(
      CheckDType(ctx, *x, "input", IsFloatDType(x->dtype()), "f16, bf16, f32 or f64"));
  if (x->rank() == 0) return ctx.Fail("input must have rank >= 1 but is a scalar");
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", -1));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, x->rank()));
  int64_t outer = 1, inner = 1;
  const int64_t n = x->dim(axis);
  for (int d = 0; d < axis; ++d) outer *= x->dim(d);
  for (int d = axis + 1; d < x->rank(); ++d) inner *= x->dim(d);
  const Tensor wx = WidenHalf(*x);
  Tensor out(wx.dtype(), wx.dims());
  DispatchFloat(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = wx.data<T>();
    T* po = out.data<T>();
    // One "column" is the n elements along the axis, `inner` apart.
    ForRows(outer * inner, wx.numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
      std::vector<double> e(n);
      for (int64_t col = begin; col < end; ++col) {
        const int64_t start = (col / inner) * n * inner + col % inner;
        const T* in = px + start;
        T* o = po + start;
        // Subtracting the max keeps exp from overflowing; a NaN anywhere
        // makes the whole column NaN, as in numpy.
        double max = -HUGE_VAL;
        bool nan = false;
        for (int64_t k = 0; k < n; ++k) {
          const double v = in[k * inner];
          nan |= std::isnan(v);
          if (v > max) max = v;
        }
        if (nan) max = std::nan("");
        double sum = 0;
        for (int64_t k = 0; k < n; ++k) {
          e[k] = std::exp(static_cast<double>(in[k * inner]) - max);
          sum += e[k];
        }
        if (log) {
          const double log_sum = std::log(sum);
          for (int64_t k = 0; k < n; ++k)
            o[k * inner] = static_cast<T>(static_cast<double>(in[k * inner]) - max - log_sum);
        } else {
          for (int64_t k = 0; k < n; ++k) o[k * inner] = static_cast<T>(e[k] / sum);
        }
      }
    });
  });
  ctx.outputs[0] = NarrowHalf(out, x->dtype());
  return Status::Ok();
}

// Reads a per-channel parameter (any float dtype: opset 15 lets them differ
// from X's) as doubles; it must hold exactly `c` values.
Expected<std::vector<double>> ReadChannelParam(const KernelContext& ctx, int i, const char* name,
                                               int64_t c) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* t, RequireInput(ctx, i, name));
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *t, name, IsFloatDType(t->dtype()), "a float type"));
  if (t->rank() != 1 || t->dim(0) != c)
    return ctx.Fail("input ", name, " must have shape [", c, "] (one value per channel) but has ",
                    t->ShapeString());
  std::vector<double> v(c);
  for (int64_t k = 0; k < c; ++k) v[k] = t->GetAsDouble(k);
  return v;
}

// X of float dtype and rank >= 2; returns {N, C, spatial size}.
Expected<std::array<int64_t, 3>> ChannelLayout(const KernelContext& ctx, const Tensor& x) {
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, x, "X", IsFloatDType(x.dtype()), "f16, bf16, f32 or f64"));
  if (x.rank() < 2)
    return ctx.Fail("input X must have rank >= 2 (N, C, ...) but has shape ", x.ShapeString());
  int64_t spatial = 1;
  for (int d = 2; d < x.rank(); ++d) spatial *= x.dim(d);
  return std::array<int64_t, 3>{x.dim(0), x.dim(1), spatial};
}

// Applies y = x * a[c] + b[c] over an N x C x spatial tensor.
Tensor ApplyChannelAffine(const KernelContext& ctx, const Tensor& x,
                          const std::array<int64_t, 3>& layout, const std::vector<double>& a,
                          const std::vector<double>& b) {
  const Tensor wx = WidenHalf(x);
  Tensor out(wx.dtype(), wx.dims());
  const auto [batch, channels, spatial] = layout;
  DispatchFloat(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = wx.data<T>();
    T* po = out.data<T>();
    ForRows(batch * channels, wx.numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
      for (int64_t nc = begin; nc < end; ++nc) {
        const double s = a[nc % channels], t = b[nc % channels];
        const T* in = px + nc * spatial;
        T* o = po + nc * spatial;
        for (int64_t k = 0; k < spatial; ++k) o[k] = static_cast<T>(in[k] * s + t);
      }
    });
  });
  return NarrowHalf(out, x.dtype());
}

Status BatchNormKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(int64_t training, ctx.node.GetInt("training_mode", 0));
  if (training != 0)
    return Unimplemented(ctx.node.Describe(),
                         ": BatchNormalization with training_mode=1 is not supported "
                         "(inference only)");
  // Running-statistics outputs exist only in training mode; refuse to leave a
  // consumed one empty.
  for (int i = 1; i < ctx.num_outputs(); ++i) {
    const Value* v = ctx.node.output(i);
    if (v != nullptr && (!v->uses().empty() || v->is_graph_output()))
      return Unimplemented(ctx.node.Describe(), ": output ", i, " ('", v->name(),
                           "') is only produced in training mode, which is not supported");
  }
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
  OCTET_ASSIGN_OR_RETURN(auto layout, ChannelLayout(ctx, *x));
  const int64_t c = layout[1];
  OCTET_ASSIGN_OR_RETURN(std::vector<double> scale, ReadChannelParam(ctx, 1, "scale", c));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> bias, ReadChannelParam(ctx, 2, "B", c));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> mean, ReadChannelParam(ctx, 3, "input_mean", c));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> var, ReadChannelParam(ctx, 4, "input_var", c));
  OCTET_ASSIGN_OR_RETURN(float eps, ctx.node.GetFloat("epsilon", 1e-5f));
  // Folded into one multiply-add per element: y = x * a + b.
  std::vector<double> a(c), b(c);
  for (int64_t k = 0; k < c; ++k) {
    a[k] = scale[k] / std::sqrt(var[k] + static_cast<double>(eps));
    b[k] = bias[k] - mean[k] * a[k];
  }
  ctx.outputs[0] = ApplyChannelAffine(ctx, *x, layout, a, b);
  return Status::Ok();
}

Status InstanceNormKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(auto layout, ChannelLayout(ctx, *x));
  const auto [batch, channels, spatial] = layout;
  OCTET_ASSIGN_OR_RETURN(std::vector<double> scale, ReadChannelParam(ctx, 1, "scale", channels));
  OCTET_ASSIGN_OR_RETURN(std::vector<double> bias, ReadChannelParam(ctx, 2, "B", channels));
  OCTET_ASSIGN_OR_RETURN(float eps, ctx.node.GetFloat("epsilon", 1e-5f));
  // Per (n, c) statistics, then the same affine map BatchNormalization uses
  // with one (a, b) pair per instance and channel.
  const Tensor wx = WidenHalf(*x);
  std::vector<double> a(batch * channels), b(batch * channels);
  DispatchFloat(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    for (int64_t nc = 0; nc < batch * channels; ++nc) {
      const T* in = wx.data<T>() + nc * spatial;
      double sum = 0, sq = 0;
      for (int64_t k = 0; k < spatial; ++k) sum += in[k];
      const double mean = sum / static_cast<double>(spatial);
      for (int64_t k = 0; k < spatial; ++k) sq += (in[k] - mean) * (in[k] - mean);
      const double var = sq / static_cast<double>(spatial);
      a[nc] = scale[nc % channels] / std::sqrt(var + static_cast<double>(eps));
      b[nc] = bias[nc % channels] - mean * a[nc];
    }
  });
  // Viewed as [1, N*C, spatial] the parameters index by n*C + c.
  ctx.outputs[0] = ApplyChannelAffine(ctx, *x, {1, batch * channels, spatial}, a, b);
  return Status::Ok();
}

// Scale or B of LayerNormalization, broadcast (numpy-style, towards the
// normalised shape) and expanded to one double per normalised element.
Expected<std::vector<double>> ExpandNormParam(const KernelContext& ctx, const Tensor& p,
                                              const char* name,
                                              const std::vector<int64_t>& norm_dims) {
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, p, name, IsFloatDType(p.dtype()), "a float type"));
  auto b = BroadcastShapes(p.dims(), norm_dims);
  if (!b.ok() || *b != norm_dims)
    return ctx.Fail("input ", name, " of shape ", DimsForMessage(p.dims()),
                    " does not broadcast to the normalized shape ", DimsForMessage(norm_dims));
  const BroadcastIndexer idx(p.dims(), norm_dims);
  int64_t n = 1;
  for (int64_t d : norm_dims) n *= d;
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = p.GetAsDouble(idx.Map(i));
  return v;
}

Expected<DType> StashDType(const KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(int64_t stash, ctx.node.GetInt("stash_type", 1));
  const std::optional<DType> dtype = DTypeFromOnnxTypeId(stash);
  if (!dtype || !(*dtype == DType::kF32 || *dtype == DType::kF16 || *dtype == DType::kF64 ||
                  *dtype == DType::kBF16))
    return ctx.Fail("attribute stash_type must be a float type id (1, 10, 11 or 16) but is ",
                    stash);
  return *dtype;
}

Status LayerNormKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* scale_t, RequireInput(ctx, 1, "Scale"));
  OCTET_RETURN_IF_ERROR(
      CheckDType(ctx, *x, "X", IsFloatDType(x->dtype()), "f16, bf16, f32 or f64"));
  if (x->rank() == 0) return ctx.Fail("input X must have rank >= 1 but is a scalar");
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", -1));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, x->rank()));
  OCTET_ASSIGN_OR_RETURN(float eps, ctx.node.GetFloat("epsilon", 1e-5f));
  OCTET_ASSIGN_OR_RETURN(DType stash, StashDType(ctx));
  const std::vector<int64_t> norm_dims(x->dims().begin() + axis, x->dims().end());
  int64_t rows = 1, cols = 1;
  for (int d = 0; d < axis; ++d) rows *= x->dim(d);
  for (int64_t d : norm_dims) cols *= d;
  OCTET_ASSIGN_OR_RETURN(std::vector<double> scale,
                         ExpandNormParam(ctx, *scale_t, "Scale", norm_dims));
  std::vector<double> bias(cols, 0.0);
  if (const Tensor* b = ctx.input(2); b != nullptr && b->defined()) {
    OCTET_ASSIGN_OR_RETURN(bias, ExpandNormParam(ctx, *b, "B", norm_dims));
  }
  // Mean and InvStdDev keep X's leading dims and have 1 for the rest.
  std::vector<int64_t> stat_dims = x->dims();
  for (size_t d = axis; d < stat_dims.size(); ++d) stat_dims[d] = 1;
  Tensor mean_t(stash, stat_dims), inv_t(stash, stat_dims);

  const Tensor wx = WidenHalf(*x);
  Tensor out(wx.dtype(), wx.dims());
  DispatchFloat(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = wx.data<T>();
    T* po = out.data<T>();
    ForRows(rows, wx.numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* in = px + r * cols;
        T* o = po + r * cols;
        double sum = 0;
        for (int64_t k = 0; k < cols; ++k) sum += in[k];
        const double mean = sum / static_cast<double>(cols);
        double sq = 0;
        for (int64_t k = 0; k < cols; ++k) {
          const double d = in[k] - mean;
          sq += d * d;
        }
        const double inv = 1.0 / std::sqrt(sq / static_cast<double>(cols) + eps);
        for (int64_t k = 0; k < cols; ++k)
          o[k] = static_cast<T>((in[k] - mean) * inv * scale[k] + bias[k]);
        mean_t.SetFromDouble(r, mean);  // distinct rows: no two threads share an element
        inv_t.SetFromDouble(r, inv);
      }
    });
  });
  ctx.outputs[0] = NarrowHalf(out, x->dtype());
  if (ctx.num_outputs() > 1) ctx.outputs[1] = mean_t;
  if (ctx.num_outputs() > 2) ctx.outputs[2] = inv_t;
  return Status::Ok();
}

}  // namespace

void RegisterNormalizationKernels(KernelRegistry& r) {
  r.Register("Softmax", [](KernelContext& c) { return SoftmaxKernel(c, false); });
  r.Register("LogSoftmax", [](KernelContext& c) { return SoftmaxKernel(c, true); });
  r.Register("BatchNormalization", BatchNormKernel);
  r.Register("LayerNormalization", LayerNormKernel);
  r.Register("InstanceNormalization", InstanceNormKernel);
}

}  // namespace octet::reference
