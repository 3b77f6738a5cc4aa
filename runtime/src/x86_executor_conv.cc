// Executors of x86.int8_conv and x86.int8_pool (backends/compile/src/
// compile_x86.cc writes them). Activations are NHWC ("layout": "nhwc"; the
// slots hold N, H, W, C), or NCHW for modules written before NHWC lowering
// (no "layout" attribute), which Int8Conv2d reorders per call.
#include "octet/x86/cpu_info.h"
#include "octet/x86/int8_kernels.h"
#include "x86_executor.h"
#include "x86_executor_util.h"

namespace octet::runtime {

using namespace x86_internal;

namespace {

// The logical N, C, H, W of a 4-D tensor in `layout`.
std::vector<int64_t> LogicalDims(const std::vector<int64_t>& d, x86::Layout layout) {
  return layout == x86::Layout::kNHWC ? std::vector<int64_t>{d[0], d[3], d[1], d[2]} : d;
}

std::vector<int64_t> PhysicalDims(const std::vector<int64_t>& nchw, x86::Layout layout) {
  const auto& d = nchw;
  return layout == x86::Layout::kNHWC ? std::vector<int64_t>{d[0], d[2], d[3], d[1]} : d;
}

// Checks a 4-D int8 input against the planned C, H, W (any batch).
Status CheckInput(const ModuleOp& op, const Tensor& x, DType type,
                  const std::vector<int64_t>& want_physical, const char* what) {
  bool ok = x.dtype() == type && x.dims().size() == 4;
  for (int i = 1; ok && i < 4; ++i) ok = x.dims()[i] == want_physical[i];
  if (ok) return Status::Ok();
  return InvalidArgument(OpPrefix(op), what, " is ", DTypeName(x.dtype()), x.ShapeString(),
                         ", expected ", DTypeName(type), "[N,", want_physical[1], ",",
                         want_physical[2], ",", want_physical[3], "]");
}

class Int8ConvExecutor : public OpExecutor, public PackingExecutor {
 public:
  Int8ConvExecutor(ModuleOp op, x86::Int8Conv2dConfig config)
      : op_(std::move(op)), config_(std::move(config)) {}

  Status Prepare() { return KernelFor(config_.src_dims[0]).status(); }

  Expected<x86::PackedWeights> PlannedPackedWeights() const override {
    OCTET_ASSIGN_OR_RETURN(x86::Int8Conv2d kernel, KernelFor(config_.src_dims[0]));
    return kernel.packed_weights();
  }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    OCTET_RETURN_IF_ERROR(
        CheckInput(op_, x, DType::kU8, PhysicalDims(config_.src_dims, config_.layout), "input"));
    x86::SetKernelThreads(num_threads);
    OCTET_ASSIGN_OR_RETURN(x86::Int8Conv2d kernel, KernelFor(x.dims()[0]));
    const std::vector<int64_t> dst_dims = PhysicalDims(kernel.dst_dims(), config_.layout);
    const void* residual = nullptr;
    if (inputs.size() > 4 && inputs[4] != nullptr) {
      const Tensor& r = *inputs[4];
      if (r.dtype() != config_.residual_type || r.dims() != dst_dims)
        return InvalidArgument(OpPrefix(op_), "residual is ", DTypeName(r.dtype()), r.ShapeString(),
                               ", expected the output's dims");
      residual = r.raw();
    }
    Tensor& y = PrepareOutput(outputs[0], DType::kU8, dst_dims);
    Status s = kernel.Run(x.raw(), y.raw(), residual);
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  Expected<x86::Int8Conv2d> KernelFor(int64_t batch) const {
    return kernels_.Get({batch}, [&]() -> Expected<x86::Int8Conv2d> {
      x86::Int8Conv2dConfig c = config_;
      c.src_dims[0] = batch;
      auto kernel = x86::Int8Conv2d::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext("op '" + op_.name + "'");
      return kernel;
    });
  }

