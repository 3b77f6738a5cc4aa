// Int8DynamicGemm (int8_kernels.h): validation, weight packing, tile choice.
#include <cmath>
#include <sstream>

#include "int8_gemm_sm90.h"
#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/int8_kernels.h"
#include "tensor_map.h"

namespace octet::cuda {

const char* Int8GemmTileName(Int8GemmTile tile) {
  switch (tile) {
    case Int8GemmTile::kAuto:
      return "auto";
    case Int8GemmTile::kCooperative128x256:
      return "coop128x256";
    case Int8GemmTile::kCooperative256x128:
      return "coop256x128";
    case Int8GemmTile::kPingpong128x128:
      return "pingpong128x128";
    case Int8GemmTile::kCooperative128x192:
      return "coop128x192";
    case Int8GemmTile::kCooperative256x64:
      return "coop256x64";
  }
  return "?";
}

Expected<Int8GemmTile> Int8GemmTileFromName(const std::string& name) {
  for (Int8GemmTile t : {Int8GemmTile::kAuto, Int8GemmTile::kCooperative128x256,
                         Int8GemmTile::kCooperative256x128, Int8GemmTile::kCooperative128x192,
                         Int8GemmTile::kPingpong128x128, Int8GemmTile::kCooperative256x64})
    if (name == Int8GemmTileName(t)) return t;
  return InvalidArgument(
      "unknown int8 GEMM tile '", name,
      "' (auto, coop128x256, coop256x128, coop128x192, pingpong128x128, coop256x64)");
}

struct Int8DynamicGemm::Impl {
  int64_t n = 0, k = 0;
  int sm_count = 0;
  DeviceBuffer weights;   // i8 [N, K], K-major (what wgmma reads)
  DeviceBuffer w_scales;  // f32 [N]
  DeviceBuffer bias;      // f32 [N], or empty
  // One map per tile width (box rows = block_n), built once for the weights.
  CUtensorMap w_map_64{}, w_map_128{}, w_map_192{}, w_map_256{};
  // The epilogue's arguments for this GEMM (rows of a_scales: see
  // Int8GemmEpilogue::a_scale_rows).
  sm90::Int8GemmEpilogue Epilogue(const float* a_scales, int a_scale_rows, int64_t m, void* dst,
                                  const void* residual, float* image_absmax,
                                  int64_t image_rows) const {
    sm90::Int8GemmEpilogue e;
    e.a_scales = a_scales;
    e.a_scale_rows = a_scale_rows;
    e.w_scales = w_scales.as<float>();
    e.bias = bias.bytes() > 0 ? bias.as<float>() : nullptr;
    e.dst = dst;
    e.residual = residual;
    e.m = static_cast<int>(m);
    e.n = static_cast<int>(n);
    e.dst_bf16 = dst_bf16;
    e.activation = activation;
    e.image_absmax = image_absmax;
    e.image_rows = static_cast<int>(image_rows);
    return e;
  }
  const CUtensorMap& WeightMap(int block_n) const {
    return block_n == 256   ? w_map_256
           : block_n == 192 ? w_map_192
           : block_n == 128 ? w_map_128
                            : w_map_64;
  }
  Activation activation = Activation::kNone;
  bool dst_bf16 = true;
  Int8GemmTile tile = Int8GemmTile::kAuto;
  int64_t tuned_rows = 0;
  Int8GemmTile tuned_tile = Int8GemmTile::kAuto;
  std::string description;
};

namespace {

std::string Describe(const Int8DynamicGemmConfig& c, int64_t n, int64_t k) {
  std::ostringstream os;
  os << "Int8DynamicGemm i8[M," << k << "] x i8[" << n << "," << k << "]^T ("
     << (c.weight_scales.size() == 1 ? "per-tensor" : "per-channel") << " scales)";
  if (c.bias.defined()) os << " + bias";
  if (c.activation == Activation::kGeluErf) os << " -> gelu";
  if (c.activation == Activation::kRelu) os << " [+ residual] -> relu";
  os << " -> " << DTypeName(c.dst_type);
  return os.str();
}

Status Validate(const Int8DynamicGemmConfig& c, int64_t* n, int64_t* k) {
  const Tensor& w = c.weights;
  if (!w.defined() || w.dtype() != DType::kI8 || w.rank() != 2)
    return InvalidArgument("Int8DynamicGemm: weights must be an i8 matrix, got ",
                           w.defined() ? DTypeName(w.dtype()) : "nothing", " of rank ",
                           w.defined() ? w.rank() : 0);
  *k = c.weight_layout == WeightLayout::kKN ? w.dim(0) : w.dim(1);
  *n = c.weight_layout == WeightLayout::kKN ? w.dim(1) : w.dim(0);
  const std::string what = Describe(c, *n, *k);
  if (*n <= 0 || *k <= 0) return InvalidArgument(what, ": empty weights");
  if (*k % 16 != 0)
    return InvalidArgument(what, ": K = ", *k,
                           " must be a multiple of 16 (the kernel reads rows of A and W through "
                           "the tensor memory accelerator, whose row pitch is a multiple of 16 "
                           "bytes); pad K with zero columns in the activations and the weights");
  if (*n >= (int64_t{1} << 31) || *k >= (int64_t{1} << 31))
    return InvalidArgument(what, ": N and K must be below 2^31");
  if (c.weight_scales.size() != 1 && static_cast<int64_t>(c.weight_scales.size()) != *n)
    return InvalidArgument(what, ": ", c.weight_scales.size(),
                           " weight scales; expected 1 or N = ", *n);
  for (float s : c.weight_scales)
    if (!std::isfinite(s)) return InvalidArgument(what, ": weight scale ", s, " is not finite");
  if (c.bias.defined() &&
      (c.bias.dtype() != DType::kF32 || c.bias.rank() != 1 || c.bias.dim(0) != *n))
    return InvalidArgument(what, ": bias must be f32 [", *n, "], got ", DTypeName(c.bias.dtype()),
                           " of ", c.bias.numel(), " elements");
  if (c.dst_type != DType::kBF16 && c.dst_type != DType::kF32)
    return InvalidArgument(what, ": output type must be bf16 or f32, got ", DTypeName(c.dst_type));
  if (c.activation != Activation::kNone && c.activation != Activation::kGeluErf &&
      c.activation != Activation::kRelu)
    return InvalidArgument(what, ": unknown activation");
  return Status::Ok();
}

// [N, K] row-major: the weights as wgmma reads them (K-major).
std::vector<int8_t> PackWeightsNK(const Tensor& w, WeightLayout layout, int64_t n, int64_t k) {
  const int8_t* src = w.data<int8_t>();
  if (layout == WeightLayout::kNK) return std::vector<int8_t>(src, src + n * k);
  std::vector<int8_t> packed(static_cast<size_t>(n * k));
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t nn = 0; nn < n; ++nn) packed[nn * k + kk] = src[kk * n + nn];
  return packed;
}

}  // namespace

