// Cast, CastLike, Identity and Dropout (inference).
//
// Cast converts in two stages per block of elements: the source is widened to
// double (float types), int64 (signed integers, bool) or uint64 (unsigned),
// then narrowed to the target. Widening is exact, so every conversion rounds
// at most once, in the narrowing step:
//   float -> float   round to nearest even (f16, bf16 and fp8 are encoded
//                    directly from double, so f64 -> f16 never double-rounds)
//   float -> integer truncate toward zero; out of range saturates, NaN -> 0
//                    (C leaves both undefined)
//   integer -> integer  wraps modulo 2^bits, like numpy's astype
//   anything -> bool    nonzero (NaN included) is true
//   -> i4/u4         round to nearest even, then saturate (as ONNX's reference)
//   -> fp8           the 'saturate' attribute picks clamping to the largest
//                    finite value or inf/NaN for values out of range
#include <cmath>
#include <cstring>

#include "elementwise_util.h"

namespace octet::reference {
namespace {

// ONNX TensorProto.DataType ids that the Cast 'to' attribute uses.
Expected<DType> DTypeFromOnnxId(const KernelContext& ctx, int64_t id) {
  const std::optional<DType> dtype = DTypeFromOnnxTypeId(id);
  if (dtype == DType::kString)
    return Unimplemented(ctx.node.Describe(), ": Cast to STRING is not supported");
  if (!dtype)
    return Unimplemented(ctx.node.Describe(), ": Cast to ONNX data type ", id,
                         " (complex, fp8 'uz' variants or unknown) is not supported");
  return *dtype;
}

// A binary floating-point format narrower than double: f16, bf16 and fp8.
struct MiniFloat {
  int exp_bits;
  int man_bits;
  bool ieee;  // all-ones exponent is inf/NaN; otherwise (E4M3FN) only S.1111.111 is NaN
};
constexpr MiniFloat kHalf{5, 10, true};
constexpr MiniFloat kBFloat16{8, 7, true};
constexpr MiniFloat kE4M3FN{4, 3, false};
constexpr MiniFloat kE5M2{5, 2, true};

// Encodes v with one round-to-nearest-even step. Out-of-range values become
// inf (IEEE formats) or NaN (E4M3FN), or the largest finite value when
// `saturate` (only honoured for fp8, as the ONNX spec says).
uint16_t EncodeMiniFloat(double v, const MiniFloat& f, bool saturate) {
  const int m = f.man_bits;
  const int bias = (1 << (f.exp_bits - 1)) - 1;
  const uint32_t sign = std::signbit(v) ? 1u << (f.exp_bits + m) : 0u;
  const uint32_t all_exp = (1u << f.exp_bits) - 1;
  // Largest finite encoding (without sign) and the NaN / inf encodings.
  const uint32_t max_finite =
      f.ieee ? ((all_exp - 1) << m) | ((1u << m) - 1) : (all_exp << m) | ((1u << m) - 2);
  const uint32_t nan = f.ieee ? (all_exp << m) | (1u << (m - 1)) : (all_exp << m) | ((1u << m) - 1);
  const uint32_t inf = f.ieee ? all_exp << m : nan;
  const uint32_t overflow = saturate ? max_finite : inf;
  if (std::isnan(v)) return static_cast<uint16_t>(sign | nan);
  const double a = std::fabs(v);
  if (std::isinf(a)) return static_cast<uint16_t>(sign | overflow);
  if (a == 0) return static_cast<uint16_t>(sign);
  int e2;
  std::frexp(a, &e2);
  int e = e2 - 1;  // a = 1.x * 2^e
  const int emin = 1 - bias;
  uint32_t bits;
  if (e < emin) {
    // Subnormal: multiples of 2^(emin - m). A count of 2^m rounds up into the
    // smallest normal, whose encoding is that same integer.
    bits = static_cast<uint32_t>(RoundHalfToEven(std::ldexp(a, m - emin)));
  } else {
    double n = RoundHalfToEven(std::ldexp(a, m - e));  // in [2^m, 2^(m+1)]
    if (n >= std::ldexp(1.0, m + 1)) {
      n /= 2;
      ++e;
    }
    const int64_t biased = static_cast<int64_t>(e) + bias;
    if (biased > static_cast<int64_t>(all_exp)) return static_cast<uint16_t>(sign | overflow);
    bits = (static_cast<uint32_t>(biased) << m) | (static_cast<uint32_t>(n) - (1u << m));
  }
  if (bits > max_finite) return static_cast<uint16_t>(sign | overflow);
  return static_cast<uint16_t>(sign | bits);
}

double DecodeMiniFloat(uint32_t bits, const MiniFloat& f) {
  const int m = f.man_bits;
  const int bias = (1 << (f.exp_bits - 1)) - 1;
  const uint32_t all_exp = (1u << f.exp_bits) - 1;
  const bool negative = (bits >> (f.exp_bits + m)) & 1u;
  const uint32_t exp = (bits >> m) & all_exp;
  const uint32_t man = bits & ((1u << m) - 1);
  double v;
  if (f.ieee && exp == all_exp) {
    v = man == 0 ? HUGE_VAL : std::nan("");
  } else if (!f.ieee && exp == all_exp && man == (1u << m) - 1) {
    v = std::nan("");
  } else if (exp == 0) {
    v = std::ldexp(static_cast<double>(man), 1 - bias - m);
  } else {
    v = std::ldexp(static_cast<double>(man | (1u << m)), static_cast<int>(exp) - bias - m);
  }
  return negative ? -v : v;
}

enum class Wide { kDouble, kInt64, kUInt64 };

Wide WideKindOf(DType t) {
  if (IsFloat(t)) return Wide::kDouble;
  if (t == DType::kBool || IsSigned(t)) return Wide::kInt64;
  return Wide::kUInt64;
}

// Stage 1: elements [begin, begin + n) of `in` widened into the buffer of its
// wide kind. The widening is exact for every dtype.
void Widen(const Tensor& in, int64_t begin, int64_t n, double* fd, int64_t* id, uint64_t* ud) {
  auto copy = [&](auto* dst, auto tag) {
    using S = decltype(tag);
    const S* p = in.data<S>() + begin;
    for (int64_t k = 0; k < n; ++k)
      dst[k] = static_cast<std::remove_pointer_t<decltype(dst)>>(p[k]);
  };
  const uint8_t* bytes = in.data<uint8_t>() + begin;
  const uint16_t* halves = in.data<uint16_t>() + begin;
  switch (in.dtype()) {
    case DType::kF32:
      return copy(fd, float{});
    case DType::kF64:
      return copy(fd, double{});
    case DType::kF16:
      for (int64_t k = 0; k < n; ++k) fd[k] = HalfToFloat(halves[k]);
      return;
    case DType::kBF16:
      for (int64_t k = 0; k < n; ++k) fd[k] = BFloat16ToFloat(halves[k]);
      return;
    case DType::kF8E4M3:
      for (int64_t k = 0; k < n; ++k) fd[k] = DecodeMiniFloat(bytes[k], kE4M3FN);
      return;
    case DType::kF8E5M2:
      for (int64_t k = 0; k < n; ++k) fd[k] = DecodeMiniFloat(bytes[k], kE5M2);
      return;
    case DType::kI8:
      return copy(id, int8_t{});
    case DType::kI16:
      return copy(id, int16_t{});
    case DType::kI32:
      return copy(id, int32_t{});
    case DType::kI64:
      return copy(id, int64_t{});
    case DType::kU8:
      return copy(ud, uint8_t{});
    case DType::kU16:
      return copy(ud, uint16_t{});
    case DType::kU32:
      return copy(ud, uint32_t{});
    case DType::kU64:
      return copy(ud, uint64_t{});
    case DType::kBool:
      for (int64_t k = 0; k < n; ++k) id[k] = bytes[k] != 0;
      return;
    case DType::kI4:
      for (int64_t k = 0; k < n; ++k) id[k] = in.GetAsInt64(begin + k);
      return;
    case DType::kU4:
      for (int64_t k = 0; k < n; ++k) ud[k] = static_cast<uint64_t>(in.GetAsInt64(begin + k));
      return;
    default:
      return;  // rejected before
  }
}

// One wide value narrowed to the C++ element type D (not used for the
// encoded float types or the 4-bit ones).
template <typename D, typename W>
D Narrow(W v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != 0;
  } else if constexpr (std::is_floating_point_v<W> && std::is_integral_v<D>) {
    return FloatToInt<D>(v);
  } else {
    return static_cast<D>(v);  // int -> float rounds; int -> int wraps
  }
}

// A wide value clamped to the range of a 4-bit type (lo..hi), rounding floats.
template <typename W>
int64_t NarrowTo4Bit(W v, int64_t lo, int64_t hi) {
  if constexpr (std::is_floating_point_v<W>) {
    if (std::isnan(v)) return 0;
    const double r = RoundHalfToEven(v);
    return r < lo ? lo : (r > hi ? hi : static_cast<int64_t>(r));
  } else if constexpr (std::is_signed_v<W>) {
    return v < lo ? lo : (v > hi ? hi : v);
  } else {
    return v > static_cast<uint64_t>(hi) ? hi : static_cast<int64_t>(v);
  }
}

// Stage 2: the wide buffer `w` narrowed into elements [begin, begin + n) of `out`.
template <typename W>
void NarrowInto(const W* w, int64_t begin, int64_t n, Tensor& out, bool saturate) {
  auto store = [&](auto tag) {
    using D = decltype(tag);
    if constexpr (std::is_same_v<D, bool>) {
      uint8_t* p = out.data<uint8_t>() + begin;
      for (int64_t k = 0; k < n; ++k) p[k] = w[k] != 0;
    } else {
      D* p = out.data<D>() + begin;
      for (int64_t k = 0; k < n; ++k) p[k] = Narrow<D>(w[k]);
    }
  };
  auto encode = [&](const MiniFloat& f, bool sat, auto* p) {
    for (int64_t k = 0; k < n; ++k)
      p[k] = static_cast<std::remove_pointer_t<decltype(p)>>(
          EncodeMiniFloat(static_cast<double>(w[k]), f, sat));
  };
  switch (out.dtype()) {
    case DType::kF16:
      return encode(kHalf, false, out.data<uint16_t>() + begin);
    case DType::kBF16:
      return encode(kBFloat16, false, out.data<uint16_t>() + begin);
    case DType::kF8E4M3:
      return encode(kE4M3FN, saturate, out.data<uint8_t>() + begin);
    case DType::kF8E5M2:
      return encode(kE5M2, saturate, out.data<uint8_t>() + begin);
    case DType::kI4:
    case DType::kU4: {
      const bool s = out.dtype() == DType::kI4;
      for (int64_t k = 0; k < n; ++k)
        out.SetFromDouble(begin + k,
                          static_cast<double>(NarrowTo4Bit(w[k], s ? -8 : 0, s ? 7 : 15)));
      return;
    }
    default:
      DispatchNumeric(out.dtype(), store);
  }
}

bool Castable(DType t) {
  return IsArithmeticDType(t) || t == DType::kBool || t == DType::kI4 || t == DType::kU4 ||
         t == DType::kF8E4M3 || t == DType::kF8E5M2;
}

// Casts `in` to `to`. Blocks are even-sized so a 4-bit output byte is never
// shared by two threads.
Expected<Tensor> CastTensor(const KernelContext& ctx, const Tensor& in, DType to, bool saturate) {
  if (in.dtype() == DType::kString)
    return Unimplemented(ctx.node.Describe(), ": Cast from STRING is not supported");
  if (!Castable(in.dtype()))
    return Unimplemented(ctx.node.Describe(), ": Cast from ", DTypeName(in.dtype()),
                         " is not supported");
  if (in.dtype() == to) return in;
  Tensor out(to, in.dims());
  constexpr int64_t kBlock = 4096;
  const int64_t blocks = (in.numel() + kBlock - 1) / kBlock;
  const Wide kind = WideKindOf(in.dtype());
  auto body = [&](int64_t b0, int64_t b1) {
    std::vector<double> fd(kind == Wide::kDouble ? kBlock : 0);
    std::vector<int64_t> id(kind == Wide::kInt64 ? kBlock : 0);
    std::vector<uint64_t> ud(kind == Wide::kUInt64 ? kBlock : 0);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t begin = b * kBlock, n = std::min(kBlock, in.numel() - begin);
      Widen(in, begin, n, fd.data(), id.data(), ud.data());
      switch (kind) {
        case Wide::kDouble:
          NarrowInto(fd.data(), begin, n, out, saturate);
          break;
        case Wide::kInt64:
          NarrowInto(id.data(), begin, n, out, saturate);
          break;
        case Wide::kUInt64:
          NarrowInto(ud.data(), begin, n, out, saturate);
          break;
      }
    }
  };
  if (in.numel() >= kParallelGrain && ctx.num_threads > 1) {
    ParallelFor(blocks, ctx.num_threads, body);
  } else {
    body(0, blocks);
  }
  return out;
}

