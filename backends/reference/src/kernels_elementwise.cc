// Broadcasting element-wise kernels with two or more inputs: arithmetic, Pow,
// Mod, the variadic Min/Max/Sum/Mean, comparisons, boolean logic and Where.
// Unary math and activations live in kernels_unary.cc, Cast and friends in
// kernels_cast.cc.
#include <cmath>
#include <functional>
#include <type_traits>

#include "elementwise_util.h"

namespace octet::reference {
namespace {

// Applies op(a[i], b[j]) over the broadcast of a and b into `out`, whose dims
// must be the broadcast shape. The four loop variants let the compiler
// vectorise the common cases (both contiguous, one side a broadcast scalar).
template <typename TA, typename TB, typename TO, typename Op>
void BinaryLoop(const Tensor& a, const Tensor& b, Tensor& out, int threads, Op op) {
  const BroadcastWalker walker({a.dims(), b.dims()}, out.dims());
  const TA* pa = a.data<TA>();
  const TB* pb = b.data<TB>();
  TO* po = out.data<TO>();
  ForRange(out.numel(), threads, [&](int64_t begin, int64_t end) {
    walker.Walk(begin, end, [&](int64_t o, const int64_t* off, const int64_t* step, int64_t len) {
      const TA* x = pa + off[0];
      const TB* y = pb + off[1];
      TO* z = po + o;
      if (step[0] != 0 && step[1] != 0) {
        for (int64_t k = 0; k < len; ++k) z[k] = op(x[k], y[k]);
      } else if (step[0] != 0) {
        const TB c = *y;
        for (int64_t k = 0; k < len; ++k) z[k] = op(x[k], c);
      } else if (step[1] != 0) {
        const TA c = *x;
        for (int64_t k = 0; k < len; ++k) z[k] = op(c, y[k]);
      } else {
        const TO c = op(*x, *y);
        for (int64_t k = 0; k < len; ++k) z[k] = c;
      }
    });
  });
}

// Two inputs of one dtype, broadcast together. Fills `out_dims`.
Status CheckBinary(const KernelContext& ctx, const Tensor*& a, const Tensor*& b,
                   std::vector<int64_t>& out_dims) {
  OCTET_ASSIGN_OR_RETURN(a, RequireInput(ctx, 0, "A"));
  OCTET_ASSIGN_OR_RETURN(b, RequireInput(ctx, 1, "B"));
  if (a->dtype() != b->dtype())
    return ctx.Fail("inputs A and B must have the same dtype but A is ", DTypeName(a->dtype()),
                    " and B is ", DTypeName(b->dtype()));
  OCTET_ASSIGN_OR_RETURN(out_dims, BroadcastOrFail(ctx, a->dims(), b->dims()));
  return Status::Ok();
}

// Integer Div and Mod by zero trap on most hardware; report it instead.
template <typename T>
Status CheckNoZeroDivisor(const KernelContext& ctx, const Tensor& b) {
  if constexpr (std::is_integral_v<T>) {
    const T* p = b.data<T>();
    for (int64_t i = 0; i < b.numel(); ++i)
      if (p[i] == 0) return ctx.Fail("integer division by zero (element ", i, " of B is 0)");
  }
  return Status::Ok();
}

enum class Arith { kAdd, kSub, kMul, kDiv };

template <typename T>
void ArithTyped(Arith op, const Tensor& a, const Tensor& b, Tensor& out, int threads) {
  if constexpr (std::is_integral_v<T>) {
    switch (op) {
      case Arith::kAdd:
        return BinaryLoop<T, T, T>(a, b, out, threads, WrapAdd<T>);
      case Arith::kSub:
        return BinaryLoop<T, T, T>(a, b, out, threads, WrapSub<T>);
      case Arith::kMul:
        return BinaryLoop<T, T, T>(a, b, out, threads, WrapMul<T>);
      case Arith::kDiv:
        // C truncation toward zero (numpy's reference casts its true quotient
        // the same way); MIN / -1 wraps instead of trapping.
        return BinaryLoop<T, T, T>(a, b, out, threads, [](T x, T y) -> T {
          if constexpr (std::is_signed_v<T>) {
            if (y == -1) return WrapNeg(x);
          }
          return static_cast<T>(x / y);
        });
    }
  } else {
    switch (op) {
      case Arith::kAdd:
        return BinaryLoop<T, T, T>(a, b, out, threads, std::plus<T>());
      case Arith::kSub:
        return BinaryLoop<T, T, T>(a, b, out, threads, std::minus<T>());
      case Arith::kMul:
        return BinaryLoop<T, T, T>(a, b, out, threads, std::multiplies<T>());
      case Arith::kDiv:
        return BinaryLoop<T, T, T>(a, b, out, threads, std::divides<T>());
    }
  }
}

Status ArithKernel(KernelContext& ctx, Arith op) {
  const Tensor *a, *b;
  std::vector<int64_t> dims;
  OCTET_RETURN_IF_ERROR(CheckBinary(ctx, a, b, dims));
  const DType dt = a->dtype();
  OCTET_RETURN_IF_ERROR(
      CheckDType(ctx, *a, "A", IsArithmeticDType(dt), "a numeric type (floats or 8-64 bit ints)"));
  const Tensor wa = WidenHalf(*a), wb = WidenHalf(*b);
  Tensor out(wa.dtype(), dims);
  Status st;
  DispatchArithmetic(wa.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (op == Arith::kDiv) st = CheckNoZeroDivisor<T>(ctx, wb);
    if (st.ok()) ArithTyped<T>(op, wa, wb, out, ctx.num_threads);
  });
  OCTET_RETURN_IF_ERROR(st);
  ctx.outputs[0] = NarrowHalf(out, dt);
  return Status::Ok();
}

// Mod: with fmod=0 the result takes the divisor's sign (Python's %), with
// fmod=1 the dividend's (C's fmod). Floats always use fmod, as the spec
// requires fmod=1 for them and ONNX's reference ignores the attribute there.
template <typename T>
T ModOp(T x, T y, bool c_style) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::fmod(x, y);
  } else if constexpr (std::is_unsigned_v<T>) {
    return static_cast<T>(x % y);
  } else {
    if (y == -1) return 0;  // MIN % -1 traps on x86
    T r = static_cast<T>(x % y);
    if (!c_style && r != 0 && ((r < 0) != (y < 0))) r = static_cast<T>(r + y);
    return r;
  }
}

