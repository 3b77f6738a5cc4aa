#include <cstring>
#include <set>
#include <unordered_map>

#include "octet/compile/compile.h"
#include "octet/passes/pipelines.h"
#include "octet/reference/interpreter.h"
#include "octet/reference/kernel.h"

namespace octet {
namespace {

constexpr const char kRefPrefix[] = "ref.";
constexpr const char kOnnxDomain[] = "ai.onnx";

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

// Builds the description slot by slot while walking the nodes in order.
class ReferenceCompiler {
 public:
  ReferenceCompiler(const Graph& graph, const CompileOptions& options)
      : graph_(graph), options_(options) {}

  Expected<CompiledModule> Compile() {
    out_.desc.target = "reference";
    out_.desc.requirements["target"] = "reference";
    out_.desc.metadata = options_.metadata;
    out_.desc.metadata["producer"] = "octet";
    OCTET_RETURN_IF_ERROR(AddInputs());
    for (const Value* v : graph_.outputs()) {
      if (v->is_graph_input() || v->is_constant())
        return Unimplemented("graph output '", v->name(), "' is ",
                             v->is_constant() ? "a constant" : "a graph input",
                             "; a compiled module needs every output computed by an op");
      outputs_.insert(v);
    }
    for (const Node* n : graph_.nodes()) OCTET_RETURN_IF_ERROR(AddOp(*n));
    out_.desc.memory_plan.reference_dims = reference_dims_;
    OCTET_RETURN_IF_ERROR(PlanModuleMemory(&out_.desc));
    std::vector<int64_t> sizes;
    for (const WeightSection& w : out_.weights)
      sizes.push_back(static_cast<int64_t>(w.bytes.size()));
    OCTET_RETURN_IF_ERROR(ValidateModuleDesc(out_.desc, sizes));
    return std::move(out_);
  }

 private:
  Status AddInputs() {
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
    return Status::Ok();
  }

  int32_t AddSlot(const Value* v, TensorSlot slot) {
    const int32_t index = static_cast<int32_t>(out_.desc.slots.size());
    out_.desc.slots.push_back(std::move(slot));
    slot_of_[v] = index;
    return index;
  }

  // A constant becomes a slot plus a weight section holding its raw bytes.
  Expected<int32_t> AddConstant(const Value* v) {
    const Tensor& t = v->constant();
    if (t.dtype() == DType::kString)
      return Unimplemented("constant '", v->name(), "' holds strings; modules hold numbers only");
    WeightSection w;
    w.name = v->name();
    w.bytes.resize(static_cast<size_t>(t.nbytes()));
    if (t.nbytes() > 0) std::memcpy(w.bytes.data(), t.raw(), w.bytes.size());
    TensorSlot s;
    s.name = v->name();
    s.dtype = t.dtype();
    s.shape = Shape::FromStatic(t.dims());
    s.kind = SlotKind::kConstant;
    s.weight_section = static_cast<int64_t>(out_.weights.size());
    out_.weights.push_back(std::move(w));
    return AddSlot(v, std::move(s));
  }

  // Static size at the reference dims, or -1 when the size depends on data
  // (unknown dims or rank, symbols that are not input dims).
  int64_t PlannedBytes(const TensorType& t) const {
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

  Status AddOp(const Node& n) {
    ModuleOp op;
    op.kernel = ReferenceKernelId(n.domain(), n.op_type());
    if (reference::KernelRegistry::Get().Find(n.domain(), n.op_type()) == nullptr)
      return Unimplemented(n.Describe(), ": no reference kernel for ", op.kernel);
    op.name =
        n.name().empty() ? n.op_type() + "_" + std::to_string(out_.desc.ops.size()) : n.name();
    for (const auto& [name, a] : n.attributes()) {
      OCTET_ASSIGN_OR_RETURN(ModuleAttr attr, ConvertAttr(n, name, a));
      op.attrs.push_back(std::move(attr));
    }
    for (const Value* v : n.inputs()) {
      if (v == nullptr) {
        op.inputs.push_back(-1);
        continue;
      }
      auto it = slot_of_.find(v);
      if (it != slot_of_.end()) {
        op.inputs.push_back(it->second);
      } else if (v->is_constant()) {
        OCTET_ASSIGN_OR_RETURN(int32_t idx, AddConstant(v));
        op.inputs.push_back(idx);
      } else {
        return Internal(n.Describe(), ": input '", v->name(), "' is used before it is defined");
      }
    }
    for (const Value* v : n.outputs()) {
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
      op.outputs.push_back(AddSlot(v, std::move(s)));
    }
    // No in-place pairs: reference kernels always allocate their outputs.
    out_.desc.ops.push_back(std::move(op));
    return Status::Ok();
  }

  const Graph& graph_;
  const CompileOptions& options_;
  CompiledModule out_;
  std::unordered_map<const Value*, int32_t> slot_of_;
  std::set<const Value*> outputs_;
  std::map<std::string, int64_t> reference_dims_;
};

}  // namespace

std::string ReferenceKernelId(const std::string& domain, const std::string& op_type) {
  return kRefPrefix + (domain.empty() ? std::string(kOnnxDomain) : domain) + "::" + op_type;
}

bool ParseReferenceKernelId(const std::string& kernel, std::string* domain, std::string* op_type) {
  const size_t prefix = sizeof(kRefPrefix) - 1;
  if (kernel.compare(0, prefix, kRefPrefix) != 0) return false;
  const size_t sep = kernel.find("::", prefix);
  if (sep == std::string::npos || sep + 2 == kernel.size()) return false;
  *domain = kernel.substr(prefix, sep - prefix);
  if (*domain == kOnnxDomain) domain->clear();
  *op_type = kernel.substr(sep + 2);
  return true;
}

Expected<CompiledModule> CompileForReference(Model model, const CompileOptions& options) {
  if (options.simplify) {
    const int threads = options.num_threads;
    OCTET_RETURN_IF_ERROR(
        RunStandardPipeline(model, [threads](const Node& n, const std::vector<const Tensor*>& in) {
          return reference::EvaluateNode(n, in, threads);
        }));
  }
  return ReferenceCompiler(*model.graph, options).Compile();
}

}  // namespace octet
