#include "module_builder.h"

#include <cstring>

#include "octet/passes/pipelines.h"
#include "octet/reference/interpreter.h"
#include "octet/reference/kernel.h"

namespace octet::compile_internal {
namespace {

Expected<ModuleAttr> ConvertAttr(const Node& node, const std::string& name, const Attribute& a) {
  switch (a.kind()) {
    case Attribute::Kind::kInt:
      return ModuleAttr{name, a.i()};
    case Attribute::Kind::kFloat:
      return ModuleAttr{name, a.f()};
    case Attribute::Kind::kString:
      return ModuleAttr{name, a.s()};
    case Attribute::Kind::kInts:
      return ModuleAttr{name, a.ints()};
    case Attribute::Kind::kFloats:
      return ModuleAttr{name, a.floats()};
    case Attribute::Kind::kTensor:
    case Attribute::Kind::kStrings:
      break;
  }
  return Unimplemented(node.Describe(), ": attribute '", name,
                       "' holds a tensor or a list of strings, which a compiled module cannot "
                       "store (constant folding removes most such nodes)");
}

}  // namespace

Status SimplifyForCompile(Model& model, const CompileOptions& options) {
  if (!options.simplify) return Status::Ok();
  const int threads = options.num_threads;
  return RunStandardPipeline(model, [threads](const Node& n, const std::vector<const Tensor*>& in) {
    return reference::EvaluateNode(n, in, threads);
  });
}

ModuleBuilder::ModuleBuilder(const Graph& graph, const CompileOptions& options,
                             const std::string& target)
    : graph_(graph), options_(options) {
  out_.desc.target = target;
  out_.desc.requirements["target"] = target;
  out_.desc.metadata = options_.metadata;
  out_.desc.metadata["producer"] = "octet";
}

Status ModuleBuilder::Begin() {
  for (const Value* in : graph_.inputs()) {
    const TensorType& t = in->type();
    if (!t.has_shape)
      return Unimplemented("graph input '", in->name(), "' has unknown rank; declare its shape");
    for (const Dim& d : t.shape.dims()) {
      if (!d.is_symbolic()) continue;
      auto it = options_.reference_dims.find(d.symbol());
      reference_dims_[d.symbol()] =
          it != options_.reference_dims.end() ? it->second : options_.default_symbol_value;
    }
    TensorSlot s;
    s.name = in->name();
    s.dtype = t.dtype;
    s.shape = t.shape;
    s.kind = SlotKind::kInput;
    AddSlot(in, std::move(s));
  }
  for (const Value* v : graph_.outputs()) {
    if (v->is_graph_input() || v->is_constant())
      return Unimplemented("graph output '", v->name(), "' is ",
                           v->is_constant() ? "a constant" : "a graph input",
                           "; a compiled module needs every output computed by an op");
    outputs_.insert(v);
  }
  return Status::Ok();
}

Expected<CompiledModule> ModuleBuilder::Finish() {
  out_.desc.memory_plan.reference_dims = reference_dims_;
  OCTET_RETURN_IF_ERROR(PlanModuleMemory(&out_.desc));
  std::vector<int64_t> sizes;
  for (const WeightSection& w : out_.weights) sizes.push_back(static_cast<int64_t>(w.bytes.size()));
  OCTET_RETURN_IF_ERROR(ValidateModuleDesc(out_.desc, sizes));
  return std::move(out_);
}

int32_t ModuleBuilder::AddSlot(const Value* v, TensorSlot slot) {
  const int32_t index = static_cast<int32_t>(out_.desc.slots.size());
  out_.desc.slots.push_back(std::move(slot));
  if (v != nullptr) slot_of_[v] = index;
  return index;
}

// A constant becomes a slot plus a weight section holding its raw bytes.
int32_t ModuleBuilder::AddConstantTensor(const std::string& name, const Tensor& t) {
  WeightSection w;
  w.name = name;
  w.bytes.resize(static_cast<size_t>(t.nbytes()));
  if (t.nbytes() > 0) std::memcpy(w.bytes.data(), t.raw(), w.bytes.size());
  TensorSlot s;
  s.name = name;
  s.dtype = t.dtype();
  s.shape = Shape::FromStatic(t.dims());
  s.kind = SlotKind::kConstant;
  s.weight_section = static_cast<int64_t>(out_.weights.size());
  out_.weights.push_back(std::move(w));
  return AddSlot(nullptr, std::move(s));
}

Expected<int32_t> ModuleBuilder::InputSlot(const Value* v) {
  if (v == nullptr) return -1;
  auto it = slot_of_.find(v);
  if (it != slot_of_.end()) return it->second;
  if (!v->is_constant()) return Internal("value '", v->name(), "' is used before it is defined");
  const Tensor& t = v->constant();
  if (t.dtype() == DType::kString)
    return Unimplemented("constant '", v->name(), "' holds strings; modules hold numbers only");
  const int32_t index = AddConstantTensor(v->name(), t);
  slot_of_[v] = index;
  return index;
}

// Static size at the reference dims, or -1 when the size depends on data
// (unknown dims or rank, symbols that are not input dims).
int64_t ModuleBuilder::PlannedBytes(const TensorType& t) const {
  if (!t.has_shape || t.dtype == DType::kUndefined || t.dtype == DType::kString) return -1;
  int64_t numel = 1;
  for (const Dim& d : t.shape.dims()) {
    int64_t extent = d.value();
    if (d.is_symbolic()) {
      auto it = reference_dims_.find(d.symbol());
      if (it == reference_dims_.end()) return -1;
      extent = it->second;
    }
    if (extent < 0) return -1;
    if (extent != 0 && numel > (int64_t{1} << 50) / extent) return -1;  // absurd: runtime decides
    numel *= extent;
  }
  return DTypeStorageBytes(t.dtype, numel);
}

int32_t ModuleBuilder::OutputSlot(const Value* v) {
  TensorSlot s;
  s.name = v->name();
  s.dtype = v->type().dtype;
  if (v->type().has_shape) s.shape = v->type().shape;
  if (outputs_.count(v)) {
    s.kind = SlotKind::kOutput;
  } else {
    s.kind = SlotKind::kActivation;
    s.byte_size = PlannedBytes(v->type());
    s.dynamic = s.byte_size < 0;
  }
  return AddSlot(v, std::move(s));
}

int32_t ModuleBuilder::OutputSlotAs(const Value* v, DType dtype) {
  TensorType t = v->type();
  t.dtype = dtype;
  TensorSlot s;
  s.name = v->name();
  s.dtype = dtype;
  if (t.has_shape) s.shape = t.shape;
  s.kind = SlotKind::kActivation;
  s.byte_size = PlannedBytes(t);
  s.dynamic = s.byte_size < 0;
  return AddSlot(v, std::move(s));
}

int32_t ModuleBuilder::AddActivation(const std::string& name, const TensorType& type) {
  TensorSlot s;
  s.name = name;
  s.dtype = type.dtype;
  if (type.has_shape) s.shape = type.shape;
  s.kind = SlotKind::kActivation;
  s.byte_size = PlannedBytes(type);
  s.dynamic = s.byte_size < 0;
  return AddSlot(nullptr, std::move(s));
}

void ModuleBuilder::AddOp(ModuleOp op) {
  if (op.name.empty()) op.name = op.kernel + "_" + std::to_string(out_.desc.ops.size());
  out_.desc.ops.push_back(std::move(op));
}

Status ModuleBuilder::AddReferenceOp(const Node& n) {
  return AddReferenceOpOn(n, {n.inputs().begin(), n.inputs().end()},
                          {n.outputs().begin(), n.outputs().end()});
}

Status ModuleBuilder::AddReferenceOpOn(const Node& n, const std::vector<const Value*>& inputs,
                                       const std::vector<const Value*>& outputs) {
  ModuleOp op;
  op.kernel = ReferenceKernelId(n.domain(), n.op_type());
  if (reference::KernelRegistry::Get().Find(n.domain(), n.op_type()) == nullptr)
    return Unimplemented(n.Describe(), ": no reference kernel for ", op.kernel);
  op.name = n.name().empty() ? n.op_type() + "_" + std::to_string(out_.desc.ops.size()) : n.name();
  for (const auto& [name, a] : n.attributes()) {
    OCTET_ASSIGN_OR_RETURN(ModuleAttr attr, ConvertAttr(n, name, a));
    op.attrs.push_back(std::move(attr));
  }
  for (const Value* v : inputs) {
    auto slot = InputSlot(v);
    if (!slot.ok()) return slot.status().WithContext(n.Describe());
    op.inputs.push_back(*slot);
  }
  for (const Value* v : outputs) op.outputs.push_back(OutputSlot(v));
  // Reshape-like ops run as views in the runtime (runtime/src/op_executor.cc):
  // their output may take the input's place. Other reference kernels allocate.
  const std::string& t = n.op_type();
  if (n.domain().empty() && op.outputs.size() == 1 && !op.inputs.empty() && op.inputs[0] >= 0 &&
      (t == "Reshape" || t == "Flatten" || t == "Squeeze" || t == "Unsqueeze"))
    op.inplace.push_back({0, 0});
  AddOp(std::move(op));
  return Status::Ok();
}

}  // namespace octet::compile_internal
