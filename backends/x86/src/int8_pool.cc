// Int8Pool2d: one oneDNN pooling_forward primitive on NHWC int8 codes; the
// reduce_range clamp, which pooling has no post-op for, is a pass over the
// (small) output afterwards.
#include <algorithm>
#include <sstream>

#include "dnnl_util.h"
#include "octet/x86/int8_kernels.h"

namespace octet::x86 {

using dnnl::memory;
using tag = memory::format_tag;
using namespace detail;

struct Int8Pool2d::Impl {
  Int8Pool2dConfig config;
  std::vector<int64_t> dst_dims;
  std::string description, implementation;
  dnnl::pooling_forward pool;
  dnnl::pooling_forward::primitive_desc pd;
};

namespace {

const char* KindName(PoolKind k) {
  return k == PoolKind::kMax                 ? "max"
         : k == PoolKind::kAverageIncludePad ? "avg(include pad)"
                                             : "avg(exclude pad)";
}

std::string Describe(const Int8Pool2dConfig& c) {
  std::ostringstream os;
  os << "Int8Pool2d " << KindName(c.kind) << " " << DTypeName(c.type) << DimsString(c.src_dims)
     << " nhwc kernel " << c.kernel[0] << "x" << c.kernel[1] << " stride " << c.strides[0] << "x"
     << c.strides[1] << " pads " << c.pads[0] << "," << c.pads[1] << "," << c.pads[2] << ","
     << c.pads[3];
  return os.str();
}

Status Validate(const Int8Pool2dConfig& c, std::vector<int64_t>& dst_dims) {
  if (c.src_dims.size() != 4) return InvalidArgument("src_dims must be N,C,H,W");
  for (int64_t d : c.src_dims)
    if (d <= 0) return InvalidArgument("src_dims must be positive");
  if (c.type != DType::kU8 && c.type != DType::kI8) return InvalidArgument("type must be u8 or i8");
  if (c.kind != PoolKind::kMax && (c.dilations[0] != 1 || c.dilations[1] != 1))
    return InvalidArgument("dilations apply to max pooling only");
  for (int i = 0; i < 2; ++i) {
    if (c.kernel[i] < 1) return InvalidArgument("kernel must be >= 1");
    // oneDNN needs every window to touch the input.
    if (c.pads[i] >= c.kernel[i] || c.pads[i + 2] >= c.kernel[i])
      return InvalidArgument("pads must be smaller than the kernel");
  }
  return WindowOutputDims(c.src_dims, c.src_dims[1], c.kernel, c.strides, c.dilations, c.pads,
                          &dst_dims);
}

}  // namespace

void ClampCodes(void* data, DType type, int64_t n, int32_t lo, int32_t hi) {
  if (type == DType::kU8) {
    if (lo <= 0 && hi >= 255) return;
    auto* p = static_cast<uint8_t*>(data);
    const uint8_t l = static_cast<uint8_t>(std::clamp(lo, 0, 255));
    const uint8_t h = static_cast<uint8_t>(std::clamp(hi, 0, 255));
    for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], l), h);
  } else {
    if (lo <= -128 && hi >= 127) return;
    auto* p = static_cast<int8_t*>(data);
    const int8_t l = static_cast<int8_t>(std::clamp(lo, -128, 127));
    const int8_t h = static_cast<int8_t>(std::clamp(hi, -128, 127));
    for (int64_t i = 0; i < n; ++i) p[i] = std::min(std::max(p[i], l), h);
  }
}

Expected<Int8Pool2d> Int8Pool2d::Create(const Int8Pool2dConfig& config) {
  auto impl = std::make_shared<Impl>();
  impl->description = Describe(config);
  {
    Status s = Validate(config, impl->dst_dims);
    if (!s.ok()) return s.WithContext(impl->description);
  }
  const Int8Pool2dConfig& c = config;
  try {
    const memory::dims src_dims(c.src_dims.begin(), c.src_dims.end());
    const memory::dims dst_dims(impl->dst_dims.begin(), impl->dst_dims.end());
    const memory::desc src_md(src_dims, ToDnnl(c.type), tag::nhwc);
    const memory::desc dst_md(dst_dims, ToDnnl(c.type), tag::nhwc);
    const dnnl::algorithm alg = c.kind == PoolKind::kMax ? dnnl::algorithm::pooling_max
                                : c.kind == PoolKind::kAverageIncludePad
                                    ? dnnl::algorithm::pooling_avg_include_padding
                                    : dnnl::algorithm::pooling_avg_exclude_padding;
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    impl->pd = dnnl::pooling_forward::primitive_desc(
        CpuEngine(), dnnl::prop_kind::forward_inference, alg, src_md, dst_md,
        {c.strides[0], c.strides[1]}, {c.kernel[0], c.kernel[1]},
        {c.dilations[0] - 1, c.dilations[1] - 1}, {c.pads[0], c.pads[1]}, {c.pads[2], c.pads[3]},
        attr);
    impl->implementation = impl->pd.impl_info_str();
    impl->pool = dnnl::pooling_forward(impl->pd);
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, impl->description);
  }
  impl->config = config;
  Int8Pool2d out;
  out.impl_ = std::move(impl);
  return out;
}

Status Int8Pool2d::Run(const void* src, void* dst) const {
  const Impl& p = *impl_;
  if (!src || !dst) return InvalidArgument(p.description, ": src and dst must not be null");
  try {
    const auto& eng = CpuEngine();
    std::unordered_map<int, memory> args;
    args[DNNL_ARG_SRC] = memory(p.pd.src_desc(), eng, const_cast<void*>(src));  // read only
    args[DNNL_ARG_DST] = memory(p.pd.dst_desc(), eng, dst);
    Execute(p.pool, p.pd.scratchpad_desc(), std::move(args));
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, p.description);
  }
  int64_t n = 1;
  for (int64_t d : p.dst_dims) n *= d;
  ClampCodes(dst, p.config.type, n, p.config.clamp_lo, p.config.clamp_hi);
  return Status::Ok();
}

const std::vector<int64_t>& Int8Pool2d::dst_dims() const { return impl_->dst_dims; }
const std::string& Int8Pool2d::implementation() const { return impl_->implementation; }
const std::string& Int8Pool2d::description() const { return impl_->description; }

}  // namespace octet::x86
