// One-input element-wise kernels: math functions and activations, plus Clip.
// Float math is evaluated in double and rounded once to the element type, so
// f32 results are the correctly rounded value in nearly every case (numpy's
// float32 ufuncs, which produced the ONNX test data, are within an ulp or two
// of that). f16/bf16 go through f32 (see WidenHalf).
#include <cmath>
#include <limits>
#include <type_traits>

#include "elementwise_util.h"

namespace octet::reference {
namespace {

// The dtype families the unary ops accept (from the ONNX type constraints).
enum class Accepts { kFloat, kSignedOrFloat, kNumeric };

Status CheckUnaryDType(const KernelContext& ctx, const Tensor& x, Accepts accepts) {
  const DType t = x.dtype();
  switch (accepts) {
    case Accepts::kFloat:
      return CheckDType(ctx, x, "X", IsFloatDType(t), "f16, bf16, f32 or f64");
    case Accepts::kSignedOrFloat:
      return CheckDType(ctx, x, "X", IsArithmeticDType(t) && IsSigned(t),
                        "a float or signed integer type");
    case Accepts::kNumeric:
      return CheckDType(ctx, x, "X", IsArithmeticDType(t), "a numeric type");
  }
  return Status::Ok();
}

// Applies fn (generic over the element type T, returning T) to every element.
template <typename Fn>
Status UnaryKernel(KernelContext& ctx, Accepts accepts, Fn fn) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
  OCTET_RETURN_IF_ERROR(CheckUnaryDType(ctx, *x, accepts));
  const Tensor wx = WidenHalf(*x);
  Tensor out(wx.dtype(), wx.dims());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* in = wx.data<T>();
    T* o = out.data<T>();
    ForRange(wx.numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) o[i] = fn(in[i]);
    });
  };
  // Float-only ops instantiate only the float loops.
  if (accepts == Accepts::kFloat) {
    DispatchFloat(wx.dtype(), run);
  } else {
    DispatchArithmetic(wx.dtype(), run);
  }
  ctx.outputs[0] = NarrowHalf(out, x->dtype());
  return Status::Ok();
}

// A float-only op given as a double -> double function.
template <typename Fn>
Status FloatKernel(KernelContext& ctx, Fn fn) {
  return UnaryKernel(ctx, Accepts::kFloat, [fn](auto v) {
    using T = decltype(v);
    return static_cast<T>(fn(static_cast<double>(v)));
  });
}

double Sigmoid(double v) {
  // Both branches avoid exp overflow for large |v|.
  if (v >= 0) return 1.0 / (1.0 + std::exp(-v));
  const double e = std::exp(v);
  return e / (1.0 + e);
}

double Softplus(double v) {
  // log(1 + e^v) without overflow: for v > 0 it is v + log(1 + e^-v).
  return v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}

Expected<double> FloatAttr(const KernelContext& ctx, const char* name, float dflt) {
  OCTET_ASSIGN_OR_RETURN(float v, ctx.node.GetFloat(name, dflt));
  return static_cast<double>(v);
}

Status LeakyReluKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(double alpha, FloatAttr(ctx, "alpha", 0.01f));
  return FloatKernel(ctx, [alpha](double v) { return v >= 0 ? v : v * alpha; });
}

Status EluKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(double alpha, FloatAttr(ctx, "alpha", 1.0f));
  return FloatKernel(ctx, [alpha](double v) { return v >= 0 ? v : alpha * std::expm1(v); });
}

Status HardSigmoidKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(double alpha, FloatAttr(ctx, "alpha", 0.2f));
  OCTET_ASSIGN_OR_RETURN(double beta, FloatAttr(ctx, "beta", 0.5f));
  return FloatKernel(
      ctx, [alpha, beta](double v) { return std::max(0.0, std::min(1.0, alpha * v + beta)); });
}

Status HardSwishKernel(KernelContext& ctx) {
  return FloatKernel(ctx, [](double v) { return v * std::max(0.0, std::min(1.0, v / 6.0 + 0.5)); });
}

Status GeluKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(std::string approximate, ctx.node.GetString("approximate", "none"));
  if (approximate == "none") {
    return FloatKernel(ctx,
                       [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); });
  }
  if (approximate == "tanh") {
    const double k = std::sqrt(2.0 / 3.14159265358979323846);  // sqrt(2 / pi)
    return FloatKernel(
        ctx, [k](double v) { return 0.5 * v * (1.0 + std::tanh(k * (v + 0.044715 * v * v * v))); });
  }
  return ctx.Fail("attribute approximate must be \"none\" or \"tanh\" but is \"", approximate,
                  "\"");
}

