// The graph IR: a Graph owns Nodes and Values. Values are SSA: each has at most
// one producer (a node output) or is a graph input or a constant (an
// initializer), and keeps a use-list so rewrites can replace all uses in O(uses).
// Nodes are kept in a topological order; rewrites that add nodes insert them at
// a position and TopologicalSort() restores the order after bulk edits.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "octet/dtype.h"
#include "octet/quant.h"
#include "octet/shape.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

class Node;
class Graph;

// The static type of a value: element type, shape and (if quantized) the
// parameters that map its integers back to reals.
struct TensorType {
  DType dtype = DType::kUndefined;
  Shape shape;
  std::optional<QuantParams> quant;
  bool has_shape = false;  // false when even the rank is unknown

  TensorType() = default;
  TensorType(DType d, Shape s) : dtype(d), shape(std::move(s)), has_shape(true) {}
  bool operator==(const TensorType& o) const {
    return dtype == o.dtype && has_shape == o.has_shape && (!has_shape || shape == o.shape) &&
           quant == o.quant;
  }
  bool operator!=(const TensorType& o) const { return !(*this == o); }
  std::string ToString() const;  // "f32[N,3]", "f32[?]" (unknown rank), "u8[4]{...}"
};

class Attribute {
 public:
  enum class Kind { kInt, kFloat, kString, kTensor, kInts, kFloats, kStrings };
  using Storage = std::variant<int64_t, float, std::string, Tensor, std::vector<int64_t>,
                               std::vector<float>, std::vector<std::string>>;

  Attribute() = default;
  Attribute(int64_t v) : data_(v) {}                              // NOLINT
  Attribute(float v) : data_(v) {}                                // NOLINT
  Attribute(std::string v) : data_(std::move(v)) {}               // NOLINT
  Attribute(const char* v) : data_(std::string(v)) {}             // NOLINT
  Attribute(Tensor v) : data_(std::move(v)) {}                    // NOLINT
  Attribute(std::vector<int64_t> v) : data_(std::move(v)) {}      // NOLINT
  Attribute(std::vector<float> v) : data_(std::move(v)) {}        // NOLINT
  Attribute(std::vector<std::string> v) : data_(std::move(v)) {}  // NOLINT

  Kind kind() const { return static_cast<Kind>(data_.index()); }
  int64_t i() const { return std::get<int64_t>(data_); }
  float f() const { return std::get<float>(data_); }
  const std::string& s() const { return std::get<std::string>(data_); }
  const Tensor& t() const { return std::get<Tensor>(data_); }
  const std::vector<int64_t>& ints() const { return std::get<std::vector<int64_t>>(data_); }
  const std::vector<float>& floats() const { return std::get<std::vector<float>>(data_); }
  const std::vector<std::string>& strings() const {
    return std::get<std::vector<std::string>>(data_);
  }
  bool operator==(const Attribute& o) const;
  bool operator!=(const Attribute& o) const { return !(*this == o); }

 private:
  Storage data_;
};

const char* AttributeKindName(Attribute::Kind kind);

struct Use {
  Node* node;
  int input_index;
  bool operator==(const Use& o) const { return node == o.node && input_index == o.input_index; }
};

class Value {
 public:
  const std::string& name() const { return name_; }  // rename with Graph::RenameValue
  const TensorType& type() const { return type_; }
  TensorType& mutable_type() { return type_; }
  void set_type(TensorType t) { type_ = std::move(t); }

  Node* producer() const { return producer_; }
  int producer_output_index() const { return producer_index_; }
  const std::vector<Use>& uses() const { return uses_; }
  bool is_graph_input() const { return is_graph_input_; }
  bool is_graph_output() const;
  bool is_constant() const { return constant_.has_value(); }
  const Tensor& constant() const { return *constant_; }
  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  friend class Node;
  Value(Graph* g, std::string name) : graph_(g), name_(std::move(name)) {}
  Graph* graph_;
  std::string name_;
  TensorType type_;
  Node* producer_ = nullptr;
  int producer_index_ = -1;
  std::vector<Use> uses_;
  bool is_graph_input_ = false;
  std::optional<Tensor> constant_;
};

class Node {
 public:
  const std::string& op_type() const { return op_type_; }
  const std::string& domain() const { return domain_; }  // "" is ai.onnx
  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  int num_inputs() const { return static_cast<int>(inputs_.size()); }
  int num_outputs() const { return static_cast<int>(outputs_.size()); }
  // An optional input that is absent is nullptr.
  Value* input(int i) const { return i < num_inputs() ? inputs_[i] : nullptr; }
  Value* output(int i) const { return outputs_[i]; }
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  void SetInput(int i, Value* v);  // keeps use-lists right; v may be nullptr
  void AddInput(Value* v);

