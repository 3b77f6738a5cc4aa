// Int8MatMul: one oneDNN matmul primitive with runtime scales and zero points,
// weights reordered once into the primitive's layout.
//
// Dynamic per-token form: oneDNN 3.2's matmul accepts only a single src scale
// (mask 0; a per-row mask fails with "unimplemented", see the tests). So the
// per-row scales are a binary-multiply post-op, and the bias, which must not be
// multiplied by them, becomes a binary-add post-op after it. Zero points stay
// on the integer side as usual. The problem is stated as a batch of one,
// [1, M, K] x [1, K, N], with [1, M, 1] scales: 3.2 runs a per-row operand of a
// 2-D matmul ([M, 1]) only in its reference kernel, while the 3-D form gets
// the fast ones (gemm:jit on AVX2, brg:avx512_core_vnni / _amx); measured.
#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/int8_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

struct Int8MatMul::Impl {
  Int8MatMulConfig config;  // without the weight and bias tensors (packed below)
  int64_t k = 0, n = 0;
  std::string description, implementation;
  dnnl::matmul matmul;
  dnnl::matmul::primitive_desc pd;
  // Weights, bias, scales and zero points: the arguments every run shares.
  std::unordered_map<int, memory> const_args;
  memory::desc row_scales_md;  // [M, 1] with per_row_src_scales
  bool uses_prepacked = false;
  Tensor prepacked;  // the caller's bytes the weights memory points into

  Status Run(const void* src, void* dst, const float* row_scales) const;
};

namespace {

bool IsInt8(DType t) { return t == DType::kU8 || t == DType::kI8; }

std::string Describe(const Int8MatMulConfig& c) {
  std::ostringstream os;
  os << "Int8MatMul " << DTypeName(c.src_type) << "[" << c.m << ",K]"
     << (c.per_row_src_scales ? " per-row scales" : "") << " * "
     << (c.weights.defined() ? c.weights.ShapeString() : "no weights");
  if (c.bias.defined()) os << " +bias";
  if (c.sum) os << " +sum";
  if (c.relu) os << " +relu";
  if (c.gelu_erf) os << " +gelu_erf";
  os << " -> " << DTypeName(c.dst_type);
  return os.str();
}

Status Validate(const Int8MatMulConfig& c) {
  if (c.m <= 0) return InvalidArgument("m must be positive");
  if (!IsInt8(c.src_type)) return InvalidArgument("src_type must be u8 or i8");
  if (!IsInt8(c.dst_type) && c.dst_type != DType::kF32)
    return InvalidArgument("dst_type must be u8, i8 or f32");
  const Tensor& w = c.weights;
  if (!w.defined() || w.dtype() != DType::kI8 || w.rank() != 2 || w.numel() == 0)
    return InvalidArgument("weights must be i8 [K, N], got ",
                           w.defined() ? w.ShapeString() : "none");
  const int64_t n = w.dim(1);
  if (c.weight_scales.size() != 1 && static_cast<int64_t>(c.weight_scales.size()) != n)
    return InvalidArgument("weight_scales has ", c.weight_scales.size(), " values, expected 1 or ",
                           n);
  for (float s : c.weight_scales) OCTET_RETURN_IF_ERROR(CheckScale(s, "weight scale"));
  if (c.bias.defined() && (c.bias.dtype() != DType::kF32 || c.bias.numel() != n))
    return InvalidArgument("bias must be f32 [", n, "], got ", c.bias.ShapeString());
  if (c.relu && c.gelu_erf) return InvalidArgument("relu and gelu_erf: at most one activation");
  if (c.sum && c.dst_type != DType::kF32)
    return InvalidArgument("sum (a residual in dst) needs an f32 dst, got ", DTypeName(c.dst_type));
  if (!c.per_row_src_scales) OCTET_RETURN_IF_ERROR(CheckScale(c.src.scale, "src scale"));
  OCTET_RETURN_IF_ERROR(CheckZeroPoint(c.src.zero_point, c.src_type, "src zero point"));
  if (IsInt8(c.dst_type)) {
    OCTET_RETURN_IF_ERROR(CheckScale(c.dst.scale, "dst scale"));
    OCTET_RETURN_IF_ERROR(CheckZeroPoint(c.dst.zero_point, c.dst_type, "dst zero point"));
  }
  return Status::Ok();
}

}  // namespace