Expected<Int8DynamicGemm> Int8DynamicGemm::Create(const Int8DynamicGemmConfig& config) {
  int64_t n = 0, k = 0;
  OCTET_RETURN_IF_ERROR(Validate(config, &n, &k));
  auto impl = std::make_shared<Impl>();
  impl->n = n;
  impl->k = k;
  impl->activation = config.activation;
  impl->dst_bf16 = config.dst_type == DType::kBF16;
  impl->tile = config.tile;
  impl->tuned_rows = config.tuned_rows;
  impl->tuned_tile = config.tuned_tile;
  impl->description = Describe(config, n, k);

  std::string no_device;
  if (!DeviceAvailable(&no_device))
    return NotFound(impl->description, ": no CUDA device: ", no_device);
  OCTET_ASSIGN_OR_RETURN(DeviceProperties device, GetDeviceProperties());
  if (device.compute_capability() != 90)
    return Unimplemented(
        impl->description,
        ": the kernel is built for sm_90a (Hopper: wgmma and TMA) and this GPU is ",
        device.ToString(), "; use the bf16 path (CublasLtGemm)");
  impl->sm_count = device.sm_count;

  const std::vector<int8_t> packed = PackWeightsNK(config.weights, config.weight_layout, n, k);
  OCTET_ASSIGN_OR_RETURN(impl->weights, DeviceBuffer::FromHost(packed.data(), packed.size()));
  std::vector<float> scales = config.weight_scales;
  scales.resize(static_cast<size_t>(n), config.weight_scales[0]);  // a per-tensor scale repeated
  OCTET_ASSIGN_OR_RETURN(impl->w_scales,
                         DeviceBuffer::FromHost(scales.data(), scales.size() * sizeof(float)));
  if (config.bias.defined()) {
    OCTET_ASSIGN_OR_RETURN(impl->bias,
                           DeviceBuffer::FromHost(config.bias.raw(), n * sizeof(float)));
  }
  OCTET_ASSIGN_OR_RETURN(impl->w_map_64, MakeInt8TileMap(impl->weights.data(), n, k, 64));
  OCTET_ASSIGN_OR_RETURN(impl->w_map_128, MakeInt8TileMap(impl->weights.data(), n, k, 128));
  OCTET_ASSIGN_OR_RETURN(impl->w_map_192, MakeInt8TileMap(impl->weights.data(), n, k, 192));
  OCTET_ASSIGN_OR_RETURN(impl->w_map_256, MakeInt8TileMap(impl->weights.data(), n, k, 256));
  OCTET_RETURN_IF_ERROR(sm90::PrepareInt8GemmKernels());
  if (!impl->dst_bf16) {
    OCTET_RETURN_IF_ERROR(sm90::PrepareInt8ConvGemmKernels());
    OCTET_RETURN_IF_ERROR(sm90::PrepareInt8Im2colGemmKernels());
  }

  Int8DynamicGemm gemm;
  gemm.impl_ = std::move(impl);
  return gemm;
}