  const std::map<std::string, Attribute>& attributes() const { return attrs_; }
  bool HasAttr(const std::string& name) const { return attrs_.count(name) != 0; }
  const Attribute* FindAttr(const std::string& name) const;
  void SetAttr(const std::string& name, Attribute a) { attrs_[name] = std::move(a); }
  void RemoveAttr(const std::string& name) { attrs_.erase(name); }
  // Typed getters with defaults; a present attribute of the wrong kind is an error.
  Expected<int64_t> GetInt(const std::string& name, std::optional<int64_t> dflt) const;
  Expected<float> GetFloat(const std::string& name, std::optional<float> dflt) const;
  Expected<std::string> GetString(const std::string& name, std::optional<std::string> dflt) const;
  Expected<std::vector<int64_t>> GetInts(const std::string& name,
                                         std::optional<std::vector<int64_t>> dflt) const;
  Expected<std::vector<float>> GetFloats(const std::string& name,
                                         std::optional<std::vector<float>> dflt) const;

  // "Conv 'conv1'" for error messages.
  std::string Describe() const;
  Graph* graph() const { return graph_; }

 private:
  friend class Graph;
  Node(Graph* g, std::string op_type, std::string domain, std::string name)
      : graph_(g),
        op_type_(std::move(op_type)),
        domain_(std::move(domain)),
        name_(std::move(name)) {}
  Graph* graph_;
  std::string op_type_;
  std::string domain_;
  std::string name_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::map<std::string, Attribute> attrs_;
  bool dead_ = false;
};

class Graph {
 public:
  explicit Graph(std::string name = "main") : name_(std::move(name)) {}
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }

  // --- building -------------------------------------------------------------
  Value* AddInput(std::string name, TensorType type);
  Value* AddConstant(std::string name, Tensor value);  // type derived from the tensor
  void AddOutput(Value* v) { outputs_.push_back(v); }
  void SetOutput(int i, Value* v) { outputs_[i] = v; }
  void ClearOutputs() { outputs_.clear(); }
  // Appends a node at the end (or before `before` when given) with fresh output
  // values named after `output_names` (made unique if needed).
  Node* AddNode(std::string op_type, std::vector<Value*> inputs,
                std::vector<std::string> output_names, std::string name = "",
                std::string domain = "", const Node* before = nullptr);

  // --- querying -------------------------------------------------------------
  // Live nodes in their current order.
  std::vector<Node*> nodes() const;
  int num_nodes() const;
  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  // Constants in creation order (only live ones).
  std::vector<Value*> constants() const;
  Value* FindValue(const std::string& name) const;
  Node* FindNode(const std::string& name) const;

  // --- rewriting ------------------------------------------------------------
  // Every use of `from` (node inputs and graph outputs) becomes `to`.
  void ReplaceAllUsesWith(Value* from, Value* to);
  // Gives `v` a new name; fails if another value has it. Renaming a graph input
  // or output changes the model's interface, which callers must intend.
  Status RenameValue(Value* v, const std::string& name);
  // Turns a value into a constant (constant folding); drops its producer link.
  void MakeConstant(Value* v, Tensor value);
  // Removes a node; its outputs must have no uses left (they become dead values).
  Status RemoveNode(Node* n);
  // Drops values that are unused, not produced by a live node and not graph I/O.
  void RemoveDeadValues();
  // Reorders nodes so producers precede consumers (stable for already-sorted
  // graphs). Fails, naming a node on the cycle, if the graph has one.
  Status TopologicalSort();
  // A deep copy of the graph structure: same names, types, attributes and node
  // order. Constant tensors share their (immutable) buffers with the original.
  std::unique_ptr<Graph> Clone() const;

  // A value name that is not yet taken, based on `base`.
  std::string UniqueValueName(const std::string& base) const;
  std::string UniqueNodeName(const std::string& base) const;

 private:
  Value* NewValue(std::string name);
  void CompactNodes();

  std::string name_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::map<std::string, Value*> value_by_name_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  int dead_nodes_ = 0;
};

// A graph plus the model-level facts that travel with it.
struct Model {
  Model() : graph(std::make_unique<Graph>()) {}
  std::unique_ptr<Graph> graph;
  std::map<std::string, int64_t> opset_imports;  // domain ("" = ai.onnx) -> version
  std::string producer_name;
  std::string producer_version;
  int64_t ir_version = 8;
  std::map<std::string, std::string> metadata;

  // A copy whose graph is Graph::Clone() of this one.
  Model Clone() const;

  int64_t onnx_opset() const {
    auto it = opset_imports.find("");
    return it == opset_imports.end() ? 0 : it->second;
  }
};

}  // namespace octet