// Clip's bounds are optional scalar inputs of X's dtype; an absent bound
// leaves that side unclipped. Like numpy's clip, min > max yields max.
Status ClipKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
  OCTET_RETURN_IF_ERROR(CheckUnaryDType(ctx, *x, Accepts::kNumeric));
  const char* names[2] = {"min", "max"};
  Tensor bounds[2];
  for (int i = 0; i < 2; ++i) {
    const Tensor* b = ctx.input(i + 1);
    if (b == nullptr || !b->defined()) continue;
    if (b->dtype() != x->dtype())
      return ctx.Fail("input ", names[i], " must have the input's dtype ", DTypeName(x->dtype()),
                      " but has ", DTypeName(b->dtype()));
    if (b->numel() != 1)
      return ctx.Fail("input ", names[i], " must be a scalar but has shape ", b->ShapeString());
    bounds[i] = WidenHalf(*b);
  }
  const Tensor wx = WidenHalf(*x);
  Tensor out(wx.dtype(), wx.dims());
  DispatchArithmetic(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T lo = bounds[0].defined() ? bounds[0].data<T>()[0] : std::numeric_limits<T>::lowest();
    const T hi = bounds[1].defined() ? bounds[1].data<T>()[0] : std::numeric_limits<T>::max();
    const T* in = wx.data<T>();
    T* o = out.data<T>();
    ForRange(wx.numel(), ctx.num_threads, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        const T v = in[i] < lo ? lo : in[i];  // NaN passes through both
        o[i] = v > hi ? hi : v;
      }
    });
  });
  ctx.outputs[0] = NarrowHalf(out, x->dtype());
  return Status::Ok();
}

template <typename T>
T SignOf(T v) {
  if (v > 0) return T{1};
  if constexpr (std::is_signed_v<T>) {
    if (v < 0) return T{-1};
  }
  return v;  // 0 (keeping -0.0) or NaN
}

template <typename T>
T AbsOf(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::fabs(v);
  } else if constexpr (std::is_signed_v<T>) {
    return v < 0 ? WrapNeg(v) : v;  // MIN stays MIN, as in numpy
  } else {
    return v;
  }
}

}  // namespace

void RegisterUnaryKernels(KernelRegistry& r) {
  auto reg_float = [&r](const char* op, double (*fn)(double)) {
    r.Register(op, [fn](KernelContext& c) { return FloatKernel(c, fn); });
  };
  reg_float("Sqrt", [](double v) { return std::sqrt(v); });
  reg_float("Reciprocal", [](double v) { return 1.0 / v; });
  reg_float("Exp", [](double v) { return std::exp(v); });
  reg_float("Log", [](double v) { return std::log(v); });
  reg_float("Floor", [](double v) { return std::floor(v); });
  reg_float("Ceil", [](double v) { return std::ceil(v); });
  reg_float("Round", RoundHalfToEven);
  reg_float("Sin", [](double v) { return std::sin(v); });
  reg_float("Cos", [](double v) { return std::cos(v); });
  reg_float("Tanh", [](double v) { return std::tanh(v); });
  reg_float("Sigmoid", Sigmoid);
  reg_float("Softplus", Softplus);
  r.Register("LeakyRelu", LeakyReluKernel);
  r.Register("Elu", EluKernel);
  r.Register("HardSigmoid", HardSigmoidKernel);
  r.Register("HardSwish", HardSwishKernel);
  r.Register("Gelu", GeluKernel);
  r.Register("Clip", ClipKernel);
  r.Register("Neg", [](KernelContext& c) {
    return UnaryKernel(c, Accepts::kSignedOrFloat, [](auto v) {
      using T = decltype(v);
      if constexpr (std::is_integral_v<T>) {
        return WrapNeg(v);
      } else {
        return -v;
      }
    });
  });
  r.Register("Abs", [](KernelContext& c) {
    return UnaryKernel(c, Accepts::kNumeric, [](auto v) { return AbsOf(v); });
  });
  r.Register("Sign", [](KernelContext& c) {
    return UnaryKernel(c, Accepts::kNumeric, [](auto v) { return SignOf(v); });
  });
  r.Register("Relu", [](KernelContext& c) {
    return UnaryKernel(c, Accepts::kSignedOrFloat, [](auto v) {
      using T = decltype(v);
      if constexpr (std::is_unsigned_v<T>) {
        return v;  // not reached (unsigned is rejected), but must compile
      } else {
        return v < T{0} ? T{0} : v;  // NaN passes through, as numpy's maximum(x, 0)
      }
    });
  });
  // Erf accepts integers too (ONNX allows them); the result is truncated back.
  r.Register("Erf", [](KernelContext& c) {
    return UnaryKernel(c, Accepts::kNumeric, [](auto v) {
      using T = decltype(v);
      return FromDouble<T>(std::erf(static_cast<double>(v)));
    });
  });
}

}  // namespace octet::reference
