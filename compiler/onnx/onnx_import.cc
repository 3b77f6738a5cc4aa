// ModelProto -> octet::Model. The import runs in stages so that the most
// useful error comes first: protobuf parsing, opset range (for legacy opsets,
// the ops that changed before opset 13, all listed at once), unsupported ops
// (all listed at once), then initializers, inputs, nodes and types.
#include <onnx/defs/schema.h>

#include <map>
#include <set>
#include <sstream>

#include "octet/onnx.h"
#include "octet/op_catalog.h"
#include "onnx_internal.h"

namespace octet {
namespace {

using onnx_internal::DTypeFromOnnx;
using onnx_internal::TensorFromProto;

std::string NormalizeDomain(const std::string& domain) { return domain == "ai.onnx" ? "" : domain; }

std::string DescribeNode(const onnx::NodeProto& n, int index) {
  std::string s = n.op_type();
  s += n.name().empty() ? " #" + std::to_string(index) : " '" + n.name() + "'";
  return s;
}

Expected<TensorType> TypeFromProto(const onnx::TypeProto& tp, const std::string& what) {
  switch (tp.value_case()) {
    case onnx::TypeProto::kTensorType:
      break;
    case onnx::TypeProto::VALUE_NOT_SET:
      return TensorType();  // type unknown
    case onnx::TypeProto::kSequenceType:
      return Unimplemented(what, ": sequence values are not supported (only tensors)");
    case onnx::TypeProto::kMapType:
      return Unimplemented(what, ": map values are not supported (only tensors)");
    case onnx::TypeProto::kOptionalType:
      return Unimplemented(what, ": optional values are not supported (only tensors)");
    case onnx::TypeProto::kSparseTensorType:
      return Unimplemented(what, ": sparse tensor values are not supported");
    case onnx::TypeProto::kOpaqueType:
      return Unimplemented(what, ": opaque values are not supported (only tensors)");
  }
  const auto& tt = tp.tensor_type();
  TensorType type;
  OCTET_ASSIGN_OR_RETURN(type.dtype, DTypeFromOnnx(tt.elem_type(), what, /*allow_undefined=*/true));
  if (!tt.has_shape()) return type;
  std::vector<Dim> dims;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0)
        return InvalidArgument(what, ": dimension ", dims.size(), " is negative (", d.dim_value(),
                               ")");
      dims.emplace_back(d.dim_value());
    } else if (d.has_dim_param() && !d.dim_param().empty()) {
      dims.push_back(Dim::Symbol(d.dim_param()));
    } else {
      dims.push_back(Dim::Unknown());
    }
  }
  type.shape = Shape(std::move(dims));
  type.has_shape = true;
  return type;
}

// Older writers leave AttributeProto.type unset; the set field tells the kind.
onnx::AttributeProto::AttributeType InferAttrType(const onnx::AttributeProto& a) {
  if (a.type() != onnx::AttributeProto::UNDEFINED) return a.type();
  if (a.has_f()) return onnx::AttributeProto::FLOAT;
  if (a.has_i()) return onnx::AttributeProto::INT;
  if (a.has_s()) return onnx::AttributeProto::STRING;
  if (a.has_t()) return onnx::AttributeProto::TENSOR;
  if (a.has_g()) return onnx::AttributeProto::GRAPH;
  if (a.floats_size() > 0) return onnx::AttributeProto::FLOATS;
  if (a.ints_size() > 0) return onnx::AttributeProto::INTS;
  if (a.strings_size() > 0) return onnx::AttributeProto::STRINGS;
  return onnx::AttributeProto::UNDEFINED;
}

