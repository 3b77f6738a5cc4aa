// Reductions (ReduceSum/Mean/Max/Min/Prod/SumSquare/L2) and ArgMax/ArgMin.
//
// Canonical form: 'axes' is the optional int64 input 1 (the importer moves the
// older attribute there); an 'axes' attribute is still accepted when the input
// is absent, so hand-built graphs in either form work.
//
// Sums accumulate in double for float types (so long reductions match numpy's
// pairwise float32 sums to within float rounding) and in wrapping 64-bit
// integers for integer types (exact, and without double's 2^53 limit).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "elementwise_util.h"

namespace octet::reference {
namespace {

enum class Reduce { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL2 };

// Accumulator type for element type T in sums and products.
template <typename T>
using Acc = std::conditional_t<std::is_floating_point_v<T>, double,
                               std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;

// Accumulation steps: plain for double, wrapping for the integer accumulators.
template <typename A>
A WrapOrAdd(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) {
    return a + b;
  } else {
    return WrapAdd(a, b);
  }
}
template <typename A>
A WrapOrMul(A a, A b) {
  if constexpr (std::is_floating_point_v<A>) {
    return a * b;
  } else {
    return WrapMul(a, b);
  }
}

// Which axes to reduce, in ascending order with duplicates rejected; empty
// with `noop` set means "reduce nothing".
struct ReducePlan {
  std::vector<bool> reduced;       // per input dim
  std::vector<int64_t> keep_dims;  // output dims as if keepdims=1
  std::vector<int64_t> out_dims;   // the actual output dims
  bool noop = false;
};

Expected<ReducePlan> PlanReduction(const KernelContext& ctx, const Tensor& x) {
  std::vector<int64_t> axes;
  const Tensor* axes_in = ctx.input(1);
  if (axes_in != nullptr && axes_in->defined()) {
    OCTET_ASSIGN_OR_RETURN(axes, ReadInts(ctx, *axes_in, "input axes"));
  } else {
    OCTET_ASSIGN_OR_RETURN(axes, ctx.node.GetInts("axes", std::vector<int64_t>{}));
  }
  OCTET_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node.GetInt("keepdims", 1));
  OCTET_ASSIGN_OR_RETURN(int64_t noop_empty, ctx.node.GetInt("noop_with_empty_axes", 0));
  ReducePlan plan;
  const int rank = x.rank();
  plan.reduced.assign(rank, axes.empty());
  if (axes.empty() && noop_empty != 0) {
    plan.reduced.assign(rank, false);
    plan.noop = true;
  }
  for (int64_t a : axes) {
    if (a < -rank || a >= rank)
      return ctx.Fail("axis ", a, " is out of range for input of shape ", x.ShapeString(),
                      " (rank ", rank, ")");
    const int64_t d = a < 0 ? a + rank : a;
    if (plan.reduced[d]) return ctx.Fail("axis ", a, " appears more than once in axes");
    plan.reduced[d] = true;
  }
  for (int d = 0; d < rank; ++d) {
    plan.keep_dims.push_back(plan.reduced[d] ? 1 : x.dim(d));
    if (!plan.reduced[d] || keepdims != 0) plan.out_dims.push_back(plan.keep_dims.back());
  }
  return plan;
}

// Applies the reduction's per-element map for the noop case, where each
// element is "reduced" alone: SumSquare squares it, L2 takes |x|, the rest
// return it unchanged.
template <typename T>
T ReduceSingle(Reduce op, T v) {
  if (op == Reduce::kSumSquare) {
    const Acc<T> a = static_cast<Acc<T>>(v);
    return static_cast<T>(WrapOrMul(a, a));
  }
  if (op == Reduce::kL2) return FromDouble<T>(std::fabs(static_cast<double>(v)));
  return v;
}

