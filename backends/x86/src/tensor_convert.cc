// TensorConvert: one oneDNN reorder with runtime scales and zero points on
// the int8 side (v3 semantics: dst = src_scale * (src - src_zp) / dst_scale +
// dst_zp, rounded to nearest even and saturated), plus the code clamp.
#include "octet/x86/tensor_convert.h"

#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/int8_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

struct TensorConvert::Impl {
  TensorConvertConfig config;
  std::string description;
  int64_t numel = 1;
  dnnl::reorder reorder;
  memory::desc src_md, dst_md;
  std::unordered_map<int, memory> const_args;
};

namespace {

bool IsInt8(DType t) { return t == DType::kU8 || t == DType::kI8; }

const char* LayoutName(BufferLayout l) { return l == BufferLayout::kNhwc ? "nhwc" : "plain"; }

memory::desc Desc(const std::vector<int64_t>& dims, DType t, BufferLayout layout) {
  const memory::dims d(dims.begin(), dims.end());
  if (layout == BufferLayout::kNhwc) return memory::desc(d, ToDnnl(t), tag::nhwc);
  memory::dims strides(d.size(), 1);
  for (int i = static_cast<int>(d.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * d[i + 1];
  return memory::desc(d, ToDnnl(t), strides);
}

Status Validate(const TensorConvertConfig& c) {
  for (DType t : {c.src_type, c.dst_type})
    if (t != DType::kF32 && !IsInt8(t))
      return InvalidArgument("types must be f32, u8 or i8, got ", DTypeName(t));
  for (int64_t d : c.dims)
    if (d <= 0) return InvalidArgument("dims must be positive");
  if ((c.src_layout == BufferLayout::kNhwc || c.dst_layout == BufferLayout::kNhwc) &&
      c.dims.size() != 4)
    return InvalidArgument("the nhwc layout needs 4-D dims");
  if (c.src_type == DType::kF32 && c.dst_type == DType::kF32)
    return InvalidArgument("f32 to f32 is not a conversion this kernel makes");
  if (IsInt8(c.src_type) && IsInt8(c.dst_type) && c.src_type != c.dst_type)
    return InvalidArgument("int8 to int8 conversions keep the type");
  const DType q = IsInt8(c.dst_type) ? c.dst_type : c.src_type;
  OCTET_RETURN_IF_ERROR(CheckScale(c.scale, "scale"));
  OCTET_RETURN_IF_ERROR(CheckZeroPoint(c.zero_point, q, "zero point"));
  return Status::Ok();
}

}  // namespace

Expected<TensorConvert> TensorConvert::Create(const TensorConvertConfig& config) {
  auto impl = std::make_shared<Impl>();
  const TensorConvertConfig& c = config;
  {
    std::ostringstream os;
    os << "TensorConvert " << DTypeName(c.src_type) << DimsString(c.dims) << " "
       << LayoutName(c.src_layout) << " -> " << DTypeName(c.dst_type) << " "
       << LayoutName(c.dst_layout);
    impl->description = os.str();
  }
  if (Status s = Validate(c); !s.ok()) return s.WithContext(impl->description);
  for (int64_t d : c.dims) impl->numel *= d;
  const bool quantize = c.src_type == DType::kF32;
  const bool dequantize = c.dst_type == DType::kF32;
  try {
    impl->src_md = Desc(c.dims, c.src_type, c.src_layout);
    impl->dst_md = Desc(c.dims, c.dst_type, c.dst_layout);
    dnnl::primitive_attr attr;
    auto& args = impl->const_args;
    if (quantize) {
      attr.set_scales_mask(DNNL_ARG_DST, 0);
      args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST] = ConstF32({c.scale});
      if (c.zero_point != 0) {
        attr.set_zero_points_mask(DNNL_ARG_DST, 0);
        args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_DST] = ConstS32(c.zero_point);
      }
    } else if (dequantize) {
      attr.set_scales_mask(DNNL_ARG_SRC, 0);
      args[DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC] = ConstF32({c.scale});
      if (c.zero_point != 0) {
        attr.set_zero_points_mask(DNNL_ARG_SRC, 0);
        args[DNNL_ARG_ATTR_ZERO_POINTS | DNNL_ARG_SRC] = ConstS32(c.zero_point);
      }
    }
    const auto& eng = CpuEngine();
    impl->reorder =
        dnnl::reorder(dnnl::reorder::primitive_desc(eng, impl->src_md, eng, impl->dst_md, attr));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  impl->config = config;
  TensorConvert out;
  out.impl_ = std::move(impl);
  return out;
}

Status TensorConvert::Run(const void* src, void* dst) const {
  const Impl& p = *impl_;
  if (!src || !dst) return InvalidArgument(p.description, ": src and dst must not be null");
  try {
    const auto& eng = CpuEngine();
    std::unordered_map<int, memory> args = p.const_args;
    args[DNNL_ARG_FROM] = memory(p.src_md, eng, const_cast<void*>(src));  // read only
    args[DNNL_ARG_TO] = memory(p.dst_md, eng, dst);
    Execute(p.reorder, memory::desc(), std::move(args));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, p.description);
  }
  if (p.config.src_type == DType::kF32)
    ClampCodes(dst, p.config.dst_type, p.numel, p.config.clamp_lo, p.config.clamp_hi);
  return Status::Ok();
}

const std::string& TensorConvert::description() const { return impl_->description; }

}  // namespace octet::x86
