#include "cuda_attention.h"

#include "cuda_rules.h"

namespace octet::compile_internal {
namespace {

constexpr const char kAttention[] = "cuda.attention";
constexpr int64_t kMaxHeadDim = 128;  // the kernel's largest head dim

int64_t RoundUp16(int64_t d) { return (d + 15) / 16 * 16; }

int64_t LastDim(const Value* v) {
  const TensorType& t = v->type();
  if (!t.has_shape || t.shape.rank() == 0 || t.shape.dims().back().is_symbolic()) return -1;
  return t.shape.dims().back().value();
}

int64_t HeadDim(const AttentionPattern& m) {
  if (m.qkv == nullptr) return LastDim(m.q);
  const int64_t c = LastDim(m.qkv);
  return c > 0 && m.heads > 0 && c % (3 * m.heads) == 0 ? c / (3 * m.heads) : -1;
}

// `v`'s type with the last dim replaced and the dtype bf16.
TensorType Bf16WithLastDim(const Value* v, int64_t last) {
  std::vector<Dim> dims = v->type().shape.dims();
  dims.back() = Dim(last);
  return TensorType(DType::kBF16, Shape(dims));
}

}  // namespace

std::string WhyNotCudaAttention(const AttentionPattern& m) {
  const Value* operands[] = {m.qkv != nullptr ? m.qkv : m.q, m.k, m.v};
  for (const Value* v : operands) {
    if (v == nullptr) continue;
    if (v->type().dtype != DType::kF32 || !CudaPlannableShape(v->type()))
      return "cuda.attention takes f32 operands of planned shape, got " + CudaShapeText(v->type());
  }
  const int64_t d = HeadDim(m);
  if (d <= 0) return "cuda.attention needs a static head dim";
  if (RoundUp16(d) > kMaxHeadDim)
    return "cuda.attention runs head dims up to " + std::to_string(kMaxHeadDim) + ", got " +
           std::to_string(d);
  if (m.qkv == nullptr && LastDim(m.v) != d)
    return "cuda.attention needs V's channels equal to the head dim (" + std::to_string(d) +
           "), got " + std::to_string(LastDim(m.v));
  const int64_t out_channels = LastDim(m.output());
  if (out_channels <= 0 || out_channels % d != 0)
    return "cuda.attention needs the output's last dim static and a multiple of the head dim, "
           "got " +
           CudaShapeText(m.output()->type());
  return "";
}

Status EmitCudaAttention(const AttentionPattern& m, ModuleBuilder& builder, bool out_bf16) {
  const Node& n = *m.pv;
  ModuleOp op;
  op.kernel = kAttention;
  op.name = m.softmax->name();
  const bool packed = m.qkv != nullptr;
  for (const Value* v : {m.q, m.k, m.v}) {
    if (packed && v != m.q) {
      op.inputs.push_back(-1);
      continue;
    }
    auto slot = builder.InputSlot(packed ? m.qkv : v);
    if (!slot.ok()) return slot.status().WithContext(n.Describe());
    op.inputs.push_back(*slot);
  }
  for (const auto& [table, suffix] :
       {std::pair{&m.rel_pos_h, "/rel_pos_h"}, std::pair{&m.rel_pos_w, "/rel_pos_w"}})
    op.inputs.push_back(table->defined() ? builder.AddConstantTensor(op.name + suffix, *table)
                                         : -1);
  const int64_t d = HeadDim(m), dp = RoundUp16(d);
  const bool in_bf16 = builder.desc().slots[op.inputs[0]].dtype == DType::kBF16;
  if ((in_bf16 && (!packed || dp != d)) || (out_bf16 && dp != d))
    return Internal(n.Describe(), ": bf16 operands in place need a packed qkv and a head dim ",
                    "multiple of 16, got head dim ", d);
  op.outputs.push_back(out_bf16 ? builder.OutputSlotAs(m.output(), DType::kBF16)
                                : builder.OutputSlot(m.output()));
  if (packed) {
    if (!in_bf16)
      op.outputs.push_back(
          builder.AddActivation(op.name + "/qkv_bf16", Bf16WithLastDim(m.qkv, 3 * m.heads * dp)));
  } else {
    for (const auto& [v, suffix] :
         {std::pair{m.q, "/q_bf16"}, std::pair{m.k, "/k_bf16"}, std::pair{m.v, "/v_bf16"}})
      op.outputs.push_back(builder.AddActivation(op.name + suffix, Bf16WithLastDim(v, dp)));
  }
  const int64_t out_channels = LastDim(m.output());
  if (!out_bf16)
    op.outputs.push_back(builder.AddActivation(op.name + "/out_bf16",
                                               Bf16WithLastDim(m.output(), out_channels / d * dp)));
  op.attrs = {{"scale", m.scale},
              {"qkv_heads", m.heads},
              {"out_interleaved", int64_t{m.out_last != nullptr}},
              {"head_dim", d},
              {"padded_head_dim", dp}};
  builder.AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace octet::compile_internal