  ModuleOp op_;
  x86::Int8Conv2dConfig config_;
  KernelCache<x86::Int8Conv2d> kernels_;
};

class Int8PoolExecutor : public OpExecutor {
 public:
  Int8PoolExecutor(ModuleOp op, x86::Int8Pool2dConfig config)
      : op_(std::move(op)), config_(std::move(config)) {}

  Status Prepare() { return KernelFor(config_.src_dims[0]).status(); }

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor& x = *inputs[0];
    OCTET_RETURN_IF_ERROR(CheckInput(op_, x, config_.type,
                                     PhysicalDims(config_.src_dims, x86::Layout::kNHWC), "input"));
    x86::SetKernelThreads(num_threads);
    OCTET_ASSIGN_OR_RETURN(x86::Int8Pool2d kernel, KernelFor(x.dims()[0]));
    Tensor& y = PrepareOutput(outputs[0], config_.type,
                              PhysicalDims(kernel.dst_dims(), x86::Layout::kNHWC));
    Status s = kernel.Run(x.raw(), y.raw());
    return s.ok() ? s : s.WithContext("op '" + op_.name + "'");
  }

 private:
  Expected<x86::Int8Pool2d> KernelFor(int64_t batch) const {
    return kernels_.Get({batch}, [&]() -> Expected<x86::Int8Pool2d> {
      x86::Int8Pool2dConfig c = config_;
      c.src_dims[0] = batch;
      auto kernel = x86::Int8Pool2d::Create(c);
      if (!kernel.ok()) return kernel.status().WithContext("op '" + op_.name + "'");
      return kernel;
    });
  }

  ModuleOp op_;
  x86::Int8Pool2dConfig config_;
  KernelCache<x86::Int8Pool2d> kernels_;
};

template <size_t N>
Status CopyInts(const ModuleOp& op, const char* name, const std::vector<int64_t>& v,
                std::array<int64_t, N>* out) {
  if (v.size() != N) return InvalidArgument(OpPrefix(op), "'", name, "' must have ", N, " values");
  std::copy(v.begin(), v.end(), out->begin());
  return Status::Ok();
}

}  // namespace

Expected<std::unique_ptr<OpExecutor>> CreateInt8ConvExecutor(const ModuleDesc& desc,
                                                             const ModuleOp& op,
                                                             const std::vector<Tensor>& constants) {
  const size_t n_in = op.inputs.size();
  if ((n_in != 4 && n_in != 5) || op.outputs.size() != 1 || op.inputs[0] < 0 || op.inputs[1] < 0 ||
      op.inputs[2] < 0 || (n_in == 5 && op.inputs[4] < 0))
    return InvalidArgument(OpPrefix(op),
                           "expected inputs x, w, w_scale, [bias], [residual] and one output");
  OCTET_RETURN_IF_ERROR(CheckConstantInputs(desc, op, {1, 2, 3}));
  x86::Int8Conv2dConfig c;
  OCTET_ASSIGN_OR_RETURN(std::string layout, op.Get<std::string>("layout", std::string("nchw")));
  if (layout != "nhwc" && layout != "nchw")
    return InvalidArgument(OpPrefix(op), "layout '", layout, "' is not nhwc or nchw");
  c.layout = layout == "nhwc" ? x86::Layout::kNHWC : x86::Layout::kNCHW;
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> x_dims, PlannedDims(desc, op, op.inputs[0]));
  if (x_dims.size() != 4)
    return InvalidArgument(OpPrefix(op), "input '", desc.slots[op.inputs[0]].name, "' is not 4-D");
  c.src_dims = LogicalDims(x_dims, c.layout);
  c.src_type = DType::kU8;
  c.weights = constants[op.inputs[1]];
  const Tensor& scales = constants[op.inputs[2]];
  if (scales.dtype() != DType::kF32)
    return InvalidArgument(OpPrefix(op), "weight scales are not f32");
  c.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  if (op.inputs[3] >= 0) c.bias = constants[op.inputs[3]];
  OCTET_ASSIGN_OR_RETURN(auto strides, op.Get<std::vector<int64_t>>("strides"));
  OCTET_ASSIGN_OR_RETURN(auto dilations, op.Get<std::vector<int64_t>>("dilations"));
  OCTET_ASSIGN_OR_RETURN(auto pads, op.Get<std::vector<int64_t>>("pads"));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "strides", strides, &c.strides));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "dilations", dilations, &c.dilations));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "pads", pads, &c.pads));
  OCTET_ASSIGN_OR_RETURN(c.groups, op.Get<int64_t>("group", 1));
  if (n_in == 5) {
    // The residual is added before the Relu, as Conv -> Add -> Relu.
    c.post_ops.push_back(x86::PostOp::kSum);
    c.residual_type = desc.slots[op.inputs[4]].dtype;
    OCTET_ASSIGN_OR_RETURN(c.residual.scale, op.Get<float>("sum_scale"));
    OCTET_ASSIGN_OR_RETURN(int64_t rz, op.Get<int64_t>("sum_zero_point"));
    c.residual.zero_point = static_cast<int32_t>(rz);
  }
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
  OCTET_ASSIGN_OR_RETURN(c.prepacked, PrepackedWeightsOf(desc, op, constants));
  auto e = std::make_unique<Int8ConvExecutor>(op, std::move(c));
  OCTET_RETURN_IF_ERROR(e->Prepare());  // create and pack at load, not at the first run
  return std::unique_ptr<OpExecutor>(std::move(e));
}

