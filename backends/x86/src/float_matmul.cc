// F32MatMul: one oneDNN matmul primitive on [batch, M, K] x [batch, K, N],
// always stated 3-D (a batch of 1 when there is none), with the bias as the
// primitive's bias and activations / the residual sum as post-ops.
//
// Broadcast batches are oneDNN's own (a batch dim of 1 in src or weights).
// Transposed B is a strided weights desc ([K, N] dims, strides {N*K, 1, K}),
// so Q x K^T reads K as it is. Constant weights are reordered once into the
// layout the primitive picks for format_tag::any.
//
// Measured with 3.2 on AVX2: gemm:jit:f32 takes bias, relu, gelu_erf,
// gelu_tanh and sum (also sum then an activation), but an activation followed
// by sum falls back to ref:any (the gemm applies sum as its beta = 1, so sum
// must come first); implementation() says which one ran.
#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/float_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

struct F32MatMul::Impl {
  F32MatMulConfig config;  // without the weight and bias tensors
  bool constant_b = false, has_sum = false;
  std::string description, implementation;
  dnnl::matmul::primitive_desc pd;
  dnnl::matmul prim;
  memory::desc a_md, b_md, c_md;               // the caller's layouts
  std::unordered_map<int, memory> const_args;  // packed weights, bias
};

namespace {

const char* PostOpName(F32PostOp p) {
  switch (p) {
    case F32PostOp::kRelu:
      return "relu";
    case F32PostOp::kGeluErf:
      return "gelu_erf";
    case F32PostOp::kGeluTanh:
      return "gelu_tanh";
    case F32PostOp::kSum:
      return "sum";
  }
  return "?";
}

std::vector<int64_t> BDims(const F32MatMulConfig& c) {
  const int64_t bb = c.broadcast_b ? 1 : c.batch;
  return c.transpose_b ? std::vector<int64_t>{bb, c.n, c.k} : std::vector<int64_t>{bb, c.k, c.n};
}

std::string Describe(const F32MatMulConfig& c) {
  std::ostringstream os;
  os << "F32MatMul A" << DimsString({c.broadcast_a ? 1 : c.batch, c.m, c.k}) << " * "
     << (c.weights.defined() ? "W" : "B") << (c.transpose_b ? "^T" : "") << DimsString(BDims(c));
  if (c.bias.defined()) os << " +bias";
  for (F32PostOp p : c.post_ops) os << " +" << PostOpName(p);
  os << " -> C" << DimsString({c.batch, c.m, c.n});
  return os.str();
}

Status Validate(const F32MatMulConfig& c) {
  if (c.batch <= 0 || c.m <= 0 || c.k <= 0 || c.n <= 0)
    return InvalidArgument("batch, m, k and n must be positive");
  if (c.batch > 1 && c.broadcast_a && c.broadcast_b)
    return InvalidArgument("broadcast_a and broadcast_b with batch ", c.batch,
                           ": every batch would be the same product");
  if (c.weights.defined()) {
    const std::vector<int64_t> b3 = BDims(c), b2(b3.begin() + 1, b3.end());
    const bool ok = c.weights.dtype() == DType::kF32 &&
                    (c.weights.dims() == b3 || (b3[0] == 1 && c.weights.dims() == b2));
    if (!ok)
      return InvalidArgument("weights ", c.weights.ShapeString(), " do not match B ",
                             DimsString(b3), " (f32", c.transpose_b ? ", transposed: [N, K]" : "",
                             ")");
  }
  if (c.bias.defined() && (c.bias.dtype() != DType::kF32 || c.bias.numel() != c.n ||
                           c.bias.dim(c.bias.rank() - 1) != c.n))
    return InvalidArgument("bias must be f32 [", c.n, "], got ", c.bias.ShapeString());
  int sums = 0;
  for (F32PostOp p : c.post_ops) sums += p == F32PostOp::kSum;
  if (sums > 1) return InvalidArgument("at most one kSum post-op");
  return Status::Ok();
}

// A dense row-major buffer of dims d (as stored). transposed: d is [b, N, K]
// and the desc is the logical [b, K, N] read through strides.
memory::desc Desc3(const std::vector<int64_t>& d, bool transposed) {
  if (!transposed) return memory::desc({d[0], d[1], d[2]}, memory::data_type::f32, tag::abc);
  return memory::desc({d[0], d[2], d[1]}, memory::data_type::f32,
                      memory::dims{d[1] * d[2], 1, d[2]});
}

}  // namespace

