// Executor of x86.attention: f32 q, k, v [..., tokens, channels] (+ SAM's
// relative-position tables) -> F32Attention -> f32 [..., q tokens, v
// channels]. The leading dims are folded into one batch of independent
// attentions; one kernel per (batch, q tokens, kv tokens), created for the
// planned shape at load and for others on first use.
#include <string>
#include <vector>

#include "octet/x86/attention.h"
#include "octet/x86/cpu_info.h"
#include "x86_executor.h"
#include "x86_executor_util.h"

namespace octet::runtime {

using namespace x86_internal;

namespace {

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

class AttentionExecutor : public OpExecutor {
 public:
  AttentionExecutor(ModuleOp op, float scale, Tensor rel_pos_h, Tensor rel_pos_w, int64_t qkv_heads,
                    bool out_interleaved)
      : op_(std::move(op)),
        scale_(scale),
        rel_pos_h_(std::move(rel_pos_h)),
        rel_pos_w_(std::move(rel_pos_w)),
        qkv_heads_(qkv_heads),
        out_interleaved_(out_interleaved) {}

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    x86::SetKernelThreads(num_threads);
    Status s = qkv_heads_ > 0
                   ? RunPacked(*inputs[0], outputs[0], num_threads)
                   : RunSeparate(*inputs[0], *inputs[1], *inputs[2], outputs[0], num_threads);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

  Status RunSeparate(const Tensor& q, const Tensor& k, const Tensor& v, Tensor& out,
                     int num_threads) const {
    OCTET_ASSIGN_OR_RETURN(x86::F32Attention kernel, KernelFor(q.dims(), k.dims(), v.dims()));
    std::vector<int64_t> dims = q.dims();
    dims.back() = v.dims().back();
    Tensor& y = PrepareOutput(out, DType::kF32, dims);
    return kernel.Run(q.data<float>(), k.data<float>(), v.data<float>(), y.data<float>(),
                      num_threads);
  }

  // qkv [B, ..., 3*H*d]: the heads of q, k and v at channel offsets 0, H*d
  // and 2*H*d of each token.
  Status RunPacked(const Tensor& qkv, Tensor& out, int num_threads) const {
    OCTET_ASSIGN_OR_RETURN(x86::F32Attention kernel, PackedKernelFor(qkv.dims()));
    const int64_t hd = qkv.dims().back() / 3;
    std::vector<int64_t> dims = qkv.dims();
    if (out_interleaved_) {
      dims.back() = hd;  // [B, ..., H*d]
    } else {
      int64_t n = 1;
      for (size_t i = 1; i + 1 < dims.size(); ++i) n *= dims[i];
      dims = {dims[0] * qkv_heads_, n, hd / qkv_heads_};  // [B*H, N, d]
    }
    Tensor& y = PrepareOutput(out, DType::kF32, dims);
    const float* p = qkv.data<float>();
    return kernel.Run(p, p + hd, p + 2 * hd, y.data<float>(), num_threads);
  }

  Expected<x86::F32Attention> PackedKernelFor(const std::vector<int64_t>& x) const {
    const int64_t h = qkv_heads_;
    if (x.size() < 2 || x.back() % (3 * h) != 0)
      return InvalidArgument(OpPrefix(op_), "packed qkv ", DimsText(x), " is not [B, ..., 3 * ", h,
                             " heads * d]");
    int64_t n = 1;
    for (size_t i = 1; i + 1 < x.size(); ++i) n *= x[i];
    const int64_t b = x[0], d = x.back() / (3 * h);
    return kernels_.Get({b, n, d, -1}, [&]() -> Expected<x86::F32Attention> {
      x86::F32AttentionConfig c;
      c.batch = b;
      c.heads = h;
      c.q_len = c.kv_len = n;
      c.head_dim = c.v_dim = d;
      c.scale = scale_;
      c.q_strides = c.k_strides = c.v_strides = {n * 3 * h * d, d, 3 * h * d};
      c.out_strides = out_interleaved_ ? x86::AttentionStrides{n * h * d, d, h * d}
                                       : x86::DenseAttentionStrides(h, n, d);
      c.rel_pos_h = rel_pos_h_;
      c.rel_pos_w = rel_pos_w_;
      auto kernel = x86::F32Attention::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext(OpPrefix(op_));
      return kernel;
    });
  }

