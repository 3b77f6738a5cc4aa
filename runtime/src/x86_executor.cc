#include "x86_executor.h"

#include <map>
#include <mutex>

#include "octet/x86/cpu_info.h"
#include "octet/x86/int8_kernels.h"

namespace octet::runtime {
namespace {

constexpr const char kInt8Conv[] = "x86.int8_conv";
constexpr const char kInt8MatMul[] = "x86.int8_matmul";

// x86.int8_conv (backends/compile/src/compile_x86.cc writes it): u8 NCHW in,
// u8 NCHW out. The oneDNN primitive is created, and the weights packed, at
// load for the batch size the module was planned for; another batch size gets
// its own primitive on first use, kept for later runs (oneDNN primitives have
// fixed shapes). NCHW costs two reorders per run inside Int8Conv2d; NHWC
// activations between int8 ops are the next step (docs/x86-backend.md).
class Int8ConvExecutor : public OpExecutor {
 public:
  Int8ConvExecutor(std::string name, x86::Int8Conv2dConfig config)
      : name_(std::move(name)), config_(std::move(config)) {}

  Status Prepare(int64_t batch) {
    auto kernel = KernelFor(batch);
    return kernel.ok() ? Status::Ok() : kernel.status();
  }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    const std::vector<int64_t>& want = config_.src_dims;
    if (x.dtype() != DType::kU8 || x.dims().size() != 4 || x.dims()[1] != want[1] ||
        x.dims()[2] != want[2] || x.dims()[3] != want[3])
      return InvalidArgument("op '", name_, "' (", kInt8Conv, "): input is ", DTypeName(x.dtype()),
                             " of rank ", x.dims().size(), ", expected u8 [N,", want[1], ",",
                             want[2], ",", want[3], "]");
    OCTET_ASSIGN_OR_RETURN(x86::Int8Conv2d kernel, KernelFor(x.dims()[0]));
    outputs[0] = Tensor(DType::kU8, kernel.dst_dims());
    Status s = kernel.Run(x.raw(), outputs[0].raw());
    return s.ok() ? s : s.WithContext("op '" + name_ + "'");
  }

 private:
  Expected<x86::Int8Conv2d> KernelFor(int64_t batch) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kernels_.find(batch);
    if (it != kernels_.end()) return it->second;
    x86::Int8Conv2dConfig c = config_;
    c.src_dims[0] = batch;
    auto kernel = x86::Int8Conv2d::Create(c);
    if (!kernel.ok()) return kernel.status().WithContext("op '" + name_ + "'");
    kernels_.emplace(batch, *kernel);
    return *kernel;
  }

  std::string name_;
  x86::Int8Conv2dConfig config_;
  // Copies of a created kernel share its primitive and packed weights.
  mutable std::mutex mu_;
  mutable std::map<int64_t, x86::Int8Conv2d> kernels_;
};

Expected<std::unique_ptr<OpExecutor>> CreateInt8Conv(const ModuleDesc& desc, const ModuleOp& op,
                                                     const std::vector<Tensor>& constants) {
  if (op.inputs.size() != 4 || op.outputs.size() != 1 || op.inputs[0] < 0 || op.inputs[1] < 0 ||
      op.inputs[2] < 0)
    return InvalidArgument("op '", op.name, "' (", kInt8Conv,
                           "): expected inputs x, w, w_scale, [bias] and one output");
  for (int i = 1; i < 4; ++i)
    if (op.inputs[i] >= 0 && desc.slots[op.inputs[i]].kind != SlotKind::kConstant)
      return InvalidArgument("op '", op.name, "' (", kInt8Conv, "): input ", i,
                             " must be a constant");
  x86::Int8Conv2dConfig c;
  // The planned batch (and any static dims) come from the input slot's shape
  // at the plan's reference dims.
  const TensorSlot& x = desc.slots[op.inputs[0]];
  if (x.shape.rank() != 4)
    return InvalidArgument("op '", op.name, "' (", kInt8Conv, "): input '", x.name, "' is not 4-D");
  for (const Dim& d : x.shape.dims()) {
    int64_t v = d.value();
    if (d.is_symbolic()) {
      auto it = desc.memory_plan.reference_dims.find(d.symbol());
      v = it != desc.memory_plan.reference_dims.end() ? it->second : 1;
    }
    if (v < 0)
      return InvalidArgument("op '", op.name, "' (", kInt8Conv, "): input '", x.name,
                             "' has an unknown dim");
    c.src_dims.push_back(v);
  }
  c.layout = x86::Layout::kNCHW;
  c.src_type = DType::kU8;
  c.weights = constants[op.inputs[1]];
  const Tensor& scales = constants[op.inputs[2]];
  if (scales.dtype() != DType::kF32)
    return InvalidArgument("op '", op.name, "' (", kInt8Conv, "): weight scales are not f32");
  c.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  if (op.inputs[3] >= 0) c.bias = constants[op.inputs[3]];
  OCTET_ASSIGN_OR_RETURN(auto strides, op.Get<std::vector<int64_t>>("strides"));
  OCTET_ASSIGN_OR_RETURN(auto dilations, op.Get<std::vector<int64_t>>("dilations"));
  OCTET_ASSIGN_OR_RETURN(auto pads, op.Get<std::vector<int64_t>>("pads"));
  if (strides.size() != 2 || dilations.size() != 2 || pads.size() != 4)
    return InvalidArgument("op '", op.name, "' (", kInt8Conv,
                           "): strides, dilations and pads must have 2, 2 and 4 values");
  c.strides = {strides[0], strides[1]};
  c.dilations = {dilations[0], dilations[1]};
  c.pads = {pads[0], pads[1], pads[2], pads[3]};
  OCTET_ASSIGN_OR_RETURN(c.groups, op.Get<int64_t>("group", 1));
  OCTET_ASSIGN_OR_RETURN(int64_t relu, op.Get<int64_t>("relu", 0));
  if (relu != 0) c.post_ops.push_back(x86::PostOp::kRelu);
  if (op.FindAttr("clip_min") != nullptr) {
    OCTET_ASSIGN_OR_RETURN(c.clip_min, op.Get<float>("clip_min"));
    OCTET_ASSIGN_OR_RETURN(c.clip_max, op.Get<float>("clip_max"));
    c.post_ops.push_back(x86::PostOp::kClip);
  }
  OCTET_ASSIGN_OR_RETURN(c.src.scale, op.Get<float>("x_scale"));
  OCTET_ASSIGN_OR_RETURN(int64_t xz, op.Get<int64_t>("x_zero_point"));
  OCTET_ASSIGN_OR_RETURN(c.dst.scale, op.Get<float>("y_scale"));
  OCTET_ASSIGN_OR_RETURN(int64_t yz, op.Get<int64_t>("y_zero_point"));
  c.src.zero_point = static_cast<int32_t>(xz);
  c.dst.zero_point = static_cast<int32_t>(yz);
  c.dst_type = DType::kU8;
  const int64_t batch = c.src_dims[0];
  auto e = std::make_unique<Int8ConvExecutor>(op.name, std::move(c));
  OCTET_RETURN_IF_ERROR(e->Prepare(batch));  // create and pack at load, not at the first run
  return std::unique_ptr<OpExecutor>(std::move(e));
}

