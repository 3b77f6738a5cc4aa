// fp32 kernels on oneDNN v3 for the float parts of a model (a ViT encoder's
// LayerNorm, attention and MLP; calibration runs), so they need not run on the
// reference interpreter:
//   LayerNormalization (last axis)      => F32LayerNorm   (layer_normalization)
//   Softmax (last axis)                 => F32Softmax     (softmax, accurate)
//   Gelu, Relu, Sigmoid, Tanh, Exp, Pow(x, 2) => F32Eltwise (eltwise)
//   MatMul / Gemm [+ bias] [+ act] [+ residual] => F32MatMul (matmul + post-ops)
//   Conv [+ Relu]                       => F32Conv2d      (convolution)
//   Add, Mul, Sub, Div with broadcast   => F32Binary      (binary)
//
// Same contract as int8_kernels.h: each kernel creates its oneDNN primitive
// once (Create, which validates the configuration and names the shapes in its
// errors) and packs constant weights there into the layout that primitive
// wants; Run only wraps the caller's dense row-major buffers and executes. A
// created kernel is immutable: Run may be called from several threads at once
// (each run has its own stream and scratchpad), and copies share the primitive
// and the packed weights. Buffers are f32 and must not overlap unless a kernel
// says so.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/status.h"
#include "octet/tensor.h"
#include "octet/x86/int8_kernels.h"  // Layout

namespace octet::x86 {

// y = (x - mean) / sqrt(var + epsilon) * gamma + beta over each row of [rows,
// C] (ONNX LayerNormalization with axis -1; the statistics are computed in f32).
struct F32LayerNormConfig {
  int64_t rows = 1;  // fixed when the primitive is created
  int64_t channels = 0;
  Tensor gamma;  // f32 [C]
  Tensor beta;   // optional f32 [C]
  float epsilon = 1e-5f;
};

class F32LayerNorm {
 public:
  static Expected<F32LayerNorm> Create(const F32LayerNormConfig& config);
  // src, dst: [rows, C]; dst may be src (in place).
  Status Run(const float* src, float* dst) const;
  const std::string& implementation() const;  // oneDNN's, e.g. "jit:uni"
  // "F32LayerNorm [7,65] gamma f32[65] beta f32[65] eps 1e-05"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Softmax over the last axis of [rows, C] (ONNX Softmax, axis -1): max
// subtracted first, so large inputs do not overflow.
struct F32SoftmaxConfig {
  int64_t rows = 1;
  int64_t channels = 0;
};

class F32Softmax {
 public:
  static Expected<F32Softmax> Create(const F32SoftmaxConfig& config);
  // src, dst: [rows, C]; dst may be src (in place).
  Status Run(const float* src, float* dst) const;
  const std::string& implementation() const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

enum class UnaryOp {
  kGeluErf,   // 0.5 x (1 + erf(x / sqrt 2)): ONNX Gelu, approximate "none"
  kGeluTanh,  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))): approximate "tanh"
  kRelu,
  kSigmoid,
  kTanh,
  kExp,
  kSquare,  // x * x: ONNX Pow with exponent 2
};
const char* UnaryOpName(UnaryOp op);  // "gelu_erf", ...

struct F32EltwiseConfig {
  UnaryOp op = UnaryOp::kRelu;
  int64_t size = 0;  // elements, fixed when the primitive is created
};

class F32Eltwise {
 public:
  static Expected<F32Eltwise> Create(const F32EltwiseConfig& config);
  // size elements; dst may be src (in place).
  Status Run(const float* src, float* dst) const;
  const std::string& implementation() const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// Applied, in the order given, after the bias.
enum class F32PostOp {
  kRelu,
  kGeluErf,
  kGeluTanh,
  kSum,  // C = C_before + result: a residual add read from the output buffer
};

// C[batch, M, N] = A[batch, M, K] x B[batch, K, N] (+ bias[N]), then the
// post-ops; all row-major. Either operand may have a batch of 1, shared by
// every batch of C (broadcast_a / broadcast_b). With transpose_b, B is stored
// [batch, N, K] (K of attention for Q x K^T) and read through strides, no copy.
struct F32MatMulConfig {
  int64_t batch = 1;  // of C; all sizes are fixed when the primitive is created
  int64_t m = 1, k = 1, n = 1;
  bool broadcast_a = false;  // A is [1, M, K]
  bool broadcast_b = false;  // B is [1, K, N] ([1, N, K] with transpose_b)
  bool transpose_b = false;
  // Optional constant B (weights), packed at Create: f32 with B's dims, the
  // leading batch of 1 optional ([K, N], or [N, K] with transpose_b). Run then
  // takes no B.
  Tensor weights;
  Tensor bias;  // optional f32 [N]
  // At most one kSum. With oneDNN 3.2 an activation before kSum runs in its
  // slow reference kernel (see implementation()); kSum first is fast.
  std::vector<F32PostOp> post_ops;
};

class F32MatMul {
 public:
  static Expected<F32MatMul> Create(const F32MatMulConfig& config);
  // b must be null when the config has weights, and given otherwise. c must not
  // overlap a or b; with kSum it holds the residual on entry.
  Status Run(const float* a, const float* b, float* c) const;
  const std::string& implementation() const;  // e.g. "gemm:jit:f32"
  // "F32MatMul A[4,37,64] * B^T[4,65,64] +bias +gelu_erf -> C[4,37,65]"
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

// 2-D convolution (ONNX Conv), optional ReLU after the bias.
struct F32Conv2dConfig {
  std::vector<int64_t> src_dims;  // N, C, H, W whatever the layout
  Layout layout = Layout::kNCHW;  // of src and dst
  Tensor weights;                 // f32 [O, C / groups, kH, kW] (ONNX layout), packed at Create
  Tensor bias;                    // optional f32 [O]
  std::array<int64_t, 2> strides{1, 1};
  std::array<int64_t, 2> dilations{1, 1};
  std::array<int64_t, 4> pads{0, 0, 0, 0};  // ONNX order: top, left, bottom, right
  int64_t groups = 1;
  bool relu = false;
};

class F32Conv2d {
 public:
  static Expected<F32Conv2d> Create(const F32Conv2dConfig& config);
  // src: src_dims, dst: dst_dims(), both dense in the configured layout.
  Status Run(const float* src, float* dst) const;
  const std::vector<int64_t>& dst_dims() const;  // N, O, OH, OW
  const std::string& implementation() const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

enum class BinaryOp { kAdd, kSub, kMul, kDiv };
const char* BinaryOpName(BinaryOp op);  // "add", ...

// c = a op b, numpy broadcasting between operands of equal rank: each
// dimension is equal in both, or 1 in one of them. c has the broadcast dims.
struct F32BinaryConfig {
  BinaryOp op = BinaryOp::kAdd;
  std::vector<int64_t> a_dims, b_dims;  // equal rank, 1 to 12
};

class F32Binary {
 public:
  static Expected<F32Binary> Create(const F32BinaryConfig& config);
  // In place: c may be a when a has c's dims, and for add and mul also b when
  // b has them. Otherwise c must not overlap a or b.
  Status Run(const float* a, const float* b, float* c) const;
  const std::vector<int64_t>& dst_dims() const;
  // oneDNN's. "ref:any" (slow) when a must be broadcast and the op is sub or
  // div, or both operands are broadcast: oneDNN 3.2 has fast kernels only for
  // broadcasting its second operand (add and mul swap their operands for that).
  const std::string& implementation() const;
  const std::string& description() const;

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::x86
