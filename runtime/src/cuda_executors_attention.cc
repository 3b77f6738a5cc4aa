// Executor of cuda.attention (compile side: backends/compile/src/
// cuda_attention.h): f32 operands -> bf16 copies with the head dim padded to a
// multiple of 16 (outputs 1.., arena scratch) -> Bf16Attention (SAM's
// relative positions inside) -> bf16 output -> f32 without the padding.
//
// One kernel per (batch, tokens) set: the planned shape's is made at load;
// another batch size makes its own on that shape's first (eager) run, once,
// under a lock. Padded channels are zero in Q, K, V and the position tables,
// so they add nothing to any dot product.
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "cuda_executors.h"
#include "octet/cuda/attention.h"
#include "octet/cuda/bf16_rows.h"

namespace octet::runtime {
namespace {

// Zero-pads the last dim of an f32 table [a, b, d] to dp.
Tensor PadLastDim(const Tensor& t, int64_t dp) {
  if (!t.defined() || t.dim(t.rank() - 1) == dp) return t;
  const int64_t d = t.dim(t.rank() - 1), rows = t.numel() / d;
  std::vector<int64_t> dims = t.dims();
  dims.back() = dp;
  Tensor out(DType::kF32, dims);
  float* o = out.data<float>();
  const float* in = t.data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < dp; ++c) o[r * dp + c] = c < d ? in[r * d + c] : 0.f;
  return out;
}

class AttentionExecutor : public CudaOpExecutor {
 public:
  AttentionExecutor(ModuleOp op, float scale, int64_t heads, bool interleaved, int64_t d,
                    int64_t dp, Tensor rh, Tensor rw, bool in_bf16, bool out_bf16)
      : op_(std::move(op)),
        in_bf16_(in_bf16),
        out_bf16_(out_bf16),
        scale_(scale),
        heads_(heads),
        interleaved_(interleaved),
        d_(d),
        dp_(dp),
        rel_pos_h_(std::move(rh)),
        rel_pos_w_(std::move(rw)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    Status s = heads_ > 0 ? RunPacked(in[0], out, stream) : RunSeparate(in, out, stream);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

  // The kernel for a packed qkv of run-time dims `x` ([B, ..., 3*H*d]).
  Expected<const cuda::Bf16Attention*> PackedKernel(const std::vector<int64_t>& x) const {
    const int64_t h = heads_;
    if (x.size() < 2 || x.back() != 3 * h * d_)
      return InvalidArgument(CudaOpPrefix(op_), "packed qkv ", CudaDimsText(x), " is not [B, ..., ",
                             3 * h * d_, "] (3 x ", h, " heads x ", d_, ")");
    int64_t n = 1;
    for (size_t i = 1; i + 1 < x.size(); ++i) n *= x[i];
    return Kernel({x[0], n, n}, [&] {
      cuda::Bf16AttentionConfig c;
      c.batch = x[0];
      c.heads = h;
      c.q_len = c.kv_len = n;
      c.q_strides = c.k_strides = c.v_strides = {n * 3 * h * dp_, dp_, 3 * h * dp_};
      c.out_strides = interleaved_ ? cuda::AttentionStrides{n * h * dp_, dp_, h * dp_}
                                   : cuda::DenseAttentionStrides(h, n, dp_);
      return c;
    });
  }

  // The kernel for separate q [..., Nq, d], k [..., Nk, d], v [..., Nk, d].
  Expected<const cuda::Bf16Attention*> SeparateKernel(const std::vector<int64_t>& q,
                                                      const std::vector<int64_t>& k,
                                                      const std::vector<int64_t>& v) const {
    const size_t r = q.size();
    bool ok = r >= 2 && k.size() == r && v.size() == r && q[r - 1] == d_ && k[r - 1] == d_ &&
              v[r - 1] == d_ && v[r - 2] == k[r - 2];
    int64_t batch = 1;
    for (size_t i = 0; ok && i + 2 < r; ++i) {
      ok = k[i] == q[i] && v[i] == q[i];
      batch *= q[i];
    }
    if (!ok)
      return InvalidArgument(CudaOpPrefix(op_), "q ", CudaDimsText(q), ", k ", CudaDimsText(k),
                             " and v ", CudaDimsText(v), " are not [..., tokens, ", d_,
                             "] with equal leading dims and k, v tokens");
    return Kernel({batch, q[r - 2], k[r - 2]}, [&] {
      cuda::Bf16AttentionConfig c;
      c.batch = batch;
      c.q_len = q[r - 2];
      c.kv_len = k[r - 2];
      return c;
    });
  }

 private:
  // Outputs: y, then the bf16 qkv copy unless qkv is bf16 already, then the
  // bf16 output unless y is bf16 itself.
  Status RunPacked(const DeviceTensor& qkv, const std::vector<DeviceTensor>& out,
                   cudaStream_t stream) const {
    const DeviceTensor& y = out[0];
    const DeviceTensor& qkv16 = in_bf16_ ? qkv : out[1];
    const DeviceTensor& y16 = out_bf16_ ? y : out[in_bf16_ ? 1 : 2];
    OCTET_ASSIGN_OR_RETURN(const cuda::Bf16Attention* kernel, PackedKernel(qkv.dims));
    OCTET_RETURN_IF_ERROR(CheckPlaces(qkv, y, {&qkv16}, y16));
    const int64_t hdp = heads_ * dp_;
    if (!in_bf16_)
      OCTET_RETURN_IF_ERROR(cuda::ConvertF32ToBf16Rows(
          static_cast<const float*>(qkv.data), qkv.numel() / d_, d_, qkv16.data, dp_, stream));
    auto* p = static_cast<const uint16_t*>(qkv16.data);
    OCTET_RETURN_IF_ERROR(kernel->Run(p, p + hdp, p + 2 * hdp, y16.data, stream));
    if (out_bf16_) return Status::Ok();
    return cuda::ConvertBf16ToF32Rows(y16.data, y.numel() / d_, dp_, static_cast<float*>(y.data),
                                      d_, stream);
  }

  Status RunSeparate(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
                     cudaStream_t stream) const {
    const DeviceTensor& y = out[0];
    OCTET_ASSIGN_OR_RETURN(const cuda::Bf16Attention* kernel,
                           SeparateKernel(in[0].dims, in[1].dims, in[2].dims));
    OCTET_RETURN_IF_ERROR(CheckPlaces(in[0], y, {&out[1], &out[2], &out[3]}, out[4]));
    for (int i = 0; i < 3; ++i) {
      if (in[i].dtype != DType::kF32 || out[i + 1].numel() != in[i].numel() / d_ * dp_)
        return Internal(CudaOpPrefix(op_), "operand ", i, " or its bf16 place does not fit");
      OCTET_RETURN_IF_ERROR(cuda::ConvertF32ToBf16Rows(static_cast<const float*>(in[i].data),
                                                       in[i].numel() / d_, d_, out[i + 1].data, dp_,
                                                       stream));
    }
    OCTET_RETURN_IF_ERROR(kernel->Run(out[1].data, out[2].data, out[3].data, out[4].data, stream));
    return cuda::ConvertBf16ToF32Rows(out[4].data, y.numel() / d_, dp_, static_cast<float*>(y.data),
                                      d_, stream);
  }

  // The planner sized the places for these dims: check rather than trust.
  Status CheckPlaces(const DeviceTensor& x, const DeviceTensor& y,
                     const std::vector<const DeviceTensor*>& x16, const DeviceTensor& y16) const {
    const DType want_x = in_bf16_ ? DType::kBF16 : DType::kF32;
    const DType want_y = out_bf16_ ? DType::kBF16 : DType::kF32;
    if (x.dtype != want_x || y.dtype != want_y)
      return InvalidArgument(CudaOpPrefix(op_), "takes ", DTypeName(want_x), " and writes ",
                             DTypeName(want_y), ", got ", DTypeName(x.dtype), " -> ",
                             DTypeName(y.dtype));
    bool ok = y.numel() % d_ == 0 && y16.numel() == y.numel() / d_ * dp_;
    if (heads_ > 0) ok = ok && x16[0]->numel() == x.numel() / d_ * dp_;
    if (!ok)
      return Internal(CudaOpPrefix(op_), "output places do not fit: y ", CudaDimsText(y.dims),
                      ", bf16 y ", CudaDimsText(y16.dims));
    return Status::Ok();
  }

  template <typename MakeConfig>
  Expected<const cuda::Bf16Attention*> Kernel(const std::vector<int64_t>& key,
                                              MakeConfig make) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = kernels_.find(key); it != kernels_.end()) return &it->second;
    cuda::Bf16AttentionConfig c = make();
    c.head_dim = dp_;
    c.scale = scale_;
    c.rel_pos_h = rel_pos_h_;
    c.rel_pos_w = rel_pos_w_;
    auto kernel = cuda::Bf16Attention::Create(c);
    if (!kernel.ok()) return kernel.status().WithContext(CudaOpPrefix(op_));
    return &kernels_.emplace(key, std::move(*kernel)).first->second;
  }

