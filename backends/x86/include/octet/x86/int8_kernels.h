// Int8 convolution and matmul on oneDNN v3, the building blocks the x86
// lowering will map QDQ patterns onto:
//   DQ(x) -> Conv(DQ(w), bias) [-> Add(DQ(r))] [-> Relu] -> Q   => Int8Conv2d
//   DQ(x) -> MatMul(DQ(w)) [+ bias] [-> Relu] -> Q (or f32)      => Int8MatMul
//
// Each kernel creates its oneDNN primitive once (Create) and packs the weights
// into the layout that primitive wants; Run only wraps the caller's buffers and
// executes. A created kernel is immutable: Run may be called from several
// threads at once, and copies share the primitive and the packed weights.
//
// Arithmetic: integer products accumulate exactly in int32; the result is
// then, in f32, acc * src_scale * weight_scale[c] + bias[c], the post-ops, and
// for int8 outputs round-half-even(value / dst.scale) + dst.zero_point,
// saturated. That is the QDQ graph's meaning up to f32 rounding (a requantized
// value can differ by one code from the reference interpreter's).
//
// On CPUs without VNNI u8 activations must be 7-bit (Int8NeedsReducedRange()
// in cpu_info.h); docs/x86-backend.md says what happens otherwise.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/dtype.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::x86 {

// Affine quantization of a whole tensor: real = scale * (q - zero_point).
struct PerTensorQuant {
  float scale = 1.f;
  int32_t zero_point = 0;
};

enum class Layout { kNCHW, kNHWC };

// Applied, in the order given, to the real-valued convolution result.
enum class PostOp {
  kRelu,
  kSum,  // + residual.scale * (r - residual.zero_point), r read from the residual buffer
  // Clamp to [clip_min, clip_max] (real units). The quantizer's reduce_range
  // puts a Clip to the 7-bit range before each activation QuantizeLinear; as a
  // post-op it keeps the requantized codes in 0..127.
  kClip,
};

// Weights already in the layout a kernel's oneDNN primitive wants: what
// packed_weights() of a kernel with the same configuration returned, stored
// in a module by `octet compile --prepack`. `layout` fingerprints that layout
// (oneDNN's version and ISA, the descriptor's data type, dims, blocking and
// size: PackedLayoutFingerprint). Create uses `bytes` in place, without a
// copy, when its primitive wants the same layout, and packs `weights` itself
// otherwise (another CPU, another oneDNN). The kernel keeps `bytes`
// referenced.
struct PackedWeights {
  std::string layout;
  Tensor bytes;  // u8 [size]
  bool defined() const { return bytes.defined(); }
};

struct Int8Conv2dConfig {
  // Activations. src_dims are N, C, H, W whatever the layout. NHWC is the
  // layout oneDNN's int8 kernels use; NCHW buffers are reordered to it and
  // back inside Run (correct, but costs two copies).
  std::vector<int64_t> src_dims;
  Layout layout = Layout::kNHWC;  // of src, dst and the residual
  DType src_type = DType::kU8;    // kU8 or kI8
  PerTensorQuant src;
  // i8 [O, C / groups, kH, kW] (ONNX layout), symmetric: one scale per output
  // channel, or a single scale for all.
  Tensor weights;
  std::vector<float> weight_scales;
  Tensor bias;  // optional f32 [O], in real units (ONNX's int32 bias * src scale * weight scale)
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // ONNX order: top, left, bottom, right
  int64_t groups = 1;
  std::vector<PostOp> post_ops;
  float clip_min = 0.f, clip_max = 0.f;  // for kClip
  // For kSum: the residual has dst's dims and layout and a dtype of dst's size
  // (u8/i8 for int8 outputs, dequantized with `residual`; f32 for f32 outputs,
  // added as it is).
  DType residual_type = DType::kU8;
  PerTensorQuant residual;
  // kU8 or kI8 (requantized with dst) or kF32 (real values; dst is unused).
  DType dst_type = DType::kU8;
  PerTensorQuant dst;
  PackedWeights prepacked;  // optional (see PackedWeights); `weights` is still required
};

class Int8Conv2d {
 public:
  static Expected<Int8Conv2d> Create(const Int8Conv2dConfig& config);

  // src and dst are dense buffers in the configured layout. With kSum the
  // residual is read from `residual`, which may be dst itself (in place, no
  // copy); it is required then and must be null otherwise.
  Status Run(const void* src, void* dst, const void* residual = nullptr) const;

