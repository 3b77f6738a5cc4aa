#include "x86_executor.h"

#include "octet/x86/cpu_info.h"
#include "octet/x86/int8_kernels.h"
#include "x86_executor_util.h"

namespace octet::runtime {
namespace x86_internal {

Expected<std::vector<int64_t>> PlannedDims(const ModuleDesc& desc, const ModuleOp& op, int slot) {
  const TensorSlot& s = desc.slots[slot];
  std::vector<int64_t> dims;
  for (const Dim& d : s.shape.dims()) {
    int64_t v = d.value();
    if (d.is_symbolic()) {
      auto it = desc.memory_plan.reference_dims.find(d.symbol());
      v = it != desc.memory_plan.reference_dims.end() ? it->second : 1;
    }
    if (v < 0) return InvalidArgument(OpPrefix(op), "slot '", s.name, "' has an unknown dim");
    dims.push_back(v);
  }
  return dims;
}

Tensor& PrepareOutput(Tensor& out, DType dtype, const std::vector<int64_t>& dims) {
  if (!out.defined() || out.dtype() != dtype || out.dims() != dims) out = Tensor(dtype, dims);
  return out;
}

std::string OpPrefix(const ModuleOp& op) { return "op '" + op.name + "' (" + op.kernel + "): "; }

Status CheckConstantInputs(const ModuleDesc& desc, const ModuleOp& op,
                           const std::vector<int>& constant_inputs) {
  for (int i : constant_inputs)
    if (i < static_cast<int>(op.inputs.size()) && op.inputs[i] >= 0 &&
        desc.slots[op.inputs[i]].kind != SlotKind::kConstant)
      return InvalidArgument(OpPrefix(op), "input ", i, " must be a constant");
  return Status::Ok();
}

Expected<x86::PackedWeights> PrepackedWeightsOf(const ModuleDesc& desc, const ModuleOp& op,
                                                const std::vector<Tensor>& constants) {
  if (op.FindAttr("prepacked_slot") == nullptr) return x86::PackedWeights();
  OCTET_ASSIGN_OR_RETURN(int64_t slot, op.Get<int64_t>("prepacked_slot"));
  OCTET_ASSIGN_OR_RETURN(std::string layout, op.Get<std::string>("prepacked_layout"));
  if (slot < 0 || slot >= static_cast<int64_t>(desc.slots.size()) ||
      desc.slots[slot].kind != SlotKind::kConstant || constants[slot].dtype() != DType::kU8)
    return InvalidArgument(OpPrefix(op), "prepacked_slot ", slot, " is not a u8 constant slot");
  return x86::PackedWeights{std::move(layout), constants[slot]};
}

}  // namespace x86_internal

using namespace x86_internal;

namespace {

constexpr const char kInt8MatMul[] = "x86.int8_matmul";

// x86.int8_matmul: u8 [M, K] in, f32 [M, N] out. Int8MatMul fixes M at
// creation, so as for convolutions there is one primitive per batch size,
// the planned one created at load.
class Int8MatMulExecutor : public OpExecutor, public PackingExecutor {
 public:
  Int8MatMulExecutor(std::string name, x86::Int8MatMulConfig config, int64_t k)
      : name_(std::move(name)), config_(std::move(config)), k_(k) {}

  Status Prepare(int64_t m) {
    planned_m_ = m;
    auto kernel = KernelFor(m);
    return kernel.ok() ? Status::Ok() : kernel.status();
  }

  Expected<x86::PackedWeights> PlannedPackedWeights() const override {
    OCTET_ASSIGN_OR_RETURN(x86::Int8MatMul kernel, KernelFor(planned_m_));
    return kernel.packed_weights();
  }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kU8 || x.dims().size() != 2 || x.dims()[1] != k_)
      return InvalidArgument("op '", name_, "' (", kInt8MatMul, "): input is ",
                             DTypeName(x.dtype()), " of rank ", x.dims().size(),
                             ", expected u8 [M,", k_, "]");
    x86::SetKernelThreads(num_threads);
    OCTET_ASSIGN_OR_RETURN(x86::Int8MatMul kernel, KernelFor(x.dims()[0]));
    Tensor& y = PrepareOutput(outputs[0], DType::kF32, {kernel.m(), kernel.n()});
    Status s = kernel.Run(x.raw(), y.raw());
    return s.ok() ? s : s.WithContext("op '" + name_ + "'");
  }

 private:
  Expected<x86::Int8MatMul> KernelFor(int64_t m) const {
    return kernels_.Get({m}, [&]() -> Expected<x86::Int8MatMul> {
      x86::Int8MatMulConfig c = config_;
      c.m = m;
      auto kernel = x86::Int8MatMul::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext("op '" + name_ + "'");
      return kernel;
    });
  }