// Reduces x (of compute type T) into out (dims plan.keep_dims, same element
// count as the real output). The walker visits x in order, pairing each run
// with the accumulator slots it folds into: a run along a reduced axis folds
// into one slot (step 0), a run along a kept axis into consecutive slots.
template <typename T>
void ReduceTyped(Reduce op, const Tensor& x, const ReducePlan& plan, Tensor& out) {
  const int64_t n_out = out.numel();
  const int64_t count = n_out == 0 ? 0 : x.numel() / n_out;
  const T* px = x.data<T>();
  T* po = out.data<T>();
  const BroadcastWalker walker({x.dims(), plan.keep_dims}, x.dims());

  if (op == Reduce::kMax || op == Reduce::kMin) {
    // Empty sets give -inf/+inf (or the type's min/max), as the spec says.
    const bool is_max = op == Reduce::kMax;
    const T init = is_max
                       ? (std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::lowest())
                       : (std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                               : std::numeric_limits<T>::max());
    std::fill(po, po + n_out, init);
    // NaN propagates, like numpy's max/min.
    auto better = [is_max](T v, T best) {
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(v)) return !std::isnan(best);
      }
      return is_max ? v > best : v < best;
    };
    walker.Walk(0, x.numel(), [&](int64_t, const int64_t* off, const int64_t* step, int64_t len) {
      const T* in = px + off[0];
      T* acc = po + off[1];
      for (int64_t k = 0; k < len; ++k) {
        T& slot = acc[k * step[1]];
        if (better(in[k], slot)) slot = in[k];
      }
    });
    return;
  }

  std::vector<Acc<T>> acc(n_out, op == Reduce::kProd ? Acc<T>{1} : Acc<T>{0});
  walker.Walk(0, x.numel(), [&](int64_t, const int64_t* off, const int64_t* step, int64_t len) {
    const T* in = px + off[0];
    Acc<T>* a = acc.data() + off[1];
    if (step[1] == 0) {  // the whole run folds into one slot
      Acc<T> s = *a;
      switch (op) {
        case Reduce::kProd:
          for (int64_t k = 0; k < len; ++k) s = WrapOrMul(s, static_cast<Acc<T>>(in[k]));
          break;
        case Reduce::kSumSquare:
        case Reduce::kL2:
          for (int64_t k = 0; k < len; ++k) {
            const Acc<T> v = static_cast<Acc<T>>(in[k]);
            s = WrapOrAdd(s, WrapOrMul(v, v));
          }
          break;
        default:
          for (int64_t k = 0; k < len; ++k) s = WrapOrAdd(s, static_cast<Acc<T>>(in[k]));
      }
      *a = s;
    } else {
      for (int64_t k = 0; k < len; ++k) {
        const Acc<T> v = static_cast<Acc<T>>(in[k]);
        switch (op) {
          case Reduce::kProd:
            a[k] = WrapOrMul(a[k], v);
            break;
          case Reduce::kSumSquare:
          case Reduce::kL2:
            a[k] = WrapOrAdd(a[k], WrapOrMul(v, v));
            break;
          default:
            a[k] = WrapOrAdd(a[k], v);
        }
      }
    }
  });
  for (int64_t i = 0; i < n_out; ++i) {
    switch (op) {
      case Reduce::kMean:
        if constexpr (std::is_floating_point_v<T>) {
          po[i] = static_cast<T>(acc[i] / static_cast<double>(count));  // empty: 0/0 = NaN
        } else {
          po[i] = count == 0 ? T{0} : static_cast<T>(acc[i] / static_cast<Acc<T>>(count));
        }
        break;
      case Reduce::kL2:
        po[i] = FromDouble<T>(std::sqrt(static_cast<double>(acc[i])));
        break;
      default:
        po[i] = static_cast<T>(acc[i]);
    }
  }
}

Status ReduceKernel(KernelContext& ctx, Reduce op) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
  const DType dt = x->dtype();
  // ReduceMax/ReduceMin take bool too (opset 20): max is any, min is all.
  const bool bool_ok = op == Reduce::kMax || op == Reduce::kMin;
  OCTET_RETURN_IF_ERROR(CheckDType(ctx, *x, "data",
                                   IsArithmeticDType(dt) || (bool_ok && dt == DType::kBool),
                                   bool_ok ? "a numeric type or bool" : "a numeric type"));
  OCTET_ASSIGN_OR_RETURN(ReducePlan plan, PlanReduction(ctx, *x));
  // bool is reduced as u8 holding 0/1.
  Tensor wx;
  if (dt == DType::kBool) {
    wx = Tensor(DType::kU8, x->dims());
    for (int64_t i = 0; i < x->numel(); ++i) wx.data<uint8_t>()[i] = x->data<uint8_t>()[i] != 0;
  } else {
    wx = WidenHalf(*x);
  }
  Tensor out(wx.dtype(), plan.noop ? x->dims() : plan.keep_dims);
  DispatchArithmetic(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    if (plan.noop) {
      const T* in = wx.data<T>();
      T* o = out.data<T>();
      for (int64_t i = 0; i < wx.numel(); ++i) o[i] = ReduceSingle(op, in[i]);
    } else {
      ReduceTyped<T>(op, wx, plan, out);
    }
  });
  if (!plan.noop) out = out.Reshaped(plan.out_dims);
  if (dt == DType::kBool) {
    Tensor b(DType::kBool, out.dims());
    for (int64_t i = 0; i < out.numel(); ++i) b.data<uint8_t>()[i] = out.data<uint8_t>()[i];
    out = b;
  }
  ctx.outputs[0] = NarrowHalf(out, dt);
  return Status::Ok();
}

