// cuda rules for layout ops. Reshape, Flatten, Squeeze, Unsqueeze and
// Identity keep the bytes and change the dims: cuda.reshape, in place when the
// planner lets the output take the input's place. Transpose, Slice, Pad
// (constant mode), Split, Concat and Expand are strided copies (cuda.transpose
// / slice / pad / split / concat / expand) whose attributes the executor
// applies to the run-time dims. Shape-like inputs (Reshape's shape, Slice's
// starts, Pad's pads, ...) must be constants after folding: a device graph
// cannot size its tensors from data.
#include "cuda_rules_util.h"

namespace octet::compile_internal {
namespace {

// Inputs 1.. of Reshape / Squeeze / Unsqueeze / Expand fix the output shape.
std::string WhyNotShapeInputsConstant(const Node& n, const std::string& what) {
  for (int i = 1; i < n.num_inputs(); ++i) {
    const Value* v = n.input(i);
    if (v != nullptr && !CudaConstInts(v))
      return what + " needs input " + std::to_string(i) + " ('" + v->name() +
             "') to be a constant integer tensor after folding; it is computed at run time "
             "(data-dependent shapes are not supported)";
  }
  return "";
}

std::string WhyNotReshape(const Node& n) {
  if (std::string why = CudaWhyNotCopyable(n.input(0), "cuda.reshape"); !why.empty()) return why;
  return WhyNotShapeInputsConstant(n, "cuda.reshape (" + n.op_type() + ")");
}

Status EmitReshape(const Node& n, ModuleBuilder& builder) {
  return CudaEmitOp(n, "cuda.reshape", {n.input(0)}, {}, {{0, 0}}, builder);
}

std::string WhyNotTranspose(const Node& n) {
  if (std::string why = CudaWhyNotCopyable(n.input(0), "cuda.transpose"); !why.empty()) return why;
  const int64_t rank = n.input(0)->type().shape.rank();
  auto perm = n.GetInts("perm", std::vector<int64_t>{});
  if (!perm.ok()) return "cuda.transpose: bad perm attribute";
  if (!perm->empty() && static_cast<int64_t>(perm->size()) != rank)
    return "cuda.transpose: perm has " + std::to_string(perm->size()) + " entries for rank " +
           std::to_string(rank);
  return "";
}

Status EmitTranspose(const Node& n, ModuleBuilder& builder) {
  const int64_t rank = n.input(0)->type().shape.rank();
  OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> perm, n.GetInts("perm", std::vector<int64_t>{}));
  if (perm.empty())
    for (int64_t d = rank - 1; d >= 0; --d) perm.push_back(d);
  for (int64_t& p : perm) p = p < 0 ? p + rank : p;
  return CudaEmitOp(n, "cuda.transpose", {n.input(0)}, {{"perm", perm}}, {}, builder);
}

}  // namespace

