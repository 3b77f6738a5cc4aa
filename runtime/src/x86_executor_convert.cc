// Executor of x86.convert: quantize (f32 -> int8), dequantize (int8 -> f32)
// or a layout change (same type), plain <-> NHWC, one oneDNN reorder.
#include "octet/x86/cpu_info.h"
#include "octet/x86/tensor_convert.h"
#include "x86_executor.h"
#include "x86_executor_util.h"

namespace octet::runtime {

using namespace x86_internal;

namespace {

Expected<x86::BufferLayout> ParseLayout(const ModuleOp& op, const char* attr) {
  OCTET_ASSIGN_OR_RETURN(std::string s, op.Get<std::string>(attr));
  if (s == "plain") return x86::BufferLayout::kPlain;
  if (s == "nhwc") return x86::BufferLayout::kNhwc;
  return InvalidArgument(OpPrefix(op), "'", attr, "' is '", s, "', expected plain or nhwc");
}

std::vector<int64_t> Logical(const std::vector<int64_t>& d, x86::BufferLayout l) {
  return l == x86::BufferLayout::kNhwc ? std::vector<int64_t>{d[0], d[3], d[1], d[2]} : d;
}

std::vector<int64_t> Physical(const std::vector<int64_t>& d, x86::BufferLayout l) {
  return l == x86::BufferLayout::kNhwc ? std::vector<int64_t>{d[0], d[2], d[3], d[1]} : d;
}

class ConvertExecutor : public OpExecutor {
 public:
  ConvertExecutor(ModuleOp op, x86::TensorConvertConfig config, std::vector<int64_t> planned)
      : op_(std::move(op)), config_(std::move(config)), planned_(std::move(planned)) {}

  Status Prepare() { return KernelFor(planned_).status(); }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    // Any batch; the other dims as planned.
    bool ok = x.dtype() == config_.src_type && x.dims().size() == planned_.size();
    for (size_t i = 1; ok && i < planned_.size(); ++i) ok = x.dims()[i] == planned_[i];
    if (!ok)
      return InvalidArgument(OpPrefix(op_), "input is ", DTypeName(x.dtype()), x.ShapeString(),
                             ", expected ", DTypeName(config_.src_type), " with dims ",
                             Tensor(DType::kU8, planned_).ShapeString(), " (any batch)");
    x86::SetKernelThreads(num_threads);
    OCTET_ASSIGN_OR_RETURN(x86::TensorConvert kernel, KernelFor(x.dims()));
    const std::vector<int64_t> logical = Logical(x.dims(), config_.src_layout);
    Tensor& y = PrepareOutput(outputs[0], config_.dst_type, Physical(logical, config_.dst_layout));
    Status s = kernel.Run(x.raw(), y.raw());
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  Expected<x86::TensorConvert> KernelFor(const std::vector<int64_t>& src_physical) const {
    return kernels_.Get(src_physical, [&]() -> Expected<x86::TensorConvert> {
      x86::TensorConvertConfig c = config_;
      c.dims = Logical(src_physical, config_.src_layout);
      auto kernel = x86::TensorConvert::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext("op '" + op_.name + "'");
      return kernel;
    });
  }

  ModuleOp op_;
  x86::TensorConvertConfig config_;
  std::vector<int64_t> planned_;  // physical src dims at the plan's reference dims
  KernelCache<x86::TensorConvert> kernels_;
};

}  // namespace

Expected<std::unique_ptr<OpExecutor>> CreateConvertExecutor(const ModuleDesc& desc,
                                                            const ModuleOp& op) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1 || op.inputs[0] < 0)
    return InvalidArgument(OpPrefix(op), "expected one input and one output");
  x86::TensorConvertConfig c;
  c.src_type = desc.slots[op.inputs[0]].dtype;
  c.dst_type = desc.slots[op.outputs[0]].dtype;
  OCTET_ASSIGN_OR_RETURN(c.src_layout, ParseLayout(op, "src_layout"));
  OCTET_ASSIGN_OR_RETURN(c.dst_layout, ParseLayout(op, "dst_layout"));
  OCTET_ASSIGN_OR_RETURN(c.scale, op.Get<float>("scale", 1.f));
  OCTET_ASSIGN_OR_RETURN(int64_t zp, op.Get<int64_t>("zero_point", int64_t{0}));
  OCTET_ASSIGN_OR_RETURN(int64_t lo, op.Get<int64_t>("clamp_lo", int64_t{-128}));
  OCTET_ASSIGN_OR_RETURN(int64_t hi, op.Get<int64_t>("clamp_hi", int64_t{255}));
  c.zero_point = static_cast<int32_t>(zp);
  c.clamp_lo = static_cast<int32_t>(lo);
  c.clamp_hi = static_cast<int32_t>(hi);
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> planned, PlannedDims(desc, op, op.inputs[0]));
  if (planned.size() != 4 &&
      (c.src_layout == x86::BufferLayout::kNhwc || c.dst_layout == x86::BufferLayout::kNhwc))
    return InvalidArgument(OpPrefix(op), "the nhwc layout needs a 4-D input");
  auto e = std::make_unique<ConvertExecutor>(op, std::move(c), std::move(planned));
  OCTET_RETURN_IF_ERROR(e->Prepare());
  return std::unique_ptr<OpExecutor>(std::move(e));
}

}  // namespace octet::runtime