Status CastKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
  const Attribute* to_attr = ctx.node.FindAttr("to");
  if (to_attr == nullptr) return ctx.Fail("attribute 'to' is required but missing");
  OCTET_ASSIGN_OR_RETURN(int64_t to_id, ctx.node.GetInt("to", std::nullopt));
  OCTET_ASSIGN_OR_RETURN(DType to, DTypeFromOnnxId(ctx, to_id));
  OCTET_ASSIGN_OR_RETURN(int64_t saturate, ctx.node.GetInt("saturate", 1));
  OCTET_ASSIGN_OR_RETURN(ctx.outputs[0], CastTensor(ctx, *x, to, saturate != 0));
  return Status::Ok();
}

Status CastLikeKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
  OCTET_ASSIGN_OR_RETURN(const Tensor* like, RequireInput(ctx, 1, "target_type"));
  if (like->dtype() == DType::kString)
    return Unimplemented(ctx.node.Describe(), ": Cast to STRING is not supported");
  if (!Castable(like->dtype()))
    return Unimplemented(ctx.node.Describe(), ": Cast to ", DTypeName(like->dtype()),
                         " is not supported");
  OCTET_ASSIGN_OR_RETURN(int64_t saturate, ctx.node.GetInt("saturate", 1));
  OCTET_ASSIGN_OR_RETURN(ctx.outputs[0], CastTensor(ctx, *x, like->dtype(), saturate != 0));
  return Status::Ok();
}

