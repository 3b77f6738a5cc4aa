// cuda_dynamic_conv.h.
#include "cuda_dynamic_conv.h"

#include "cuda_rules.h"

namespace octet::compile_internal {
namespace {

constexpr const char kDynamicConv[] = "cuda.dynamic_int8_conv";

const Tensor* ConstantOf(const Value* v) {
  return v != nullptr && v->is_constant() ? &v->constant() : nullptr;
}

// A Reshape by a constant shape, read once.
const Node* ReshapeProducer(const Value* v) {
  if (v == nullptr || v->is_graph_output() || v->uses().size() != 1) return nullptr;
  const Node* r = v->producer();
  return IsOnnxOp(r, "Reshape") && ConstantOf(r->input(1)) != nullptr ? r : nullptr;
}

bool StaticChw(const TensorType& t) {
  if (!t.has_shape || t.shape.rank() != 4 || t.dtype != DType::kF32) return false;
  for (int i = 1; i < 4; ++i)
    if (!t.shape[i].is_static()) return false;
  return true;
}

std::string WhyNotConv(const DynamicConvPattern& p, const Tensor** w) {
  const Node& n = *p.conv;
  if (p.dq_w == nullptr || !IsOnnxOp(p.dq_w, "DequantizeLinear"))
    return "the int8 convolution needs DequantizeLinear(i8 constant) weights";
  const Tensor* codes = ConstantOf(p.dq_w->input(0));
  if (codes == nullptr || codes->rank() != 4)
    return "the int8 convolution needs constant i8 weights [O, C, kh, kw]";
  *w = codes;
  const int64_t o = codes->dim(0);
  const TensorType& xt = p.x->type();
  if (codes->dim(1) != xt.shape[1].value())
    return "weights [" + std::to_string(o) + ", " + std::to_string(codes->dim(1)) +
           ", ...] do not match the input's " + std::to_string(xt.shape[1].value()) +
           " channels (the int8 convolution takes group 1 only)";
  // Symmetric i8, per tensor or per output channel (axis 0).
  const Tensor* scales = ConstantOf(p.dq_w->input(1));
  auto axis = p.dq_w->GetInt("axis", 1);
  if (codes->dtype() != DType::kI8 || scales == nullptr || scales->dtype() != DType::kF32 ||
      (scales->numel() != 1 &&
       (scales->numel() != o || !axis.ok() || (*axis != 0 && *axis != -4))) ||
      p.dq_w->HasAttr("block_size"))
    return "the int8 convolution needs i8 weights with f32 scales per tensor or per output "
           "channel (axis 0)";
  if (const Value* zp = p.dq_w->input(2)) {
    const Tensor* z = ConstantOf(zp);
    if (z == nullptr) return "the weights' zero point must be a constant";
    for (int64_t i = 0; i < z->numel(); ++i)
      if (z->GetAsDouble(i) != 0)
        return "the int8 convolution needs symmetric weights (zero point 0)";
  }
  if (const Value* b = n.input(2)) {
    const Tensor* t = ConstantOf(b);
    if (t == nullptr || t->dtype() != DType::kF32 || t->numel() != o)
      return "the int8 convolution needs a constant f32 bias of " + std::to_string(o) + " values";
  }
  auto auto_pad = n.GetString("auto_pad", "NOTSET");
  if (!auto_pad.ok() || (*auto_pad != "NOTSET" && *auto_pad != "VALID"))
    return "the int8 convolution takes explicit pads (auto_pad NOTSET or VALID)";
  auto group = n.GetInt("group", 1);
  if (!group.ok() || *group != 1) return "the int8 convolution takes group 1 only";
  const std::vector<int64_t> kernel = IntsAttr(n, "kernel_shape", {codes->dim(2), codes->dim(3)});
  if (kernel != std::vector<int64_t>{codes->dim(2), codes->dim(3)} ||
      IntsAttr(n, "strides", {1, 1}).size() != 2 || IntsAttr(n, "pads", {0, 0, 0, 0}).size() != 4 ||
      IntsAttr(n, "dilations", {1, 1}).size() != 2)
    return "kernel_shape, strides, pads or dilations do not describe a 2-D window of the weights";
  if (!StaticChw(n.output(0)->type()))
    return "the output must be f32 [N, O, OH, OW] with O, OH, OW static, got " +
           CudaShapeText(n.output(0)->type());
  return "";
}

}  // namespace

std::vector<const Node*> DynamicConvPattern::nodes() const {
  std::vector<const Node*> all = {flatten, quant.abs,  quant.reduce_max, quant.div, quant.max,
                                  quant.q, quant.dq_x, unflatten,        conv};
  for (const Node* n : {residual_add, relu})
    if (n != nullptr) all.push_back(n);
  return all;
}

std::optional<DynamicConvPattern> MatchCudaDynamicConv(const Node* conv, bool fuse) {
  if (!IsOnnxOp(conv, "Conv") || conv->num_inputs() < 2) return std::nullopt;
  DynamicConvPattern p;
  p.conv = conv;
  p.unflatten = ReshapeProducer(conv->input(0));
  if (p.unflatten == nullptr || !MatchPerTokenActivation(p.unflatten->input(0), p.quant))
    return std::nullopt;
  const Value* flat = p.quant.x;  // [N, C*H*W], read by Abs and QuantizeLinear
  const Node* flatten = flat->producer();
  if (!IsOnnxOp(flatten, "Reshape") || flat->is_graph_output() || flat->uses().size() != 2 ||
      flat->type().shape.rank() != 2)
    return std::nullopt;
  p.flatten = flatten;
  p.x = flatten->input(0);
  const TensorType& xt = p.x->type();
  if (!StaticChw(xt) || conv->input(0)->type() != xt) return std::nullopt;
  const Dim& row = flat->type().shape[1];
  if (!row.is_static() ||
      row.value() != xt.shape[1].value() * xt.shape[2].value() * xt.shape[3].value() ||
      flat->type().shape[0] != xt.shape[0])
    return std::nullopt;
  p.dq_w = conv->input(1) != nullptr ? conv->input(1)->producer() : nullptr;
  const Tensor* w = nullptr;
  p.why_not = WhyNotConv(p, &w);
  if (!p.why_not.empty() || !fuse) return p;
  // The residual sum (f32 of the output's type) and Relu, as the bf16 path.
  const Value* out = conv->output(0);
  const Node* user = SoleUser(out);
  if (IsOnnxOp(user, "Add") && user->num_inputs() == 2) {
    const Value* r = user->input(0) == out ? user->input(1) : user->input(0);
    if (r != out && !r->is_constant() && r->type() == out->type() &&
        user->output(0)->type() == out->type()) {
      p.residual_add = user;
      p.residual = r;
      out = user->output(0);
      user = SoleUser(out);
    }
  }
  if (IsOnnxOp(user, "Relu")) p.relu = user;
  return p;
}

Expected<DynamicConvSlots> EmitCudaDynamicConv(const DynamicConvPattern& p,
                                               const DynamicConvPlaces& at,
                                               ModuleBuilder& builder) {
  if (at.y_absmax && !at.y_nhwc)
    return Internal(p.conv->Describe(), ": the fused per-image maximum needs an NHWC output");
  const Node& n = *p.conv;
  const Tensor& codes = p.dq_w->input(0)->constant();
  const int64_t o = codes.dim(0), c = codes.dim(1), kh = codes.dim(2), kw = codes.dim(3);
  const int64_t taps = c * kh * kw, kp = (taps + 15) / 16 * 16;
  // [O, Kp], column (i * kw + j) * C + c: the gather's order (channel
  // innermost), zeros past the taps (the TMA row pitch is 16 bytes).
  Tensor packed(DType::kI8, {o, kp});
  int8_t* dst = packed.data<int8_t>();
  const int8_t* src = codes.data<int8_t>();
  for (int64_t oc = 0; oc < o; ++oc)
    for (int64_t k = 0; k < kp; ++k) {
      int8_t v = 0;
      if (k < taps) {
        const int64_t tap = k / c, ch = k % c, i = tap / kw, j = tap % kw;
        v = src[((oc * c + ch) * kh + i) * kw + j];
      }
      dst[oc * kp + k] = v;
    }
  ModuleOp op;
  op.kernel = kDynamicConv;
  op.name = n.name();
  auto scales = builder.InputSlot(p.dq_w->input(1));
  if (!scales.ok()) return scales.status().WithContext(n.Describe());
  const Value* bias = n.input(2);
  op.inputs = {
      at.x, builder.AddConstantTensor(n.name() + "/w_packed", packed), *scales,
      bias != nullptr ? builder.AddConstantTensor(n.name() + "/bias", bias->constant()) : -1,
      at.residual};
  if (at.x_absmax >= 0) op.inputs.push_back(at.x_absmax);  // input 5
  const Value* y = p.last()->output(0);
  const std::vector<Dim>& yd = y->type().shape.dims();
  const TensorType nhwc(DType::kF32, Shape({yd[0], yd[2], yd[3], yd[1]}));
  const int32_t y_slot =
      at.y_nhwc ? builder.AddActivation(y->name() + "/nhwc", nhwc) : builder.OutputSlot(y);
  const Dim pixels(yd[2].value() * yd[3].value());
  op.outputs = {
      y_slot,
      builder.AddActivation(n.name() + "/codes",
                            TensorType(DType::kI8, Shape({yd[0], pixels, Dim(kp)}))),
      builder.AddActivation(n.name() + "/row_scales",
                            TensorType(DType::kF32, Shape({yd[0], pixels}))),
      builder.AddActivation(n.name() + "/absmax", TensorType(DType::kF32, Shape({yd[0]})))};
  if (!at.y_nhwc) op.outputs.push_back(builder.AddActivation(n.name() + "/y_nhwc", nhwc));
  // Few input channels (resnet's stem): the input is quantized once into a
  // word per pixel, then gathered (conv_int8_kernels.h,
  // Im2ColQuantizeInt8Pixels); the words are the last output.
  const bool pixel_codes = c <= 4 && kp <= 512;
  if (pixel_codes) {
    const std::vector<Dim>& xd = p.x->type().shape.dims();
    op.outputs.push_back(builder.AddActivation(
        n.name() + "/pixel_codes", TensorType(DType::kI32, Shape({xd[0], xd[2], xd[3]}))));
  }
  // NHWC inputs with C % 16 == 0 whose values lie in 4 windows or more
  // (resnet's 3x3 stride-1 convolutions after the stem): scratch for the
  // input quantized once, i8 [N, H, W, C], which the runtime gathers 16-byte
  // chunks of codes from where that is the faster (conv_int8_kernels.h,
  // Im2ColQuantizeInt8Nhwc16; QuantizeOnceFirst, whose window rule this is,
  // adds the batch: large ones); also before y's maximum.
  const std::vector<int64_t> strides = IntsAttr(n, "strides", {1, 1});
  // Also for C % 128 == 0 wherever the windows cover the input: the
  // implicit GEMM through TMA's im2col mode quantizes into it
  // (ImplicitGemmFirst).
  const bool x_codes = at.x_nhwc && c % 16 == 0 && strides.size() == 2 &&
                       (kh * kw >= 4 * strides[0] * strides[1] ||
                        (c % 128 == 0 && kh * kw >= strides[0] * strides[1]));
  if (x_codes) {
    const std::vector<Dim>& xd = p.x->type().shape.dims();
    op.outputs.push_back(builder.AddActivation(
        n.name() + "/x_codes", TensorType(DType::kI8, Shape({xd[0], xd[2], xd[3], xd[1]}))));
  }
  DynamicConvSlots slots{y_slot, -1};
  if (at.y_absmax) {
    slots.y_absmax =
        builder.AddActivation(y->name() + "/absmax", TensorType(DType::kF32, Shape({yd[0]})));
    op.outputs.push_back(slots.y_absmax);  // the last output
  }
  auto layout = [](bool nhwc_layout) { return std::string(nhwc_layout ? "nhwc" : "nchw"); };
  op.attrs = {{"kernel_shape", IntsAttr(n, "kernel_shape", {kh, kw})},
              {"strides", strides},
              {"pads", IntsAttr(n, "pads", {0, 0, 0, 0})},  // ONNX [top, left, bottom, right]
              {"dilations", IntsAttr(n, "dilations", {1, 1})},
              {"relu", int64_t{p.relu != nullptr}},
              {"qmax", p.quant.qmax},
              {"min_scale", p.quant.min_scale},
              {"x_layout", layout(at.x_nhwc)},
              {"residual_layout", layout(at.residual_nhwc)},
              {"y_layout", layout(at.y_nhwc)},
              {"pixel_codes", int64_t{pixel_codes}},
              {"x_codes", int64_t{x_codes}},
              {"x_absmax", int64_t{at.x_absmax >= 0}},
              {"y_absmax", int64_t{at.y_absmax}}};
  if (at.residual >= 0 && at.residual_nhwc == at.y_nhwc) op.inplace = {{0, 4}};
  builder.AddOp(std::move(op));
  return slots;
}

}  // namespace octet::compile_internal