Expected<Attribute> AttributeFromProto(const onnx::AttributeProto& a, const std::string& node,
                                       const std::string& model_dir) {
  const std::string what = node + ": attribute '" + a.name() + "'";
  if (!a.ref_attr_name().empty())
    return InvalidArgument(what, " refers to a function attribute ('", a.ref_attr_name(),
                           "'), which is only valid inside functions");
  switch (InferAttrType(a)) {
    case onnx::AttributeProto::FLOAT:
      return Attribute(a.f());
    case onnx::AttributeProto::INT:
      return Attribute(static_cast<int64_t>(a.i()));
    case onnx::AttributeProto::STRING:
      return Attribute(a.s());
    case onnx::AttributeProto::TENSOR: {
      OCTET_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(a.t(), what, model_dir));
      return Attribute(std::move(t));
    }
    case onnx::AttributeProto::FLOATS:
      return Attribute(std::vector<float>(a.floats().begin(), a.floats().end()));
    case onnx::AttributeProto::INTS:
      return Attribute(std::vector<int64_t>(a.ints().begin(), a.ints().end()));
    case onnx::AttributeProto::STRINGS:
      return Attribute(std::vector<std::string>(a.strings().begin(), a.strings().end()));
    case onnx::AttributeProto::GRAPH:
    case onnx::AttributeProto::GRAPHS:
      return Unimplemented(what, " is a subgraph; control flow is not supported");
    case onnx::AttributeProto::SPARSE_TENSOR:
    case onnx::AttributeProto::SPARSE_TENSORS:
      return Unimplemented(what, " is a sparse tensor, which is not supported");
    case onnx::AttributeProto::TENSORS:
    case onnx::AttributeProto::TYPE_PROTO:
    case onnx::AttributeProto::TYPE_PROTOS:
      return Unimplemented(what, " has kind ", onnx::AttributeProto::AttributeType_Name(a.type()),
                           ", which is not supported");
    case onnx::AttributeProto::UNDEFINED:
      break;
  }
  return InvalidArgument(what, " has no value");
}

// The tensor a Constant node produces, from whichever value attribute it has.
Expected<Tensor> ConstantNodeValue(const onnx::NodeProto& n, const std::string& what,
                                   const std::string& model_dir) {
  if (n.attribute_size() != 1)
    return InvalidArgument(what, ": a Constant node needs exactly one value attribute, found ",
                           n.attribute_size());
  const onnx::AttributeProto& a = n.attribute(0);
  if (a.name() == "value") return TensorFromProto(a.t(), what + ": attribute 'value'", model_dir);
  if (a.name() == "value_float") return Tensor::Scalar<float>(a.f());
  if (a.name() == "value_int") return Tensor::Scalar<int64_t>(a.i());
  if (a.name() == "value_floats")
    return Tensor::FromVector<float>({a.floats().begin(), a.floats().end()}, {a.floats_size()});
  if (a.name() == "value_ints")
    return Tensor::FromVector<int64_t>({a.ints().begin(), a.ints().end()}, {a.ints_size()});
  if (a.name() == "value_string" || a.name() == "value_strings")
    return Unimplemented(what, ": attribute '", a.name(),
                         "' has data type STRING, which is not supported");
  if (a.name() == "sparse_value")
    return Unimplemented(what, ": sparse constants ('sparse_value') are not supported");
  return InvalidArgument(what, ": unknown Constant attribute '", a.name(), "'");
}

class Importer {
 public:
  Importer(onnx::ModelProto& proto, std::string name, std::string model_dir,
           const ImportOptions& options)
      : proto_(proto), name_(std::move(name)), dir_(std::move(model_dir)), options_(options) {}

  Expected<Model> Run() {
    if (!proto_.has_graph())
      return DataLoss(name_, " holds no graph: not an ONNX model, or truncated");
    OCTET_RETURN_IF_ERROR(ImportModelFields());
    if (!options_.allow_unsupported_ops) OCTET_RETURN_IF_ERROR(CheckSupportedOps());
    OCTET_RETURN_IF_ERROR(ImportInitializers());
    OCTET_RETURN_IF_ERROR(ImportInputs());
    OCTET_RETURN_IF_ERROR(ImportNodes());
    OCTET_RETURN_IF_ERROR(ImportOutputsAndTypes());
    Graph& g = *model_.graph;
    for (Node* n : g.nodes())
      OCTET_RETURN_IF_ERROR(onnx_internal::CanonicalizeNode(g, *n, opset_).WithContext(name_));
    OCTET_RETURN_IF_ERROR(g.TopologicalSort().WithContext(name_));
    return std::move(model_);
  }

