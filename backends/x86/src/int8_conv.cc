// Int8Conv2d: one oneDNN convolution_forward primitive with runtime scales and
// zero points (the v3 quantization API), weights reordered once into the
// layout the primitive chose, and NHWC activations inside.
#include <cstring>
#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/int8_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

struct Int8Conv2d::Impl {
  Int8Conv2dConfig config;  // without the weight and bias tensors (packed below)
  std::vector<int64_t> dst_dims;
  std::string description, implementation;
  dnnl::convolution_forward conv;
  dnnl::convolution_forward::primitive_desc pd;
  // Weights, bias, scales and zero points: the arguments every run shares.
  std::unordered_map<int, memory> const_args;
  bool has_sum = false;
  bool uses_prepacked = false;
  Tensor prepacked;  // the caller's bytes the weights memory points into
  // NCHW callers: reorders to and from the primitive's NHWC buffers.
  dnnl::reorder src_to_nhwc, dst_to_nchw, residual_to_nhwc;
  memory::desc src_user, dst_user, residual_user, residual_nhwc;

  Status Run(const void* src, void* dst, const void* residual) const;
};

namespace {

std::string Describe(const Int8Conv2dConfig& c) {
  std::ostringstream os;
  os << "Int8Conv2d " << DTypeName(c.src_type) << DimsString(c.src_dims)
     << (c.layout == Layout::kNHWC ? " nhwc" : " nchw") << " * "
     << (c.weights.defined() ? c.weights.ShapeString() : "no weights") << " stride " << c.strides[0]
     << "x" << c.strides[1] << " pads " << c.pads[0] << "," << c.pads[1] << "," << c.pads[2] << ","
     << c.pads[3] << " dilations " << c.dilations[0] << "x" << c.dilations[1] << " groups "
     << c.groups;
  if (c.bias.defined()) os << " +bias";
  for (PostOp p : c.post_ops)
    os << (p == PostOp::kRelu ? " +relu" : p == PostOp::kClip ? " +clip" : " +sum");
  os << " -> " << DTypeName(c.dst_type);
  return os.str();
}

bool IsInt8(DType t) { return t == DType::kU8 || t == DType::kI8; }

Status Validate(const Int8Conv2dConfig& c, std::vector<int64_t>& dst_dims) {
  if (c.src_dims.size() != 4) return InvalidArgument("src_dims must be N,C,H,W");
  for (int64_t d : c.src_dims)
    if (d <= 0) return InvalidArgument("src_dims must be positive");
  if (!IsInt8(c.src_type)) return InvalidArgument("src_type must be u8 or i8");
  if (!IsInt8(c.dst_type) && c.dst_type != DType::kF32)
    return InvalidArgument("dst_type must be u8, i8 or f32");
  const Tensor& w = c.weights;
  if (!w.defined() || w.dtype() != DType::kI8 || w.rank() != 4)
    return InvalidArgument("weights must be i8 [O, C/groups, kH, kW], got ",
                           w.defined() ? w.ShapeString() : "none");
  const int64_t o = w.dim(0), c_in = c.src_dims[1];
  if (c.groups < 1 || c_in % c.groups != 0 || o % c.groups != 0 || w.dim(1) * c.groups != c_in)
    return InvalidArgument("weights ", w.ShapeString(), " with groups ", c.groups, " do not match ",
                           c_in, " input channels");
  if (c.weight_scales.size() != 1 && static_cast<int64_t>(c.weight_scales.size()) != o)
    return InvalidArgument("weight_scales has ", c.weight_scales.size(), " values, expected 1 or ",
                           o);
  for (float s : c.weight_scales) OCTET_RETURN_IF_ERROR(CheckScale(s, "weight scale"));
  if (c.bias.defined() && (c.bias.dtype() != DType::kF32 || c.bias.numel() != o))
    return InvalidArgument("bias must be f32 [", o, "], got ", c.bias.ShapeString());
  OCTET_RETURN_IF_ERROR(CheckScale(c.src.scale, "src scale"));
  OCTET_RETURN_IF_ERROR(CheckZeroPoint(c.src.zero_point, c.src_type, "src zero point"));
  if (IsInt8(c.dst_type)) {
    OCTET_RETURN_IF_ERROR(CheckScale(c.dst.scale, "dst scale"));
    OCTET_RETURN_IF_ERROR(CheckZeroPoint(c.dst.zero_point, c.dst_type, "dst zero point"));
  }
  int sums = 0;
  for (PostOp p : c.post_ops) sums += p == PostOp::kSum;
  if (sums > 1) return InvalidArgument("at most one kSum post-op");
  if (sums == 1) {
    // oneDNN's sum reads the residual from the dst buffer: same element size.
    const bool ok = IsInt8(c.dst_type) ? IsInt8(c.residual_type) : c.residual_type == DType::kF32;
    if (!ok)
      return InvalidArgument("residual_type ", DTypeName(c.residual_type),
                             " must have dst's element size (dst ", DTypeName(c.dst_type), ")");
    if (IsInt8(c.residual_type)) {
      OCTET_RETURN_IF_ERROR(CheckScale(c.residual.scale, "residual scale"));
      OCTET_RETURN_IF_ERROR(
          CheckZeroPoint(c.residual.zero_point, c.residual_type, "residual zero point"));
    }
  }
  return WindowOutputDims(c.src_dims, o, {w.dim(2), w.dim(3)}, c.strides, c.dilations, c.pads,
                          &dst_dims);
}

}  // namespace

