// F32LayerNorm, F32Softmax, F32Eltwise and F32Binary: one oneDNN primitive each
// (layer_normalization_forward, softmax_forward, eltwise_forward, binary) on
// dense row-major buffers, created once; Run wraps the caller's pointers.
#include <cmath>
#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/float_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

namespace {

constexpr auto kF32 = memory::data_type::f32;

// Dense row-major strides of `dims`.
memory::desc RowMajor(const std::vector<int64_t>& dims) {
  memory::dims d(dims.begin(), dims.end()), strides(dims.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * d[i + 1];
  return memory::desc(d, kF32, strides);
}

// f32 with n elements, laid out as a vector: [n], or [1, ..., 1, n].
bool IsF32Vector(const Tensor& t, int64_t n) {
  return t.defined() && t.dtype() == DType::kF32 && t.rank() >= 1 && t.numel() == n &&
         t.dim(t.rank() - 1) == n;
}

std::string TensorString(const Tensor& t) { return t.defined() ? t.ShapeString() : "none"; }

std::vector<float> ToVector(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// A forward primitive on a user scratchpad, so that runs are reentrant.
dnnl::primitive_attr UserScratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

}  // namespace

// ---------------------------------------------------------------- LayerNorm

struct F32LayerNorm::Impl {
  std::string description, implementation;
  dnnl::layer_normalization_forward::primitive_desc pd;
  dnnl::layer_normalization_forward prim;
  std::unordered_map<int, memory> const_args;  // scale and shift
};

Expected<F32LayerNorm> F32LayerNorm::Create(const F32LayerNormConfig& c) {
  auto impl = std::make_shared<Impl>();
  {
    std::ostringstream os;
    os << "F32LayerNorm [" << c.rows << "," << c.channels << "] gamma " << TensorString(c.gamma)
       << (c.beta.defined() ? " beta " + c.beta.ShapeString() : "") << " eps " << c.epsilon;
    impl->description = os.str();
  }
  Status s;
  if (c.rows <= 0 || c.channels <= 0)
    s = InvalidArgument("rows and channels must be positive");
  else if (!IsF32Vector(c.gamma, c.channels))
    s = InvalidArgument("gamma must be f32 [", c.channels, "], got ", TensorString(c.gamma));
  else if (c.beta.defined() && !IsF32Vector(c.beta, c.channels))
    s = InvalidArgument("beta must be f32 [", c.channels, "], got ", c.beta.ShapeString());
  else if (!std::isfinite(c.epsilon) || c.epsilon < 0)
    s = InvalidArgument("epsilon must be finite and >= 0, got ", c.epsilon);
  if (!s.ok()) return s.WithContext(impl->description);
  try {
    const memory::desc md = RowMajor({c.rows, c.channels});
    auto flags = dnnl::normalization_flags::use_scale;
    if (c.beta.defined()) flags = flags | dnnl::normalization_flags::use_shift;
    // forward_inference: mean and variance are computed into the scratchpad.
    impl->pd = dnnl::layer_normalization_forward::primitive_desc(
        CpuEngine(), dnnl::prop_kind::forward_inference, md, md, c.epsilon, flags,
        UserScratchpad());
    impl->implementation = impl->pd.impl_info_str();
    impl->prim = dnnl::layer_normalization_forward(impl->pd);
    impl->const_args[DNNL_ARG_SCALE] = ConstF32(ToVector(c.gamma));
    if (c.beta.defined()) impl->const_args[DNNL_ARG_SHIFT] = ConstF32(ToVector(c.beta));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  F32LayerNorm out;
  out.impl_ = std::move(impl);
  return out;
}

Status F32LayerNorm::Run(const float* src, float* dst) const {
  return RunSrcDst(impl_->prim, impl_->pd, impl_->const_args, src, dst, impl_->description);
}

const std::string& F32LayerNorm::implementation() const { return impl_->implementation; }
const std::string& F32LayerNorm::description() const { return impl_->description; }

// ---------------------------------------------------------------- Softmax

struct F32Softmax::Impl {
  std::string description, implementation;
  dnnl::softmax_forward::primitive_desc pd;
  dnnl::softmax_forward prim;
};

Expected<F32Softmax> F32Softmax::Create(const F32SoftmaxConfig& c) {
  auto impl = std::make_shared<Impl>();
  impl->description = "F32Softmax [" + std::to_string(c.rows) + "," + std::to_string(c.channels) +
                      "] over the last axis";
  if (c.rows <= 0 || c.channels <= 0)
    return InvalidArgument(impl->description, ": rows and channels must be positive");
  try {
    const memory::desc md = RowMajor({c.rows, c.channels});
    // softmax_accurate subtracts the row's max before exp (softmax_log is LogSoftmax).
    impl->pd = dnnl::softmax_forward::primitive_desc(
        CpuEngine(), dnnl::prop_kind::forward_inference, dnnl::algorithm::softmax_accurate, md, md,
        /*axis=*/1, UserScratchpad());
    impl->implementation = impl->pd.impl_info_str();
    impl->prim = dnnl::softmax_forward(impl->pd);
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  F32Softmax out;
  out.impl_ = std::move(impl);
  return out;
}

Status F32Softmax::Run(const float* src, float* dst) const {
  return RunSrcDst(impl_->prim, impl_->pd, {}, src, dst, impl_->description);
}

const std::string& F32Softmax::implementation() const { return impl_->implementation; }
const std::string& F32Softmax::description() const { return impl_->description; }

// ---------------------------------------------------------------- Eltwise

const char* UnaryOpName(UnaryOp op) {
  switch (op) {
    case UnaryOp::kGeluErf:
      return "gelu_erf";
    case UnaryOp::kGeluTanh:
      return "gelu_tanh";
    case UnaryOp::kRelu:
      return "relu";
    case UnaryOp::kSigmoid:
      return "sigmoid";
    case UnaryOp::kTanh:
      return "tanh";
    case UnaryOp::kExp:
      return "exp";
    case UnaryOp::kSquare:
      return "square";
  }
  return "?";
}

namespace {

Expected<dnnl::algorithm> EltwiseAlgorithm(UnaryOp op) {
  using alg = dnnl::algorithm;
  switch (op) {
    case UnaryOp::kGeluErf:
      return alg::eltwise_gelu_erf;
    case UnaryOp::kGeluTanh:
      return alg::eltwise_gelu_tanh;
    case UnaryOp::kRelu:
      return alg::eltwise_relu;  // alpha 0: max(x, 0)
    case UnaryOp::kSigmoid:
      return alg::eltwise_logistic;
    case UnaryOp::kTanh:
      return alg::eltwise_tanh;
    case UnaryOp::kExp:
      return alg::eltwise_exp;
    case UnaryOp::kSquare:
      return alg::eltwise_square;
  }
  return InvalidArgument("unknown unary op ", static_cast<int>(op));
}

}  // namespace

struct F32Eltwise::Impl {
  std::string description, implementation;
  dnnl::eltwise_forward::primitive_desc pd;
  dnnl::eltwise_forward prim;
};

Expected<F32Eltwise> F32Eltwise::Create(const F32EltwiseConfig& c) {
  auto impl = std::make_shared<Impl>();
  impl->description =
      std::string("F32Eltwise ") + UnaryOpName(c.op) + " [" + std::to_string(c.size) + "]";
  if (c.size <= 0) return InvalidArgument(impl->description, ": size must be positive");
  auto alg = EltwiseAlgorithm(c.op);
  if (!alg.ok()) return alg.status().WithContext(impl->description);
  try {
    const memory::desc md({c.size}, kF32, tag::a);
    impl->pd = dnnl::eltwise_forward::primitive_desc(
        CpuEngine(), dnnl::prop_kind::forward_inference, *alg, md, md, 0.f, 0.f, UserScratchpad());
    impl->implementation = impl->pd.impl_info_str();
    impl->prim = dnnl::eltwise_forward(impl->pd);
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  F32Eltwise out;
  out.impl_ = std::move(impl);
  return out;
}

Status F32Eltwise::Run(const float* src, float* dst) const {
  return RunSrcDst(impl_->prim, impl_->pd, {}, src, dst, impl_->description);
}

const std::string& F32Eltwise::implementation() const { return impl_->implementation; }
const std::string& F32Eltwise::description() const { return impl_->description; }

// ---------------------------------------------------------------- Binary

const char* BinaryOpName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "add";
    case BinaryOp::kSub:
      return "sub";
    case BinaryOp::kMul:
      return "mul";
    case BinaryOp::kDiv:
      return "div";
  }
  return "?";
}

struct F32Binary::Impl {
  std::string description, implementation;
  std::vector<int64_t> dst_dims;
  bool commutative = false;
  bool swapped = false;                 // src0 is b: a is broadcast, b is not, and the op commutes
  bool a_full = false, b_full = false;  // has dst's dims
  dnnl::binary::primitive_desc pd;
  dnnl::binary prim;
};

namespace {

// The same buffers with fewer axes: axes of size 1 in the output are dropped,
// and neighbours merged where each operand either has both at full size or
// broadcasts both. oneDNN 3.2's jit:uni binary takes [160, 5] + [160, 1] but
// sends [2, 4, 5, 4, 5] + [2, 4, 5, 4, 1] (SAM's relative-position add) and
// [6, 20, 1] + [6, 1, 1] to ref:any (measured).
void CollapseAxes(std::vector<int64_t>& a, std::vector<int64_t>& b, std::vector<int64_t>& out) {
  std::vector<int64_t> ca, cb, co;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == 1) continue;  // 1 in a and b too
    // Otherwise each operand has the axis at full size or at 1.
    const bool a_full = a[i] == out[i], b_full = b[i] == out[i];
    if (!co.empty() && (ca.back() == co.back()) == a_full && (cb.back() == co.back()) == b_full) {
      ca.back() *= a[i];
      cb.back() *= b[i];
      co.back() *= out[i];
    } else {
      ca.push_back(a[i]);
      cb.push_back(b[i]);
      co.push_back(out[i]);
    }
  }
  if (co.empty()) ca = cb = co = {1};
  a = std::move(ca);
  b = std::move(cb);
  out = std::move(co);
}

}  // namespace

Expected<F32Binary> F32Binary::Create(const F32BinaryConfig& c) {
  auto impl = std::make_shared<Impl>();
  impl->description = std::string("F32Binary ") + BinaryOpName(c.op) + " " + DimsString(c.a_dims) +
                      " " + DimsString(c.b_dims);
  const size_t rank = c.a_dims.size();
  if (rank == 0 || rank > DNNL_MAX_NDIMS || c.b_dims.size() != rank)
    return InvalidArgument(impl->description, ": a and b must have the same rank, 1 to ",
                           DNNL_MAX_NDIMS);
  std::vector<int64_t>& out = impl->dst_dims;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t x = c.a_dims[i], y = c.b_dims[i];
    if (x <= 0 || y <= 0) return InvalidArgument(impl->description, ": dims must be positive");
    if (x != y && x != 1 && y != 1)
      return InvalidArgument(impl->description, ": dims ", DimsString(c.a_dims), " and ",
                             DimsString(c.b_dims), " do not broadcast (axis ", i, ": ", x, " vs ",
                             y, ")");
    out.push_back(std::max(x, y));
  }
  impl->description += " -> " + DimsString(out);
  impl->a_full = c.a_dims == out;
  impl->b_full = c.b_dims == out;
  impl->commutative = c.op == BinaryOp::kAdd || c.op == BinaryOp::kMul;
  // oneDNN 3.2's fast kernels broadcast only src1: give it the broadcast
  // operand when the op allows. Sub and div with a broadcast a run in ref:any.
  impl->swapped = !impl->a_full && impl->b_full && impl->commutative;
  using alg = dnnl::algorithm;
  const alg algorithm = c.op == BinaryOp::kAdd   ? alg::binary_add
                        : c.op == BinaryOp::kSub ? alg::binary_sub
                        : c.op == BinaryOp::kMul ? alg::binary_mul
                                                 : alg::binary_div;
  try {
    std::vector<int64_t> a_dims = c.a_dims, b_dims = c.b_dims, d_dims = out;
    CollapseAxes(a_dims, b_dims, d_dims);
    const memory::desc a = RowMajor(a_dims), b = RowMajor(b_dims), d = RowMajor(d_dims);
    impl->pd =
        impl->swapped
            ? dnnl::binary::primitive_desc(CpuEngine(), algorithm, b, a, d, UserScratchpad())
            : dnnl::binary::primitive_desc(CpuEngine(), algorithm, a, b, d, UserScratchpad());
    impl->implementation = impl->pd.impl_info_str();
    impl->prim = dnnl::binary(impl->pd);
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  F32Binary result;
  result.impl_ = std::move(impl);
  return result;
}

Status F32Binary::Run(const float* a, const float* b, float* c) const {
  const Impl& p = *impl_;
  if (!a || !b || !c) return InvalidArgument(p.description, ": a, b and c must not be null");
  const float* src0 = p.swapped ? b : a;
  const float* src1 = p.swapped ? a : b;
  // oneDNN runs in place only with dst == src0, and src0 must have dst's dims.
  if (c == src1 && p.commutative && p.a_full && p.b_full) std::swap(src0, src1);
  const bool src0_full = p.swapped ? p.b_full : p.a_full;
  if (c == src1 || (c == src0 && !src0_full))
    return InvalidArgument(p.description,
                           ": c may be a only when a has c's dims, and b only for add and mul "
                           "when b has them");
  try {
    const auto& eng = CpuEngine();
    Execute(p.prim, p.pd.scratchpad_desc(),
            {{DNNL_ARG_SRC_0, memory(p.pd.src_desc(0), eng, const_cast<float*>(src0))},
             {DNNL_ARG_SRC_1, memory(p.pd.src_desc(1), eng, const_cast<float*>(src1))},
             {DNNL_ARG_DST, memory(p.pd.dst_desc(), eng, c)}});
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, p.description);
  }
  return Status::Ok();
}

const std::vector<int64_t>& F32Binary::dst_dims() const { return impl_->dst_dims; }
const std::string& F32Binary::implementation() const { return impl_->implementation; }
const std::string& F32Binary::description() const { return impl_->description; }

}  // namespace octet::x86
