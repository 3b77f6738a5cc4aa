// The CUDA kernels of the int8-dynamic preset (torchao's
// int8_dynamic_activation_int8_weight): each activation row (token) is
// quantized on the fly with its own scale, the weights were quantized per
// output channel at compile time, and the GEMM dequantizes in its epilogue:
//
//   codes, row_scales = QuantizeRowsPerToken(x)                      x: f32|bf16 [M, K]
//   y[m, n] = act(sum_k codes[m, k] * w[n, k] * row_scales[m] * w_scales[n] + bias[n])
//
// No int32 tensor is written: the int32 accumulators are scaled, biased,
// activated and rounded to bf16 (or f32) in registers.
//
// Like the x86 kernels, each is created once (Create validates the
// configuration, uploads and packs the weights and sets up the device
// functions) and then only runs. Run takes device pointers and a stream,
// allocates nothing and does not synchronise; a created kernel is immutable
// and may run on several streams at once. Kernels belong to the device that
// was current at Create.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "octet/cuda/conv_pool_kernels.h"  // Conv2dDims, Window2d
#include "octet/cuda/device_buffer.h"
#include "octet/dtype.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::cuda {

// GELU(x) = x/2 * (1 + erf(x / sqrt 2)), on the dequantized value before the
// residual; ReLU max(x, 0) on the sum after the residual (a resnet block's
// Conv -> Add -> Relu).
enum class Activation { kNone, kGeluErf, kRelu };

// ---- per-token quantization ---------------------------------------------------

// For each row of k values, as the int8-dynamic preset's QDQ graph computes it
// (Abs, ReduceMax, Div, Max, QuantizeLinear; passes/quant/src/convert.cc) and
// as x86::QuantizeRowsPerToken does:
//   scale = max(max_i |x_i| / qmax, min_scale)       (f32 division)
//   q_i   = saturate_int8(round_half_even(x_i / scale))
// The defaults are the preset's: qmax 127 (narrow range, so codes are in
// [-127, 127]) and min_scale FLT_MIN, which gives an all-zero row scale
// FLT_MIN and codes 0. The division is IEEE (not a multiplication by 1/scale),
// so codes are bit-identical to the reference interpreter's.
struct QuantizeRowsPerTokenConfig {
  int64_t k = 0;
  DType src_type = DType::kF32;  // kF32 or kBF16
  float qmax = 127.f;
  float min_scale = std::numeric_limits<float>::min();
  // Optional LayerNorm in front (f32 source only): the rows are normalised
  // as float_kernels.h's LayerNorm computes them, bit for bit, and those
  // values quantized, without the normalised rows being written. This is the
  // per-token quantization fused into its producer. Empty ln_scale: none.
  std::vector<float> ln_scale;  // k values (gamma)
  std::vector<float> ln_bias;   // k values or empty (beta)
  float ln_epsilon = 1e-5f;
  // Row prologue (f32 source; rows of a multiple of 4 values, at most 16384):
  // what a ViT block's window partition and its reverse become when the
  // lowering folds them into the quantization that reads the rows.
  // - row_map: output row r quantizes source row row_map[r], or a row of
  //   zeros where row_map[r] < 0 (zeros after the LayerNorm: the padding of
  //   a Pad behind it). Empty: row r reads row r.
  // - add_rows: Run's `add` rows are added to the source rows before the
  //   LayerNorm, in f32 (one rounding, as an f32 Add), and the sums are
  //   written to Run's `sum`; row r adds row add_map[r] of `add` (nothing
  //   where add_map[r] < 0; empty: row r). Not together with row_map.
  std::vector<int32_t> row_map;
  bool add_rows = false;
  DType add_type = DType::kF32;  // f32 or bf16
  std::vector<int32_t> add_map;
};

class QuantizeRowsPerToken {
 public:
  static Expected<QuantizeRowsPerToken> Create(const QuantizeRowsPerTokenConfig& config);

  // src: [rows, k] row-major of src_type; codes: [rows, k]; scales: [rows].
  // All device memory. rows == 0 does nothing.
  // With a row_map, rows is its length (the output rows) and src must hold
  // min_source_rows() rows; with add_rows, add [min_add_rows(), k] of
  // add_type and sum [rows, k] f32 (both null otherwise).
  Status Run(const void* src, int64_t rows, int8_t* codes, float* scales, cudaStream_t stream,
             const void* add = nullptr, float* sum = nullptr) const;

  int64_t k() const { return config_.k; }
  bool has_layer_norm() const { return ln_scale_ != nullptr; }
  bool has_row_map() const { return row_map_ != nullptr; }
  bool adds_rows() const { return config_.add_rows; }
  int64_t row_map_size() const { return row_map_size_; }
  int64_t min_source_rows() const { return min_source_rows_; }  // 0 without a row_map
  int64_t min_add_rows() const { return min_add_rows_; }        // without an add_map: rows
  // "QuantizeRowsPerToken bf16[M,768] -> i8 (qmax 127)"
  const std::string& description() const { return description_; }

 private:
  QuantizeRowsPerTokenConfig config_;                       // without the LayerNorm vectors
  std::shared_ptr<const DeviceBuffer> ln_scale_, ln_bias_;  // shared by copies
  std::shared_ptr<const DeviceBuffer> row_map_, add_map_;   // i32, when given
  int64_t row_map_size_ = 0, min_source_rows_ = 0, min_add_rows_ = 0;
  std::string description_;
};

