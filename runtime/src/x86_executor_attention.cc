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
  AttentionExecutor(ModuleOp op, float scale, Tensor rel_pos_h, Tensor rel_pos_w)
      : op_(std::move(op)),
        scale_(scale),
        rel_pos_h_(std::move(rel_pos_h)),
        rel_pos_w_(std::move(rel_pos_w)) {}

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor &q = *inputs[0], &k = *inputs[1], &v = *inputs[2];
    OCTET_ASSIGN_OR_RETURN(x86::F32Attention kernel, KernelFor(q.dims(), k.dims(), v.dims()));
    std::vector<int64_t> dims = q.dims();
    dims.back() = v.dims().back();
    Tensor& y = PrepareOutput(outputs[0], DType::kF32, dims);
    x86::SetKernelThreads(num_threads);
    Status s =
        kernel.Run(q.data<float>(), k.data<float>(), v.data<float>(), y.data<float>(), num_threads);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
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
  KernelCache<x86::F32Attention> kernels_;
};

}  // namespace

Expected<std::unique_ptr<OpExecutor>> CreateAttentionExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  if (op.inputs.size() != 5 || op.outputs.size() != 1 || op.inputs[0] < 0 || op.inputs[1] < 0 ||
      op.inputs[2] < 0 || (op.inputs[3] < 0) != (op.inputs[4] < 0))
    return InvalidArgument(OpPrefix(op),
                           "expected inputs q, k, v, [rel_pos_h, rel_pos_w] and one output");
  OCTET_RETURN_IF_ERROR(CheckConstantInputs(desc, op, {3, 4}));
  Tensor rh = op.inputs[3] >= 0 ? constants[op.inputs[3]] : Tensor();
  Tensor rw = op.inputs[4] >= 0 ? constants[op.inputs[4]] : Tensor();
  OCTET_ASSIGN_OR_RETURN(float scale, op.Get<float>("scale"));
  auto e = std::make_unique<AttentionExecutor>(op, scale, std::move(rh), std::move(rw));
  // The planned shape's kernel now, so a bad module fails at load.
  auto q = PlannedDims(desc, op, op.inputs[0]);
  auto k = PlannedDims(desc, op, op.inputs[1]);
  auto v = PlannedDims(desc, op, op.inputs[2]);
  if (q.ok() && k.ok() && v.ok() && !q->empty())
    OCTET_RETURN_IF_ERROR(e->KernelFor(*q, *k, *v).status());
  return std::unique_ptr<OpExecutor>(std::move(e));
}

}  // namespace octet::runtime