int64_t Int8DynamicGemm::n() const { return impl_->n; }
int64_t Int8DynamicGemm::k() const { return impl_->k; }
const std::string& Int8DynamicGemm::description() const { return impl_->description; }

// A wave model between the cooperative tiles: a launch takes
// ceil(tiles / SMs) rounds, each as long as one tile's work, so the cost is
// rounds x tile area. 256x128 is the default (the fastest per output at every
// SAM shape, bench/cuda_gemm_bench, docs/cuda-backend.md); 128x256 replaces it
// only when cheaper. 128x192 is there for the wave quantization of small
// problems (SAM's batch 1: N = 768 at M = 4096 gives 96 tiles of 256 x 128 on
// 132 SMs, 128 of 128 x 192), but its rate per output is about 0.7x of
// 256x128's (as is 128x256's: the tiles whose consumers have 64 rows). With a
// bf16 output and no GELU, the per-tile costs outweigh the fuller wave at
// K < 2048 (measured at SAM's batch 1: 256x128 faster at K = 768 / 1280, 128x192
// at K = 3072 / 5120), so it needs K >= 2048 and a 10% lower cost there. With
// a heavier epilogue (f32 output, GELU), which every block runs at the same
// time when the wave is short, 128x192 was faster at batch 1 whenever its
// cost was 5% lower. Ping-pong is never chosen. At N <= 64 (resnet's first
// stage and its stem, O = 64) 256x64 takes the same number of tiles as
// 256x128 without the zero half: half the math and half the epilogue.
Int8GemmTile Int8DynamicGemm::TileFor(int64_t m) const {
  if (impl_->tile != Int8GemmTile::kAuto) return impl_->tile;
  if (m == impl_->tuned_rows && impl_->tuned_tile != Int8GemmTile::kAuto) return impl_->tuned_tile;
  if (impl_->n <= 64) return Int8GemmTile::kCooperative256x64;
  auto cost = [&](Int8GemmTile tile) {
    const sm90::TileShape shape = sm90::ShapeOf(tile);
    const int64_t tiles = ((m + shape.block_m - 1) / shape.block_m) *
                          ((impl_->n + shape.block_n - 1) / shape.block_n);
    return (tiles + impl_->sm_count - 1) / impl_->sm_count * shape.block_m * shape.block_n;
  };
  Int8GemmTile best = Int8GemmTile::kCooperative256x128;
  if (cost(Int8GemmTile::kCooperative128x256) < cost(best))
    best = Int8GemmTile::kCooperative128x256;
  const bool heavy_epilogue = !impl_->dst_bf16 || impl_->activation == Activation::kGeluErf;
  const int64_t narrow = cost(Int8GemmTile::kCooperative128x192), wide = cost(best);
  if (heavy_epilogue ? 20 * narrow <= 19 * wide : impl_->k >= 2048 && 10 * narrow <= 9 * wide)
    best = Int8GemmTile::kCooperative128x192;
  // A grid of less than one wave leaves SMs idle; 256x64 tiles (more, and
  // smaller) fill more of them. `octet compile --tune` on the H100 found
  // 256x64 fastest for every one of resnet18's layer2-4 convolutions and its
  // fc at batch 1 and 64, 5-30% ahead of this model's pick
  // (docs/cuda-backend.md). Only for such grids: SAM's GEMMs, of several
  // waves, keep their tiles.
  const sm90::TileShape shape = sm90::ShapeOf(best);
  const int64_t tiles =
      ((m + shape.block_m - 1) / shape.block_m) * ((impl_->n + shape.block_n - 1) / shape.block_n);
  if (tiles <= impl_->sm_count && 10 * cost(Int8GemmTile::kCooperative256x64) <= 9 * cost(best))
    best = Int8GemmTile::kCooperative256x64;
  return best;
}