// Opset 10+: inputs starts, ends, axes, steps (constants); opset 1: attrs.
SliceArgs GetSliceArgs(const Node& n) {
  SliceArgs s;
  const int64_t rank = n.input(0)->type().shape.rank();
  if (n.num_inputs() >= 3) {
    const char* names[] = {"starts", "ends", "axes", "steps"};
    std::vector<int64_t>* fields[] = {&s.starts, &s.ends, &s.axes, &s.steps};
    for (int i = 1; i < 5; ++i) {
      const Value* v = n.input(i);
      if (v == nullptr) continue;
      auto ints = CudaConstInts(v);
      if (!ints) {
        s.error = std::string("cuda.slice needs ") + names[i - 1] + " ('" + v->name() +
                  "') to be a constant integer tensor after folding (data-dependent slices are "
                  "not supported)";
        return s;
      }
      *fields[i - 1] = *ints;
    }
  } else {
    s.starts = CudaOr(n.GetInts("starts", std::vector<int64_t>{}), {});
    s.ends = CudaOr(n.GetInts("ends", std::vector<int64_t>{}), {});
    s.axes = CudaOr(n.GetInts("axes", std::vector<int64_t>{}), {});
  }
  if (s.axes.empty())
    for (size_t i = 0; i < s.starts.size(); ++i) s.axes.push_back(static_cast<int64_t>(i));
  if (s.steps.empty()) s.steps.assign(s.starts.size(), 1);
  if (s.ends.size() != s.starts.size() || s.axes.size() != s.starts.size() ||
      s.steps.size() != s.starts.size()) {
    s.error = "cuda.slice: starts, ends, axes and steps differ in length";
    return s;
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (size_t i = 0; i < s.axes.size(); ++i) {
    auto a = CudaNormalizeAxis(s.axes[i], rank);
    if (!a || seen[*a]) {
      s.error = "cuda.slice: axis " + std::to_string(s.axes[i]) + " is out of range or repeated";
      return s;
    }
    seen[*a] = true;
    s.axes[i] = *a;
    if (s.steps[i] == 0) {
      s.error = "cuda.slice: a step of 0";
      return s;
    }
  }
  return s;
}

namespace {

std::string WhyNotSlice(const Node& n) {
  if (std::string why = CudaWhyNotCopyable(n.input(0), "cuda.slice"); !why.empty()) return why;
  return GetSliceArgs(n).error;
}

Status EmitSlice(const Node& n, ModuleBuilder& builder) {
  SliceArgs s = GetSliceArgs(n);
  return CudaEmitOp(n, "cuda.slice", {n.input(0)},
                    {{"starts", s.starts}, {"ends", s.ends}, {"axes", s.axes}, {"steps", s.steps}},
                    {}, builder);
}

}  // namespace

PadArgs GetPadArgs(const Node& n) {
  PadArgs p;
  const TensorType& x = n.input(0)->type();
  const int64_t rank = x.shape.rank();
  auto mode = n.GetString("mode", std::string("constant"));
  if (!mode.ok() || *mode != "constant") {
    p.error = "cuda.pad pads with a constant only, not mode '" + CudaOr(mode, std::string("?")) +
              "' (reflect / edge / wrap have no device kernel yet)";
    return p;
  }
  std::vector<int64_t> pads;
  if (n.num_inputs() >= 2 && n.input(1) != nullptr) {
    auto ints = CudaConstInts(n.input(1));
    if (!ints) {
      p.error = "cuda.pad needs pads ('" + n.input(1)->name() +
                "') to be a constant integer tensor after folding";
      return p;
    }
    pads = *ints;
    const Value* value = n.input(2);
    if (value != nullptr) {
      if (!value->is_constant() || value->constant().numel() != 1 ||
          value->constant().dtype() != x.dtype) {
        p.error = "cuda.pad needs constant_value to be a constant scalar of the data's dtype";
        return p;
      }
      if (x.dtype == DType::kF32) {
        p.value = value->constant().data<float>()[0];
      } else {
        const Tensor& t = value->constant();
        const auto* bytes = static_cast<const uint8_t*>(t.raw());
        for (int64_t i = 0; i < DTypeStorageBytes(t.dtype(), 1); ++i)
          if (bytes[i] != 0) {
            p.error = "cuda.pad pads " + std::string(DTypeName(x.dtype)) + " with 0 only";
            return p;
          }
      }
    }
    if (const Value* axes_v = n.input(3)) {  // opset 18: pads for these axes only
      auto axes = CudaConstInts(axes_v);
      if (!axes || 2 * axes->size() != pads.size()) {
        p.error = "cuda.pad needs axes to be a constant integer tensor matching pads";
        return p;
      }
      std::vector<int64_t> full(static_cast<size_t>(2 * rank), 0);
      const size_t k = axes->size();
      for (size_t i = 0; i < k; ++i) {
        auto a = CudaNormalizeAxis((*axes)[i], rank);
        if (!a) {
          p.error = "cuda.pad: axis out of range";
          return p;
        }
        full[*a] = pads[i];
        full[*a + rank] = pads[i + k];
      }
      pads = full;
    }
  } else {
    pads = CudaOr(n.GetInts("pads", std::vector<int64_t>{}), {});
    p.value = CudaOr(n.GetFloat("value", 0.f), 0.f);
    if (x.dtype != DType::kF32 && p.value != 0.f) {
      p.error = "cuda.pad pads " + std::string(DTypeName(x.dtype)) + " with 0 only";
      return p;
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * rank) {
    p.error = "cuda.pad: " + std::to_string(pads.size()) + " pads for rank " + std::to_string(rank);
    return p;
  }
  for (int64_t v : pads)
    if (v < 0) {
      p.error = "cuda.pad does not crop (negative pads); slice instead";
      return p;
    }
  p.pads = pads;
  return p;
}

namespace {

std::string WhyNotPad(const Node& n) {
  if (std::string why = CudaWhyNotCopyable(n.input(0), "cuda.pad"); !why.empty()) return why;
  return GetPadArgs(n).error;
}

Status EmitPad(const Node& n, ModuleBuilder& builder) {
  PadArgs p = GetPadArgs(n);
  return CudaEmitOp(n, "cuda.pad", {n.input(0)}, {{"pads", p.pads}, {"value", p.value}}, {},
                    builder);
}

std::string WhyNotSplit(const Node& n) {
  if (std::string why = CudaWhyNotCopyable(n.input(0), "cuda.split"); !why.empty()) return why;
  if (const Value* split = n.input(1); split != nullptr && !CudaConstInts(split))
    return "cuda.split needs split ('" + split->name() +
           "') to be a constant integer tensor after folding";
  auto axis = n.GetInt("axis", 0);
  if (!axis.ok() || !CudaNormalizeAxis(*axis, n.input(0)->type().shape.rank()))
    return "cuda.split: axis out of range";
  for (const Value* v : n.outputs())
    if (v == nullptr) return "cuda.split writes every output";
  return "";
}

Status EmitSplit(const Node& n, ModuleBuilder& builder) {
  const int64_t axis = *CudaNormalizeAxis(*n.GetInt("axis", 0), n.input(0)->type().shape.rank());
  return CudaEmitOp(n, "cuda.split", {n.input(0)}, {{"axis", axis}}, {}, builder);
}

std::string WhyNotConcat(const Node& n) {
  for (const Value* v : n.inputs())
    if (std::string why = CudaWhyNotCopyable(v, "cuda.concat"); !why.empty()) return why;
  auto axis = n.GetInt("axis", std::nullopt);
  if (!axis.ok() || !CudaNormalizeAxis(*axis, n.output(0)->type().shape.rank()))
    return "cuda.concat: axis missing or out of range";
  return "";
}

Status EmitConcat(const Node& n, ModuleBuilder& builder) {
  const int64_t axis =
      *CudaNormalizeAxis(*n.GetInt("axis", std::nullopt), n.output(0)->type().shape.rank());
  std::vector<const Value*> inputs(n.inputs().begin(), n.inputs().end());
  return CudaEmitOp(n, "cuda.concat", inputs, {{"axis", axis}}, {}, builder);
}

std::string WhyNotExpand(const Node& n) {
  if (std::string why = CudaWhyNotCopyable(n.input(0), "cuda.expand"); !why.empty()) return why;
  return WhyNotShapeInputsConstant(n, "cuda.expand");
}

Status EmitExpand(const Node& n, ModuleBuilder& builder) {
  return CudaEmitOp(n, "cuda.expand", {n.input(0)}, {}, {}, builder);
}

}  // namespace

void AddCudaLayoutRules(CudaNodeRules& rules) {
  for (const char* op : {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity"})
    rules[op] = {WhyNotReshape, EmitReshape};
  rules["Transpose"] = {WhyNotTranspose, EmitTranspose};
  rules["Slice"] = {WhyNotSlice, EmitSlice};
  rules["Pad"] = {WhyNotPad, EmitPad};
  rules["Split"] = {WhyNotSplit, EmitSplit};
  rules["Concat"] = {WhyNotConcat, EmitConcat};
  rules["Expand"] = {WhyNotExpand, EmitExpand};
}

}  // namespace octet::compile_internal
