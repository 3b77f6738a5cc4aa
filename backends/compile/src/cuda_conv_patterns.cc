// cuda_conv_patterns.h.
#include "cuda_conv_patterns.h"

#include <cmath>

#include "cuda_rules.h"
#include "x86_patterns.h"

namespace octet::compile_internal {
namespace {

constexpr const char kConvBf16[] = "cuda.conv2d_bf16";
constexpr const char kGroupedConv[] = "cuda.grouped_conv2d";
constexpr const char kLinearBf16[] = "cuda.linear_bf16";
constexpr const char kConvCudnn[] = "cuda.conv2d_cudnn";
// cuDNN's workspace per convolution in the arena (octet::cuda::CudnnConv::
// kWorkspaceBytes): the algorithms that need more are not chosen.
constexpr int64_t kCudnnWorkspaceBytes = int64_t{16} << 20;
// The cuBLASLt workspace each GEMM op gets in the arena (octet::cuda::
// Bf16Gemm::kWorkspaceBytes; the ops of a module share one region, as each
// dies with its op).
constexpr int64_t kGemmWorkspaceBytes = int64_t{4} << 20;

// An attribute, its default when absent, `bad` when it has another type.
int64_t IntAttr(const Node& n, const char* name, int64_t dflt, int64_t bad) {
  auto v = n.GetInt(name, dflt);
  return v.ok() ? *v : bad;
}
float FloatAttr(const Node& n, const char* name, float dflt) {
  auto v = n.GetFloat(name, dflt);
  return v.ok() ? *v : NAN;
}

// An f32 constant, or DequantizeLinear of constant codes with a constant
// per-tensor or per-axis scale (and zero point): the weight in f32, exactly
// as the reference computes it. Undefined otherwise.
Tensor ConstantWeight(const Value* v) {
  if (v == nullptr) return Tensor();
  if (v->is_constant()) return v->constant().dtype() == DType::kF32 ? v->constant() : Tensor();
  const Node* dq = v->producer();
  if (!IsOnnxOp(dq, "DequantizeLinear") || dq->input(0) == nullptr ||
      !dq->input(0)->is_constant() || dq->input(1) == nullptr || !dq->input(1)->is_constant())
    return Tensor();
  if (IntAttr(*dq, "block_size", 0, 1) != 0) return Tensor();
  const Tensor& codes = dq->input(0)->constant();
  const Tensor& scale = dq->input(1)->constant();
  const Value* zp = dq->input(2);
  if (zp != nullptr && !zp->is_constant()) return Tensor();
  if (scale.dtype() != DType::kF32 || codes.rank() == 0) return Tensor();
  int64_t axis = IntAttr(*dq, "axis", 1, 1);
  if (axis < 0) axis += codes.rank();
  int64_t inner = 1, channels = 1;
  if (scale.numel() != 1) {
    if (scale.rank() != 1 || axis < 0 || axis >= codes.rank() || scale.numel() != codes.dim(axis))
      return Tensor();
    channels = codes.dim(axis);
    for (int i = static_cast<int>(axis) + 1; i < codes.rank(); ++i) inner *= codes.dim(i);
  }
  if (zp != nullptr && zp->constant().numel() != scale.numel()) return Tensor();
  Tensor w(DType::kF32, codes.dims());
  for (int64_t i = 0; i < codes.numel(); ++i) {
    const int64_t c = (i / inner) % channels;
    const double z = zp != nullptr ? zp->constant().GetAsDouble(c) : 0.0;
    w.data<float>()[i] = static_cast<float>((codes.GetAsDouble(i) - z)) * scale.data<float>()[c];
  }
  return w;
}

bool IsF32(const Value* v) { return v != nullptr && v->type().dtype == DType::kF32; }

// x produced by a DequantizeLinear: a quantized pattern's input.
bool Dequantized(const Value* x) {
  return x != nullptr && IsOnnxOp(x->producer(), "DequantizeLinear");
}

// ---------------------------------------------------------------- Conv

struct ConvAttrs {
  std::vector<int64_t> kernel, strides, pads, dilations;
  int64_t group = 1;
};

std::string ReadConvAttrs(const Node& n, const Tensor& w, ConvAttrs* a) {
  auto auto_pad = n.GetString("auto_pad", "NOTSET");
  if (!auto_pad.ok() || (*auto_pad != "NOTSET" && *auto_pad != "VALID"))
    return "cuda.conv2d takes explicit pads (auto_pad NOTSET or VALID), not auto_pad " +
           (auto_pad.ok() ? *auto_pad : std::string("?"));
  a->kernel = IntsAttr(n, "kernel_shape", {w.dim(2), w.dim(3)});
  a->strides = IntsAttr(n, "strides", {1, 1});
  a->pads = IntsAttr(n, "pads", {0, 0, 0, 0});
  a->dilations = IntsAttr(n, "dilations", {1, 1});
  a->group = IntAttr(n, "group", 1, 0);
  if (a->kernel != std::vector<int64_t>{w.dim(2), w.dim(3)} || a->strides.size() != 2 ||
      a->pads.size() != 4 || a->dilations.size() != 2)
    return "kernel_shape, strides, pads or dilations do not describe a 2-D window of the weights";
  return "";
}

void MatchConv(const Node* n, CudaFloatFusion* f) {
  f->x = n->input(0);
  const Tensor w = ConstantWeight(n->input(1));
  const Value* b = n->input(2);
  const TensorType& xt = f->x->type();
  if (!IsF32(f->x) || !xt.has_shape || xt.shape.rank() != 4) {
    f->why_not = "cuda runs 2-D convolutions of f32 NCHW input only, got " + CudaShapeText(xt);
    return;
  }
  if (!w.defined() || w.rank() != 4) {
    f->why_not = "cuda.conv2d needs constant (or dequantized constant) weights [O, C/g, kh, kw]";
    return;
  }
  if (b != nullptr && (!b->is_constant() || b->constant().dtype() != DType::kF32 ||
                       b->constant().numel() != w.dim(0))) {
    f->why_not = "cuda.conv2d needs a constant f32 bias of " + std::to_string(w.dim(0)) + " values";
    return;
  }
  ConvAttrs a;
  f->why_not = ReadConvAttrs(*n, w, &a);
  if (!f->why_not.empty()) return;
  const Dim c = xt.shape.dims()[1];
  if (!c.is_static() || a.group <= 0 || c.value() != w.dim(1) * a.group) {
    f->why_not = "the input's channels must be static and group x the weights' " +
                 std::to_string(w.dim(1)) + ", got " + CudaShapeText(xt);
    return;
  }
  // Fusions: the residual sum (an f32 of the output's type) and Relu.
  const Value* out = n->output(0);
  const Node* user = SoleUser(out);
  if (IsOnnxOp(user, "Add") && user->num_inputs() == 2) {
    const Value* r = user->input(0) == out ? user->input(1) : user->input(0);
    if (r != out && !r->is_constant() && r->type() == out->type() &&
        user->output(0)->type() == out->type()) {
      f->residual = r;
      f->nodes.push_back(user);
      out = user->output(0);
      user = SoleUser(out);
    }
  }
  if (IsOnnxOp(user, "Relu")) {
    f->activation = "relu";
    f->nodes.push_back(user);
  }
}

// Whether the convolution runs on cuDNN (bf16 NHWC) rather than im2col +
// cuBLASLt: where cuDNN measured faster on the H100 (bench/cuda_conv_bench.cc,
// docs/cuda-backend.md): group 1, channels in and out multiples of 8 and at
// least 16 (the stem's 3 channels and SAM's patch embedding run faster as
// im2col), not a strided 1x1 (resnet's downsample: 47 against 122 us at
// batch 64), symmetric pads (cuDNN's descriptor has one pad per axis).
bool UseCudnn(const CompileOptions& options, const ConvAttrs& a, const Tensor& w) {
  const int64_t o = w.dim(0), c = w.dim(1);
  const bool strided_pointwise =
      w.dim(2) == 1 && w.dim(3) == 1 && (a.strides[0] != 1 || a.strides[1] != 1);
  return options.cuda_conv == CompileOptions::CudaConv::kCudnn && a.group == 1 && c >= 16 &&
         c % 8 == 0 && o % 8 == 0 && !strided_pointwise && a.pads[0] == a.pads[2] &&
         a.pads[1] == a.pads[3];
}

// Whether a (runnable) Conv fusion goes to cuDNN.
bool FusionUsesCudnn(const CudaFloatFusion& f, const CompileOptions& options) {
  if (!IsOnnxOp(f.anchor, "Conv") || !f.why_not.empty()) return false;
  const Tensor w = ConstantWeight(f.anchor->input(1));
  ConvAttrs a;
  return w.defined() && ReadConvAttrs(*f.anchor, w, &a).empty() && UseCudnn(options, a, w);
}

Status EmitConv(const CudaFloatFusion& f, ModuleBuilder& builder, CudnnNhwcValues* nhwc) {
  const Node& n = *f.anchor;
  const Tensor w = ConstantWeight(n.input(1));
  ConvAttrs a;
  (void)ReadConvAttrs(n, w, &a);
  ModuleOp op;
  op.name = n.name();
  // A value's bf16 NHWC slot where its producer wrote it so, else its slot.
  auto slot_of = [&](const Value* v, bool* in_nhwc) -> Expected<int32_t> {
    const auto it = nhwc->slots.find(v);
    *in_nhwc = it != nhwc->slots.end();
    return *in_nhwc ? Expected<int32_t>(it->second) : builder.InputSlot(v);
  };
  bool x_nhwc = false, residual_nhwc = false;
  auto x = slot_of(f.x, &x_nhwc);
  auto residual = slot_of(f.residual, &residual_nhwc);
  for (const auto* e : {&x, &residual})
    if (!e->ok()) return e->status().WithContext(n.Describe());
  const Value* y = f.last->output(0);
  op.attrs = {{"kernel_shape", a.kernel},
              {"strides", a.strides},
              {"pads", a.pads},  // ONNX [top, left, bottom, right]
              {"dilations", a.dilations},
              {"relu", int64_t{f.activation == "relu"}}};
  const Tensor* bias = n.input(2) != nullptr ? &n.input(2)->constant() : nullptr;
  if (UseCudnn(builder.options(), a, w)) {
    // cuDNN in bf16 channels last: weights bf16 [O, kh, kw, C]; x converted
    // to bf16 NHWC (output 1), the convolution into bf16 NHWC (output 2),
    // converted back with bias, residual and relu.
    const int64_t o = w.dim(0), c = w.dim(1), kh = w.dim(2), kw = w.dim(3);
    Tensor ohwi(DType::kBF16, {o, kh, kw, c});
    for (int64_t i = 0; i < o; ++i)
      for (int64_t ci = 0; ci < c; ++ci)
        for (int64_t r = 0; r < kh * kw; ++r)
          ohwi.data<uint16_t>()[(i * kh * kw + r) * c + ci] =
              FloatToBFloat16(w.data<float>()[(i * c + ci) * kh * kw + r]);
    op.kernel = kConvCudnn;
    op.inputs = {*x, builder.AddConstantTensor(n.name() + "/w_ohwi_bf16", ohwi),
                 bias != nullptr ? builder.AddConstantTensor(n.name() + "/bias", *bias) : -1,
                 *residual};
    const std::vector<Dim>& xd = f.x->type().shape.dims();
    const std::vector<Dim>& yd = y->type().shape.dims();
    const TensorType x_nhwc_type(DType::kBF16, Shape({xd[0], xd[2], xd[3], xd[1]}));
    const TensorType y_nhwc_type(DType::kBF16, Shape({yd[0], yd[2], yd[3], yd[1]}));
    // Outputs: y (f32 NCHW, or bf16 NHWC for the next cuDNN convolution),
    // then scratch: x in NHWC unless it came so, the convolution in NHWC
    // unless y is, the workspace.
    const bool y_nhwc = nhwc->values.count(y) != 0;
    op.outputs = {y_nhwc ? builder.AddActivation(y->name() + "/nhwc_bf16", y_nhwc_type)
                         : builder.OutputSlot(y)};
    if (y_nhwc) nhwc->slots[y] = op.outputs[0];
    if (!x_nhwc) op.outputs.push_back(builder.AddActivation(n.name() + "/x_nhwc", x_nhwc_type));
    if (!y_nhwc) op.outputs.push_back(builder.AddActivation(n.name() + "/y_nhwc", y_nhwc_type));
    op.outputs.push_back(builder.AddActivation(
        n.name() + "/workspace", TensorType(DType::kU8, Shape({Dim(kCudnnWorkspaceBytes)}))));
    auto layout = [](bool in_nhwc) { return std::string(in_nhwc ? "nhwc_bf16" : "nchw_f32"); };
    op.attrs.push_back({"x_layout", layout(x_nhwc)});
    op.attrs.push_back({"y_layout", layout(y_nhwc)});
    op.attrs.push_back({"residual_layout", layout(residual_nhwc)});
    // y may take an f32 NCHW residual's place (an NHWC y is cuDNN's output,
    // written before the residual is read).
    if (f.residual != nullptr && !y_nhwc && !residual_nhwc) op.inplace = {{0, 3}};
    builder.desc().requirements["cudnn"] = "9";
    builder.AddOp(std::move(op));
    return Status::Ok();
  }
  if (a.group != 1) {
    op.kernel = kGroupedConv;
    op.inputs = {*x, builder.AddConstantTensor(n.name() + "/w", w),
                 bias != nullptr ? builder.AddConstantTensor(n.name() + "/bias", *bias) : -1,
                 *residual};
    op.outputs = {builder.OutputSlot(y)};
    op.attrs.push_back({"group", a.group});
    builder.AddOp(std::move(op));
    return Status::Ok();
  }
  // Weights bf16 [O, rows]: the C * kh * kw taps, then the bias split in two
  // bf16 (hi + lo, about 16 significant bits) against two rows of ones in
  // the im2col buffer, then zeros up to a multiple of 8 (16-byte rows).
  const int64_t o = w.dim(0), k = w.numel() / o, ones = bias != nullptr ? 2 : 0;
  const int64_t rows = (k + ones + 7) / 8 * 8;
  Tensor packed(DType::kBF16, {o, rows});
  auto* dst = packed.data<uint16_t>();
  for (int64_t i = 0; i < o; ++i) {
    for (int64_t r = 0; r < rows; ++r) dst[i * rows + r] = 0;
    for (int64_t r = 0; r < k; ++r) dst[i * rows + r] = FloatToBFloat16(w.data<float>()[i * k + r]);
    if (bias != nullptr) {
      const float b = bias->data<float>()[i];
      const uint16_t hi = FloatToBFloat16(b);
      dst[i * rows + k] = hi;
      dst[i * rows + k + 1] = FloatToBFloat16(b - BFloat16ToFloat(hi));
    }
  }
  op.kernel = kConvBf16;
  op.inputs = {*x, builder.AddConstantTensor(n.name() + "/w_bf16", packed), *residual};
  const std::vector<Dim>& yd = y->type().shape.dims();
  op.outputs = {
      builder.OutputSlot(y),
      builder.AddActivation(n.name() + "/cols",
                            TensorType(DType::kBF16, Shape({yd[0], Dim(rows), yd[2], yd[3]}))),
      builder.AddActivation(n.name() + "/workspace",
                            TensorType(DType::kU8, Shape({Dim(kGemmWorkspaceBytes)})))};
  op.attrs.push_back({"bias_rows", ones});
  if (f.residual != nullptr) op.inplace = {{0, 2}};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

// ---------------------------------------------------------------- MatMul / Gemm

// The weight as the kernel's bf16 [N, K] (and alpha folded in), or undefined.
Tensor LinearWeight(const Node& n, int64_t* k_out) {
  Tensor w = ConstantWeight(n.input(1));
  if (!w.defined() || w.rank() != 2) return Tensor();
  const bool gemm = IsOnnxOp(&n, "Gemm");
  const bool kn = !gemm || IntAttr(n, "transB", 0, 0) == 0;  // stored [K, N]
  const float alpha = gemm ? FloatAttr(n, "alpha", 1.f) : 1.f;
  const int64_t k = kn ? w.dim(0) : w.dim(1), cols = kn ? w.dim(1) : w.dim(0);
  Tensor out(DType::kBF16, {cols, k});
  for (int64_t j = 0; j < cols; ++j)
    for (int64_t i = 0; i < k; ++i)
      out.data<uint16_t>()[j * k + i] =
          FloatToBFloat16(alpha * w.data<float>()[kn ? i * cols + j : j * k + i]);
  *k_out = k;
  return out;
}

// A constant of n values broadcast along the last axis ([N], [1, N], or one
// value), as f32 [N] times `scale`; undefined otherwise.
Tensor BiasVector(const Value* v, int64_t n, float scale) {
  if (v == nullptr || !v->is_constant() || v->constant().dtype() != DType::kF32) return Tensor();
  const Tensor& t = v->constant();
  if (t.numel() != n && t.numel() != 1) return Tensor();
  for (int i = 0; i + 1 < t.rank(); ++i)
    if (t.dim(i) != 1) return Tensor();
  Tensor out(DType::kF32, {n});
  for (int64_t j = 0; j < n; ++j)
    out.data<float>()[j] = scale * t.data<float>()[t.numel() == 1 ? 0 : j];
  return out;
}

void MatchLinear(const Node* n, CudaFloatFusion* f) {
  const bool gemm = IsOnnxOp(n, "Gemm");
  f->x = n->input(0);
  int64_t k = 0;
  const Tensor w = LinearWeight(*n, &k);
  const int64_t cols = w.defined() ? w.dim(0) : 0;
  const TensorType& xt = f->x->type();
  if (!w.defined()) {
    f->why_not = "cuda.linear_bf16 needs a constant (or dequantized constant) 2-D weight";
    return;
  }
  if (!IsF32(f->x) || !xt.has_shape || xt.shape.rank() < 2 || !xt.shape.dims().back().is_static() ||
      xt.shape.dims().back().value() != k) {
    f->why_not = "cuda.linear_bf16 takes f32 x [..., K] with K static and the weight's (" +
                 std::to_string(k) + "), got " + CudaShapeText(xt);
    return;
  }
  const Value* out = n->output(0);
  if (gemm) {
    if (IntAttr(*n, "transA", 0, 1) != 0) {
      f->why_not = "cuda.linear_bf16 takes Gemm with transA = 0 only";
      return;
    }
    if (n->input(2) != nullptr &&
        !BiasVector(n->input(2), cols, FloatAttr(*n, "beta", 1.f)).defined()) {
      f->why_not = "cuda.linear_bf16 takes Gemm's C as a constant f32 of " + std::to_string(cols) +
                   " values (broadcast over the rows) only";
      return;
    }
    // A Flatten(axis 1) feeding only the Gemm is a view of its input.
    const Node* flatten = f->x->producer();
    if (IsOnnxOp(flatten, "Flatten") && SoleUser(f->x) == n &&
        IntAttr(*flatten, "axis", 1, 0) == 1 && IsF32(flatten->input(0)) &&
        CudaPlannableShape(flatten->input(0)->type())) {
      f->x = flatten->input(0);
      f->nodes.insert(f->nodes.begin(), flatten);
    }
  } else {
    const Node* add = SoleUser(out);
    if (IsOnnxOp(add, "Add") && add->num_inputs() == 2) {
      const Value* b = add->input(0) == out ? add->input(1) : add->input(0);
      if (BiasVector(b, cols, 1.f).defined() && add->output(0)->type() == out->type()) {
        f->bias_add = add;
        f->nodes.push_back(add);
        out = add->output(0);
      }
    }
    std::vector<const Node*> gelu = MatchGeluOf(out);
    if (!gelu.empty()) {
      f->activation = "gelu_erf";
      f->nodes.insert(f->nodes.end(), gelu.begin(), gelu.end());
      return;
    }
  }
  if (IsOnnxOp(SoleUser(out), "Relu")) {
    f->activation = "relu";
    f->nodes.push_back(SoleUser(out));
  }
}

Status EmitLinear(const CudaFloatFusion& f, ModuleBuilder& builder) {
  const Node& n = *f.anchor;
  int64_t k = 0;
  const Tensor w = LinearWeight(n, &k);
  const int64_t cols = w.dim(0);
  Tensor bias;
  if (IsOnnxOp(&n, "Gemm") && n.input(2) != nullptr)
    bias = BiasVector(n.input(2), cols, FloatAttr(n, "beta", 1.f));
  if (f.bias_add != nullptr) {
    const Value* mm = n.output(0);
    bias = BiasVector(f.bias_add->input(0) == mm ? f.bias_add->input(1) : f.bias_add->input(0),
                      cols, 1.f);
  }
  ModuleOp op;
  op.kernel = kLinearBf16;
  op.name = n.name();
  auto x = builder.InputSlot(f.x);
  if (!x.ok()) return x.status().WithContext(n.Describe());
  op.inputs = {*x, builder.AddConstantTensor(n.name() + "/w_bf16", w),
               bias.defined() ? builder.AddConstantTensor(n.name() + "/bias", bias) : -1};
  op.outputs = {
      builder.OutputSlot(f.last->output(0)),
      builder.AddActivation(n.name() + "/x_bf16", TensorType(DType::kBF16, f.x->type().shape)),
      builder.AddActivation(n.name() + "/workspace",
                            TensorType(DType::kU8, Shape({Dim(kGemmWorkspaceBytes)})))};
  op.attrs = {{"activation", f.activation}};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace

std::optional<CudaFloatFusion> MatchCudaFloatFusion(const Node* n, bool fuse) {
  const bool conv = IsOnnxOp(n, "Conv"), gemm = IsOnnxOp(n, "Gemm");
  if (!conv && !gemm && !IsOnnxOp(n, "MatMul")) return std::nullopt;
  CudaFloatFusion f;
  f.anchor = n;
  f.nodes = {n};
  f.last = n;
  if (Dequantized(n->input(0)) || (conv && IsOnnxOp(n->input(0)->producer(), "Reshape") &&
                                   Dequantized(n->input(0)->producer()->input(0)))) {
    if (conv) {
      f.why_not =
          "a Conv on dequantized activations runs on cuda only as the int8-dynamic per-image form "
          "(Reshape -> per-token Q/DQ -> Reshape -> Conv with per-channel i8 weights); static QDQ "
          "convolutions are not run on cuda (keep the layer float or quantize it int8-dynamic)";
      return f;
    }
    if (!gemm) return std::nullopt;  // the quantized patterns' (or no kernel's)
    f.why_not =
        "a Gemm on dequantized activations has no cuda kernel unless it is the int8-dynamic "
        "per-token form with transB = 1, alpha = beta = 1 and a constant bias (static QDQ is "
        "not run on cuda; keep the layer float or quantize it int8-dynamic)";
    return f;
  }
  if (!conv && !gemm && !ConstantWeight(n->input(1)).defined()) return std::nullopt;
  if (conv)
    MatchConv(n, &f);
  else
    MatchLinear(n, &f);
  if (!f.why_not.empty() || !fuse) {
    f.nodes = {n};
    f.residual = nullptr;
    f.bias_add = nullptr;
    f.activation = "none";
    if (gemm && f.why_not.empty()) f.x = n->input(0);  // no Flatten either
  }
  f.last = f.nodes.back();
  return f;
}

CudnnNhwcValues ChooseCudnnNhwcValues(const std::map<const Node*, CudaFloatFusion>& fusions,
                                      const CompileOptions& options) {
  // The cuDNN fusions by each node they take.
  std::map<const Node*, const CudaFloatFusion*> cudnn_fusion_of;
  for (const auto& [last, f] : fusions)
    if (FusionUsesCudnn(f, options))
      for (const Node* n : f.nodes) cudnn_fusion_of[n] = &f;
  CudnnNhwcValues nhwc;
  for (const auto& [last, f] : fusions) {
    if (cudnn_fusion_of.count(f.anchor) == 0) continue;
    const Value* y = last->output(0);
    // Every reader a cuDNN fusion, taking y as its Conv's input or as its
    // residual.
    bool only_cudnn = !y->is_graph_output() && !y->uses().empty();
    for (const Use& u : y->uses()) {
      const auto it = cudnn_fusion_of.find(u.node);
      const CudaFloatFusion* g = it != cudnn_fusion_of.end() ? it->second : nullptr;
      only_cudnn = only_cudnn && g != nullptr &&
                   ((u.node == g->anchor && u.input_index == 0) ||
                    (u.node != g->anchor && g->residual == y));
    }
    if (only_cudnn) nhwc.values.insert(y);
  }
  return nhwc;
}

Status EmitCudaFloatFusion(const CudaFloatFusion& f, ModuleBuilder& builder,
                           CudnnNhwcValues* nhwc) {
  return IsOnnxOp(f.anchor, "Conv") ? EmitConv(f, builder, nhwc) : EmitLinear(f, builder);
}

}  // namespace octet::compile_internal