Status ModKernel(KernelContext& ctx) {
  const Tensor *a, *b;
  std::vector<int64_t> dims;
  OCTET_RETURN_IF_ERROR(CheckBinary(ctx, a, b, dims));
  const DType dt = a->dtype();
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *a, "A", IsArithmeticDType(dt), "a numeric type"));
  OCTET_ASSIGN_OR_RETURN(int64_t fmod, ctx.node.GetInt("fmod", 0));
  if (fmod != 0 && fmod != 1) return ctx.Fail("attribute fmod must be 0 or 1 but is ", fmod);
  const Tensor wa = WidenHalf(*a), wb = WidenHalf(*b);
  Tensor out(wa.dtype(), dims);
  Status st;
  DispatchArithmetic(wa.dtype(), [&](auto tag) {
    using T = decltype(tag);
    st = CheckNoZeroDivisor<T>(ctx, wb);
    if (st.ok())
      BinaryLoop<T, T, T>(wa, wb, out, ctx.num_threads,
                          [c = fmod == 1](T x, T y) { return ModOp(x, y, c); });
  });
  OCTET_RETURN_IF_ERROR(st);
  ctx.outputs[0] = NarrowHalf(out, dt);
  return Status::Ok();
}

// Integer power by squaring, wrapping like repeated multiplication would.
template <typename T>
T IntPow(T base, int64_t exp) {
  T result = 1;
  while (exp > 0) {
    if (exp & 1) result = WrapMul(result, base);
    base = WrapMul(base, base);
    exp >>= 1;
  }
  return result;
}