Expected<Int8Conv2d> Int8Conv2d::Create(const Int8Conv2dConfig& config) {
  auto impl = std::make_shared<Impl>();
  impl->description = Describe(config);
  {
    Status s = Validate(config, impl->dst_dims);
    if (!s.ok()) return s.WithContext(impl->description);
  }
  const Int8Conv2dConfig& c = config;
  const Tensor& w = c.weights;
  const int64_t o = w.dim(0), g = c.groups;
  const bool int8_dst = IsInt8(c.dst_type);
  try {
    const memory::dims src_dims(c.src_dims.begin(), c.src_dims.end());
    const memory::dims dst_dims(impl->dst_dims.begin(), impl->dst_dims.end());
    // Grouped weights are [G, O/G, C/G, kH, kW] for oneDNN; ONNX's [O, C/G, kH,
    // kW] has the same bytes.
    const memory::dims w_dims = g > 1 ? memory::dims{g, o / g, w.dim(1), w.dim(2), w.dim(3)}
                                      : memory::dims{o, w.dim(1), w.dim(2), w.dim(3)};
    const tag w_user_tag = g > 1 ? tag::goihw : tag::oihw;
    const memory::desc src_md(src_dims, ToDnnl(c.src_type), tag::nhwc);
    const memory::desc dst_md(dst_dims, ToDnnl(c.dst_type), tag::nhwc);
    const memory::desc w_md(w_dims, memory::data_type::s8, tag::any);
    const memory::desc bias_md =
        c.bias.defined() ? memory::desc({o}, memory::data_type::f32, tag::a) : memory::desc();

    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    attr.set_scales_mask(DNNL_ARG_SRC, 0);
    // Per output channel: bit 0 (O), and bit 1 (O/G) too for grouped weights.
    const bool per_channel = c.weight_scales.size() > 1;
    attr.set_scales_mask(DNNL_ARG_WEIGHTS, per_channel ? (g > 1 ? 3 : 1) : 0);
    if (c.src.zero_point != 0) attr.set_zero_points_mask(DNNL_ARG_SRC, 0);
    if (int8_dst) {
      attr.set_scales_mask(DNNL_ARG_DST, 0);
      if (c.dst.zero_point != 0) attr.set_zero_points_mask(DNNL_ARG_DST, 0);
    }
    dnnl::post_ops ops;
    for (PostOp p : c.post_ops) {
      if (p == PostOp::kRelu) {
        ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
      } else if (p == PostOp::kClip) {
        ops.append_eltwise(dnnl::algorithm::eltwise_clip, c.clip_min, c.clip_max);
      } else if (int8_dst) {
        // Adds residual.scale * (r - zero_point) to the real-valued result,
        // before the division by the dst scale.
        ops.append_sum(c.residual.scale, c.residual.zero_point, ToDnnl(c.residual_type));
        impl->has_sum = true;
      } else {
        ops.append_sum(1.f);
        impl->has_sum = true;
      }
    }
    attr.set_post_ops(ops);

    const auto& eng = CpuEngine();
    const memory::dims strides{c.strides[0], c.strides[1]};
    const memory::dims dilations{c.dilations[0] - 1, c.dilations[1] - 1};  // 0 = dense
    const memory::dims pad_l{c.pads[0], c.pads[1]}, pad_r{c.pads[2], c.pads[3]};
    impl->pd = dnnl::convolution_forward::primitive_desc(
        eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, src_md, w_md,
        bias_md, dst_md, strides, dilations, pad_l, pad_r, attr);
    impl->implementation = impl->pd.impl_info_str();
    impl->conv = dnnl::convolution_forward(impl->pd);

    // The weights in the primitive's layout: prepacked in place, or packed once.
    memory w_user({w_dims, memory::data_type::s8, w_user_tag}, eng,
                  const_cast<void*>(w.raw()));  // read only
    auto& args = impl->const_args;
    args[DNNL_ARG_WEIGHTS] =
        PackedOrReordered(impl->pd.weights_desc(), w_user, c.prepacked, &impl->uses_prepacked);
    if (impl->uses_prepacked) impl->prepacked = c.prepacked.bytes;
    if (c.bias.defined())
      args[DNNL_ARG_BIAS] =
          ConstF32(std::vector<float>(c.bias.data<float>(), c.bias.data<float>() + o));
    args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC] = ConstF32({c.src.scale});
    args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS] = ConstF32(c.weight_scales);
    if (c.src.zero_point != 0)
      args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = ConstS32(c.src.zero_point);
    if (int8_dst) {
      args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] = ConstF32({c.dst.scale});
      if (c.dst.zero_point != 0)
        args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = ConstS32(c.dst.zero_point);
    }

    if (c.layout == Layout::kNCHW) {
      impl->src_user = memory::desc(src_dims, ToDnnl(c.src_type), tag::nchw);
      impl->dst_user = memory::desc(dst_dims, ToDnnl(c.dst_type), tag::nchw);
      impl->src_to_nhwc =
          dnnl::reorder(dnnl::reorder::primitive_desc(eng, impl->src_user, eng, src_md));
      impl->dst_to_nchw =
          dnnl::reorder(dnnl::reorder::primitive_desc(eng, dst_md, eng, impl->dst_user));
      if (impl->has_sum) {
        impl->residual_user = memory::desc(dst_dims, ToDnnl(c.residual_type), tag::nchw);
        impl->residual_nhwc = memory::desc(dst_dims, ToDnnl(c.residual_type), tag::nhwc);
        impl->residual_to_nhwc = dnnl::reorder(
            dnnl::reorder::primitive_desc(eng, impl->residual_user, eng, impl->residual_nhwc));
      }
    }
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  impl->config = config;
  impl->config.weights = Tensor();  // packed copy above; do not keep the caller's
  impl->config.bias = Tensor();
  impl->config.prepacked = PackedWeights();
  Int8Conv2d out;
  out.impl_ = std::move(impl);
  return out;
}

