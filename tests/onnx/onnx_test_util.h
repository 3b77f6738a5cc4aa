// Builders for ONNX ModelProtos in tests, and a self-deleting temp folder.
#pragma once

#include <onnx/onnx_pb.h>
#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "octet/onnx.h"

namespace octet::onnx_test {

constexpr int32_t kFloat = onnx::TensorProto::FLOAT;
constexpr int32_t kInt64 = onnx::TensorProto::INT64;

inline onnx::ModelProto MakeModel(int64_t opset = 17) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.set_producer_name("octet-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

// A dim of -1 is left unset (unknown); use SetSymbolicDim for named dims.
inline void SetTensorType(onnx::ValueInfoProto* vi, int32_t elem,
                          const std::vector<int64_t>& dims) {
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem);
  auto* shape = tt->mutable_shape();
  for (int64_t d : dims) {
    auto* dim = shape->add_dim();
    if (d >= 0) dim->set_dim_value(d);
  }
}

inline onnx::ValueInfoProto* AddInput(onnx::ModelProto& m, const std::string& name,
                                      int32_t elem = kFloat, std::vector<int64_t> dims = {2}) {
  auto* vi = m.mutable_graph()->add_input();
  vi->set_name(name);
  SetTensorType(vi, elem, dims);
  return vi;
}

inline onnx::ValueInfoProto* AddOutput(onnx::ModelProto& m, const std::string& name,
                                       int32_t elem = kFloat, std::vector<int64_t> dims = {2}) {
  auto* vi = m.mutable_graph()->add_output();
  vi->set_name(name);
  SetTensorType(vi, elem, dims);
  return vi;
}

inline onnx::NodeProto* AddNode(onnx::ModelProto& m, const std::string& op,
                                const std::vector<std::string>& inputs,
                                const std::vector<std::string>& outputs,
                                const std::string& name = "") {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

inline onnx::AttributeProto* AddAttr(onnx::NodeProto* n, const std::string& name,
                                     onnx::AttributeProto::AttributeType type) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(type);
  return a;
}
inline void AddIntAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  AddAttr(n, name, onnx::AttributeProto::INT)->set_i(v);
}
inline void AddIntsAttr(onnx::NodeProto* n, const std::string& name,
                        const std::vector<int64_t>& v) {
  auto* a = AddAttr(n, name, onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}

template <typename T>
std::string RawBytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

inline onnx::TensorProto MakeTensor(const std::string& name, int32_t elem,
                                    const std::vector<int64_t>& dims) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(elem);
  for (int64_t d : dims) t.add_dims(d);
  return t;
}

inline onnx::TensorProto* AddInitializer(onnx::ModelProto& m, const onnx::TensorProto& t) {
  auto* p = m.mutable_graph()->add_initializer();
  *p = t;
  return p;
}

inline onnx::TensorProto* AddFloatInitializer(onnx::ModelProto& m, const std::string& name,
                                              const std::vector<int64_t>& dims,
                                              const std::vector<float>& values) {
  onnx::TensorProto t = MakeTensor(name, kFloat, dims);
  t.set_raw_data(RawBytes(values));
  return AddInitializer(m, t);
}

inline std::string Serialize(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

inline Expected<Model> Import(const onnx::ModelProto& m, const std::string& dir = "",
                              const ImportOptions& options = {}) {
  return ImportOnnxBytes(Serialize(m), dir, options, "model.onnx");
}

// A fresh folder under the build tree, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = std::string(OCTET_BINARY_DIR) + "/onnx_test_XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  void Write(const std::string& name, const std::string& bytes) const {
    std::ofstream out(File(name), std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }

 private:
  std::string path_;
};

}  // namespace octet::onnx_test
