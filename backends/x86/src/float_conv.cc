// F32Conv2d: one oneDNN convolution_forward primitive in f32 on the caller's
// layout (NCHW or NHWC, no reorders per run), weights reordered once into the
// layout the primitive picks for format_tag::any, bias and optional ReLU fused.
//
// Seen with 3.2 on AVX2: NHWC gets brgconv:avx2; NCHW gets x64:gemm:jit
// (im2col + sgemm), correct but slower than a blocked layout would be.
#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/float_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

struct F32Conv2d::Impl {
  std::vector<int64_t> dst_dims;
  std::string description, implementation;
  dnnl::convolution_forward::primitive_desc pd;
  dnnl::convolution_forward prim;
  std::unordered_map<int, memory> const_args;  // packed weights, bias
};

namespace {

std::string Describe(const F32Conv2dConfig& c) {
  std::ostringstream os;
  os << "F32Conv2d " << DimsString(c.src_dims) << (c.layout == Layout::kNHWC ? " nhwc" : " nchw")
     << " * " << (c.weights.defined() ? c.weights.ShapeString() : "no weights") << " stride "
     << c.strides[0] << "x" << c.strides[1] << " pads " << c.pads[0] << "," << c.pads[1] << ","
     << c.pads[2] << "," << c.pads[3] << " dilations " << c.dilations[0] << "x" << c.dilations[1]
     << " groups " << c.groups;
  if (c.bias.defined()) os << " +bias";
  if (c.relu) os << " +relu";
  return os.str();
}

Status Validate(const F32Conv2dConfig& c, std::vector<int64_t>& dst_dims) {
  if (c.src_dims.size() != 4) return InvalidArgument("src_dims must be N,C,H,W");
  for (int64_t d : c.src_dims)
    if (d <= 0) return InvalidArgument("src_dims must be positive");
  const Tensor& w = c.weights;
  if (!w.defined() || w.dtype() != DType::kF32 || w.rank() != 4 || w.numel() == 0)
    return InvalidArgument("weights must be f32 [O, C/groups, kH, kW], got ",
                           w.defined() ? w.ShapeString() : "none");
  const int64_t o = w.dim(0), c_in = c.src_dims[1];
  if (c.groups < 1 || c_in % c.groups != 0 || o % c.groups != 0 || w.dim(1) * c.groups != c_in)
    return InvalidArgument("weights ", w.ShapeString(), " with groups ", c.groups, " do not match ",
                           c_in, " input channels");
  if (c.bias.defined() &&
      (c.bias.dtype() != DType::kF32 || c.bias.numel() != o || c.bias.dim(c.bias.rank() - 1) != o))
    return InvalidArgument("bias must be f32 [", o, "], got ", c.bias.ShapeString());
  return WindowOutputDims(c.src_dims, o, {w.dim(2), w.dim(3)}, c.strides, c.dilations, c.pads,
                          &dst_dims);
}

}  // namespace

Expected<F32Conv2d> F32Conv2d::Create(const F32Conv2dConfig& c) {
  auto impl = std::make_shared<Impl>();
  impl->description = Describe(c);
  {
    Status s = Validate(c, impl->dst_dims);
    if (!s.ok()) return s.WithContext(impl->description);
  }
  impl->description += " -> " + DimsString(impl->dst_dims);
  const Tensor& w = c.weights;
  const int64_t o = w.dim(0), g = c.groups;
  try {
    const auto& eng = CpuEngine();
    constexpr auto f32 = memory::data_type::f32;
    const tag layout = c.layout == Layout::kNHWC ? tag::nhwc : tag::nchw;
    const memory::desc src_md(memory::dims(c.src_dims.begin(), c.src_dims.end()), f32, layout);
    const memory::desc dst_md(memory::dims(impl->dst_dims.begin(), impl->dst_dims.end()), f32,
                              layout);
    // Grouped weights are [G, O/G, C/G, kH, kW] for oneDNN: the same bytes as
    // ONNX's [O, C/G, kH, kW].
    const memory::dims w_dims = g > 1 ? memory::dims{g, o / g, w.dim(1), w.dim(2), w.dim(3)}
                                      : memory::dims{o, w.dim(1), w.dim(2), w.dim(3)};
    const memory::desc w_md(w_dims, f32, tag::any);
    const memory::desc bias_md = c.bias.defined() ? memory::desc({o}, f32, tag::a) : memory::desc();

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    if (c.relu) {
      dnnl::post_ops ops;
      ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(ops);
    }
    const memory::dims strides{c.strides[0], c.strides[1]};
    const memory::dims dilations{c.dilations[0] - 1, c.dilations[1] - 1};  // 0 = dense
    const memory::dims pad_l{c.pads[0], c.pads[1]}, pad_r{c.pads[2], c.pads[3]};
    impl->pd = dnnl::convolution_forward::primitive_desc(
        eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, w_md,
        bias_md, dst_md, strides, dilations, pad_l, pad_r, attr);
    impl->implementation = impl->pd.impl_info_str();
    impl->prim = dnnl::convolution_forward(impl->pd);

    memory user({w_dims, f32, g > 1 ? tag::goihw : tag::oihw}, eng,
                const_cast<void*>(w.raw()));  // read only
    memory packed(impl->pd.weights_desc(), eng);
    dnnl::stream stream(eng);
    dnnl::reorder(user, packed).execute(stream, user, packed);
    stream.wait();
    impl->const_args[DNNL_ARG_WEIGHTS] = packed;
    if (c.bias.defined())
      impl->const_args[DNNL_ARG_BIAS] =
          ConstF32(std::vector<float>(c.bias.data<float>(), c.bias.data<float>() + o));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  F32Conv2d out;
  out.impl_ = std::move(impl);
  return out;
}

Status F32Conv2d::Run(const float* src, float* dst) const {
  return RunSrcDst(impl_->prim, impl_->pd, impl_->const_args, src, dst, impl_->description);
}

const std::vector<int64_t>& F32Conv2d::dst_dims() const { return impl_->dst_dims; }
const std::string& F32Conv2d::implementation() const { return impl_->implementation; }
const std::string& F32Conv2d::description() const { return impl_->description; }

}  // namespace octet::x86
