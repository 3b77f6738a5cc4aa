// Executor of x86.dynamic_int8_matmul: f32 x [..., K] -> per-token int8 rows
// (QuantizeRowsPerToken) -> int8 x int8 matmul with the row scales, bias and
// [residual sum | GELU] applied in oneDNN's epilogue -> f32 [..., N]. On CPUs without VNNI, s8
// activations are not exact in oneDNN's int8 kernels (docs/x86-backend.md),
// so there the same quantized rows are dequantized and multiplied in f32 with
// the dequantized weights: the graph's own arithmetic, without the int8 speed.
#include <cstring>
#include <string>
#include <vector>

#include "octet/x86/cpu_info.h"
#include "octet/x86/float_kernels.h"
#include "octet/x86/int8_kernels.h"
#include "x86_executor.h"
#include "x86_executor_util.h"

namespace octet::runtime {

using namespace x86_internal;

namespace {

// The calling thread's buffers for the quantized rows, reused across runs.
struct RowBuffers {
  std::vector<int8_t> codes;
  std::vector<float> scales, dequantized;
};
RowBuffers& ThreadRowBuffers() {
  thread_local RowBuffers buffers;
  return buffers;
}

class DynamicInt8MatMulExecutor : public OpExecutor, public PackingExecutor {
 public:
  DynamicInt8MatMulExecutor(ModuleOp op, x86::Int8MatMulConfig int8, Tensor w_f32, int64_t k,
                            int64_t n, float qmax, float min_scale)
      : op_(std::move(op)),
        int8_(std::move(int8)),
        w_f32_(std::move(w_f32)),
        k_(k),
        n_(n),
        qmax_(qmax),
        min_scale_(min_scale),
        use_int8_(!x86::Int8NeedsReducedRange()) {}

  Status Prepare(int64_t m) {
    planned_m_ = m;
    return use_int8_ ? Int8For(m).status() : F32For(m).status();
  }

  Expected<x86::PackedWeights> PlannedPackedWeights() const override {
    if (!use_int8_)
      return Unimplemented(OpPrefix(op_), "runs in f32 on this CPU (no VNNI): no int8 weights");
    OCTET_ASSIGN_OR_RETURN(x86::Int8MatMul kernel, Int8For(planned_m_));
    return kernel.packed_weights();
  }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kF32 || x.rank() < 2 || x.dims().back() != k_)
      return InvalidArgument(OpPrefix(op_), "input is ", DTypeName(x.dtype()), x.ShapeString(),
                             ", expected f32 [..., ", k_, "]");
    x86::SetKernelThreads(num_threads);
    const int64_t m = x.numel() / k_;
    std::vector<int64_t> dims = x.dims();
    dims.back() = n_;
    Tensor& y = PrepareOutput(outputs[0], DType::kF32, dims);
    if (int8_.sum) {
      // oneDNN's sum reads the residual from the output: in place when the
      // planner gave both one place, else copied there first.
      const Tensor& r = *inputs[4];
      if (r.dtype() != DType::kF32 || r.dims() != dims)
        return InvalidArgument(OpPrefix(op_), "residual is ", DTypeName(r.dtype()), r.ShapeString(),
                               ", expected the output's f32 dims");
      if (r.raw() != y.raw()) std::memcpy(y.raw(), r.raw(), static_cast<size_t>(y.nbytes()));
    }
    RowBuffers& b = ThreadRowBuffers();
    b.codes.resize(static_cast<size_t>(m * k_));
    b.scales.resize(static_cast<size_t>(m));
    x86::QuantizeRowsPerToken(x.data<float>(), m, k_, qmax_, min_scale_, b.codes.data(),
                              b.scales.data(), num_threads);
    Status s;
    if (use_int8_) {
      OCTET_ASSIGN_OR_RETURN(x86::Int8MatMul kernel, Int8For(m));
      s = kernel.Run(b.codes.data(), y.raw(), b.scales.data());
    } else {
      b.dequantized.resize(static_cast<size_t>(m * k_));
      for (int64_t r = 0; r < m; ++r)
        for (int64_t i = 0; i < k_; ++i)
          b.dequantized[r * k_ + i] = static_cast<float>(b.codes[r * k_ + i]) * b.scales[r];
      OCTET_ASSIGN_OR_RETURN(x86::F32MatMul kernel, F32For(m));
      s = kernel.Run(b.dequantized.data(), nullptr, y.data<float>());
    }
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  Expected<x86::Int8MatMul> Int8For(int64_t m) const {
    return int8_kernels_.Get({m}, [&]() -> Expected<x86::Int8MatMul> {
      x86::Int8MatMulConfig c = int8_;
      c.m = m;
      auto kernel = x86::Int8MatMul::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext("op '" + op_.name + "'");
      return kernel;
    });
  }
  Expected<x86::F32MatMul> F32For(int64_t m) const {
    return f32_kernels_.Get({m}, [&]() -> Expected<x86::F32MatMul> {
      x86::F32MatMulConfig c;
      c.m = m;
      c.k = k_;
      c.n = n_;
      c.weights = w_f32_;
      c.bias = int8_.bias;
      if (int8_.sum) c.post_ops.push_back(x86::F32PostOp::kSum);
      if (int8_.gelu_erf) c.post_ops.push_back(x86::F32PostOp::kGeluErf);
      auto kernel = x86::F32MatMul::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext("op '" + op_.name + "'");
      return kernel;
    });
  }

