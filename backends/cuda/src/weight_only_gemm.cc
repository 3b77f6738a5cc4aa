// WeightOnlyGemm (weight_only_gemm.h): validation, packing, path choice.
#include "octet/cuda/weight_only_gemm.h"

#include <cmath>
#include <optional>
#include <sstream>

#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"
#include "weight_only_bf16_fallback.h"
#include "weight_only_gemm_impl.h"
#include "weight_only_gemm_launch.h"
#include "weight_only_pack.h"

namespace octet::cuda {

const char* WeightOnlyPathName(WeightOnlyPath path) {
  switch (path) {
    case WeightOnlyPath::kAuto:
      return "auto";
    case WeightOnlyPath::kStreaming8:
      return "streaming8";
    case WeightOnlyPath::kStreaming16:
      return "streaming16";
    case WeightOnlyPath::kStreaming16x32:
      return "streaming16x32";
    case WeightOnlyPath::kTensorCore32:
      return "tensorcore32";
    case WeightOnlyPath::kCublasLtBf16:
      return "cublaslt-bf16";
  }
  return "?";
}

namespace {

constexpr int64_t kMaxDim = int64_t{1} << 31;

// The dequantized weights' place at the start of the scratch, the cuBLASLt
// workspace after it.
size_t DequantizedBytes(int64_t n, int64_t k) {
  return (static_cast<size_t>(n * k) * 2 + 255) / 256 * 256;
}

std::string Describe(const WeightOnlyGemmConfig& c) {
  const Tensor& w = c.codes;
  std::ostringstream os;
  os << "WeightOnlyGemm bf16[M,";
  if (w.defined() && w.rank() == 2) {
    const bool kn = c.weight_layout == WeightLayout::kKN;
    os << (kn ? w.dim(0) : w.dim(1)) << "] x " << DTypeName(w.dtype()) << "[" << w.dim(0) << ","
       << w.dim(1) << "]" << (kn ? "" : "^T");
  } else {
    os << "?] x ?";
  }
  if (c.group_size > 0) os << " (group " << c.group_size << ")";
  if (c.bias.defined()) os << " + bias";
  if (c.activation == Activation::kGeluErf) os << " -> gelu";
  os << " -> bf16";
  return os.str();
}

bool HasShape(const Tensor& t, const std::vector<int64_t>& dims) {
  return t.defined() && t.dims() == dims;
}

std::string ShapeOf(const Tensor& t) { return t.defined() ? t.ShapeString() : "nothing"; }

Status Validate(const WeightOnlyGemmConfig& c, const std::string& what, int64_t* n, int64_t* k) {
  const Tensor& w = c.codes;
  if (!w.defined() || w.rank() != 2)
    return InvalidArgument(what, ": codes must be a matrix, got ", ShapeOf(w));
  if (w.dtype() == DType::kI4)
    return Unimplemented(what,
                         ": signed int4 codes are not supported; the int4-weight-only preset "
                         "stores u4 codes with zero points");
  if (w.dtype() != DType::kI8 && w.dtype() != DType::kU4)
    return InvalidArgument(what, ": codes must be i8 (int8-weight-only) or u4 (int4-weight-only), ",
                           "got ", DTypeName(w.dtype()));
  const bool kn = c.weight_layout == WeightLayout::kKN;
  *k = kn ? w.dim(0) : w.dim(1);
  *n = kn ? w.dim(1) : w.dim(0);
  if (*n <= 0 || *k <= 0) return InvalidArgument(what, ": empty weights");
  if (*n >= kMaxDim || *k >= kMaxDim) return InvalidArgument(what, ": N and K must be below 2^31");
  if (c.scales.defined() && c.scales.dtype() != DType::kF32)
    return InvalidArgument(what, ": scales must be f32, got ", ShapeOf(c.scales));
  if (w.dtype() == DType::kI8) {
    if (*k % 8 != 0)
      return InvalidArgument(what, ": K = ", *k,
                             " must be a multiple of 8 (the kernels read rows of x with 16-byte "
                             "loads); pad K with zero columns in x and zero codes in the weights");
    if (c.group_size != 0)
      return InvalidArgument(what, ": group_size ", c.group_size,
                             " given for i8 codes, which are per channel (leave it 0)");
    if (!c.scales.defined() || (c.scales.numel() != 1 && !HasShape(c.scales, {*n})))
      return InvalidArgument(what, ": i8 codes need f32 scales [", *n,
                             "] (per channel) or one per-tensor scale, got ", ShapeOf(c.scales));
    if (c.zero_points.defined())
      return Unimplemented(what,
                           ": i8 codes with zero points; the int8-weight-only preset is "
                           "symmetric (zero point 0): leave zero_points undefined");
  } else {
    const int64_t g = c.group_size;
    if (g != 32 && g != 64 && g != 128)
      return InvalidArgument(what, ": group_size ", g,
                             " is not supported for u4 codes (32, 64 or 128)");
    if (*k % g != 0)
      return InvalidArgument(what, ": K = ", *k, " must be a multiple of the group size ", g);
    const std::vector<int64_t> param_dims =
        kn ? std::vector<int64_t>{*k / g, *n} : std::vector<int64_t>{*n, *k / g};
    if (!HasShape(c.scales, param_dims))
      return InvalidArgument(what, ": u4 codes need f32 scales of shape [", param_dims[0], ",",
                             param_dims[1], "] (one per group of ", g, " along K), got ",
                             ShapeOf(c.scales));
    if (c.zero_points.defined()) {
      const DType zt = c.zero_points.dtype();
      if ((zt != DType::kU4 && zt != DType::kU8) || c.zero_points.dims() != param_dims)
        return InvalidArgument(what, ": zero points must be u4 (or u8) of the scales' shape [",
                               param_dims[0], ",", param_dims[1], "], got ",
                               ShapeOf(c.zero_points));
      if (zt == DType::kU8)
        for (int64_t i = 0; i < c.zero_points.numel(); ++i)
          if (c.zero_points.data<uint8_t>()[i] > 15)
            return InvalidArgument(what, ": zero point ", int{c.zero_points.data<uint8_t>()[i]},
                                   " at ", i, " is outside the u4 range [0, 15]");
    }
  }
  for (int64_t i = 0; i < c.scales.numel(); ++i)
    if (!std::isfinite(c.scales.data<float>()[i]))
      return InvalidArgument(what, ": scale ", c.scales.data<float>()[i], " at ", i,
                             " is not finite");
  if (c.bias.defined() && !HasShape(c.bias, {*n}))
    return InvalidArgument(what, ": bias must be f32 [", *n, "], got ", ShapeOf(c.bias));
  if (c.bias.defined() && c.bias.dtype() != DType::kF32)
    return InvalidArgument(what, ": bias must be f32, got ", ShapeOf(c.bias));
  if (c.activation != Activation::kNone && c.activation != Activation::kGeluErf)
    return InvalidArgument(what, ": unknown activation");
  if (c.cublaslt_min_rows < 0)
    return InvalidArgument(what, ": cublaslt_min_rows = ", c.cublaslt_min_rows,
                           " (0 disables the cuBLASLt path)");
  if (c.int4_kernel_shape != -1 &&
      (w.dtype() != DType::kU4 || c.int4_kernel_shape < 0 ||
       c.int4_kernel_shape >= WeightOnlyInt4KernelShapes(c.group_size)))
    return InvalidArgument(what, ": int4_kernel_shape ", c.int4_kernel_shape,
                           " is not a u4 kernel shape for group ", c.group_size, " (0 to ",
                           WeightOnlyInt4KernelShapes(c.group_size) - 1, ", or -1)");
  if (c.tuned_int4_shape != -1 &&
      (w.dtype() != DType::kU4 || c.tuned_int4_shape < 0 ||
       c.tuned_int4_shape >= WeightOnlyInt4KernelShapes(c.group_size) || c.tuned_rows < 1))
    return InvalidArgument(what, ": tuned_int4_shape ", c.tuned_int4_shape, " for ", c.tuned_rows,
                           " rows is not a u4 kernel shape for group ", c.group_size, " (0 to ",
                           WeightOnlyInt4KernelShapes(c.group_size) - 1,
                           ") with at least one row, or -1");
  if (c.path == WeightOnlyPath::kCublasLtBf16 && c.cublaslt_min_rows == 0)
    return InvalidArgument(what, ": path cublaslt-bf16 forced with cublaslt_min_rows = 0, ",
                           "which turns the cuBLASLt path off");
  return Status::Ok();
}

}  // namespace

int WeightOnlyInt4KernelShapes(int64_t group_size) {
  return group_size == 128 ? weight_only::GemvShapeCount() : weight_only::kGemvPathShapes;
}

Expected<WeightOnlyGemm> WeightOnlyGemm::Create(const WeightOnlyGemmConfig& config) {
  const std::string what = Describe(config);
  int64_t n = 0, k = 0;
  OCTET_RETURN_IF_ERROR(Validate(config, what, &n, &k));
  auto impl = std::make_shared<Impl>();
  impl->n = n;
  impl->k = k;
  impl->bits = config.codes.dtype() == DType::kU4 ? 4 : 8;
  impl->group_size = static_cast<int>(config.group_size);
  impl->gelu = config.activation == Activation::kGeluErf;
  impl->path = config.path;
  impl->cublaslt_min_rows = config.cublaslt_min_rows;
  impl->description = what;
  impl->pdl = config.programmatic_launch;
  impl->int4_shape = config.int4_kernel_shape;
  impl->tuned_int4_shape = config.tuned_int4_shape;
  impl->tuned_rows = config.tuned_rows;

  std::string no_device;
  if (!DeviceAvailable(&no_device)) return NotFound(what, ": no CUDA device: ", no_device);
  OCTET_ASSIGN_OR_RETURN(DeviceProperties device, GetDeviceProperties());
  if (device.compute_capability() != 90)
    return Unimplemented(what,
                         ": this build compiles the weight-only kernels for sm_90a only and this "
                         "GPU is ",
                         device.ToString(),
                         " (the kernels need only mma.sync: add the architecture to "
                         "CMAKE_CUDA_ARCHITECTURES)");

  const weight_only::QuantizedWeightView view(config, n, k);
  const weight_only::PackedWeights packed = weight_only::Pack(view);
  impl->n_pad = packed.n_pad;
  impl->chunks = packed.chunks;
  OCTET_ASSIGN_OR_RETURN(impl->blocks,
                         DeviceBuffer::FromHost(packed.blocks.data(), packed.blocks.size()));
  OCTET_ASSIGN_OR_RETURN(
      impl->scales,
      DeviceBuffer::FromHost(packed.scales.data(), packed.scales.size() * sizeof(float)));
  if (!packed.zeros.empty()) {
    OCTET_ASSIGN_OR_RETURN(impl->zeros,
                           DeviceBuffer::FromHost(packed.zeros.data(), packed.zeros.size()));
  }
  if (config.bias.defined()) {
    OCTET_ASSIGN_OR_RETURN(impl->bias,
                           DeviceBuffer::FromHost(config.bias.raw(), n * sizeof(float)));
  }
  if (config.cublaslt_min_rows > 0) {
    if (config.bf16_weights == Bf16Weights::kResidentCopy) {
      const std::vector<uint16_t> dequantized = weight_only::DequantizedBf16(view);
      OCTET_ASSIGN_OR_RETURN(impl->bf16_weights,
                             DeviceBuffer::FromHost(dequantized.data(), dequantized.size() * 2));
    }
    if (config.bias.defined()) {
      std::vector<uint16_t> bias(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) bias[i] = FloatToBFloat16(config.bias.data<float>()[i]);
      OCTET_ASSIGN_OR_RETURN(impl->bf16_bias, DeviceBuffer::FromHost(bias.data(), bias.size() * 2));
    }
    auto fallback = weight_only::Bf16FallbackGemm::Create(
        n, k, config.bias.defined() ? impl->bf16_bias.data() : nullptr,
        config.bias.defined() ? impl->bias.as<float>() : nullptr, config.activation);
    if (!fallback.ok()) return fallback.status().WithContext(what);
    impl->fallback = std::move(fallback).value();
  }
  WeightOnlyGemm gemm;
  gemm.impl_ = std::move(impl);
  return gemm;
}

int64_t WeightOnlyGemm::n() const { return impl_->n; }
int64_t WeightOnlyGemm::k() const { return impl_->k; }
const std::string& WeightOnlyGemm::description() const { return impl_->description; }

int64_t WeightOnlyGemm::packed_weight_bytes() const {
  return static_cast<int64_t>(impl_->blocks.bytes() + impl_->scales.bytes() + impl_->zeros.bytes());
}

// Thresholds from bench/cuda_weight_only_bench on the H100 (docs/cuda-backend.md).
WeightOnlyPath WeightOnlyGemm::PathFor(int64_t m) const {
  const Impl& impl = *impl_;
  if (impl.path != WeightOnlyPath::kAuto) return impl.path;
  if (impl.fallback.has_value() && m >= impl.cublaslt_min_rows)
    return WeightOnlyPath::kCublasLtBf16;
  // i8: 32 columns per block was fastest or within 5% at every measured m,
  // except at m <= 8 with N = 4096, where 16 columns won by 5-15% (more
  // blocks: N / 16 = 256 against 128 for 132 SMs). The 32-row and 8-row
  // variants were rarely and barely faster (docs/cuda-backend.md). u4: each
  // path's shapes as GemvShapeFor describes; beyond 32 rows (cuBLASLt's by
  // default) the 9..16-row shapes beat the 32-row tiles by 25-35% at m = 64
  // and 128 on the H100.
  if (impl.bits == 4)
    return m <= 8    ? WeightOnlyPath::kStreaming8
           : m <= 16 ? WeightOnlyPath::kStreaming16x32
           : m <= 32 ? WeightOnlyPath::kStreaming16
                     : WeightOnlyPath::kStreaming16x32;
  if (impl.bits == 8 && m <= 8 && impl.n < 8192) return WeightOnlyPath::kStreaming16;
  return WeightOnlyPath::kStreaming16x32;
}

size_t WeightOnlyGemm::MaxScratchBytes(int64_t n, int64_t k) {
  return DequantizedBytes(n, k) + weight_only::Bf16FallbackGemm::kWorkspaceBytes;
}

size_t WeightOnlyGemm::scratch_bytes(int64_t m, WeightOnlyPath path) const {
  const Impl& impl = *impl_;
  if (path == WeightOnlyPath::kAuto) path = PathFor(m);
  if (path != WeightOnlyPath::kCublasLtBf16 || !impl.fallback.has_value()) return 0;
  return (impl.bf16_weights.bytes() > 0 ? 0 : DequantizedBytes(impl.n, impl.k)) +
         weight_only::Bf16FallbackGemm::kWorkspaceBytes;
}

Status WeightOnlyGemm::Run(const void* x, int64_t m, void* y, cudaStream_t stream) const {
  return Run(x, m, y, WeightOnlyScratch{}, stream, WeightOnlyPath::kAuto);
}

Status WeightOnlyGemm::Run(const void* x, int64_t m, void* y, const WeightOnlyScratch& scratch,
                           cudaStream_t stream) const {
  return Run(x, m, y, scratch, stream, WeightOnlyPath::kAuto);
}

Status WeightOnlyGemm::Run(const void* x, int64_t m, void* y, const WeightOnlyScratch& scratch,
                           cudaStream_t stream, WeightOnlyPath path) const {
  const Impl& impl = *impl_;
  if (m == 0) return Status::Ok();
  if (m < 0 || m >= kMaxDim)
    return InvalidArgument(impl.description, ": m = ", m, " is outside [0, 2^31)");
  if (x == nullptr || y == nullptr) return InvalidArgument(impl.description, ": null x or y");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(y) % 2 != 0)
    return InvalidArgument(impl.description, ": x (", x, ") must be 16-byte aligned and y (", y,
                           ") 2-byte aligned");
  if (path == WeightOnlyPath::kAuto) path = PathFor(m);
  const weight_only::GemmArgs args = ArgsFor(x, m, y);
  if (path == WeightOnlyPath::kCublasLtBf16) return RunCublasLt(args, false, scratch, stream);
  const int int4_shape = impl.bits != 4 ? -1 : Int4ShapeFor(path, args);
  // The grid's y dimension holds at most 65535 row tiles.
  const int64_t max_rows =
      int64_t{65535} * (impl.bits == 4 ? 8 * weight_only::GemvShapeAt(int4_shape).nb
                                       : weight_only::RowsPerTile(VariantOf(path)));
  if (m > max_rows)
    return InvalidArgument(impl.description, ": m = ", m, " is above the ",
                           WeightOnlyPathName(path), " kernel's ", max_rows,
                           " rows; create the kernel with cublaslt_min_rows > 0 for such m");
  Status s;
  if (impl.bits == 4) {
    const bool pdl =
        impl.pdl && weight_only::GemvProgrammaticLaunchHelps(int4_shape, impl.group_size, args);
    s = weight_only::LaunchInt4(int4_shape, impl.group_size, args, pdl, stream);
  } else {
    s = weight_only::LaunchInt8(VariantOf(path), args, stream);
  }
  return s.ok() ? s : s.WithContext(impl.description);
}