// Pow: the result has the base's dtype; the exponent may be any numeric type.
// Integer ** non-negative integer is computed exactly; everything else in
// double and converted back (so int ** float truncates, like numpy's
// reference casting its float result).
Status PowKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* y, RequireInput(ctx, 1, "Y"));
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *x, "X", IsArithmeticDType(x->dtype()), "a numeric type"));
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *y, "Y", IsArithmeticDType(y->dtype()), "a numeric type"));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> dims, BroadcastOrFail(ctx, x->dims(), y->dims()));
  const DType dt = x->dtype();
  const Tensor wx = WidenHalf(*x);
  // The exponent as int64 (integer exponents) or double (float exponents), so
  // only the base's type needs dispatching.
  const bool int_exp = IsInteger(y->dtype());
  Tensor e(int_exp ? DType::kI64 : DType::kF64, y->dims());
  for (int64_t i = 0; i < y->numel(); ++i) {
    if (int_exp)
      e.data<int64_t>()[i] = y->dtype() == DType::kU64
                                 ? FloatToInt<int64_t>(static_cast<double>(y->data<uint64_t>()[i]))
                                 : y->GetAsInt64(i);
    else
      e.data<double>()[i] = y->GetAsDouble(i);
  }
  Tensor out(wx.dtype(), dims);
  DispatchArithmetic(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (int_exp) {
      BinaryLoop<T, int64_t, T>(wx, e, out, ctx.num_threads, [](T b, int64_t p) -> T {
        if constexpr (std::is_integral_v<T>) {
          if (p >= 0) return IntPow(b, p);
        }
        return FromDouble<T>(std::pow(static_cast<double>(b), static_cast<double>(p)));
      });
    } else {
      BinaryLoop<T, double, T>(wx, e, out, ctx.num_threads, [](T b, double p) {
        return FromDouble<T>(std::pow(static_cast<double>(b), p));
      });
    }
  });
  ctx.outputs[0] = NarrowHalf(out, dt);
  return Status::Ok();
}

// Min and Max propagate NaN, like numpy's minimum/maximum.
template <typename T>
T MaxOp(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
  }
  return a < b ? b : a;
}
template <typename T>
T MinOp(T a, T b) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) ? a : b;
  }
  return b < a ? b : a;
}

enum class Variadic { kMin, kMax, kSum, kMean };

// Min/Max/Sum/Mean: folds the inputs left to right, broadcasting as it goes
// (the same order numpy's reference uses, so float sums round the same way).
Status VariadicKernel(KernelContext& ctx, Variadic op) {
  if (ctx.num_inputs() < 1) return ctx.Fail("needs at least one input");
  std::vector<const Tensor*> ins;
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    OCTET_ASSIGN_OR_RETURN(const Tensor* t, RequireInput(ctx, i, "data"));
    if (t->dtype() != ctx.inputs[0]->dtype())
      return ctx.Fail("all inputs must have the same dtype but input 0 is ",
                      DTypeName(ctx.inputs[0]->dtype()), " and input ", i, " is ",
                      DTypeName(t->dtype()));
    ins.push_back(t);
  }
  const DType dt = ins[0]->dtype();
  const bool float_only = op == Variadic::kSum || op == Variadic::kMean;
  OCTET_RETURN_IF_ERROR(
      float_only ? CheckDType(ctx, *ins[0], "0", IsFloatDType(dt), "f16, bf16, f32 or f64")
                 : CheckDType(ctx, *ins[0], "0", IsArithmeticDType(dt), "a numeric type"));
  Tensor acc = WidenHalf(*ins[0]);
  for (size_t i = 1; i < ins.size(); ++i) {
    const Tensor next_in = WidenHalf(*ins[i]);
    OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                           BroadcastOrFail(ctx, acc.dims(), next_in.dims()));
    Tensor next(acc.dtype(), dims);
    DispatchArithmetic(acc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      const int th = ctx.num_threads;
      switch (op) {
        case Variadic::kMin:
          return BinaryLoop<T, T, T>(acc, next_in, next, th, MinOp<T>);
        case Variadic::kMax:
          return BinaryLoop<T, T, T>(acc, next_in, next, th, MaxOp<T>);
        case Variadic::kSum:
        case Variadic::kMean:
          return BinaryLoop<T, T, T>(acc, next_in, next, th, [](T p, T q) { return p + q; });
      }
    });
    acc = next;
  }
  if (op == Variadic::kMean && ins.size() > 1) {
    DispatchFloat(acc.dtype(), [&](auto tag) {
      using T = decltype(tag);
      T* p = acc.data<T>();  // acc is a fresh tensor here, never an input
      const T n = static_cast<T>(ins.size());
      for (int64_t i = 0; i < acc.numel(); ++i) p[i] /= n;
    });
  }
  ctx.outputs[0] = NarrowHalf(acc, dt);
  return Status::Ok();
}