// x86.int8_matmul: u8 [M, K] in, f32 [M, N] out. Int8MatMul fixes M at
// creation, so as for convolutions there is one primitive per batch size,
// the planned one created at load.
class Int8MatMulExecutor : public OpExecutor {
 public:
  Int8MatMulExecutor(std::string name, x86::Int8MatMulConfig config, int64_t k)
      : name_(std::move(name)), config_(std::move(config)), k_(k) {}

  Status Prepare(int64_t m) {
    auto kernel = KernelFor(m);
    return kernel.ok() ? Status::Ok() : kernel.status();
  }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    if (x.dtype() != DType::kU8 || x.dims().size() != 2 || x.dims()[1] != k_)
      return InvalidArgument("op '", name_, "' (", kInt8MatMul, "): input is ",
                             DTypeName(x.dtype()), " of rank ", x.dims().size(),
                             ", expected u8 [M,", k_, "]");
    OCTET_ASSIGN_OR_RETURN(x86::Int8MatMul kernel, KernelFor(x.dims()[0]));
    outputs[0] = Tensor(DType::kF32, {kernel.m(), kernel.n()});
    Status s = kernel.Run(x.raw(), outputs[0].raw());
    return s.ok() ? s : s.WithContext("op '" + name_ + "'");
  }

 private:
  Expected<x86::Int8MatMul> KernelFor(int64_t m) const {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = kernels_.find(m);
    if (it != kernels_.end()) return it->second;
    x86::Int8MatMulConfig c = config_;
    c.m = m;
    auto kernel = x86::Int8MatMul::Create(c);
    if (!kernel.ok()) return kernel.status().WithContext("op '" + name_ + "'");
    kernels_.emplace(m, *kernel);
    return *kernel;
  }

  std::string name_;
  x86::Int8MatMulConfig config_;
  int64_t k_;
  mutable std::mutex mu_;
  mutable std::map<int64_t, x86::Int8MatMul> kernels_;
};

Expected<std::unique_ptr<OpExecutor>> CreateInt8MatMul(const ModuleDesc& desc, const ModuleOp& op,
                                                       const std::vector<Tensor>& constants) {
  if (op.inputs.size() != 4 || op.outputs.size() != 1 || op.inputs[0] < 0 || op.inputs[1] < 0 ||
      op.inputs[2] < 0)
    return InvalidArgument("op '", op.name, "' (", kInt8MatMul,
                           "): expected inputs x, w, w_scale, [bias] and one output");
  for (int i = 1; i < 4; ++i)
    if (op.inputs[i] >= 0 && desc.slots[op.inputs[i]].kind != SlotKind::kConstant)
      return InvalidArgument("op '", op.name, "' (", kInt8MatMul, "): input ", i,
                             " must be a constant");
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
  if (op.kernel == kInt8Conv) return CreateInt8Conv(desc, op, constants);
  if (op.kernel == kInt8MatMul) return CreateInt8MatMul(desc, op, constants);
  return Unimplemented("op '", op.name, "': unknown kernel id '", op.kernel,
                       "' (this runtime's x86 kernels: ", kInt8Conv, ", ", kInt8MatMul, ")");
}

}  // namespace octet::runtime