namespace {

// The output's tensor map into *map when the epilogue can store through TMA:
// rows of 16-byte multiples and a residual as aligned as the output. The
// bf16 TMA kernel has no per-image maximum (int8_gemm_sm90_kernel.cuh says
// why): bf16 with it stores from registers. Returns map, or null: store from
// registers.
Expected<const CUtensorMap*> OutputMap(void* dst, int64_t m, int64_t n, bool dst_bf16,
                                       const void* residual, const float* image_absmax,
                                       CUtensorMap* map) {
  const bool tma_store = (n * (dst_bf16 ? 2 : 4)) % 16 == 0 &&
                         reinterpret_cast<uintptr_t>(residual) % 16 == 0 &&
                         !(dst_bf16 && image_absmax != nullptr);
  if (!tma_store) return static_cast<const CUtensorMap*>(nullptr);
  OCTET_ASSIGN_OR_RETURN(*map, MakeOutputTileMap(dst, m, n, dst_bf16, sm90::kOutputBoxRows));
  return static_cast<const CUtensorMap*>(map);
}

}  // namespace

Status Int8DynamicGemm::Run(const int8_t* a, const float* a_scales, int64_t m, void* dst,
                            cudaStream_t stream, const void* residual, float* image_absmax,
                            int64_t image_rows) const {
  const Impl& impl = *impl_;
  if (m == 0) return Status::Ok();
  if (m < 0 || m >= (int64_t{1} << 31))
    return InvalidArgument(impl.description, ": m = ", m, " is outside [0, 2^31)");
  if (a == nullptr || a_scales == nullptr || dst == nullptr)
    return InvalidArgument(impl.description, ": null a, a_scales or dst");
  if (reinterpret_cast<uintptr_t>(a) % 16 != 0 || reinterpret_cast<uintptr_t>(dst) % 16 != 0)
    return InvalidArgument(impl.description, ": a (", static_cast<const void*>(a), ") and dst (",
                           dst, ") must be 16-byte aligned");
  if (image_absmax != nullptr && (image_rows <= 0 || m % image_rows != 0))
    return InvalidArgument(impl.description, ": the per-image maximum needs rows per image (",
                           image_rows, ") that divide m = ", m);
  const Int8GemmTile tile = TileFor(m);
  const sm90::TileShape shape = sm90::ShapeOf(tile);
  // Encoding a tensor map is host work only (no device call), cheap next to the GEMM.
  OCTET_ASSIGN_OR_RETURN(CUtensorMap a_map, MakeInt8TileMap(a, m, impl.k, shape.block_m));
  const sm90::Int8GemmEpilogue epilogue =
      impl.Epilogue(a_scales, 1, m, dst, residual, image_absmax, image_rows);
  const CUtensorMap& w_map = impl.WeightMap(shape.block_n);
  CUtensorMap map{};
  OCTET_ASSIGN_OR_RETURN(const CUtensorMap* dst_map,
                         OutputMap(dst, m, impl.n, impl.dst_bf16, residual, image_absmax, &map));
  return sm90::LaunchInt8Gemm(tile, a_map, w_map, dst_map, static_cast<int>(impl.k), epilogue,
                              impl.sm_count, stream);
}

