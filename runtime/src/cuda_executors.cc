#include "cuda_executors.h"

#include <algorithm>
#include <string>

#include "octet/cuda/float_kernels.h"
#include "octet/cuda/int8_kernels.h"
#include "octet/cuda/weight_only_gemm.h"

namespace octet::runtime {
namespace {

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }
std::string DimsText(const std::vector<int64_t>& dims) { return CudaDimsText(dims); }
Status CheckOpShape(const ModuleDesc& desc, const ModuleOp& op, size_t num_inputs, size_t required,
                    size_t num_outputs, const std::vector<size_t>& constant) {
  return CheckCudaOpShape(desc, op, num_inputs, required, num_outputs, constant);
}

// cuda.dynamic_int8_matmul: x f32 [..., K] -> per-token codes and row scales
// (outputs 1 and 2, scratch in the arena) -> Int8DynamicGemm with the weight
// scales, bias, activation and residual sum (input 4) in its epilogue -> y
// f32 [..., N].
class DynamicInt8MatMulExecutor : public CudaOpExecutor {
 public:
  DynamicInt8MatMulExecutor(ModuleOp op, DType src, DType dst, cuda::QuantizeRowsPerToken quantize,
                            cuda::Int8DynamicGemm gemm)
      : op_(std::move(op)),
        src_(src),
        dst_(dst),
        quantize_(std::move(quantize)),
        gemm_(std::move(gemm)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0], &codes = out[1], &scales = out[2];
    const int64_t k = gemm_.k(), n = gemm_.n();
    if (x.dtype != src_ || x.dims.empty() || x.dims.back() != k)
      return InvalidArgument(Prefix(op_), "input is ", DTypeName(x.dtype), DimsText(x.dims),
                             ", expected ", DTypeName(src_), " [..., ", k, "]");
    // With a row map the quantized rows are the map's, read from x's rows.
    const int64_t m = quantize_.has_row_map() ? quantize_.row_map_size() : x.numel() / k;
    if (quantize_.has_row_map() && x.numel() / k < quantize_.min_source_rows())
      return InvalidArgument(Prefix(op_), "input is ", DimsText(x.dims), ", the row map reads ",
                             quantize_.min_source_rows(), " rows");
    if (y.dtype != dst_ || y.numel() != m * n || codes.numel() != m * k || scales.numel() != m)
      return Internal(Prefix(op_), "output places do not fit ", m, " rows: y ", DimsText(y.dims),
                      ", codes ", DimsText(codes.dims), ", row scales ", DimsText(scales.dims));
    auto* c = static_cast<int8_t*>(codes.data);
    auto* s = static_cast<float*>(scales.data);
    const DeviceTensor* residual = in.size() > 4 && in[4].data != nullptr ? &in[4] : nullptr;
    if (residual != nullptr && (residual->dtype != dst_ || residual->numel() != m * n))
      return InvalidArgument(Prefix(op_), "residual is ", DTypeName(residual->dtype),
                             DimsText(residual->dims), ", expected ", DTypeName(dst_),
                             " of the output's ", m * n, " values");
    const void* add = nullptr;
    float* sum = nullptr;
    if (quantize_.adds_rows()) {
      const DeviceTensor &a = in[8], &total = out[3];
      const int64_t add_rows = a.numel() / k;
      if (a.dims.empty() || a.dims.back() != k || add_rows < quantize_.min_add_rows() ||
          (quantize_.min_add_rows() == 0 && add_rows != m) || total.numel() != m * k)
        return InvalidArgument(Prefix(op_), "added rows are ", DimsText(a.dims), " and the sum ",
                               DimsText(total.dims), "; expected [..., ", k, "] with at least ",
                               std::max<int64_t>(quantize_.min_add_rows(), 1), " rows and ", m,
                               " rows");
      add = a.data;
      sum = static_cast<float*>(total.data);
    }
    Status st = quantize_.Run(x.data, m, c, s, stream, add, sum);
    if (st.ok())
      st = gemm_.Run(c, s, m, y.data, stream, residual != nullptr ? residual->data : nullptr);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  DType src_, dst_;  // x and y in device memory: f32, or bf16 between device ops
  cuda::QuantizeRowsPerToken quantize_;
  cuda::Int8DynamicGemm gemm_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateDynamicInt8MatMul(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  // 4 inputs: modules from before the residual input; 7: a fused LayerNorm
  // (inputs 5 and 6, attr layer_norm_epsilon); 10: a row prologue (inputs
  // 7-9; the LayerNorm optional; with added rows the sum is output 3).
  const size_t num_inputs = op.inputs.size() == 4    ? 4
                            : op.inputs.size() == 7  ? 7
                            : op.inputs.size() == 10 ? 10
                                                     : 5;
  const bool adds_rows = num_inputs == 10 && op.inputs[8] >= 0;
  OCTET_RETURN_IF_ERROR(CheckOpShape(desc, op, num_inputs, 3, adds_rows ? 4 : 3,
                                     num_inputs == 10  ? std::vector<size_t>{1, 2, 3, 5, 6, 7, 9}
                                     : num_inputs == 7 ? std::vector<size_t>{1, 2, 3, 5, 6}
                                                       : std::vector<size_t>{1, 2, 3}));
  const Tensor& w = constants[op.inputs[1]];
  const Tensor& scales = constants[op.inputs[2]];
  if (w.dtype() != DType::kI8 || w.rank() != 2 || scales.dtype() != DType::kF32 ||
      (scales.numel() != 1 && scales.numel() != w.dim(0)))
    return InvalidArgument(Prefix(op), "expected i8 weights [N, K] and f32 scales [N] or [1], got ",
                           DTypeName(w.dtype()), w.ShapeString(), " and ",
                           DTypeName(scales.dtype()), scales.ShapeString());
  OCTET_ASSIGN_OR_RETURN(std::string activation, op.Get<std::string>("activation"));
  if (activation != "none" && activation != "gelu_erf")
    return InvalidArgument(Prefix(op), "unknown activation '", activation,
                           "' (this runtime has none, gelu_erf)");
  cuda::QuantizeRowsPerTokenConfig q;
  q.k = w.dim(1);
  // x and y are f32, or bf16 where the lowering keeps a value in bf16
  // between two device ops (the slots say which).
  const DType src = desc.slots[op.inputs[0]].dtype, dst = desc.slots[op.outputs[0]].dtype;
  for (DType t : {src, dst})
    if (t != DType::kF32 && t != DType::kBF16)
      return InvalidArgument(Prefix(op), "x and y must be f32 or bf16, got ", DTypeName(src),
                             " and ", DTypeName(dst));
  q.src_type = src;
  OCTET_ASSIGN_OR_RETURN(q.qmax, op.Get<float>("qmax"));
  OCTET_ASSIGN_OR_RETURN(q.min_scale, op.Get<float>("min_scale"));
  if (num_inputs == 7 || (num_inputs == 10 && op.inputs[5] >= 0)) {
    if (op.inputs[5] < 0)
      return InvalidArgument(Prefix(op), "LayerNorm scale (input 5) is required");
    const Tensor& ln_scale = constants[op.inputs[5]];
    if (ln_scale.dtype() != DType::kF32 || ln_scale.numel() != q.k)
      return InvalidArgument(Prefix(op), "LayerNorm scale must be f32 of ", q.k, " values, got ",
                             DTypeName(ln_scale.dtype()), ln_scale.ShapeString());
    q.ln_scale.assign(ln_scale.data<float>(), ln_scale.data<float>() + q.k);
    if (op.inputs[6] >= 0) {
      const Tensor& ln_bias = constants[op.inputs[6]];
      if (ln_bias.dtype() != DType::kF32 || ln_bias.numel() != q.k)
        return InvalidArgument(Prefix(op), "LayerNorm bias must be f32 of ", q.k, " values, got ",
                               DTypeName(ln_bias.dtype()), ln_bias.ShapeString());
      q.ln_bias.assign(ln_bias.data<float>(), ln_bias.data<float>() + q.k);
    }
    OCTET_ASSIGN_OR_RETURN(q.ln_epsilon, op.Get<float>("layer_norm_epsilon"));
  }
  if (num_inputs == 10) {
    auto map = [&](int index, std::vector<int32_t>* out) -> Status {
      if (op.inputs[index] < 0) return Status::Ok();
      const Tensor& t = constants[op.inputs[index]];
      if (t.dtype() != DType::kI32 || t.rank() != 1)
        return InvalidArgument(Prefix(op), "input ", index, " (a row map) must be i32 [rows], got ",
                               DTypeName(t.dtype()), t.ShapeString());
      out->assign(t.data<int32_t>(), t.data<int32_t>() + t.numel());
      return Status::Ok();
    };
    OCTET_RETURN_IF_ERROR(map(7, &q.row_map));
    OCTET_RETURN_IF_ERROR(map(9, &q.add_map));
    if (adds_rows) {
      q.add_rows = true;
      q.add_type = desc.slots[op.inputs[8]].dtype;
      if (desc.slots[op.outputs[3]].dtype != DType::kF32)
        return InvalidArgument(Prefix(op), "the sum (output 3) must be f32, got ",
                               DTypeName(desc.slots[op.outputs[3]].dtype));
    }
  }
  cuda::Int8DynamicGemmConfig g;
  g.weights = w;
  g.weight_layout = cuda::WeightLayout::kNK;
  g.weight_scales.assign(scales.data<float>(), scales.data<float>() + scales.numel());
  if (op.inputs[3] >= 0) g.bias = constants[op.inputs[3]];
  g.activation = activation == "gelu_erf" ? cuda::Activation::kGeluErf : cuda::Activation::kNone;
  g.dst_type = dst;
  OCTET_RETURN_IF_ERROR(ReadTunedInt8Tile(op, &g));
  auto quantize = cuda::QuantizeRowsPerToken::Create(q);
  if (!quantize.ok()) return quantize.status().WithContext("op '" + op.name + "'");
  auto gemm = cuda::Int8DynamicGemm::Create(g);
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(
      new DynamicInt8MatMulExecutor(op, src, dst, std::move(*quantize), std::move(*gemm)));
}

// cuda.weight_only_matmul: x f32 [..., K] -> bf16 (output 1, scratch) ->
// WeightOnlyGemm (bias and activation in it) -> bf16 (output 2, scratch) ->
// y f32 [..., N]. The module's activations are f32; the weight-only kernels
// take bf16, as torchao's weight-only schemes run. Output 3 (u8, scratch) is
// where the GEMM dequantizes its weights for cuBLASLt when the rows call for
// it; without it (static rows of 33..4095, where a per-run dequantization
// would cost the GEMM 10% or more, and modules written before it existed)
// the GEMM keeps a resident bf16 copy.
class WeightOnlyMatMulExecutor : public CudaOpExecutor {
 public:
  WeightOnlyMatMulExecutor(ModuleOp op, cuda::WeightOnlyGemm gemm)
      : op_(std::move(op)), gemm_(std::move(gemm)) {}

  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0], &x16 = out[1], &y16 = out[2];
    cuda::WeightOnlyScratch scratch;
    if (out.size() > 3) {
      scratch.data = out[3].data;
      scratch.bytes = static_cast<size_t>(out[3].numel());
    }
    const int64_t k = gemm_.k(), n = gemm_.n();
    if (x.dtype != DType::kF32 || x.dims.empty() || x.dims.back() != k)
      return InvalidArgument(Prefix(op_), "input is ", DTypeName(x.dtype), DimsText(x.dims),
                             ", expected f32 [..., ", k, "]");
    const int64_t m = x.numel() / k;
    if (y.numel() != m * n || x16.numel() != m * k || y16.numel() != m * n)
      return Internal(Prefix(op_), "output places do not fit ", m, " rows: y ", DimsText(y.dims),
                      ", bf16 x ", DimsText(x16.dims), ", bf16 y ", DimsText(y16.dims));
    Status st = cuda::ConvertF32ToBf16(static_cast<const float*>(x.data), x16.data, m * k, stream);
    if (st.ok() && y.dtype == DType::kF32 && gemm_.WritesF32(m)) {
      // cuBLASLt writes the f32 output itself: no bf16 round trip.
      st = gemm_.RunF32(x16.data, m, static_cast<float*>(y.data), scratch, stream);
      return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
    }
    if (st.ok()) st = gemm_.Run(x16.data, m, y16.data, scratch, stream);
    if (st.ok()) st = cuda::ConvertBf16ToF32(y16.data, static_cast<float*>(y.data), m * n, stream);
    return st.ok() ? st : st.WithContext("op '" + op_.name + "'");
  }