// The u4 kernel shape of a run on kernel path `path`: the forced one, else the
// tuned one for its rows, else the path's rule.
int WeightOnlyGemm::Int4ShapeFor(WeightOnlyPath path, const weight_only::GemmArgs& args) const {
  const Impl& impl = *impl_;
  if (impl.int4_shape >= 0) return impl.int4_shape;
  if (impl.tuned_int4_shape >= 0 && args.m == impl.tuned_rows) return impl.tuned_int4_shape;
  return weight_only::GemvShapeFor(VariantOf(path), args, impl.group_size);
}

// The cuBLASLt path: bf16 weights from the resident copy or dequantized into
// the front of the scratch, the rest of the scratch as cuBLASLt's workspace.
// The kernels' arguments for one run: the packed weights, bias and epilogue
// of this kernel, x, y and m of the run.
weight_only::GemmArgs WeightOnlyGemm::ArgsFor(const void* x, int64_t m, void* y) const {
  const Impl& impl = *impl_;
  weight_only::GemmArgs args;
  args.x = x;
  args.packed = impl.blocks.data();
  args.scales = impl.scales.as<float>();
  args.zeros = impl.zeros.bytes() > 0 ? impl.zeros.as<uint8_t>() : nullptr;
  args.bias = impl.bias.bytes() > 0 ? impl.bias.as<float>() : nullptr;
  args.y = y;
  args.m = static_cast<int>(m);
  args.n = static_cast<int>(impl.n);
  args.k = static_cast<int>(impl.k);
  args.n_pad = static_cast<int>(impl.n_pad);
  args.chunks = static_cast<int>(impl.chunks);
  args.gelu = impl.gelu;
  return args;
}