bool Int8ConvTakesIm2colMode(const Conv2dDims& d, const Window2d& w) {
  // A stage's 128 codes are one tap's channels; the window fits the
  // hardware's ranges (corners in [-128, 127], strides up to 8, tap offsets
  // below 2^8).
  const int64_t upper_w = w.pad_right - w.dilation_w * (w.kernel_w - 1);
  const int64_t upper_h = w.pad_bottom - w.dilation_h * (w.kernel_h - 1);
  auto in_range = [](int64_t v) { return v >= -128 && v <= 127; };
  return d.channels % 128 == 0 && in_range(-w.pad_left) && in_range(-w.pad_top) &&
         in_range(upper_w) && in_range(upper_h) && w.stride_h <= 8 && w.stride_w <= 8 &&
         w.dilation_h * (w.kernel_h - 1) < 256 && w.dilation_w * (w.kernel_w - 1) < 256;
}

Status Int8DynamicGemm::RunConv(const int8_t* x_codes, const Conv2dDims& d, const Window2d& w,
                                const float* image_scales, void* dst, cudaStream_t stream,
                                const void* residual, float* image_absmax) const {
  const Impl& impl = *impl_;
  const std::string what = impl.description + " as a convolution";
  if (impl.dst_bf16) return InvalidArgument(what, ": the implicit convolution writes f32 only");
  if (d.batch < 0 || d.channels <= 0 || d.height <= 0 || d.width <= 0 || w.kernel_h <= 0 ||
      w.kernel_w <= 0 || w.stride_h <= 0 || w.stride_w <= 0 || w.dilation_h <= 0 ||
      w.dilation_w <= 0 || w.pad_top < 0 || w.pad_left < 0 || w.pad_bottom < 0 || w.pad_right < 0)
    return InvalidArgument(what, ": bad input [", d.batch, ", ", d.channels, ", ", d.height, ", ",
                           d.width, "] or window ", w.kernel_h, "x", w.kernel_w);
  if (d.channels % 16 != 0)
    return InvalidArgument(what, ": ", d.channels,
                           " input channels; the gather reads 16 channels of a tap at a time, "
                           "so C must be a multiple of 16");
  if (d.channels * w.kernel_h * w.kernel_w != impl.k)
    return InvalidArgument(what, ": the window's ", w.kernel_h, "x", w.kernel_w, " taps of ",
                           d.channels, " channels are not the weights' K = ", impl.k);
  const int64_t oh =
      (d.height + w.pad_top + w.pad_bottom - w.dilation_h * (w.kernel_h - 1) - 1) / w.stride_h + 1;
  const int64_t ow =
      (d.width + w.pad_left + w.pad_right - w.dilation_w * (w.kernel_w - 1) - 1) / w.stride_w + 1;
  if (oh != d.out_height || ow != d.out_width || oh <= 0 || ow <= 0 || d.out_channels != impl.n)
    return InvalidArgument(what, ": output [", d.batch, ", ", d.out_channels, ", ", d.out_height,
                           ", ", d.out_width, "] is not what the window gives: [", d.batch, ", ",
                           impl.n, ", ", oh, ", ", ow, "]");
  // RowTaps (int8_gemm_sm90_kernel.cuh) keeps a row's taps in a 32-bit mask
  // and its window's element offset in an int32.
  if (w.kernel_h * w.kernel_w > 32)
    return InvalidArgument(what, ": a ", w.kernel_h, "x", w.kernel_w,
                           " window; the implicit gather takes at most 32 taps");
  const int64_t pad_elements = ((w.pad_top + 1) * d.width + w.pad_left + 1) * d.channels;
  const int64_t reach = (d.height + w.pad_bottom + w.dilation_h * w.kernel_h) *
                        (d.width + w.pad_right + w.dilation_w * w.kernel_w) * d.channels;
  if (d.batch * reach + pad_elements >= (int64_t{1} << 31))
    return InvalidArgument(what, ": input [", d.batch, ", ", d.channels, ", ", d.height, ", ",
                           d.width, "] with its padding reaches past 2^31 elements");
  const int64_t m = d.batch * oh * ow;
  if (m == 0) return Status::Ok();
  if (m >= (int64_t{1} << 31)) return InvalidArgument(what, ": ", m, " output pixels: below 2^31");
  if (x_codes == nullptr || image_scales == nullptr || dst == nullptr)
    return InvalidArgument(what, ": null x_codes, image_scales or dst");
  if (reinterpret_cast<uintptr_t>(x_codes) % 16 != 0 || reinterpret_cast<uintptr_t>(dst) % 16 != 0)
    return InvalidArgument(what, ": x_codes and dst must be 16-byte aligned");
  Int8GemmTile tile = TileFor(m);
  if (tile == Int8GemmTile::kPingpong128x128) tile = Int8GemmTile::kCooperative256x128;
  const sm90::TileShape shape = sm90::ShapeOf(tile);
  sm90::ConvGatherA g;
  g.codes = x_codes;
  g.height = static_cast<int>(d.height), g.width = static_cast<int>(d.width);
  g.channels = static_cast<int>(d.channels);
  g.out_width = static_cast<int>(ow), g.pixels = static_cast<int>(oh * ow);
  g.kernel_h = static_cast<int>(w.kernel_h), g.kernel_w = static_cast<int>(w.kernel_w);
  g.stride_h = static_cast<int>(w.stride_h), g.stride_w = static_cast<int>(w.stride_w);
  g.pad_top = static_cast<int>(w.pad_top), g.pad_left = static_cast<int>(w.pad_left);
  g.dilation_h = static_cast<int>(w.dilation_h), g.dilation_w = static_cast<int>(w.dilation_w);
  // Every row of image b carries image_scales[b].
  const sm90::Int8GemmEpilogue epilogue =
      impl.Epilogue(image_scales, g.pixels, m, dst, residual, image_absmax, g.pixels);
  CUtensorMap map{};
  OCTET_ASSIGN_OR_RETURN(const CUtensorMap* dst_map,
                         OutputMap(dst, m, impl.n, false, residual, image_absmax, &map));
  // TMA's im2col mode where it fits; the producers' cp.async gather
  // otherwise.
  if (Int8ConvTakesIm2colMode(d, w)) {
    Int8Im2colGeometry ig;
    ig.batch = d.batch, ig.height = d.height, ig.width = d.width, ig.channels = d.channels;
    ig.kernel_h = g.kernel_h, ig.kernel_w = g.kernel_w;
    ig.stride_h = g.stride_h, ig.stride_w = g.stride_w;
    ig.pad_top = g.pad_top, ig.pad_left = g.pad_left;
    ig.pad_bottom = static_cast<int>(w.pad_bottom), ig.pad_right = static_cast<int>(w.pad_right);
    ig.dilation_h = g.dilation_h, ig.dilation_w = g.dilation_w;
    ig.box_pixels = shape.block_m;
    OCTET_ASSIGN_OR_RETURN(CUtensorMap a_map, MakeInt8Im2colMap(x_codes, ig));
    return sm90::LaunchInt8Im2colGemm(tile, g, a_map, impl.WeightMap(shape.block_n), dst_map,
                                      static_cast<int>(impl.k), epilogue, impl.sm_count, stream);
  }
  return sm90::LaunchInt8ConvGemm(tile, g, impl.WeightMap(shape.block_n), dst_map,
                                  static_cast<int>(impl.k), epilogue, impl.sm_count, stream);
}

}  // namespace octet::cuda