Status Int8Conv2d::Run(const void* src, void* dst, const void* residual) const {
  return impl_->Run(src, dst, residual);
}

Status Int8Conv2d::Impl::Run(const void* src, void* dst, const void* residual) const {
  if (!src || !dst) return InvalidArgument(description, ": src and dst must not be null");
  if (has_sum != (residual != nullptr))
    return InvalidArgument(description, ": ",
                           has_sum ? "the sum post-op needs a residual buffer"
                                   : "a residual was given but there is no sum post-op");
  try {
    const auto& eng = CpuEngine();
    const memory::desc src_md = pd.src_desc(), dst_md = pd.dst_desc();
    std::unordered_map<int, memory> args = const_args;
    if (config.layout == Layout::kNHWC) {
      // oneDNN's sum reads the residual from dst: copy it there unless in place.
      if (has_sum && residual != dst) std::memcpy(dst, residual, dst_md.get_size());
      args[DNNL_ARG_SRC] = memory(src_md, eng, const_cast<void*>(src));  // read only
      args[DNNL_ARG_DST] = memory(dst_md, eng, dst);
      Execute(conv, pd.scratchpad_desc(), std::move(args));
      return Status::Ok();
    }
    // NCHW: through private NHWC buffers (allocated per run: Run is reentrant).
    memory src_user_mem(src_user, eng, const_cast<void*>(src));
    memory dst_user_mem(dst_user, eng, dst);
    memory src_nhwc(src_md, eng), dst_nhwc(dst_md, eng);
    dnnl::stream stream(eng);
    src_to_nhwc.execute(stream, src_user_mem, src_nhwc);
    if (has_sum) {
      memory r_user(residual_user, eng, const_cast<void*>(residual));
      memory r_nhwc(residual_nhwc, eng, dst_nhwc.get_data_handle());
      residual_to_nhwc.execute(stream, r_user, r_nhwc);
    }
    stream.wait();
    args[DNNL_ARG_SRC] = src_nhwc;
    args[DNNL_ARG_DST] = dst_nhwc;
    Execute(conv, pd.scratchpad_desc(), std::move(args));
    dst_to_nchw.execute(stream, dst_nhwc, dst_user_mem);
    stream.wait();
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, description);
  }
  return Status::Ok();
}

const std::vector<int64_t>& Int8Conv2d::dst_dims() const { return impl_->dst_dims; }
PackedWeights Int8Conv2d::packed_weights() const {
  return DescribePacked(impl_->const_args.at(DNNL_ARG_WEIGHTS));
}
bool Int8Conv2d::uses_prepacked() const { return impl_->uses_prepacked; }
const std::string& Int8Conv2d::implementation() const { return impl_->implementation; }
const std::string& Int8Conv2d::description() const { return impl_->description; }

}  // namespace octet::x86