 private:
  ModuleOp op_;
  cuda::WeightOnlyGemm gemm_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateWeightOnlyMatMul(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  const bool has_scratch = op.outputs.size() == 4;
  OCTET_RETURN_IF_ERROR(CheckOpShape(desc, op, 5, 3, has_scratch ? 4 : 3, {1, 2, 3, 4}));
  if (has_scratch && desc.slots[op.outputs[3]].dtype != DType::kU8)
    return InvalidArgument(Prefix(op), "output 3 (scratch) must be u8, got ",
                           DTypeName(desc.slots[op.outputs[3]].dtype));
  OCTET_ASSIGN_OR_RETURN(
      cuda::WeightOnlyGemmConfig c,
      ReadWeightOnlyConfig(op, [&](int32_t slot) -> Expected<Tensor> { return constants[slot]; }));
  c.bf16_weights =
      has_scratch ? cuda::Bf16Weights::kDequantizePerRun : cuda::Bf16Weights::kResidentCopy;
  auto gemm = cuda::WeightOnlyGemm::Create(c);  // checks dtypes, shapes and the group size
  if (!gemm.ok()) return gemm.status().WithContext("op '" + op.name + "'");
  return std::unique_ptr<CudaOpExecutor>(new WeightOnlyMatMulExecutor(op, std::move(*gemm)));
}

}  // namespace