  Expected<x86::F32Attention> KernelFor(const std::vector<int64_t>& q,
                                        const std::vector<int64_t>& k,
                                        const std::vector<int64_t>& v) const {
    const size_t r = q.size();
    bool ok =
        r >= 2 && k.size() == r && v.size() == r && k[r - 1] == q[r - 1] && v[r - 2] == k[r - 2];
    int64_t batch = 1;
    for (size_t i = 0; ok && i + 2 < r; ++i) {
      ok = k[i] == q[i] && v[i] == q[i];
      batch *= q[i];
    }
    if (!ok)
      return InvalidArgument(OpPrefix(op_), "q ", DimsText(q), ", k ", DimsText(k), " and v ",
                             DimsText(v),
                             " are not [..., tokens, channels] with equal leading dims, q and k "
                             "channels and k and v tokens");
    return kernels_.Get({batch, q[r - 2], k[r - 2], q[r - 1], v[r - 1]},
                        [&]() -> Expected<x86::F32Attention> {
                          x86::F32AttentionConfig c;
                          c.batch = batch;
                          c.q_len = q[r - 2];
                          c.kv_len = k[r - 2];
                          c.head_dim = q[r - 1];
                          c.v_dim = v[r - 1];
                          c.scale = scale_;
                          c.rel_pos_h = rel_pos_h_;
                          c.rel_pos_w = rel_pos_w_;
                          auto kernel = x86::F32Attention::Create(c);
                          if (!kernel.ok()) return kernel.status().WithContext(OpPrefix(op_));
                          return kernel;
                        });
  }

 private:
  ModuleOp op_;
  float scale_;
  Tensor rel_pos_h_, rel_pos_w_;
  int64_t qkv_heads_;  // > 0: input 0 is the packed qkv
  bool out_interleaved_;
  KernelCache<x86::F32Attention> kernels_;
};

}  // namespace

Expected<std::unique_ptr<OpExecutor>> CreateAttentionExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  OCTET_ASSIGN_OR_RETURN(float scale, op.Get<float>("scale"));
  OCTET_ASSIGN_OR_RETURN(int64_t qkv_heads, op.Get<int64_t>("qkv_heads"));
  OCTET_ASSIGN_OR_RETURN(int64_t interleaved, op.Get<int64_t>("out_interleaved"));
  const bool packed = qkv_heads > 0;
  if (op.inputs.size() != 5 || op.outputs.size() != 1 || op.inputs[0] < 0 ||
      (op.inputs[1] < 0) != packed || (op.inputs[2] < 0) != packed ||
      (op.inputs[3] < 0) != (op.inputs[4] < 0) || (interleaved != 0 && !packed))
    return InvalidArgument(OpPrefix(op),
                           "expected inputs q, k, v (or qkv with qkv_heads > 0, and -1, -1), "
                           "[rel_pos_h, rel_pos_w] and one output; out_interleaved needs qkv");
  OCTET_RETURN_IF_ERROR(CheckConstantInputs(desc, op, {3, 4}));
  Tensor rh = op.inputs[3] >= 0 ? constants[op.inputs[3]] : Tensor();
  Tensor rw = op.inputs[4] >= 0 ? constants[op.inputs[4]] : Tensor();
  auto e = std::make_unique<AttentionExecutor>(op, scale, std::move(rh), std::move(rw), qkv_heads,
                                               interleaved != 0);
  // The planned shape's kernel now, so a bad module fails at load.
  auto q = PlannedDims(desc, op, op.inputs[0]);
  if (packed) {
    if (q.ok() && !q->empty()) OCTET_RETURN_IF_ERROR(e->PackedKernelFor(*q).status());
  } else {
    auto k = PlannedDims(desc, op, op.inputs[1]);
    auto v = PlannedDims(desc, op, op.inputs[2]);
    if (q.ok() && k.ok() && v.ok() && !q->empty())
      OCTET_RETURN_IF_ERROR(e->KernelFor(*q, *k, *v).status());
  }
  return std::unique_ptr<OpExecutor>(std::move(e));
}

}  // namespace octet::runtime