Status WeightOnlyGemm::RunF32(const void* x, int64_t m, float* y, const WeightOnlyScratch& scratch,
                              cudaStream_t stream) const {
  const Impl& impl = *impl_;
  if (m == 0) return Status::Ok();
  if (m < 0 || m >= kMaxDim)
    return InvalidArgument(impl.description, ": m = ", m, " is outside [0, 2^31)");
  if (!WritesF32(m))
    return InvalidArgument(impl.description, ": an f32 output needs the cuBLASLt path, and m = ", m,
                           " runs ", WeightOnlyPathName(PathFor(m)));
  if (x == nullptr || y == nullptr) return InvalidArgument(impl.description, ": null x or y");
  if (reinterpret_cast<uintptr_t>(x) % 16 != 0 || reinterpret_cast<uintptr_t>(y) % 4 != 0)
    return InvalidArgument(impl.description, ": x (", x, ") must be 16-byte aligned and y (", y,
                           ") 4-byte aligned");
  return RunCublasLt(ArgsFor(x, m, y), true, scratch, stream);
}

Status WeightOnlyGemm::RunCublasLt(const weight_only::GemmArgs& args, bool y_f32,
                                   const WeightOnlyScratch& scratch, cudaStream_t stream) const {
  const Impl& impl = *impl_;
  if (!impl.fallback.has_value())
    return InvalidArgument(impl.description,
                           ": the cuBLASLt path is off (created with cublaslt_min_rows = 0)");
  if (scratch.data == nullptr ? scratch.bytes != 0
                              : reinterpret_cast<uintptr_t>(scratch.data) % 16 != 0)
    return InvalidArgument(impl.description, ": scratch (", scratch.data, ", ", scratch.bytes,
                           " bytes) must be 16-byte aligned, or null with 0 bytes");
  const void* w = impl.bf16_weights.data();
  uint8_t* rest = static_cast<uint8_t*>(scratch.data);
  size_t rest_bytes = scratch.bytes;
  if (w == nullptr) {
    const size_t need = DequantizedBytes(impl.n, impl.k);
    if (scratch.bytes < need)
      return InvalidArgument(impl.description, ": m = ", args.m,
                             " runs cuBLASLt on bf16 weights dequantized into the scratch, which "
                             "needs ",
                             scratch_bytes(args.m, WeightOnlyPath::kCublasLtBf16),
                             " bytes (at least ", need, "); got ", scratch.bytes);
    Status s = weight_only::DequantizePackedToBf16(args, impl.bits, impl.group_size, rest, stream);
    if (!s.ok()) return s.WithContext(impl.description);
    w = rest;
    rest += need;
    rest_bytes -= need;
  }
  const Status s = impl.fallback->Run(args.x, args.m, w, args.y, y_f32,
                                      rest_bytes > 0 ? rest : nullptr, rest_bytes, stream);
  return s.ok() ? s : s.WithContext(impl.description);
}

}  // namespace octet::cuda