// Tensors share their buffers and kernels never write their inputs, so
// Identity can hand the input itself on.
Status IdentityKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "input"));
  ctx.outputs[0] = *x;
  return Status::Ok();
}

// Dropout at inference is the identity; the optional mask keeps everything.
// Training mode drops elements at random, which a reference cannot reproduce,
// except with ratio 0, where it is the identity too.
Status DropoutKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(const Tensor* x, RequireInput(ctx, 0, "data"));
  const Tensor* training = ctx.input(2);
  if (training != nullptr && training->defined()) {
    if (training->dtype() != DType::kBool || training->numel() != 1)
      return ctx.Fail("input training_mode must be a bool scalar but is ", training->ShapeString());
    const Tensor* ratio = ctx.input(1);
    // ratio defaults to 0.5 when absent.
    const bool zero_ratio = ratio != nullptr && ratio->defined() && ratio->numel() == 1 &&
                            IsFloatDType(ratio->dtype()) && ratio->GetAsDouble(0) == 0.0;
    if (training->data<uint8_t>()[0] != 0 && !zero_ratio)
      return Unimplemented(ctx.node.Describe(),
                           ": Dropout with training_mode=true and a nonzero ratio is not "
                           "supported (inference only)");
  }
  ctx.outputs[0] = *x;
  if (ctx.num_outputs() > 1) {
    Tensor mask(DType::kBool, x->dims());
    if (mask.numel() > 0) std::memset(mask.raw(), 1, mask.nbytes());
    ctx.outputs[1] = mask;
  }
  return Status::Ok();
}

}  // namespace

void RegisterCastKernels(KernelRegistry& r) {
  r.Register("Cast", CastKernel);
  r.Register("CastLike", CastLikeKernel);
  r.Register("Identity", IdentityKernel);
  r.Register("Dropout", DropoutKernel);
}

}  // namespace octet::reference
