// Executors of the cuda target's layout ops: cuda.reshape (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity: the same bytes under new dims) and the
// strided copies cuda.transpose, cuda.slice, cuda.pad, cuda.split,
// cuda.concat and cuda.expand. Every index map is derived from the run-time
// dims of the op's tensors (a symbolic batch changes them), and those dims
// are checked against what the op's attributes make of the input's.
#include <algorithm>
#include <cstring>
#include <string>

#include "cuda_executors.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/strided_copy.h"

namespace octet::runtime {
namespace {

using cuda::DenseStrides;
using cuda::StridedCopy;

std::string Prefix(const ModuleOp& op) { return CudaOpPrefix(op); }
std::string DimsText(const std::vector<int64_t>& dims) { return CudaDimsText(dims); }

Status WithOp(Status s, const ModuleOp& op) {
  return s.ok() ? s : s.WithContext("op '" + op.name + "'");
}

// The element size of a layout op's tensors (1, 2, 4 or 8 bytes).
Expected<int64_t> ElemBytes(const ModuleOp& op, DType dtype) {
  const int64_t bytes = DTypeStorageBytes(dtype, 1);
  if (bytes != 1 && bytes != 2 && bytes != 4 && bytes != 8)
    return InvalidArgument(Prefix(op), "copies elements of 1, 2, 4 or 8 bytes, not ",
                           DTypeName(dtype));
  return bytes;
}

Status SameDType(const ModuleOp& op, const DeviceTensor& x, const DeviceTensor& y) {
  if (x.dtype != y.dtype || x.data == nullptr || y.data == nullptr)
    return InvalidArgument(Prefix(op), "input ", DTypeName(x.dtype), DimsText(x.dims),
                           " and output ", DTypeName(y.dtype), DimsText(y.dims),
                           " must be device tensors of one dtype");
  return Status::Ok();
}

// cuda.reshape: y has x's bytes under other dims. Nothing to do when the
// planner gave y x's place (inplace {0, 0}), else one device-to-device copy.
class ReshapeExecutor : public CudaOpExecutor {
 public:
  explicit ReshapeExecutor(ModuleOp op) : op_(std::move(op)) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
    if (x.numel() != y.numel())
      return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims), " and output ",
                             DimsText(y.dims), " differ in element count");
    if (x.data == y.data || y.numel() == 0) return Status::Ok();
    OCTET_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(y.data, x.data, static_cast<size_t>(DTypeStorageBytes(x.dtype, x.numel())),
                        cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }

 private:
  ModuleOp op_;
};

// cuda.transpose (perm): y[i] = x[i permuted].
class TransposeExecutor : public CudaOpExecutor {
 public:
  TransposeExecutor(ModuleOp op, std::vector<int64_t> perm)
      : op_(std::move(op)), perm_(std::move(perm)) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
    OCTET_ASSIGN_OR_RETURN(int64_t elem, ElemBytes(op_, x.dtype));
    std::vector<int64_t> want;
    if (x.dims.size() == perm_.size())
      for (int64_t p : perm_) want.push_back(x.dims[p]);
    if (x.dims.size() != perm_.size() || want != y.dims)
      return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims), " permuted by ",
                             DimsText(perm_), " is not the output's ", DimsText(y.dims));
    const std::vector<int64_t> strides = DenseStrides(x.dims);
    StridedCopy c;
    c.elem_bytes = elem;
    c.dims = y.dims;
    for (int64_t p : perm_) c.src_strides.push_back(strides[p]);
    return WithOp(cuda::CopyStrided(c, x.data, y.data, stream), op_);
  }

 private:
  ModuleOp op_;
  std::vector<int64_t> perm_;
};