 private:
  Status ImportModelFields() {
    model_.ir_version = proto_.ir_version();
    model_.producer_name = proto_.producer_name();
    model_.producer_version = proto_.producer_version();
    for (const auto& kv : proto_.metadata_props()) model_.metadata[kv.key()] = kv.value();
    for (const auto& op : proto_.opset_import()) {
      const std::string domain = NormalizeDomain(op.domain());
      auto [it, inserted] = model_.opset_imports.emplace(domain, op.version());
      if (!inserted && it->second != op.version())
        return InvalidArgument(name_, ": imports domain '", op.domain(), "' twice, at opsets ",
                               it->second, " and ", op.version());
    }
    auto it = model_.opset_imports.find("");
    if (it == model_.opset_imports.end())
      return Unimplemented(name_, " does not import the ai.onnx opset; Octet supports opsets ",
                           kMinOnnxOpset, " to ", kMaxOnnxOpset);
    opset_ = it->second;
    if (opset_ < kMinLegacyOnnxOpset || opset_ > kMaxOnnxOpset)
      return Unimplemented(name_, " uses ai.onnx opset ", opset_, "; Octet supports opsets ",
                           kMinOnnxOpset, " to ", kMaxOnnxOpset, " (and ", kMinLegacyOnnxOpset,
                           " to ", kMinOnnxOpset - 1, " when no op of the model changed before ",
                           kMinOnnxOpset, ")");
    if (opset_ < kMinOnnxOpset) OCTET_RETURN_IF_ERROR(CheckLegacyOpset());
    if (proto_.graph().sparse_initializer_size() > 0)
      return Unimplemented(name_, ": sparse initializers ('",
                           proto_.graph().sparse_initializer(0).values().name(),
                           "') are not supported");
    model_.graph->set_name(proto_.graph().name().empty() ? "main" : proto_.graph().name());
    return Status::Ok();
  }

  // A legacy opset (kMinLegacyOnnxOpset..kMinOnnxOpset-1) is accepted when
  // every ai.onnx op has the same schema at opset_ as at kMinOnnxOpset, so the
  // model means the same at either opset. Lists every op that changed.
  Status CheckLegacyOpset() const {
    // op type -> what changed, e.g. "v11 -> v13".
    std::map<std::string, std::string> changed;
    const int declared = static_cast<int>(opset_);
    const int current = static_cast<int>(kMinOnnxOpset);
    for (const onnx::NodeProto& n : proto_.graph().node()) {
      if (!NormalizeDomain(n.domain()).empty() || changed.count(n.op_type())) continue;
      const onnx::OpSchema* old_schema =
          onnx::OpSchemaRegistry::Schema(n.op_type(), declared, onnx::ONNX_DOMAIN);
      const onnx::OpSchema* new_schema =
          onnx::OpSchemaRegistry::Schema(n.op_type(), current, onnx::ONNX_DOMAIN);
      if (old_schema != nullptr && new_schema != nullptr &&
          old_schema->since_version() == new_schema->since_version())
        continue;
      if (new_schema == nullptr) {
        changed[n.op_type()] = "not an ai.onnx op known to ONNX's schema registry";
      } else if (old_schema == nullptr) {
        changed[n.op_type()] = "not in opset " + std::to_string(declared) + " -> v" +
                               std::to_string(new_schema->since_version());
      } else {
        changed[n.op_type()] = "v" + std::to_string(old_schema->since_version()) + " -> v" +
                               std::to_string(new_schema->since_version());
      }
    }
    if (changed.empty()) return Status::Ok();
    std::ostringstream os;
    os << name_ << " uses ai.onnx opset " << opset_ << "; Octet supports opsets " << kMinOnnxOpset
       << " to " << kMaxOnnxOpset << ", and " << (changed.size() == 1 ? "this op" : "these ops")
       << " changed between " << opset_ << " and " << kMinOnnxOpset << ": ";
    bool first = true;
    for (const auto& [op, what] : changed) {
      os << (first ? "" : ", ") << op << " (" << what << ")";
      first = false;
    }
    os << ". Re-export at opset " << kMinOnnxOpset << " or newer.";
    return Status(StatusCode::kUnimplemented, os.str());
  }

  Status CheckSupportedOps() const {
    struct Uses {
      int count = 0;
      std::vector<std::string> nodes;
    };
    std::map<std::string, Uses> unsupported;
    const auto& nodes = proto_.graph().node();
    for (int i = 0; i < nodes.size(); ++i) {
      const onnx::NodeProto& n = nodes[i];
      const std::string domain = NormalizeDomain(n.domain());
      if (domain.empty() && n.op_type() == "Constant") continue;  // becomes a graph constant
      if (IsSupportedOp(domain, n.op_type())) continue;
      Uses& u = unsupported[domain.empty() ? n.op_type() : domain + ":" + n.op_type()];
      ++u.count;
      if (u.nodes.size() < 4)
        u.nodes.push_back(n.name().empty() ? "#" + std::to_string(i) : n.name());
    }
    if (unsupported.empty()) return Status::Ok();
    std::ostringstream os;
    os << name_ << " uses " << unsupported.size() << " unsupported op type"
       << (unsupported.size() == 1 ? "" : "s") << ": ";
    bool first = true;
    for (const auto& [op, u] : unsupported) {
      os << (first ? "" : ", ") << op << " x" << u.count << " (node" << (u.count == 1 ? "" : "s");
      for (size_t k = 0; k < u.nodes.size() && k < 3; ++k)
        os << (k ? ", '" : " '") << u.nodes[k] << "'";
      os << (u.count > 3 ? ", ...)" : ")");
      first = false;
    }
    return Status(StatusCode::kUnimplemented, os.str());
  }