Expected<Int8MatMul> Int8MatMul::Create(const Int8MatMulConfig& config) {
  auto impl = std::make_shared<Impl>();
  impl->description = Describe(config);
  {
    Status s = Validate(config);
    if (!s.ok()) return s.WithContext(impl->description);
  }
  const Int8MatMulConfig& c = config;
  const int64_t m = c.m, k = c.weights.dim(0), n = c.weights.dim(1);
  impl->k = k;
  impl->n = n;
  const bool int8_dst = IsInt8(c.dst_type);
  try {
    const auto& eng = CpuEngine();
    // Row-major dims, with a leading batch of 1 in the per-token form.
    const bool batch1 = c.per_row_src_scales;
    auto dims = [&](int64_t rows, int64_t cols) {
      return batch1 ? memory::dims{1, rows, cols} : memory::dims{rows, cols};
    };
    const tag plain = batch1 ? tag::abc : tag::ab;
    const memory::desc src_md(dims(m, k), ToDnnl(c.src_type), plain);
    const memory::desc w_md(dims(k, n), memory::data_type::s8, tag::any);
    const memory::desc dst_md(dims(m, n), ToDnnl(c.dst_type), plain);
    const memory::desc bias_md(dims(1, n), memory::data_type::f32, plain);

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (!c.per_row_src_scales) attr.set_scales_mask(DNNL_ARG_SRC, 0);
    // Per column of [K, N] weights: the mask bit of the last dim.
    const int n_bit = batch1 ? 2 : 1;
    attr.set_scales_mask(DNNL_ARG_WEIGHTS, c.weight_scales.size() > 1 ? 1 << n_bit : 0);
    if (c.src.zero_point != 0) attr.set_zero_points_mask(DNNL_ARG_SRC, 0);
    if (int8_dst) {
      attr.set_scales_mask(DNNL_ARG_DST, 0);
      if (c.dst.zero_point != 0) attr.set_zero_points_mask(DNNL_ARG_DST, 0);
    }
    dnnl::post_ops ops;
    const bool bias_as_post_op = c.per_row_src_scales && c.bias.defined();
    if (c.per_row_src_scales) {
      impl->row_scales_md = memory::desc(dims(m, 1), memory::data_type::f32, plain);
      ops.append_binary(dnnl::algorithm::binary_mul, impl->row_scales_md);  // post-op 0
    }
    if (bias_as_post_op) ops.append_binary(dnnl::algorithm::binary_add, bias_md);  // post-op 1
    if (c.sum) ops.append_sum(1.f);
    if (c.relu) ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    if (c.gelu_erf) ops.append_eltwise(dnnl::algorithm::eltwise_gelu_erf, 0.f, 0.f);
    attr.set_post_ops(ops);

    impl->pd = c.bias.defined() && !bias_as_post_op
                   ? dnnl::matmul::primitive_desc(eng, src_md, w_md, bias_md, dst_md, attr)
                   : dnnl::matmul::primitive_desc(eng, src_md, w_md, dst_md, attr);
    impl->implementation = impl->pd.impl_info_str();
    impl->matmul = dnnl::matmul(impl->pd);

    memory w_user({dims(k, n), memory::data_type::s8, plain}, eng,
                  const_cast<void*>(c.weights.raw()));  // read only
    auto& args = impl->const_args;
    args[DNNL_ARG_WEIGHTS] =
        PackedOrReordered(impl->pd.weights_desc(), w_user, c.prepacked, &impl->uses_prepacked);
    if (impl->uses_prepacked) impl->prepacked = c.prepacked.bytes;
    if (c.bias.defined()) {
      const float* b = c.bias.data<float>();
      // The bias is post-op 1 (after the row scales) in the per-token form.
      const int arg =
          bias_as_post_op ? DNNL_ARG_ATTR_MULTIPLE_POST_OP(1) | DNNL_ARG_SRC_1 : DNNL_ARG_BIAS;
      args[arg] = ConstF32(std::vector<float>(b, b + n), dims(1, n));
    }
    if (!c.per_row_src_scales) args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC] = ConstF32({c.src.scale});
    args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS] = ConstF32(c.weight_scales);
    if (c.src.zero_point != 0)
      args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = ConstS32(c.src.zero_point);
    if (int8_dst) {
      args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] = ConstF32({c.dst.scale});
      if (c.dst.zero_point != 0)
        args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = ConstS32(c.dst.zero_point);
    }
  } catch (const dnnl::error& e) {
    return FromDnnlError(
        e, impl->description + " (K " + std::to_string(k) + ", N " + std::to_string(n) + ")");
  }
  impl->config = config;
  impl->config.weights = Tensor();
  impl->config.bias = Tensor();
  impl->config.prepacked = PackedWeights();
  Int8MatMul out;
  out.impl_ = std::move(impl);
  return out;
}

Status Int8MatMul::Run(const void* src, void* dst, const float* row_scales) const {
  return impl_->Run(src, dst, row_scales);
}

Status Int8MatMul::Impl::Run(const void* src, void* dst, const float* row_scales) const {
  if (!src || !dst) return InvalidArgument(description, ": src and dst must not be null");
  if (config.per_row_src_scales != (row_scales != nullptr))
    return InvalidArgument(description, ": ",
                           config.per_row_src_scales
                               ? "row_scales are required"
                               : "row_scales given without per_row_src_scales");
  try {
    const auto& eng = CpuEngine();
    std::unordered_map<int, memory> args = const_args;
    args[DNNL_ARG_SRC] = memory(pd.src_desc(), eng, const_cast<void*>(src));  // read only
    args[DNNL_ARG_DST] = memory(pd.dst_desc(), eng, dst);
    if (config.per_row_src_scales) {
      args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(0) | DNNL_ARG_SRC_1] =
          memory(row_scales_md, eng, const_cast<float*>(row_scales));
    }
    Execute(matmul, pd.scratchpad_desc(), std::move(args));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, description);
  }
  return Status::Ok();
}

int64_t Int8MatMul::m() const { return impl_->config.m; }
PackedWeights Int8MatMul::packed_weights() const {
  return DescribePacked(impl_->const_args.at(DNNL_ARG_WEIGHTS));
}
bool Int8MatMul::uses_prepacked() const { return impl_->uses_prepacked; }
int64_t Int8MatMul::k() const { return impl_->k; }
int64_t Int8MatMul::n() const { return impl_->n; }
const std::string& Int8MatMul::implementation() const { return impl_->implementation; }
const std::string& Int8MatMul::description() const { return impl_->description; }

}  // namespace octet::x86