Expected<std::unique_ptr<CudaOpExecutor>> CreateCudaOpExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::vector<Tensor>& constants) {
  static const CudaExecutorFactories* const factories = [] {
    auto* f = new CudaExecutorFactories;
    AddCudaGemmExecutors(*f);
    AddCudaNormExecutors(*f);
    AddCudaAttentionExecutors(*f);
    AddCudaLayoutExecutors(*f);
    AddCudaElementwiseExecutors(*f);
    AddCudaReduceExecutors(*f);
    AddCudaConvExecutors(*f);
    AddCudaInt8ConvExecutors(*f);
    AddCudaCudnnConvExecutors(*f);
    return f;
  }();
  if (auto it = factories->find(op.kernel); it != factories->end())
    return it->second(desc, op, constants);
  std::string known;
  for (const auto& [kernel, factory] : *factories) known += (known.empty() ? "" : ", ") + kernel;
  return Unimplemented("op '", op.name, "': unknown kernel id '", op.kernel,
                       "' in a cuda module (this runtime has ", known, ")");
}

void AddCudaGemmExecutors(CudaExecutorFactories& factories) {
  factories["cuda.dynamic_int8_matmul"] = CreateDynamicInt8MatMul;
  factories["cuda.weight_only_matmul"] = CreateWeightOnlyMatMul;
}