// cuda.slice (starts, ends, axes, steps; ONNX clamping at the run-time dims).
class SliceExecutor : public CudaOpExecutor {
 public:
  SliceExecutor(ModuleOp op, std::vector<int64_t> starts, std::vector<int64_t> ends,
                std::vector<int64_t> axes, std::vector<int64_t> steps)
      : op_(std::move(op)),
        starts_(std::move(starts)),
        ends_(std::move(ends)),
        axes_(std::move(axes)),
        steps_(std::move(steps)) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
    OCTET_ASSIGN_OR_RETURN(int64_t elem, ElemBytes(op_, x.dtype));
    const int64_t rank = static_cast<int64_t>(x.dims.size());
    const std::vector<int64_t> strides = DenseStrides(x.dims);
    StridedCopy c;
    c.elem_bytes = elem;
    c.dims = x.dims;
    c.src_strides = strides;
    for (size_t i = 0; i < axes_.size(); ++i) {
      const int64_t a = axes_[i];
      if (a >= rank)
        return InvalidArgument(Prefix(op_), "axis ", a, " is outside input ", DimsText(x.dims));
      const int64_t dim = x.dims[a], step = steps_[i];
      int64_t start = starts_[i] < 0 ? starts_[i] + dim : starts_[i];
      int64_t end = ends_[i] < 0 ? ends_[i] + dim : ends_[i];
      int64_t size = 0;
      if (step > 0) {
        start = std::clamp<int64_t>(start, 0, dim);
        end = std::clamp<int64_t>(end, 0, dim);
        size = end > start ? (end - start + step - 1) / step : 0;
      } else {
        start = std::clamp<int64_t>(start, 0, dim - 1);
        end = std::clamp<int64_t>(end, -1, dim - 1);
        size = start > end ? (start - end - step - 1) / -step : 0;
      }
      c.dims[a] = size;
      c.src_strides[a] = strides[a] * step;
      if (size > 0) c.src_offset += start * strides[a];
    }
    if (c.dims != y.dims)
      return InvalidArgument(Prefix(op_), "slicing input ", DimsText(x.dims), " gives ",
                             DimsText(c.dims), ", not the output's ", DimsText(y.dims));
    return WithOp(cuda::CopyStrided(c, x.data, y.data, stream), op_);
  }

 private:
  ModuleOp op_;
  std::vector<int64_t> starts_, ends_, axes_, steps_;
};

// cuda.pad (pads: rank begins then rank ends, all >= 0; value_bits: the pad
// value's bytes in the tensor's dtype).
class PadExecutor : public CudaOpExecutor {
 public:
  PadExecutor(ModuleOp op, std::vector<int64_t> pads, uint64_t value_bits)
      : op_(std::move(op)), pads_(std::move(pads)), value_bits_(value_bits) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
    OCTET_ASSIGN_OR_RETURN(int64_t elem, ElemBytes(op_, x.dtype));
    const size_t rank = x.dims.size();
    std::vector<int64_t> want(rank);
    for (size_t d = 0; d < rank && pads_.size() == 2 * rank; ++d)
      want[d] = x.dims[d] + pads_[d] + pads_[d + rank];
    if (pads_.size() != 2 * rank || want != y.dims)
      return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims), " padded by ",
                             DimsText(pads_), " is not the output's ", DimsText(y.dims));
    const std::vector<int64_t> strides = DenseStrides(x.dims);
    StridedCopy c;
    c.elem_bytes = elem;
    c.dims = y.dims;
    c.src_strides = strides;
    c.pad_bits = value_bits_;
    for (size_t d = 0; d < rank; ++d) {
      c.valid_lo.push_back(pads_[d]);
      c.valid_hi.push_back(pads_[d] + x.dims[d]);
      c.src_offset -= pads_[d] * strides[d];
    }
    return WithOp(cuda::CopyStrided(c, x.data, y.data, stream), op_);
  }

 private:
  ModuleOp op_;
  std::vector<int64_t> pads_;
  uint64_t value_bits_;
};

// cuda.split (axis): output j is x's block along `axis` after those of
// outputs 0..j-1, its size the output's own run-time dim.
class SplitExecutor : public CudaOpExecutor {
 public:
  SplitExecutor(ModuleOp op, int64_t axis) : op_(std::move(op)), axis_(axis) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor& x = in[0];
    const int64_t rank = static_cast<int64_t>(x.dims.size());
    int64_t total = 0;
    for (const DeviceTensor& y : out) {
      OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
      bool ok = axis_ < rank && y.dims.size() == x.dims.size();
      for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis_ || y.dims[d] == x.dims[d];
      if (!ok)
        return InvalidArgument(Prefix(op_), "output ", DimsText(y.dims),
                               " is not a block of input ", DimsText(x.dims), " along axis ",
                               axis_);
      total += y.dims[axis_];
    }
    if (total != x.dims[axis_])
      return InvalidArgument(Prefix(op_), "outputs along axis ", axis_, " add up to ", total,
                             ", not the input's ", x.dims[axis_]);
    OCTET_ASSIGN_OR_RETURN(int64_t elem, ElemBytes(op_, x.dtype));
    const std::vector<int64_t> strides = DenseStrides(x.dims);
    int64_t begin = 0;
    for (const DeviceTensor& y : out) {
      StridedCopy c;
      c.elem_bytes = elem;
      c.dims = y.dims;
      c.src_strides = strides;
      c.src_offset = begin * strides[axis_];
      OCTET_RETURN_IF_ERROR(WithOp(cuda::CopyStrided(c, x.data, y.data, stream), op_));
      begin += y.dims[axis_];
    }
    return Status::Ok();
  }

 private:
  ModuleOp op_;
  int64_t axis_;
};