// ---- fused int8 GEMM -----------------------------------------------------------

enum class WeightLayout {
  kKN,  // [K, N]: an ONNX MatMul's B
  kNK,  // [N, K]: an ONNX Gemm's B with transB = 1, PyTorch's nn.Linear weight
};

// Tile and schedule of the sm_90 kernel (docs/cuda-backend.md): the output
// tile of one block (cooperative: both math warpgroups on one tile) or of one
// math warpgroup (ping-pong: each on its own tile, so that one's epilogue
// overlaps the other's math). kAuto picks per call from M, N and K
// (Int8DynamicGemm::TileFor); the others force one, for tests and benchmarks.
// (New values go last: module files name tiles, not numbers, but keep it so.)
enum class Int8GemmTile {
  kAuto,
  kCooperative128x256,
  kCooperative256x128,
  kPingpong128x128,
  kCooperative128x192,
  kCooperative256x64,  // N <= 64 (resnet's first stage): the others compute half zeros or more
};
const char* Int8GemmTileName(Int8GemmTile tile);  // "coop128x256"
Expected<Int8GemmTile> Int8GemmTileFromName(const std::string& name);

struct Int8DynamicGemmConfig {
  // i8, symmetric; K must be a multiple of 16 (the row pitch of A and of the
  // packed weights must be a multiple of 16 bytes for the tensor memory
  // accelerator). N and M are free: partial tiles are masked.
  Tensor weights;
  WeightLayout weight_layout = WeightLayout::kKN;
  std::vector<float> weight_scales;  // N (per output channel) or 1
  Tensor bias;                       // optional f32 [N], real units (added after the scales)
  Activation activation = Activation::kNone;
  DType dst_type = DType::kBF16;  // kBF16 or kF32
  Int8GemmTile tile = Int8GemmTile::kAuto;
  // With tile kAuto: the tile measured fastest for this many rows (the
  // module's planned M, `octet compile --target cuda --tune`), used when Run
  // gets exactly that M; other M use the model.
  int64_t tuned_rows = 0;
  Int8GemmTile tuned_tile = Int8GemmTile::kAuto;
};

// Whether Int8DynamicGemm::RunConv reads this convolution's input through
// TMA's im2col mode (C % 128 == 0 and a window within the hardware's
// ranges: one instruction a stage) rather than gathering it with cp.async
// in its producer warps.
bool Int8ConvTakesIm2colMode(const Conv2dDims& dims, const Window2d& window);

class Int8DynamicGemm {
 public:
  // Needs a compute capability 9.0 GPU (the kernel is wgmma + TMA, built for
  // sm_90a); elsewhere it returns Unimplemented (use CublasLtGemm's bf16 path).
  // The configuration is validated before the device is touched, so
  // configuration errors are reported on machines without a GPU too.
  static Expected<Int8DynamicGemm> Create(const Int8DynamicGemmConfig& config);

  // a: i8 [m, K] row-major, 16-byte aligned; a_scales: f32 [m]; dst: [m, N]
  // of dst_type, row-major, 16-byte aligned; residual: null or [m, N] of
  // dst_type added after a GELU (a transformer's residual sum) and before a
  // ReLU, which may be dst itself (in place). All device memory; m == 0 does
  // nothing.
  // image_absmax: null, or f32 [m / image_rows] that the caller zeroed: the
  // epilogue raises element i to the largest |value| it writes in rows
  // [i * image_rows, (i + 1) * image_rows) (after the residual, the
  // activation and the rounding to dst_type; exact, a maximum of written
  // values): the per-image maximum the next int8 convolution quantizes its
  // input with, without reading it again (m a multiple of image_rows).
  Status Run(const int8_t* a, const float* a_scales, int64_t m, void* dst, cudaStream_t stream,
             const void* residual = nullptr, float* image_absmax = nullptr,
             int64_t image_rows = 0) const;

  // The int8 convolution as an implicit GEMM: Run's product for the im2col
  // rows of a convolution's input, which the kernel gathers itself instead of
  // reading [m, K] rows. x_codes: i8 NHWC [dims.batch, dims.height,
  // dims.width, dims.channels] (16-byte aligned, channels % 16 == 0, at most 32 taps); row m
  // = (b, oh, ow) of the output pixels, column (i * kw + j) * C + c its
  // window's tap (i, j) of channel c (zeros in the padding): K must be
  // kernel_h * kernel_w * C. image_scales: f32 [batch], the scale of every
  // row of image b. dst: f32 [m, N] (NHWC); the residual and image_absmax as
  // in Run (image_rows = OH * OW). Needs dst_type kF32; a ping-pong tile
  // runs as coop256x128.
  Status RunConv(const int8_t* x_codes, const Conv2dDims& dims, const Window2d& window,
                 const float* image_scales, void* dst, cudaStream_t stream,
                 const void* residual = nullptr, float* image_absmax = nullptr) const;

  int64_t n() const;
  int64_t k() const;
  // The tile Run uses for `m` rows (the configured one, or kAuto's choice).
  Int8GemmTile TileFor(int64_t m) const;
  // "Int8DynamicGemm i8[M,768] x i8[2304,768]^T (per-channel scales) + bias -> gelu -> bf16"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::cuda