  std::string name_;
  x86::Int8MatMulConfig config_;
  int64_t k_;
  int64_t planned_m_ = 1;
  KernelCache<x86::Int8MatMul> kernels_;
};

Expected<std::unique_ptr<OpExecutor>> CreateInt8MatMul(const ModuleDesc& desc, const ModuleOp& op,
                                                       const std::vector<Tensor>& constants) {
  if (op.inputs.size() != 4 || op.outputs.size() != 1 || op.inputs[0] < 0 || op.inputs[1] < 0 ||
      op.inputs[2] < 0)
    return InvalidArgument("op '", op.name, "' (", kInt8MatMul,
                           "): expected inputs x, w, w_scale, [bias] and one output");
  OCTET_RETURN_IF_ERROR(CheckConstantInputs(desc, op, {1, 2, 3}));
  const TensorSlot& x = desc.slots[op.inputs[0]];
  const Tensor& w = constants[op.inputs[1]];
  const Tensor& scales = constants[op.inputs[2]];
  if (x.shape.rank() != 2 || w.dims().size() != 2 || scales.dtype() != DType::kF32)
    return InvalidArgument("op '", op.name, "' (", kInt8MatMul,
                           "): expected a 2-D input, a 2-D weight and f32 scales");
  int64_t m = x.shape.dims()[0].value();
  if (x.shape.dims()[0].is_symbolic()) {
    auto it = desc.memory_plan.reference_dims.find(x.shape.dims()[0].symbol());
    m = it != desc.memory_plan.reference_dims.end() ? it->second : 1;
  }
  if (m < 0) m = 1;  // unknown until run: created on first use
  x86::Int8MatMulConfig c;
  c.src_type = DType::kU8;
  OCTET_ASSIGN_OR_RETURN(c.src.scale, op.Get<float>("x_scale"));
  OCTET_ASSIGN_OR_RETURN(int64_t xz, op.Get<int64_t>("x_zero_point"));
  c.src.zero_point = static_cast<int32_t>(xz);
  c.weights = w;
  c.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  if (op.inputs[3] >= 0) c.bias = constants[op.inputs[3]];
  c.dst_type = DType::kF32;
  OCTET_ASSIGN_OR_RETURN(c.prepacked, PrepackedWeightsOf(desc, op, constants));
  auto e = std::make_unique<Int8MatMulExecutor>(op.name, std::move(c), w.dims()[0]);
  OCTET_RETURN_IF_ERROR(e->Prepare(m));
  return std::unique_ptr<OpExecutor>(std::move(e));
}

}  // namespace

Status CheckX86Requirements(const LoadedModule& module) {
  const ModuleDesc& d = module.desc();
  bool reduce_range = false;
  for (const auto& [key, value] : d.requirements) {
    if (key == "target" && value == d.target) continue;
    if (key == "reduce_range" && (value == "1" || value == "0")) {
      reduce_range = value == "1";
      continue;
    }
    return Unimplemented(module.source(), " requires ", key, "=", value,
                         ", which this runtime does not provide");
  }
  bool uses_int8 = false;
  for (const ModuleOp& op : d.ops) uses_int8 = uses_int8 || op.kernel.rfind("x86.int8_", 0) == 0;
  if (uses_int8 && !reduce_range && x86::Int8NeedsReducedRange())
    return Unimplemented(
        module.source(),
        " was compiled without reduced-range (7-bit) activations, but this CPU has no VNNI (",
        x86::CpuSummary(),
        "): its u8 x s8 products would saturate. Quantize with reduce_range "
        "(octet quantize --reduce-range) and compile with --reduce-range");
  return Status::Ok();
}

Expected<std::unique_ptr<OpExecutor>> CreateX86Executor(const ModuleDesc& desc, const ModuleOp& op,
                                                        const std::vector<Tensor>& constants) {
  if (op.kernel == "x86.int8_conv") return CreateInt8ConvExecutor(desc, op, constants);
  if (op.kernel == "x86.int8_pool") return CreateInt8PoolExecutor(desc, op);
  if (op.kernel == "x86.convert") return CreateConvertExecutor(desc, op);
  if (op.kernel == "x86.dynamic_int8_matmul")
    return CreateDynamicInt8MatMulExecutor(desc, op, constants);
  if (op.kernel == kInt8MatMul) return CreateInt8MatMul(desc, op, constants);
  if (op.kernel == "x86.attention") return CreateAttentionExecutor(desc, op, constants);
  return Unimplemented("op '", op.name, "': unknown kernel id '", op.kernel,
                       "' (this runtime's x86 kernels: x86.int8_conv, x86.int8_pool, "
                       "x86.int8_matmul, x86.dynamic_int8_matmul, x86.attention, x86.convert)");
}

}  // namespace octet::runtime