Expected<std::unique_ptr<OpExecutor>> CreateInt8PoolExecutor(const ModuleDesc& desc,
                                                             const ModuleOp& op) {
  if (op.inputs.size() != 1 || op.outputs.size() != 1 || op.inputs[0] < 0)
    return InvalidArgument(OpPrefix(op), "expected one input and one output");
  x86::Int8Pool2dConfig c;
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> x_dims, PlannedDims(desc, op, op.inputs[0]));
  if (x_dims.size() != 4) return InvalidArgument(OpPrefix(op), "input is not 4-D (NHWC)");
  c.src_dims = LogicalDims(x_dims, x86::Layout::kNHWC);
  c.type = desc.slots[op.inputs[0]].dtype;
  OCTET_ASSIGN_OR_RETURN(std::string kind, op.Get<std::string>("kind"));
  if (kind == "max") {
    c.kind = x86::PoolKind::kMax;
  } else if (kind == "avg_include_pad") {
    c.kind = x86::PoolKind::kAverageIncludePad;
  } else if (kind == "avg_exclude_pad") {
    c.kind = x86::PoolKind::kAverageExcludePad;
  } else {
    return InvalidArgument(OpPrefix(op), "unknown pooling kind '", kind, "'");
  }
  OCTET_ASSIGN_OR_RETURN(auto kernel, op.Get<std::vector<int64_t>>("kernel"));
  OCTET_ASSIGN_OR_RETURN(auto strides, op.Get<std::vector<int64_t>>("strides"));
  OCTET_ASSIGN_OR_RETURN(auto dilations, op.Get<std::vector<int64_t>>("dilations"));
  OCTET_ASSIGN_OR_RETURN(auto pads, op.Get<std::vector<int64_t>>("pads"));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "kernel", kernel, &c.kernel));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "strides", strides, &c.strides));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "dilations", dilations, &c.dilations));
  OCTET_RETURN_IF_ERROR(CopyInts(op, "pads", pads, &c.pads));
  OCTET_ASSIGN_OR_RETURN(int64_t lo, op.Get<int64_t>("clamp_lo", int64_t{-128}));
  OCTET_ASSIGN_OR_RETURN(int64_t hi, op.Get<int64_t>("clamp_hi", int64_t{255}));
  c.clamp_lo = static_cast<int32_t>(lo);
  c.clamp_hi = static_cast<int32_t>(hi);
  auto e = std::make_unique<Int8PoolExecutor>(op, std::move(c));
  OCTET_RETURN_IF_ERROR(e->Prepare());
  return std::unique_ptr<OpExecutor>(std::move(e));
}

}  // namespace octet::runtime