// ArgMax/ArgMin along one axis. NaN counts as the extreme value (numpy's
// argmax/argmin return the first NaN); with select_last_index ties, NaN
// included, resolve to the last index.
Status ArgKernel(KernelContext& ctx, bool is_max) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
  OCTET_RETURN_IF_ERROR(
      CheckDType(ctx, *x, "data", IsArithmeticDType(x->dtype()), "a numeric type"));
  if (x->rank() == 0) return ctx.Fail("input data must have rank >= 1 but is a scalar");
  OCTET_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node.GetInt("axis", 0));
  OCTET_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node.GetInt("keepdims", 1));
  OCTET_ASSIGN_OR_RETURN(int64_t last, ctx.node.GetInt("select_last_index", 0));
  OCTET_ASSIGN_OR_RETURN(int axis, NormalizeAxis(ctx, axis_attr, x->rank()));
  const int64_t n = x->dim(axis);
  if (n == 0)
    return ctx.Fail("cannot take ", is_max ? "ArgMax" : "ArgMin", " along axis ", axis_attr,
                    " of length 0 (input shape ", x->ShapeString(), ")");
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < axis; ++d) outer *= x->dim(d);
  for (int d = axis + 1; d < x->rank(); ++d) inner *= x->dim(d);
  std::vector<int64_t> dims = x->dims();
  if (keepdims != 0) {
    dims[axis] = 1;
  } else {
    dims.erase(dims.begin() + axis);
  }
  Tensor out(DType::kI64, dims);
  const Tensor wx = WidenHalf(*x);
  DispatchArithmetic(wx.dtype(), [&](auto tag) {
    using T = decltype(tag);
    auto better = [is_max, last = last != 0](T v, T best) {
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(v)) return last || !std::isnan(best);
        if (std::isnan(best)) return false;
      }
      if (v == best) return last;
      return is_max ? v > best : v < best;
    };
    const T* px = wx.data<T>();
    int64_t* po = out.data<int64_t>();
    std::vector<T> best(inner);
    // Rows along the axis are `inner` apart; scanning row by row keeps the
    // reads sequential.
    for (int64_t o = 0; o < outer; ++o) {
      const T* base = px + o * n * inner;
      int64_t* idx = po + o * inner;
      for (int64_t i = 0; i < inner; ++i) {
        best[i] = base[i];
        idx[i] = 0;
      }
      for (int64_t k = 1; k < n; ++k) {
        const T* row = base + k * inner;
        for (int64_t i = 0; i < inner; ++i) {
          if (better(row[i], best[i])) {
            best[i] = row[i];
            idx[i] = k;
          }
        }
      }
    }
  });
  ctx.outputs[0] = out;
  return Status::Ok();
}

}  // namespace

void RegisterReductionKernels(KernelRegistry& r) {
  const std::pair<const char*, Reduce> ops[] = {
      {"ReduceSum", Reduce::kSum},   {"ReduceMean", Reduce::kMean},
      {"ReduceMax", Reduce::kMax},   {"ReduceMin", Reduce::kMin},
      {"ReduceProd", Reduce::kProd}, {"ReduceSumSquare", Reduce::kSumSquare},
      {"ReduceL2", Reduce::kL2},
  };
  for (const auto& [name, op] : ops)
    r.Register(name, [op = op](KernelContext& c) { return ReduceKernel(c, op); });
  r.Register("ArgMax", [](KernelContext& c) { return ArgKernel(c, true); });
  r.Register("ArgMin", [](KernelContext& c) { return ArgKernel(c, false); });
}

}  // namespace octet::reference