// cuda.concat (axis): y is the inputs one after another along `axis`.
class ConcatExecutor : public CudaOpExecutor {
 public:
  ConcatExecutor(ModuleOp op, int64_t axis) : op_(std::move(op)), axis_(axis) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor& y = out[0];
    const int64_t rank = static_cast<int64_t>(y.dims.size());
    int64_t total = 0;
    for (const DeviceTensor& x : in) {
      OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
      bool ok = axis_ < rank && y.dims.size() == x.dims.size();
      for (int64_t d = 0; ok && d < rank; ++d) ok = d == axis_ || y.dims[d] == x.dims[d];
      if (!ok)
        return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims),
                               " is not a block of output ", DimsText(y.dims), " along axis ",
                               axis_);
      total += x.dims[axis_];
    }
    if (total != y.dims[axis_])
      return InvalidArgument(Prefix(op_), "inputs along axis ", axis_, " add up to ", total,
                             ", not the output's ", y.dims[axis_]);
    OCTET_ASSIGN_OR_RETURN(int64_t elem, ElemBytes(op_, y.dtype));
    const std::vector<int64_t> strides = DenseStrides(y.dims);
    int64_t begin = 0;
    for (const DeviceTensor& x : in) {
      StridedCopy c;
      c.elem_bytes = elem;
      c.dims = x.dims;
      c.src_strides = DenseStrides(x.dims);
      c.dst_strides = strides;
      c.dst_offset = begin * strides[axis_];
      OCTET_RETURN_IF_ERROR(WithOp(cuda::CopyStrided(c, x.data, y.data, stream), op_));
      begin += x.dims[axis_];
    }
    return Status::Ok();
  }

 private:
  ModuleOp op_;
  int64_t axis_;
};

// cuda.expand: y is x broadcast (NumPy rules) to y's dims.
class ExpandExecutor : public CudaOpExecutor {
 public:
  explicit ExpandExecutor(ModuleOp op) : op_(std::move(op)) {}
  Status Run(const std::vector<DeviceTensor>& in, const std::vector<DeviceTensor>& out,
             cudaStream_t stream) const override {
    const DeviceTensor &x = in[0], &y = out[0];
    OCTET_RETURN_IF_ERROR(SameDType(op_, x, y));
    OCTET_ASSIGN_OR_RETURN(int64_t elem, ElemBytes(op_, x.dtype));
    const size_t rank = y.dims.size();
    bool ok = x.dims.size() <= rank;
    StridedCopy c;
    c.elem_bytes = elem;
    c.dims = y.dims;
    c.src_strides.assign(rank, 0);
    const std::vector<int64_t> strides = DenseStrides(x.dims);
    for (size_t i = 0; ok && i < x.dims.size(); ++i) {
      const size_t d = rank - x.dims.size() + i;
      ok = x.dims[i] == y.dims[d] || x.dims[i] == 1;
      c.src_strides[d] = x.dims[i] == 1 ? 0 : strides[i];
    }
    if (!ok)
      return InvalidArgument(Prefix(op_), "input ", DimsText(x.dims),
                             " does not broadcast to the output's ", DimsText(y.dims));
    return WithOp(cuda::CopyStrided(c, x.data, y.data, stream), op_);
  }

 private:
  ModuleOp op_;
};

Expected<std::unique_ptr<CudaOpExecutor>> CreateReshape(const ModuleDesc& desc, const ModuleOp& op,
                                                        const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  return std::unique_ptr<CudaOpExecutor>(new ReshapeExecutor(op));
}