std::string CudaOpPrefix(const ModuleOp& op) {
  return "op '" + op.name + "' (" + op.kernel + "): ";
}

std::string CudaDimsText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

Expected<cuda::WeightOnlyGemmConfig> ReadWeightOnlyConfig(
    const ModuleOp& op, const std::function<Expected<Tensor>(int32_t slot)>& constant) {
  if (op.inputs.size() != 5)
    return InvalidArgument(CudaOpPrefix(op), "expected 5 inputs, got ", op.inputs.size());
  OCTET_ASSIGN_OR_RETURN(std::string activation, op.Get<std::string>("activation"));
  if (activation != "none" && activation != "gelu_erf")
    return InvalidArgument(CudaOpPrefix(op), "unknown activation '", activation,
                           "' (this runtime has none, gelu_erf)");
  cuda::WeightOnlyGemmConfig c;
  OCTET_ASSIGN_OR_RETURN(c.codes, constant(op.inputs[1]));
  c.weight_layout = cuda::WeightLayout::kKN;
  OCTET_ASSIGN_OR_RETURN(c.scales, constant(op.inputs[2]));
  if (op.inputs[3] >= 0) {
    OCTET_ASSIGN_OR_RETURN(c.zero_points, constant(op.inputs[3]));
  }
  if (op.inputs[4] >= 0) {
    OCTET_ASSIGN_OR_RETURN(c.bias, constant(op.inputs[4]));
  }
  OCTET_ASSIGN_OR_RETURN(c.group_size, op.Get<int64_t>("group_size"));
  c.activation = activation == "gelu_erf" ? cuda::Activation::kGeluErf : cuda::Activation::kNone;
  if (op.FindAttr("tuned_int4_shape") != nullptr) {  // `octet compile --tune`
    OCTET_ASSIGN_OR_RETURN(int64_t shape, op.Get<int64_t>("tuned_int4_shape"));
    OCTET_ASSIGN_OR_RETURN(c.tuned_rows, op.Get<int64_t>("tuned_rows"));
    if (shape < 0 || shape >= cuda::WeightOnlyInt4KernelShapes(c.group_size))
      return InvalidArgument(CudaOpPrefix(op), "tuned_int4_shape ", shape, " is not one of this ",
                             "runtime's ", cuda::WeightOnlyInt4KernelShapes(c.group_size),
                             " u4 kernel shapes for group ", c.group_size,
                             " (compile the module again with --tune)");
    c.tuned_int4_shape = static_cast<int>(shape);
  }
  return c;
}