enum class Compare { kEqual, kLess, kLessOrEqual, kGreater, kGreaterOrEqual };

// Comparisons write bool (stored as one byte, 0 or 1).
Status CompareKernel(KernelContext& ctx, Compare op) {
  const Tensor *a, *b;
  std::vector<int64_t> dims;
  OCTET_RETURN_IF_ERROR(CheckBinary(ctx, a, b, dims));
  const bool is_bool = a->dtype() == DType::kBool;
  if (is_bool && op != Compare::kEqual)
    return ctx.Fail("inputs have dtype bool, which only Equal accepts");
  if (!is_bool)
    OCTET_RETURN_IF_ERROR(
        CheckDType(ctx, *a, "A", IsArithmeticDType(a->dtype()), "a numeric type or bool"));
  Tensor out(DType::kBool, dims);
  const int th = ctx.num_threads;
  if (is_bool) {
    BinaryLoop<uint8_t, uint8_t, uint8_t>(*a, *b, out, th, [](uint8_t x, uint8_t y) {
      return static_cast<uint8_t>((x != 0) == (y != 0));
    });
    ctx.outputs[0] = out;
    return Status::Ok();
  }
  const Tensor wa = WidenHalf(*a), wb = WidenHalf(*b);  // exact, so comparisons are unchanged
  DispatchArithmetic(wa.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto run = [&](auto cmp) { BinaryLoop<T, T, uint8_t>(wa, wb, out, th, cmp); };
    switch (op) {
      case Compare::kEqual:
        return run([](T x, T y) { return static_cast<uint8_t>(x == y); });
      case Compare::kLess:
        return run([](T x, T y) { return static_cast<uint8_t>(x < y); });
      case Compare::kLessOrEqual:
        return run([](T x, T y) { return static_cast<uint8_t>(x <= y); });
      case Compare::kGreater:
        return run([](T x, T y) { return static_cast<uint8_t>(x > y); });
      case Compare::kGreaterOrEqual:
        return run([](T x, T y) { return static_cast<uint8_t>(x >= y); });
    }
  });
  ctx.outputs[0] = out;
  return Status::Ok();
}

enum class Logic { kAnd, kOr, kXor };

Status LogicKernel(KernelContext& ctx, Logic op) {
  const Tensor *a, *b;
  std::vector<int64_t> dims;
  OCTET_RETURN_IF_ERROR(CheckBinary(ctx, a, b, dims));
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *a, "A", a->dtype() == DType::kBool, "bool"));
  Tensor out(DType::kBool, dims);
  const int th = ctx.num_threads;
  // Bytes other than 0/1 may arrive from outside; normalise with != 0.
  switch (op) {
    case Logic::kAnd:
      BinaryLoop<uint8_t, uint8_t, uint8_t>(*a, *b, out, th, [](uint8_t x, uint8_t y) {
        return static_cast<uint8_t>(x != 0 && y != 0);
      });
      break;
    case Logic::kOr:
      BinaryLoop<uint8_t, uint8_t, uint8_t>(*a, *b, out, th, [](uint8_t x, uint8_t y) {
        return static_cast<uint8_t>(x != 0 || y != 0);
      });
      break;
    case Logic::kXor:
      BinaryLoop<uint8_t, uint8_t, uint8_t>(*a, *b, out, th, [](uint8_t x, uint8_t y) {
        return static_cast<uint8_t>((x != 0) != (y != 0));
      });
      break;
  }
  ctx.outputs[0] = out;
  return Status::Ok();
}

Status NotKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "X"));
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *x, "X", x->dtype() == DType::kBool, "bool"));
  Tensor out(DType::kBool, x->dims());
  const uint8_t* in = x->data<uint8_t>();
  uint8_t* o = out.data<uint8_t>();
  for (int64_t i = 0; i < x->numel(); ++i) o[i] = in[i] == 0;
  ctx.outputs[0] = out;
  return Status::Ok();
}

