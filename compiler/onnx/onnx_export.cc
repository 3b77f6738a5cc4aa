// octet::Model -> ModelProto, and the crash-safe file writer.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>

#include "octet/onnx.h"
#include "onnx_internal.h"

namespace octet {
namespace {

using onnx_internal::DTypeToOnnx;

Status TypeToProto(const TensorType& type, const std::string& what, onnx::TypeProto* proto) {
  auto* tt = proto->mutable_tensor_type();
  OCTET_ASSIGN_OR_RETURN(int32_t id, DTypeToOnnx(type.dtype, what));
  tt->set_elem_type(id);
  if (!type.has_shape) return Status::Ok();
  auto* shape = tt->mutable_shape();
  for (const Dim& d : type.shape.dims()) {
    auto* dim = shape->add_dim();
    if (d.is_static()) {
      dim->set_dim_value(d.value());
    } else if (d.is_symbolic()) {
      dim->set_dim_param(d.symbol());
    }
  }
  return Status::Ok();
}

Status ValueInfoToProto(const Value& v, onnx::ValueInfoProto* proto) {
  proto->set_name(v.name());
  if (v.type().dtype == DType::kUndefined && !v.type().has_shape) return Status::Ok();
  return TypeToProto(v.type(), "value '" + v.name() + "'", proto->mutable_type());
}

Status AttributeToProto(const std::string& name, const Attribute& a, const std::string& node,
                        onnx::AttributeProto* proto) {
  proto->set_name(name);
  switch (a.kind()) {
    case Attribute::Kind::kInt:
      proto->set_type(onnx::AttributeProto::INT);
      proto->set_i(a.i());
      break;
    case Attribute::Kind::kFloat:
      proto->set_type(onnx::AttributeProto::FLOAT);
      proto->set_f(a.f());
      break;
    case Attribute::Kind::kString:
      proto->set_type(onnx::AttributeProto::STRING);
      proto->set_s(a.s());
      break;
    case Attribute::Kind::kTensor:
      proto->set_type(onnx::AttributeProto::TENSOR);
      return onnx_internal::TensorToProto(a.t(), "", proto->mutable_t())
          .WithContext("node " + node + ": attribute '" + name + "'");
    case Attribute::Kind::kInts:
      proto->set_type(onnx::AttributeProto::INTS);
      for (int64_t v : a.ints()) proto->add_ints(v);
      break;
    case Attribute::Kind::kFloats:
      proto->set_type(onnx::AttributeProto::FLOATS);
      for (float v : a.floats()) proto->add_floats(v);
      break;
    case Attribute::Kind::kStrings:
      proto->set_type(onnx::AttributeProto::STRINGS);
      for (const std::string& v : a.strings()) proto->add_strings(v);
      break;
  }
  return Status::Ok();
}

Status NodeToProto(const Node& n, int64_t opset, onnx::NodeProto* proto,
                   std::set<const Value*>* used_constants) {
  proto->set_op_type(n.op_type());
  if (!n.domain().empty()) proto->set_domain(n.domain());
  if (!n.name().empty()) proto->set_name(n.name());
  for (const auto& [name, attr] : n.attributes())
    OCTET_RETURN_IF_ERROR(AttributeToProto(name, attr, n.Describe(), proto->add_attribute()));
  std::vector<int> inputs_as_attrs;
  OCTET_RETURN_IF_ERROR(onnx_internal::DecanonicalizeNode(n, opset, proto, &inputs_as_attrs));
  int last = n.num_inputs() - 1;  // trailing absent inputs are left out
  auto skipped = [&](int i) {
    return std::find(inputs_as_attrs.begin(), inputs_as_attrs.end(), i) != inputs_as_attrs.end();
  };
  while (last >= 0 && (n.input(last) == nullptr || skipped(last))) --last;
  for (int i = 0; i <= last; ++i) {
    const Value* v = n.input(i);
    if (skipped(i))
      return Internal("node ", n.Describe(), ": input ", i,
                      " became an attribute but later inputs remain");
    proto->add_input(v == nullptr ? "" : v->name());
    if (v != nullptr && v->is_constant()) used_constants->insert(v);
  }
  for (const Value* out : n.outputs()) proto->add_output(out->name());
  return Status::Ok();
}

Expected<onnx::ModelProto> BuildModelProto(const Model& model) {
  onnx::ModelProto proto;
  proto.set_ir_version(model.ir_version > 0 ? model.ir_version : 8);
  proto.set_producer_name(model.producer_name.empty() ? "octet" : model.producer_name);
  if (!model.producer_version.empty()) proto.set_producer_version(model.producer_version);
  std::map<std::string, int64_t> opsets = model.opset_imports;
  if (!opsets.count("")) opsets[""] = kMaxOnnxOpset;
  const Graph& g = *model.graph;
  for (const Node* n : g.nodes())
    if (!opsets.count(n->domain())) opsets[n->domain()] = 1;
  const int64_t opset = opsets[""];
  for (const auto& [domain, version] : opsets) {
    auto* op = proto.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  for (const auto& [key, value] : model.metadata) {
    auto* kv = proto.add_metadata_props();
    kv->set_key(key);
    kv->set_value(value);
  }

  onnx::GraphProto* gp = proto.mutable_graph();
  gp->set_name(g.name());
  for (const Value* in : g.inputs()) OCTET_RETURN_IF_ERROR(ValueInfoToProto(*in, gp->add_input()));
  std::set<const Value*> used_constants;
  for (const Node* n : g.nodes()) {
    OCTET_RETURN_IF_ERROR(NodeToProto(*n, opset, gp->add_node(), &used_constants));
    for (const Value* out : n->outputs()) {
      const TensorType& t = out->type();
      if (out->is_graph_output() || (t.dtype == DType::kUndefined && !t.has_shape)) continue;
      OCTET_RETURN_IF_ERROR(ValueInfoToProto(*out, gp->add_value_info()));
    }
  }
  for (const Value* out : g.outputs()) {
    OCTET_RETURN_IF_ERROR(ValueInfoToProto(*out, gp->add_output()));
    if (out->is_constant()) used_constants.insert(out);
  }
  // Constants only referenced as opset-specific attributes are left out.
  for (const Value* c : g.constants()) {
    if (!used_constants.count(c)) continue;
    OCTET_RETURN_IF_ERROR(
        onnx_internal::TensorToProto(c->constant(), c->name(), gp->add_initializer()));
  }
  return proto;
}

Expected<std::string> Serialize(const onnx::ModelProto& proto) {
  const size_t size = proto.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX))
    return Unimplemented("the model serializes to ", size,
                         " bytes, over protobuf's 2 GB limit; external-data export is not "
                         "implemented");
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) return Internal("protobuf serialization failed");
  return bytes;
}

}  // namespace