Status ReadTunedInt8Tile(const ModuleOp& op, cuda::Int8DynamicGemmConfig* config) {
  if (op.FindAttr("tuned_tile") == nullptr) return Status::Ok();
  OCTET_ASSIGN_OR_RETURN(std::string name, op.Get<std::string>("tuned_tile"));
  auto tile = cuda::Int8GemmTileFromName(name);
  if (!tile.ok()) return tile.status().WithContext(CudaOpPrefix(op));
  config->tuned_tile = *tile;
  OCTET_ASSIGN_OR_RETURN(config->tuned_rows, op.Get<int64_t>("tuned_rows"));
  return Status::Ok();
}

Status CheckCudaOpShape(const ModuleDesc& desc, const ModuleOp& op, size_t num_inputs,
                        size_t required, size_t num_outputs, const std::vector<size_t>& constant) {
  if (op.inputs.size() != num_inputs || op.outputs.size() != num_outputs)
    return InvalidArgument(CudaOpPrefix(op), "expected ", num_inputs, " inputs and ", num_outputs,
                           " outputs, got ", op.inputs.size(), " and ", op.outputs.size());
  for (size_t i = 0; i < required; ++i)
    if (op.inputs[i] < 0) return InvalidArgument(CudaOpPrefix(op), "input ", i, " is required");
  for (size_t i : constant)
    if (op.inputs[i] >= 0 && desc.slots[op.inputs[i]].kind != SlotKind::kConstant)
      return InvalidArgument(CudaOpPrefix(op), "input ", i, " must be a constant");
  return Status::Ok();
}

}  // namespace octet::runtime
