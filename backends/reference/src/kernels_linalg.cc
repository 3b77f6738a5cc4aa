// MatMul, Gemm and Einsum (einsum.cc). All of them multiply through the shared
// GEMM (gemm.h). f16/bf16 compute in float; integer types compute in unsigned
// types of their width so that overflow wraps as two's complement.
#include <cmath>
#include <limits>

#include "einsum.h"
#include "gemm.h"
#include "kernel_util.h"
#include "matmul_plan.h"
#include "octet/reference/kernel.h"
#include "tensor_convert.h"

namespace octet::reference {
namespace {

template <typename C>
const C* As(const Tensor& t) {
  return static_cast<const C*>(t.raw());
}
template <typename C>
C* As(Tensor& t) {
  return static_cast<C*>(t.raw());
}

Status MatMulKernel(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  if (a == nullptr || b == nullptr) return ctx.Fail("inputs A and B are required");
  if (a->dtype() != b->dtype())
    return ctx.Fail("A and B must have the same dtype but A is ", a->ShapeString(), " and B is ",
                    b->ShapeString());
  OCTET_ASSIGN_OR_RETURN(MatMulPlan plan, PlanMatMul(ctx, a->dims(), b->dims()));
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(a->dtype(), plan.out_dims));
  const int threads = ctx.num_threads;
  switch (a->dtype()) {
    case DType::kF32:
      RunPlannedMatMul(plan, As<float>(*a), As<float>(*b), As<float>(y), threads);
      break;
    case DType::kF64:
      RunPlannedMatMul(plan, As<double>(*a), As<double>(*b), As<double>(y), threads);
      break;
    case DType::kI32:
    case DType::kU32:
      RunPlannedMatMul(plan, As<uint32_t>(*a), As<uint32_t>(*b), As<uint32_t>(y), threads);
      break;
    case DType::kI64:
    case DType::kU64:
      RunPlannedMatMul(plan, As<uint64_t>(*a), As<uint64_t>(*b), As<uint64_t>(y), threads);
      break;
    case DType::kF16:
    case DType::kBF16: {
      const std::vector<float> af = ReadAs<float>(*a), bf = ReadAs<float>(*b);
      std::vector<float> yf(y.numel());
      RunPlannedMatMul(plan, af.data(), bf.data(), yf.data(), threads);
      WriteFrom(yf.data(), y);
      break;
    }
    default:
      return ctx.Fail("A and B must be f32, f64, f16, bf16, i32, u32, i64 or u64 but are ",
                      DTypeName(a->dtype()));
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

struct GemmShape {
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;
  const Tensor* c;  // null when absent or when beta == 0 (then C is not read)
};

// Y = alpha * op(A) op(B) + beta * C in a float type F.
template <typename F>
void GemmFloat(const GemmShape& s, const F* a, const F* b, const F* c, F* y, int threads) {
  if (s.c != nullptr) {
    const BroadcastIndexer index(s.c->dims(), {s.m, s.n});
    for (int64_t i = 0; i < s.m * s.n; ++i) y[i] = static_cast<F>(s.beta) * c[index.Map(i)];
  }
  GemmProblem<F> p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.a = s.trans_a ? TransposedView(a, s.m) : RowMajorView(a, s.k);
  p.b = s.trans_b ? TransposedView(b, s.k) : RowMajorView(b, s.n);
  p.c = y;
  p.ldc = s.n;
  p.alpha = static_cast<F>(s.alpha);
  p.accumulate = s.c != nullptr;
  RunGemm(p, threads);
}

// Integer Gemm: the product wraps like the type does; alpha and beta are floats
// in the spec, so anything but alpha = 1, beta in {0, 1} goes through double.
template <typename T, typename U>
void GemmInteger(const GemmShape& s, const Tensor& a, const Tensor& b, Tensor& y, int threads) {
  std::vector<U> prod(s.m * s.n);
  GemmProblem<U> p;
  p.m = s.m;
  p.n = s.n;
  p.k = s.k;
  p.a = s.trans_a ? TransposedView(As<U>(a), s.m) : RowMajorView(As<U>(a), s.k);
  p.b = s.trans_b ? TransposedView(As<U>(b), s.k) : RowMajorView(As<U>(b), s.n);
  p.c = prod.data();
  p.ldc = s.n;
  RunGemm(p, threads);
  T* out = y.data<T>();
  const BroadcastIndexer index(s.c != nullptr ? s.c->dims() : std::vector<int64_t>{}, {s.m, s.n});
  const T* c = s.c != nullptr ? s.c->data<T>() : nullptr;
  const bool exact = s.alpha == 1.0f && (c == nullptr || s.beta == 1.0f);
  for (int64_t i = 0; i < s.m * s.n; ++i) {
    if (exact) {
      out[i] = static_cast<T>(prod[i] + (c != nullptr ? static_cast<U>(c[index.Map(i)]) : U(0)));
      continue;
    }
    double v = s.alpha * static_cast<double>(static_cast<T>(prod[i]));
    if (c != nullptr) v += s.beta * static_cast<double>(c[index.Map(i)]);
    // Out-of-range float-to-integer conversion is undefined; saturate instead.
    v = std::nearbyint(v);
    if (!(v >= static_cast<double>(std::numeric_limits<T>::lowest()))) v = 0;
    out[i] = v >= static_cast<double>(std::numeric_limits<T>::max()) ? std::numeric_limits<T>::max()
                                                                     : static_cast<T>(v);
  }
}

Status GemmKernel(KernelContext& ctx) {
  const Tensor* a = ctx.input(0);
  const Tensor* b = ctx.input(1);
  const Tensor* c = ctx.input(2);
  if (a == nullptr || b == nullptr) return ctx.Fail("inputs A and B are required");
  if (a->rank() != 2 || b->rank() != 2)
    return ctx.Fail("A and B must be 2-D but A is ", a->ShapeString(), " and B is ",
                    b->ShapeString());
  if (a->dtype() != b->dtype() || (c != nullptr && c->dtype() != a->dtype()))
    return ctx.Fail("A, B and C must have the same dtype but A is ", a->ShapeString(), ", B is ",
                    b->ShapeString(), c ? " and C is " + c->ShapeString() : "");
  GemmShape s;
  OCTET_ASSIGN_OR_RETURN(int64_t trans_a, ctx.node.GetInt("transA", 0));
  OCTET_ASSIGN_OR_RETURN(int64_t trans_b, ctx.node.GetInt("transB", 0));
  OCTET_ASSIGN_OR_RETURN(s.alpha, ctx.node.GetFloat("alpha", 1.0f));
  OCTET_ASSIGN_OR_RETURN(s.beta, ctx.node.GetFloat("beta", 1.0f));
  s.trans_a = trans_a != 0;
  s.trans_b = trans_b != 0;
  s.m = a->dim(s.trans_a ? 1 : 0);
  s.k = a->dim(s.trans_a ? 0 : 1);
  s.n = b->dim(s.trans_b ? 0 : 1);
  const int64_t kb = b->dim(s.trans_b ? 1 : 0);
  if (kb != s.k)
    return ctx.Fail("inner dimensions differ: op(A) is ", s.m, "x", s.k, " (A ", a->ShapeString(),
                    s.trans_a ? ", transA" : "", ") but op(B) is ", kb, "x", s.n, " (B ",
                    b->ShapeString(), s.trans_b ? ", transB" : "", ")");
  if (c != nullptr) {
    auto shape = BroadcastShapes(c->dims(), {s.m, s.n});
    if (c->rank() > 2 || !shape.ok() || *shape != std::vector<int64_t>{s.m, s.n})
      return ctx.Fail("C ", c->ShapeString(), " does not broadcast to the output shape [", s.m, ",",
                      s.n, "]");
  }
  s.c = s.beta != 0.0f ? c : nullptr;
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(a->dtype(), {s.m, s.n}));
  const int threads = ctx.num_threads;
  switch (a->dtype()) {
    case DType::kF32:
      GemmFloat(s, a->data<float>(), b->data<float>(), s.c ? s.c->data<float>() : nullptr,
                y.data<float>(), threads);
      break;
    case DType::kF64:
      GemmFloat(s, a->data<double>(), b->data<double>(), s.c ? s.c->data<double>() : nullptr,
                y.data<double>(), threads);
      break;
    case DType::kF16:
    case DType::kBF16: {
      const std::vector<float> af = ReadAs<float>(*a), bf = ReadAs<float>(*b);
      const std::vector<float> cf = s.c ? ReadAs<float>(*s.c) : std::vector<float>();
      std::vector<float> yf(y.numel());
      GemmFloat(s, af.data(), bf.data(), s.c ? cf.data() : nullptr, yf.data(), threads);
      WriteFrom(yf.data(), y);
      break;
    }
    case DType::kI32:
      GemmInteger<int32_t, uint32_t>(s, *a, *b, y, threads);
      break;
    case DType::kU32:
      GemmInteger<uint32_t, uint32_t>(s, *a, *b, y, threads);
      break;
    case DType::kI64:
      GemmInteger<int64_t, uint64_t>(s, *a, *b, y, threads);
      break;
    case DType::kU64:
      GemmInteger<uint64_t, uint64_t>(s, *a, *b, y, threads);
      break;
    default:
      return ctx.Fail("A and B must be f32, f64, f16, bf16, i32, u32, i64 or u64 but are ",
                      DTypeName(a->dtype()));
  }
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

}  // namespace

void RegisterLinalgKernels(KernelRegistry& r) {
  r.Register("MatMul", MatMulKernel);
  r.Register("Gemm", GemmKernel);
  r.Register("Einsum", EinsumKernel);
}

}  // namespace octet::reference