Expected<F32MatMul> F32MatMul::Create(const F32MatMulConfig& config) {
  auto impl = std::make_shared<Impl>();
  impl->description = Describe(config);
  {
    Status s = Validate(config);
    if (!s.ok()) return s.WithContext(impl->description);
  }
  const F32MatMulConfig& c = config;
  impl->constant_b = c.weights.defined();
  try {
    const auto& eng = CpuEngine();
    impl->a_md = Desc3({c.broadcast_a ? 1 : c.batch, c.m, c.k}, false);
    impl->b_md = Desc3(BDims(c), c.transpose_b);
    impl->c_md = Desc3({c.batch, c.m, c.n}, false);
    const memory::desc w_md =
        impl->constant_b ? memory::desc(impl->b_md.get_dims(), memory::data_type::f32, tag::any)
                         : impl->b_md;
    const memory::desc bias_md({1, 1, c.n}, memory::data_type::f32, tag::abc);

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    dnnl::post_ops ops;
    for (F32PostOp p : c.post_ops) {
      switch (p) {
        case F32PostOp::kRelu:
          ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
          break;
        case F32PostOp::kGeluErf:
          ops.append_eltwise(dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
          break;
        case F32PostOp::kGeluTanh:
          ops.append_eltwise(dnnl::algorithm::eltwise_gelu_tanh, 0.f, 0.f);
          break;
        case F32PostOp::kSum:
          ops.append_sum(1.f);
          impl->has_sum = true;
          break;
      }
    }
    attr.set_post_ops(ops);
    impl->pd = c.bias.defined()
                   ? dnnl::matmul::primitive_desc(eng, impl->a_md, w_md, bias_md, impl->c_md, attr)
                   : dnnl::matmul::primitive_desc(eng, impl->a_md, w_md, impl->c_md, attr);
    impl->implementation = impl->pd.impl_info_str();
    impl->prim = dnnl::matmul(impl->pd);

    if (impl->constant_b) {
      memory user(impl->b_md, eng, const_cast<void*>(c.weights.raw()));  // read only
      memory packed(impl->pd.weights_desc(), eng);
      dnnl::stream stream(eng);
      dnnl::reorder(user, packed).execute(stream, user, packed);
      stream.wait();
      impl->const_args[DNNL_ARG_WEIGHTS] = packed;
    }
    if (c.bias.defined()) {
      const float* b = c.bias.data<float>();
      impl->const_args[DNNL_ARG_BIAS] = ConstF32(std::vector<float>(b, b + c.n), {1, 1, c.n});
    }
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  impl->config = config;
  impl->config.weights = Tensor();
  impl->config.bias = Tensor();
  F32MatMul out;
  out.impl_ = std::move(impl);
  return out;
}

Status F32MatMul::Run(const float* a, const float* b, float* c) const {
  const Impl& p = *impl_;
  if (!a || !c) return InvalidArgument(p.description, ": a and c must not be null");
  if (p.constant_b != (b == nullptr))
    return InvalidArgument(
        p.description, ": ",
        p.constant_b ? "b must be null: B is the constant weights" : "b is required");
  if (c == a || c == b) return InvalidArgument(p.description, ": c must not be a or b");
  try {
    const auto& eng = CpuEngine();
    std::unordered_map<int, memory> args = p.const_args;
    args[DNNL_ARG_SRC] = memory(p.a_md, eng, const_cast<float*>(a));  // read only
    if (!p.constant_b) args[DNNL_ARG_WEIGHTS] = memory(p.b_md, eng, const_cast<float*>(b));
    args[DNNL_ARG_DST] = memory(p.c_md, eng, c);
    Execute(p.prim, p.pd.scratchpad_desc(), std::move(args));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, p.description);
  }
  return Status::Ok();
}

const std::string& F32MatMul::implementation() const { return impl_->implementation; }
const std::string& F32MatMul::description() const { return impl_->description; }

}  // namespace octet::x86
