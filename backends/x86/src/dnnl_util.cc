#include "dnnl_util.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

namespace octet::x86::detail {

const dnnl::engine& CpuEngine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::memory::data_type ToDnnl(DType t) {
  using dt = dnnl::memory::data_type;
  switch (t) {
    case DType::kU8:
      return dt::u8;
    case DType::kI8:
      return dt::s8;
    case DType::kI32:
      return dt::s32;
    case DType::kF32:
      return dt::f32;
    default:
      return dt::undef;
  }
}

dnnl::memory ConstF32(const std::vector<float>& values, dnnl::memory::dims dims) {
  if (dims.empty()) dims = {static_cast<dnnl::memory::dim>(values.size())};
  dnnl::memory::dims strides(dims.size(), 1);  // dense row-major
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i)
    strides[i] = strides[i + 1] * dims[i + 1];
  dnnl::memory m({dims, dnnl::memory::data_type::f32, strides}, CpuEngine());
  std::memcpy(m.get_data_handle(), values.data(), values.size() * sizeof(float));
  return m;
}

dnnl::memory ConstS32(int32_t value) {
  dnnl::memory m({{1}, dnnl::memory::data_type::s32, dnnl::memory::format_tag::a}, CpuEngine());
  std::memcpy(m.get_data_handle(), &value, sizeof(value));
  return m;
}

Status FromDnnlError(const dnnl::error& e, const std::string& what) {
  // unimplemented: a valid configuration oneDNN has no kernel for.
  const StatusCode code = e.status == dnnl_unimplemented       ? StatusCode::kUnimplemented
                          : e.status == dnnl_invalid_arguments ? StatusCode::kInvalidArgument
                                                               : StatusCode::kInternal;
  const char* kind = e.status == dnnl_unimplemented       ? "unimplemented"
                     : e.status == dnnl_invalid_arguments ? "invalid arguments"
                     : e.status == dnnl_out_of_memory     ? "out of memory"
                                                          : "runtime error";
  return Error(code, what, ": oneDNN: ", e.what(), " (", kind, ")");
}

namespace {

// The calling thread's scratchpad: grown to the largest size asked for and
// reused, so a run allocates (and page-faults) no scratch memory once warm.
// Per thread, so sessions on different threads never share it.
void* ThreadScratch(size_t bytes) {
  struct Buffer {
    void* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buffer;
  if (bytes > buffer.size) {
    std::free(buffer.p);
    const size_t rounded = (bytes + 4095) / 4096 * 4096;
    buffer.p = std::aligned_alloc(4096, rounded);
    buffer.size = buffer.p != nullptr ? rounded : 0;
  }
  return buffer.p;
}

}  // namespace

void Execute(const dnnl::primitive& p, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory> args) {
  if (const size_t bytes = scratchpad.get_size(); bytes > 0) {
    void* scratch = ThreadScratch(bytes);
    args[DNNL_ARG_SCRATCHPAD] = scratch != nullptr ? dnnl::memory(scratchpad, CpuEngine(), scratch)
                                                   : dnnl::memory(scratchpad, CpuEngine());
  }
  dnnl::stream stream(CpuEngine());
  p.execute(stream, args);
  stream.wait();
}

std::string PackedLayoutFingerprint(const dnnl::memory::desc& md) {
  std::ostringstream os;
  const dnnl::version_t* v = dnnl::version();
  os << "onednn " << v->major << "." << v->minor << "." << v->patch << " " << v->hash << " isa "
     << static_cast<int>(dnnl::get_effective_cpu_isa()) << " dt "
     << static_cast<int>(md.get_data_type()) << " dims " << DimsString(md.get_dims());
  if (md.get_format_kind() == dnnl::memory::format_kind::blocked) {
    os << " strides " << DimsString(md.get_strides()) << " blocks "
       << DimsString(md.get_inner_blks()) << " idxs " << DimsString(md.get_inner_idxs());
  } else {
    os << " format " << static_cast<int>(md.get_format_kind());
  }
  os << " bytes " << md.get_size();
  return os.str();
}

dnnl::memory PackedOrReordered(const dnnl::memory::desc& want, const dnnl::memory& plain,
                               const PackedWeights& prepacked, bool* used_prepacked) {
  const auto& eng = CpuEngine();
  *used_prepacked = prepacked.defined() && prepacked.layout == PackedLayoutFingerprint(want) &&
                    static_cast<size_t>(prepacked.bytes.nbytes()) == want.get_size();
  if (*used_prepacked)  // read only: the primitive never writes its weights
    return dnnl::memory(want, eng, const_cast<void*>(prepacked.bytes.raw()));
  dnnl::memory packed(want, eng);
  dnnl::stream stream(eng);
  dnnl::reorder(plain, packed).execute(stream, const_cast<dnnl::memory&>(plain), packed);
  stream.wait();
  return packed;
}

PackedWeights DescribePacked(const dnnl::memory& m) {
  const dnnl::memory::desc md = m.get_desc();
  auto keep = std::make_shared<dnnl::memory>(m);
  PackedWeights p;
  p.layout = PackedLayoutFingerprint(md);
  p.bytes = Tensor::View(DType::kU8, {static_cast<int64_t>(md.get_size())}, keep->get_data_handle(),
                         std::shared_ptr<void>(keep, keep.get()));
  return p;
}

std::string DimsString(const std::vector<int64_t>& dims) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < dims.size(); ++i) os << (i ? "," : "") << dims[i];
  os << "]";
  return os.str();
}

Status WindowOutputDims(const std::vector<int64_t>& src_dims, int64_t out_channels,
                        const std::array<int64_t, 2>& kernel, const std::array<int64_t, 2>& strides,
                        const std::array<int64_t, 2>& dilations, const std::array<int64_t, 4>& pads,
                        std::vector<int64_t>* dst_dims) {
  for (int i = 0; i < 2; ++i)
    if (strides[i] < 1 || dilations[i] < 1 || pads[i] < 0 || pads[i + 2] < 0)
      return InvalidArgument("strides and dilations must be >= 1 and pads >= 0");
  *dst_dims = {src_dims[0], out_channels, 0, 0};
  for (int i = 0; i < 2; ++i) {
    const int64_t extent = (kernel[i] - 1) * dilations[i] + 1;
    const int64_t padded = src_dims[2 + i] + pads[i] + pads[i + 2];
    if (padded < extent)
      return InvalidArgument("kernel extent ", extent, " exceeds the padded input ", padded);
    (*dst_dims)[2 + i] = (padded - extent) / strides[i] + 1;
  }
  return Status::Ok();
}

Status CheckScale(float scale, const std::string& what) {
  if (!std::isfinite(scale) || scale <= 0)
    return InvalidArgument(what, " must be finite and > 0, got ", scale);
  return Status::Ok();
}

Status CheckZeroPoint(int32_t zp, DType t, const std::string& what) {
  const int32_t lo = t == DType::kU8 ? 0 : -128, hi = t == DType::kU8 ? 255 : 127;
  if (t != DType::kF32 && (zp < lo || zp > hi))
    return InvalidArgument(what, " ", zp, " is outside the range of ", DTypeName(t), " [", lo, ", ",
                           hi, "]");
  return Status::Ok();
}

}  // namespace octet::x86::detail