Expected<std::string> ExportOnnxBytes(const Model& model) {
  OCTET_ASSIGN_OR_RETURN(onnx::ModelProto proto, BuildModelProto(model));
  return Serialize(proto);
}

Status ExportOnnxFile(const Model& model, const std::string& path) {
  OCTET_ASSIGN_OR_RETURN(std::string bytes, ExportOnnxBytes(model));
  // Write next to the target and rename at the end: rename is atomic within a
  // file system, so readers see either the old file or the complete new one.
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0)
    return IoError("cannot create a temporary file next to '", path, "': ", std::strerror(errno));
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t r = write(fd, bytes.data() + written, bytes.size() - written);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      const std::string err = std::strerror(errno);
      close(fd);
      unlink(tmp.c_str());
      return IoError("cannot write '", tmp, "': ", err);
    }
    written += static_cast<size_t>(r);
  }
  // mkstemp creates the file 0600; an exported model is an ordinary file.
  const mode_t mask = umask(0);
  umask(mask);
  fchmod(fd, 0666 & ~mask);
  if (close(fd) != 0) {
    const std::string err = std::strerror(errno);
    unlink(tmp.c_str());
    return IoError("cannot write '", tmp, "': ", err);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string err = std::strerror(errno);
    unlink(tmp.c_str());
    return IoError("cannot rename '", tmp, "' to '", path, "': ", err);
  }
  return Status::Ok();
}

}  // namespace octet