Status NoConstantInputs(const ModuleDesc& desc, const ModuleOp& op) {
  for (size_t i = 0; i < op.inputs.size(); ++i)
    if (op.inputs[i] < 0 || desc.slots[op.inputs[i]].kind == SlotKind::kConstant)
      return InvalidArgument(Prefix(op), "input ", i, " must be a device tensor (an activation)");
  return Status::Ok();
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateTranspose(const ModuleDesc& desc,
                                                          const ModuleOp& op,
                                                          const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  OCTET_RETURN_IF_ERROR(NoConstantInputs(desc, op));
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> perm, op.Get<std::vector<int64_t>>("perm"));
  std::vector<int64_t> sorted = perm;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i)
    if (sorted[i] != static_cast<int64_t>(i))
      return InvalidArgument(Prefix(op), "perm ", DimsText(perm), " is not a permutation");
  return std::unique_ptr<CudaOpExecutor>(new TransposeExecutor(op, std::move(perm)));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateSlice(const ModuleDesc& desc, const ModuleOp& op,
                                                      const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  OCTET_RETURN_IF_ERROR(NoConstantInputs(desc, op));
  OCTET_ASSIGN_OR_RETURN(auto starts, op.Get<std::vector<int64_t>>("starts"));
  OCTET_ASSIGN_OR_RETURN(auto ends, op.Get<std::vector<int64_t>>("ends"));
  OCTET_ASSIGN_OR_RETURN(auto axes, op.Get<std::vector<int64_t>>("axes"));
  OCTET_ASSIGN_OR_RETURN(auto steps, op.Get<std::vector<int64_t>>("steps"));
  const size_t n = axes.size();
  bool ok = starts.size() == n && ends.size() == n && steps.size() == n;
  for (size_t i = 0; ok && i < n; ++i) ok = axes[i] >= 0 && steps[i] != 0;
  if (!ok)
    return InvalidArgument(Prefix(op), "starts, ends, axes (non-negative) and steps (non-zero) ",
                           "must have one entry per sliced axis");
  return std::unique_ptr<CudaOpExecutor>(new SliceExecutor(op, starts, ends, axes, steps));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreatePad(const ModuleDesc& desc, const ModuleOp& op,
                                                    const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  OCTET_RETURN_IF_ERROR(NoConstantInputs(desc, op));
  OCTET_ASSIGN_OR_RETURN(auto pads, op.Get<std::vector<int64_t>>("pads"));
  for (int64_t p : pads)
    if (p < 0)
      return InvalidArgument(Prefix(op), "pads must be non-negative, got ", DimsText(pads));
  OCTET_ASSIGN_OR_RETURN(float value, op.Get<float>("value", 0.f));
  const DType dtype = desc.slots[op.inputs[0]].dtype;
  uint64_t bits = 0;
  if (dtype == DType::kF32) {
    uint32_t b;
    std::memcpy(&b, &value, sizeof(b));
    bits = b;
  } else if (value != 0.f) {
    return InvalidArgument(Prefix(op), "pads ", DTypeName(dtype), " with 0 only, got ", value);
  }
  return std::unique_ptr<CudaOpExecutor>(new PadExecutor(op, std::move(pads), bits));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateSplit(const ModuleDesc& desc, const ModuleOp& op,
                                                      const std::vector<Tensor>&) {
  if (op.inputs.size() != 1 || op.outputs.empty())
    return InvalidArgument(Prefix(op), "expected 1 input and at least 1 output");
  OCTET_RETURN_IF_ERROR(NoConstantInputs(desc, op));
  OCTET_ASSIGN_OR_RETURN(int64_t axis, op.Get<int64_t>("axis"));
  if (axis < 0) return InvalidArgument(Prefix(op), "axis must be non-negative, got ", axis);
  return std::unique_ptr<CudaOpExecutor>(new SplitExecutor(op, axis));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateConcat(const ModuleDesc& desc, const ModuleOp& op,
                                                       const std::vector<Tensor>&) {
  if (op.inputs.empty() || op.outputs.size() != 1)
    return InvalidArgument(Prefix(op), "expected at least 1 input and 1 output");
  OCTET_RETURN_IF_ERROR(NoConstantInputs(desc, op));
  OCTET_ASSIGN_OR_RETURN(int64_t axis, op.Get<int64_t>("axis"));
  if (axis < 0) return InvalidArgument(Prefix(op), "axis must be non-negative, got ", axis);
  return std::unique_ptr<CudaOpExecutor>(new ConcatExecutor(op, axis));
}

Expected<std::unique_ptr<CudaOpExecutor>> CreateExpand(const ModuleDesc& desc, const ModuleOp& op,
                                                       const std::vector<Tensor>&) {
  OCTET_RETURN_IF_ERROR(CheckCudaOpShape(desc, op, 1, 1, 1, {}));
  OCTET_RETURN_IF_ERROR(NoConstantInputs(desc, op));
  return std::unique_ptr<CudaOpExecutor>(new ExpandExecutor(op));
}

}  // namespace

void AddCudaLayoutExecutors(CudaExecutorFactories& factories) {
  factories["cuda.reshape"] = CreateReshape;
  factories["cuda.transpose"] = CreateTranspose;
  factories["cuda.slice"] = CreateSlice;
  factories["cuda.pad"] = CreatePad;
  factories["cuda.split"] = CreateSplit;
  factories["cuda.concat"] = CreateConcat;
  factories["cuda.expand"] = CreateExpand;
}

}  // namespace octet::runtime