// Where copies elements, so it works on any dtype of 1, 2, 4 or 8 bytes
// without interpreting them.
template <typename T>
void WhereLoop(const Tensor& c, const Tensor& x, const Tensor& y, Tensor& out, int threads) {
  const BroadcastWalker walker({c.dims(), x.dims(), y.dims()}, out.dims());
  const uint8_t* pc = c.data<uint8_t>();
  const T* px = x.data<T>();
  const T* py = y.data<T>();
  T* po = out.data<T>();
  ForRange(out.numel(), threads, [&](int64_t begin, int64_t end) {
    walker.Walk(begin, end, [&](int64_t o, const int64_t* off, const int64_t* step, int64_t len) {
      for (int64_t k = 0; k < len; ++k)
        po[o + k] =
            pc[off[0] + k * step[0]] != 0 ? px[off[1] + k * step[1]] : py[off[2] + k * step[2]];
    });
  });
}

Status WhereKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* c, RequireInput(ctx, 0, "condition"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 1, "X"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* y, RequireInput(ctx, 2, "Y"));
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *c, "condition", c->dtype() == DType::kBool, "bool"));
  if (x->dtype() != y->dtype())
    return ctx.Fail("inputs X and Y must have the same dtype but X is ", DTypeName(x->dtype()),
                    " and Y is ", DTypeName(y->dtype()));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> xy, BroadcastOrFail(ctx, x->dims(), y->dims()));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> dims, BroadcastOrFail(ctx, c->dims(), xy));
  Tensor out(x->dtype(), dims);
  switch (DTypeBits(x->dtype())) {
    case 8:
      WhereLoop<uint8_t>(*c, *x, *y, out, ctx.num_threads);
      break;
    case 16:
      WhereLoop<uint16_t>(*c, *x, *y, out, ctx.num_threads);
      break;
    case 32:
      WhereLoop<uint32_t>(*c, *x, *y, out, ctx.num_threads);
      break;
    case 64:
      WhereLoop<uint64_t>(*c, *x, *y, out, ctx.num_threads);
      break;
    default:
      return Unimplemented(ctx.node.Describe(), ": Where on dtype ", DTypeName(x->dtype()),
                           " is not supported");
  }
  ctx.outputs[0] = out;
  return Status::Ok();
}

}  // namespace

void RegisterElementwiseKernels(KernelRegistry& r) {
  r.Register("Add", [](KernelContext& c) { return ArithKernel(c, Arith::kAdd); });
  r.Register("Sub", [](KernelContext& c) { return ArithKernel(c, Arith::kSub); });
  r.Register("Mul", [](KernelContext& c) { return ArithKernel(c, Arith::kMul); });
  r.Register("Div", [](KernelContext& c) { return ArithKernel(c, Arith::kDiv); });
  r.Register("Mod", ModKernel);
  r.Register("Pow", PowKernel);
  r.Register("Min", [](KernelContext& c) { return VariadicKernel(c, Variadic::kMin); });
  r.Register("Max", [](KernelContext& c) { return VariadicKernel(c, Variadic::kMax); });
  r.Register("Sum", [](KernelContext& c) { return VariadicKernel(c, Variadic::kSum); });
  r.Register("Mean", [](KernelContext& c) { return VariadicKernel(c, Variadic::kMean); });
  r.Register("Equal", [](KernelContext& c) { return CompareKernel(c, Compare::kEqual); });
  r.Register("Less", [](KernelContext& c) { return CompareKernel(c, Compare::kLess); });
  r.Register("LessOrEqual",
             [](KernelContext& c) { return CompareKernel(c, Compare::kLessOrEqual); });
  r.Register("Greater", [](KernelContext& c) { return CompareKernel(c, Compare::kGreater); });
  r.Register("GreaterOrEqual",
             [](KernelContext& c) { return CompareKernel(c, Compare::kGreaterOrEqual); });
  r.Register("And", [](KernelContext& c) { return LogicKernel(c, Logic::kAnd); });
  r.Register("Or", [](KernelContext& c) { return LogicKernel(c, Logic::kOr); });
  r.Register("Xor", [](KernelContext& c) { return LogicKernel(c, Logic::kXor); });
  r.Register("Not", NotKernel);
  r.Register("Where", WhereKernel);
  RegisterUnaryKernels(r);
  RegisterCastKernels(r);
}

}  // namespace octet::reference