  Status CheckNewName(const std::string& name, const std::string& what) const {
    if (name.empty()) return InvalidArgument(name_, ": ", what, " has an empty name");
    if (model_.graph->FindValue(name) != nullptr)
      return InvalidArgument(name_, ": value '", name, "' is defined twice (again as ", what, ")");
    return Status::Ok();
  }

  Status ImportInitializers() {
    Graph& g = *model_.graph;
    auto* inits = proto_.mutable_graph()->mutable_initializer();
    for (onnx::TensorProto& p : *inits) {
      const std::string what = "initializer '" + p.name() + "'";
      OCTET_RETURN_IF_ERROR(CheckNewName(p.name(), what));
      OCTET_ASSIGN_OR_RETURN(Tensor t, TensorFromProto(p, name_ + ": " + what, dir_));
      // The proto's copy of the bytes is no longer needed; releasing it keeps
      // peak memory near one copy of the weights for large models.
      std::string().swap(*p.mutable_raw_data());
      g.AddConstant(p.name(), std::move(t));
    }
    return Status::Ok();
  }

  Status ImportInputs() {
    Graph& g = *model_.graph;
    std::set<std::string> initializers;
    for (const auto& p : proto_.graph().initializer()) initializers.insert(p.name());
    for (const onnx::ValueInfoProto& vi : proto_.graph().input()) {
      // An input with an initializer is an overridable default: a constant here.
      if (initializers.count(vi.name())) continue;
      const std::string what = "graph input '" + vi.name() + "'";
      OCTET_RETURN_IF_ERROR(CheckNewName(vi.name(), what));
      OCTET_ASSIGN_OR_RETURN(TensorType type, TypeFromProto(vi.type(), name_ + ": " + what));
      g.AddInput(vi.name(), std::move(type));
    }
    return Status::Ok();
  }

  Status ImportNodes() {
    Graph& g = *model_.graph;
    const auto& protos = proto_.graph().node();
    // Pass 1 defines every node's outputs, so that pass 2 can resolve inputs
    // of nodes listed before their producers.
    struct Created {
      const onnx::NodeProto* proto;
      int index;
      Node* node;
    };
    std::vector<Created> created;
    // Names given to inner "" outputs must not take a name the file defines later.
    std::set<std::string> file_names;
    for (const onnx::NodeProto& p : protos) file_names.insert(p.output().begin(), p.output().end());
    auto fresh_name = [&](const std::string& base) {
      std::string name = base;
      for (int k = 1; g.FindValue(name) != nullptr || file_names.count(name); ++k)
        name = base + "." + std::to_string(k);
      return name;
    };
    // Node names are unique in the IR: passes, quantization plans and
    // calibration statistics find nodes by name. ONNX allows empty and
    // repeated names; such a node gets its op type (or its name) with a
    // ".k" suffix. Explicit unique names are kept as they are.
    std::set<std::string> file_node_names, node_names;
    for (const onnx::NodeProto& p : protos)
      if (!p.name().empty()) file_node_names.insert(p.name());
    auto node_name = [&](const onnx::NodeProto& p) {
      if (!p.name().empty() && node_names.insert(p.name()).second) return p.name();
      const std::string base = p.name().empty() ? p.op_type() : p.name();
      std::string name = base;
      for (int k = 1; node_names.count(name) || (p.name().empty() && file_node_names.count(name));
           ++k)
        name = base + "." + std::to_string(k);
      node_names.insert(name);
      return name;
    };
    for (int i = 0; i < protos.size(); ++i) {
      const onnx::NodeProto& p = protos[i];
      const std::string desc = name_ + ": node " + DescribeNode(p, i);
      const std::string domain = NormalizeDomain(p.domain());
      if (domain.empty() && p.op_type() == "Constant") {
        if (p.output_size() != 1)
          return InvalidArgument(desc, ": a Constant node needs 1 output, found ", p.output_size());
        OCTET_RETURN_IF_ERROR(CheckNewName(p.output(0), "output of " + DescribeNode(p, i)));
        OCTET_ASSIGN_OR_RETURN(Tensor t, ConstantNodeValue(p, desc, dir_));
        g.AddConstant(p.output(0), std::move(t));
        continue;
      }
      // Trailing "" outputs are the same as absent ones; inner ones get a name.
      int num_outputs = p.output_size();
      while (num_outputs > 0 && p.output(num_outputs - 1).empty()) --num_outputs;
      std::vector<std::string> outputs;
      for (int k = 0; k < num_outputs; ++k) {
        std::string out = p.output(k);
        if (out.empty()) {
          out = fresh_name((p.name().empty() ? p.op_type() : p.name()) + "_unused_" +
                           std::to_string(k));
        } else {
          OCTET_RETURN_IF_ERROR(CheckNewName(out, "output of " + DescribeNode(p, i)));
        }
        for (const std::string& prev : outputs)
          if (prev == out) return InvalidArgument(desc, ": output '", out, "' is listed twice");
        outputs.push_back(out);
      }
      Node* n = g.AddNode(p.op_type(), {}, outputs, node_name(p), domain);
      for (int k = 0; k < n->num_outputs(); ++k)
        if (n->output(k)->name() != outputs[k])
          return InvalidArgument(desc, ": output '", outputs[k], "' is defined twice");
      for (const onnx::AttributeProto& a : p.attribute()) {
        if (n->HasAttr(a.name()))
          return InvalidArgument(desc, ": attribute '", a.name(), "' is given twice");
        OCTET_ASSIGN_OR_RETURN(Attribute attr, AttributeFromProto(a, desc, dir_));
        n->SetAttr(a.name(), std::move(attr));
      }
      created.push_back({&p, i, n});
    }
    for (const Created& c : created) {
      Node* n = c.node;
      // Trailing "" inputs are the same as absent ones; only inner ones are kept.
      int num_inputs = c.proto->input_size();
      while (num_inputs > 0 && c.proto->input(num_inputs - 1).empty()) --num_inputs;
      for (int k = 0; k < num_inputs; ++k) {
        const std::string& in = c.proto->input(k);
        if (in.empty()) {
          n->AddInput(nullptr);
          continue;
        }
        Value* v = g.FindValue(in);
        if (v == nullptr)
          return InvalidArgument(name_, ": node ", DescribeNode(*c.proto, c.index), " input '", in,
                                 "' is not defined by any node, initializer or graph input");
        n->AddInput(v);
      }
    }
    return Status::Ok();
  }