  ModuleOp op_;
  bool in_bf16_, out_bf16_;  // qkv / y in bf16 already (packed form, no padding)
  float scale_;
  int64_t heads_;  // > 0: input 0 is the packed qkv
  bool interleaved_;
  int64_t d_, dp_;
  Tensor rel_pos_h_, rel_pos_w_;  // padded to dp_
  mutable std::mutex mu_;
  mutable std::map<std::vector<int64_t>, cuda::Bf16Attention> kernels_;  // node-stable
};

// The planned dims of a slot (symbols at their reference values).
std::vector<int64_t> PlannedDims(const ModuleDesc& desc, int32_t slot) {
  std::vector<int64_t> dims;
  for (const Dim& d : desc.slots[slot].shape.dims())
    if (d.is_symbolic()) {
      auto it = desc.memory_plan.reference_dims.find(d.symbol());
      dims.push_back(it == desc.memory_plan.reference_dims.end() ? -1 : it->second);
    } else {
      dims.push_back(d.value());
    }
  return dims;
}

bool AllKnown(const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (d < 0) return false;
  return true;
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateAttention(const ModuleDesc& desc,
                                                          const ModuleOp& op,
                                                          const std::vector<Tensor>& constants) {
  OCTET_ASSIGN_OR_RETURN(float scale, op.Get<float>("scale"));
  OCTET_ASSIGN_OR_RETURN(int64_t heads, op.Get<int64_t>("qkv_heads"));
  OCTET_ASSIGN_OR_RETURN(int64_t interleaved, op.Get<int64_t>("out_interleaved"));
  OCTET_ASSIGN_OR_RETURN(int64_t d, op.Get<int64_t>("head_dim"));
  OCTET_ASSIGN_OR_RETURN(int64_t dp, op.Get<int64_t>("padded_head_dim"));
  const bool packed = heads > 0;
  if (op.inputs.size() != 5 || op.outputs.empty() || op.inputs[0] < 0)
    return InvalidArgument(CudaOpPrefix(op), "expected 5 inputs and at least one output");
  const bool in_bf16 = desc.slots[op.inputs[0]].dtype == DType::kBF16;
  const bool out_bf16 = desc.slots[op.outputs[0]].dtype == DType::kBF16;
  const size_t scratch = packed ? (in_bf16 ? 0u : 1u) + (out_bf16 ? 0u : 1u) : 4u;
  if ((in_bf16 || out_bf16) && (!packed || dp != d))
    return InvalidArgument(CudaOpPrefix(op),
                           "bf16 operands in place need the packed form and an unpadded head dim");
  if (op.outputs.size() != 1 + scratch || (op.inputs[1] < 0) != packed ||
      (op.inputs[2] < 0) != packed || (op.inputs[3] < 0) != (op.inputs[4] < 0) ||
      (interleaved != 0 && !packed))
    return InvalidArgument(CudaOpPrefix(op),
                           "expected inputs q, k, v (or qkv with qkv_heads > 0, and -1, -1), "
                           "[rel_pos_h, rel_pos_w], the output and its bf16 scratch places; "
                           "out_interleaved needs qkv");
  if (d <= 0 || dp < d || dp % 16 != 0 || dp > 128)
    return InvalidArgument(CudaOpPrefix(op), "head_dim ", d, " padded to ", dp,
                           ": expected a multiple of 16 >= head_dim, at most 128");
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 5, 1, op.outputs.size(), {3, 4}));
  Tensor rh, rw;
  if (op.inputs[3] >= 0) {
    const Tensor &h = constants[op.inputs[3]], &w = constants[op.inputs[4]];
    if (h.dtype() != DType::kF32 || w.dtype() != DType::kF32 || h.rank() != 3 || w.rank() != 3 ||
        h.dim(2) != d || w.dim(2) != d)
      return InvalidArgument(CudaOpPrefix(op), "position tables must be f32 [*, *, ", d, "], got ",
                             h.ShapeString(), " and ", w.ShapeString());
    rh = PadLastDim(h, dp);
    rw = PadLastDim(w, dp);
  }
  auto e = std::make_unique<AttentionExecutor>(op, scale, heads, interleaved != 0, d, dp,
                                               std::move(rh), std::move(rw), in_bf16, out_bf16);
  // The planned shape's kernel now, so that a bad module fails at load.
  const std::vector<int64_t> q = PlannedDims(desc, op.inputs[0]);
  if (packed && AllKnown(q)) {
    OCTET_RETURN_IF_ERROR(e->PackedKernel(q).status());
  } else if (!packed) {
    const std::vector<int64_t> k = PlannedDims(desc, op.inputs[1]),
                               v = PlannedDims(desc, op.inputs[2]);
    if (AllKnown(q) && AllKnown(k) && AllKnown(v))
      OCTET_RETURN_IF_ERROR(e->SeparateKernel(q, k, v).status());
  }
  return std::unique_ptr<CudaOpExecutor>(std::move(e));
}

}  // namespace

void AddCudaAttentionExecutors(CudaExecutorFactories& factories) {
  factories["cuda.attention"] = CreateAttention;
}

}  // namespace octet::runtime