  ModuleOp op_;
  x86::Int8MatMulConfig int8_;
  Tensor w_f32_;  // dequantized weights for the f32 path
  int64_t k_, n_;
  float qmax_, min_scale_;
  bool use_int8_;
  int64_t planned_m_ = 1;
  KernelCache<x86::Int8MatMul> int8_kernels_;
  KernelCache<x86::F32MatMul> f32_kernels_;
};

}  // namespace

Expected<std::unique_ptr<OpExecutor>> CreateDynamicInt8MatMulExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  if (op.inputs.size() < 4 || op.inputs.size() > 5 || op.outputs.size() != 1 || op.inputs[0] < 0 ||
      op.inputs[1] < 0 || op.inputs[2] < 0 || (op.inputs.size() == 5 && op.inputs[4] < 0))
    return InvalidArgument(OpPrefix(op),
                           "expected inputs x, w, w_scale, [bias], [residual] and one output");
  OCTET_RETURN_IF_ERROR(CheckConstantInputs(desc, op, {1, 2, 3}));
  const Tensor& w = constants[op.inputs[1]];
  const Tensor& scales = constants[op.inputs[2]];
  if (w.dtype() != DType::kI8 || w.rank() != 2 || scales.dtype() != DType::kF32 ||
      (scales.numel() != 1 && scales.numel() != w.dim(1)))
    return InvalidArgument(OpPrefix(op),
                           "expected i8 weights [K, N] and f32 scales [N] or [1], got ",
                           w.ShapeString(), " and ", scales.ShapeString());
  const int64_t k = w.dim(0), n = w.dim(1);
  x86::Int8MatMulConfig c;
  c.src_type = DType::kI8;
  c.per_row_src_scales = true;
  c.weights = w;
  c.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  if (op.inputs[3] >= 0) c.bias = constants[op.inputs[3]];
  c.dst_type = DType::kF32;
  c.sum = op.inputs.size() == 5;
  // "activation" is required since module format version 2 (older modules
  // are refused at load); absent means none for hand-written descriptions.
  std::string activation = "none";
  if (op.FindAttr("activation") != nullptr) {
    OCTET_ASSIGN_OR_RETURN(activation, op.Get<std::string>("activation"));
  }
  if (activation != "none" && activation != "gelu_erf")
    return InvalidArgument(OpPrefix(op), "unknown activation '", activation,
                           "' (this runtime has none, gelu_erf)");
  c.gelu_erf = activation == "gelu_erf";
  OCTET_ASSIGN_OR_RETURN(c.prepacked, PrepackedWeightsOf(desc, op, constants));
  Tensor w_f32(DType::kF32, {k, n});
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j)
      w_f32.data<float>()[i * n + j] = static_cast<float>(w.data<int8_t>()[i * n + j]) *
                                       c.weight_scales[c.weight_scales.size() == 1 ? 0 : j];
  OCTET_ASSIGN_OR_RETURN(float qmax, op.Get<float>("qmax"));
  OCTET_ASSIGN_OR_RETURN(float min_scale, op.Get<float>("min_scale"));
  auto e = std::make_unique<DynamicInt8MatMulExecutor>(op, std::move(c), std::move(w_f32), k, n,
                                                       qmax, min_scale);
  // The planned row count when the input's dims are known at the plan's dims.
  auto dims = PlannedDims(desc, op, op.inputs[0]);
  if (dims.ok() && !dims->empty()) {
    int64_t m = 1;
    for (size_t i = 0; i + 1 < dims->size(); ++i) m *= (*dims)[i];
    OCTET_RETURN_IF_ERROR(e->Prepare(m));
  }
  return std::unique_ptr<OpExecutor>(std::move(e));
}

}  // namespace octet::runtime