  const std::vector<int64_t>& dst_dims() const;  // N, O, OH, OW
  // The weights as this kernel's primitive holds them (shares its memory).
  PackedWeights packed_weights() const;
  bool uses_prepacked() const;  // config.prepacked was used in place
  // oneDNN's implementation, e.g. "jit_uni_int8:avx2", "brg:avx512_core_amx".
  const std::string& implementation() const;
  // "Int8Conv2d u8[1,64,56,56] nhwc * i8[64,64,3,3] stride 1x1 ... -> u8"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

struct Int8MatMulConfig {
  int64_t m = 1;  // rows of src, fixed when the primitive is created
  DType src_type = DType::kU8;
  PerTensorQuant src;  // src.scale is unused when per_row_src_scales is set
  // Dynamic per-token quantization: each src row has its own scale, passed to
  // Run (M floats); src.zero_point still applies to every row.
  bool per_row_src_scales = false;
  Tensor weights;                    // i8 [K, N], symmetric
  std::vector<float> weight_scales;  // N (per column) or 1
  Tensor bias;                       // optional f32 [N], real units
  // Residual sum: dst holds an f32 [M, N] residual on entry, added after the
  // bias (f32 dst only), as MatMul -> Add(bias) -> Add(residual).
  bool sum = false;
  // Then at most one activation.
  bool relu = false;
  bool gelu_erf = false;         // 0.5 x (1 + erf(x / sqrt 2))
  DType dst_type = DType::kF32;  // kF32, or kU8 / kI8 requantized with dst
  PerTensorQuant dst;
  PackedWeights prepacked;  // optional (see PackedWeights); `weights` is still required
};

class Int8MatMul {
 public:
  static Expected<Int8MatMul> Create(const Int8MatMulConfig& config);

  // src: row-major [M, K] of src_type; dst: row-major [M, N] of dst_type;
  // row_scales: M floats with per_row_src_scales, null otherwise.
  Status Run(const void* src, void* dst, const float* row_scales = nullptr) const;

  int64_t m() const;
  int64_t k() const;
  int64_t n() const;
  PackedWeights packed_weights() const;  // as for Int8Conv2d
  bool uses_prepacked() const;
  const std::string& implementation() const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

enum class PoolKind { kMax, kAverageIncludePad, kAverageExcludePad };

// Max or average pooling on int8 codes, NHWC in and out, for a value whose
// input and output share one set of quantization parameters (the quantizer's
// shared ops): max commutes with dequantization, and the average of codes is
// the code of the average up to rounding. Padded positions count as code 0,
// so kAverageIncludePad is exact only with zero point 0 (the lowering checks).
struct Int8Pool2dConfig {
  std::vector<int64_t> src_dims;  // N, C, H, W (the buffer is NHWC)
  DType type = DType::kU8;        // of src and dst: kU8 or kI8
  PoolKind kind = PoolKind::kMax;
  std::array<int64_t, 2> kernel{1, 1};
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};   // max pooling only
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // ONNX order: top, left, bottom, right
  // Output codes are clamped to [clamp_lo, clamp_hi] (the reduce_range Clip
  // before the output's QuantizeLinear, in codes); the default is no clamp.
  int32_t clamp_lo = -128, clamp_hi = 255;
};

class Int8Pool2d {
 public:
  static Expected<Int8Pool2d> Create(const Int8Pool2dConfig& config);
  Status Run(const void* src, void* dst) const;
  const std::vector<int64_t>& dst_dims() const;  // N, C, OH, OW
  const std::string& implementation() const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Per-token dynamic quantization, as the int8-dynamic preset's graph computes
// it (Abs, ReduceMax over the row, Div, Max, QuantizeLinear): for each of the
// `rows` rows of `k` floats, scale = max(max|x| / qmax, min_scale) and
// q = saturate_int8(round_half_even(x / scale)). Writes rows * k codes and
// `rows` scales. Rows are split over `num_threads` OpenMP threads.
void QuantizeRowsPerToken(const float* x, int64_t rows, int64_t k, float qmax, float min_scale,
                          int8_t* q, float* scales, int num_threads);

// Clamps `n` int8 codes in place to [lo, hi] (a no-op range is skipped).
void ClampCodes(void* data, DType type, int64_t n, int32_t lo, int32_t hi);

}  // namespace octet::x86