  // Graph outputs, then the types of values produced by nodes: value_info
  // first, the graph outputs' declared types last (they are the contract).
  Status ImportOutputsAndTypes() {
    Graph& g = *model_.graph;
    for (const onnx::ValueInfoProto& vi : proto_.graph().value_info()) {
      Value* v = g.FindValue(vi.name());
      if (v == nullptr || v->producer() == nullptr) continue;  // stale or not an intermediate
      OCTET_ASSIGN_OR_RETURN(TensorType type,
                             TypeFromProto(vi.type(), name_ + ": value_info '" + vi.name() + "'"));
      v->set_type(std::move(type));
    }
    for (const onnx::ValueInfoProto& vi : proto_.graph().output()) {
      const std::string what = name_ + ": graph output '" + vi.name() + "'";
      Value* v = g.FindValue(vi.name());
      if (v == nullptr)
        return InvalidArgument(what, " is not produced by any node, initializer or graph input");
      OCTET_ASSIGN_OR_RETURN(TensorType type, TypeFromProto(vi.type(), what));
      if (v->producer() != nullptr && (type.dtype != DType::kUndefined || type.has_shape))
        v->set_type(std::move(type));
      g.AddOutput(v);
    }
    return Status::Ok();
  }

  onnx::ModelProto& proto_;
  std::string name_;
  std::string dir_;
  ImportOptions options_;
  int64_t opset_ = 0;
  Model model_;
};

}  // namespace

Expected<Model> ImportOnnxBytes(std::string_view bytes,
                                const std::string& model_dir_for_external_data,
                                const ImportOptions& options, const std::string& display_name) {
  onnx::ModelProto proto;
  OCTET_RETURN_IF_ERROR(onnx_internal::ParseMessage(bytes, &proto, display_name));
  return Importer(proto, display_name, model_dir_for_external_data, options).Run();
}

Expected<Model> ImportOnnxFile(const std::string& path, const ImportOptions& options) {
  onnx::ModelProto proto;
  {
    // The file bytes are dropped once parsed: large models then hold one copy less.
    OCTET_ASSIGN_OR_RETURN(std::string bytes, onnx_internal::ReadFile(path));
    OCTET_RETURN_IF_ERROR(onnx_internal::ParseMessage(bytes, &proto, path));
  }
  return Importer(proto, path, onnx_internal::FolderOf(path), options).Run();
}

}  // namespace octet
