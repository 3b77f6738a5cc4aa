#include "octet/ir.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <unordered_map>

namespace octet {

std::string TensorType::ToString() const {
  std::string s(DTypeName(dtype));
  s += has_shape ? shape.ToString() : "[*]";
  return s;
}

bool Attribute::operator==(const Attribute& o) const {
  if (data_.index() != o.data_.index()) return false;
  switch (kind()) {
    case Kind::kInt:
      return i() == o.i();
    case Kind::kFloat:
      return std::memcmp(&std::get<float>(data_), &std::get<float>(o.data_), 4) == 0;
    case Kind::kString:
      return s() == o.s();
    case Kind::kTensor:
      return t().BitwiseEquals(o.t());
    case Kind::kInts:
      return ints() == o.ints();
    case Kind::kFloats:
      return floats().size() == o.floats().size() &&
             (floats().empty() ||
              std::memcmp(floats().data(), o.floats().data(), 4 * floats().size()) == 0);
    case Kind::kStrings:
      return strings() == o.strings();
  }
  return false;
}

const char* AttributeKindName(Attribute::Kind kind) {
  switch (kind) {
    case Attribute::Kind::kInt:
      return "int";
    case Attribute::Kind::kFloat:
      return "float";
    case Attribute::Kind::kString:
      return "string";
    case Attribute::Kind::kTensor:
      return "tensor";
    case Attribute::Kind::kInts:
      return "ints";
    case Attribute::Kind::kFloats:
      return "floats";
    case Attribute::Kind::kStrings:
      return "strings";
  }
  return "?";
}

bool Value::is_graph_output() const {
  const auto& outs = graph_->outputs();
  return std::find(outs.begin(), outs.end(), this) != outs.end();
}

// ---- Node -------------------------------------------------------------------

void Node::SetInput(int i, Value* v) {
  if (i >= num_inputs()) inputs_.resize(i + 1, nullptr);
  if (inputs_[i] != nullptr) {
    auto& uses = inputs_[i]->uses_;
    auto it = std::find(uses.begin(), uses.end(), Use{this, i});
    if (it != uses.end()) uses.erase(it);
  }
  inputs_[i] = v;
  if (v != nullptr) v->uses_.push_back(Use{this, i});
}

void Node::AddInput(Value* v) { SetInput(num_inputs(), v); }

const Attribute* Node::FindAttr(const std::string& name) const {
  auto it = attrs_.find(name);
  return it == attrs_.end() ? nullptr : &it->second;
}

std::string Node::Describe() const {
  std::string s = op_type_;
  if (!name_.empty()) s += " '" + name_ + "'";
  return s;
}

template <typename T>
static Expected<T> GetTyped(const Node& n, const std::string& name, std::optional<T> dflt,
                            Attribute::Kind kind, T (*get)(const Attribute&)) {
  const Attribute* a = n.FindAttr(name);
  if (a == nullptr) {
    if (dflt) return *dflt;
    return InvalidArgument("node ", n.Describe(), ": required attribute '", name, "' is missing");
  }
  if (a->kind() != kind)
    return InvalidArgument("node ", n.Describe(), ": attribute '", name, "' should be ",
                           AttributeKindName(kind), " but is ", AttributeKindName(a->kind()));
  return get(*a);
}

Expected<int64_t> Node::GetInt(const std::string& name, std::optional<int64_t> dflt) const {
  return GetTyped<int64_t>(*this, name, dflt, Attribute::Kind::kInt,
                           [](const Attribute& a) { return a.i(); });
}
Expected<float> Node::GetFloat(const std::string& name, std::optional<float> dflt) const {
  const Attribute* a = FindAttr(name);
  if (a != nullptr && a->kind() == Attribute::Kind::kInt) return static_cast<float>(a->i());
  return GetTyped<float>(*this, name, dflt, Attribute::Kind::kFloat,
                         [](const Attribute& a) { return a.f(); });
}
Expected<std::string> Node::GetString(const std::string& name,
                                      std::optional<std::string> dflt) const {
  return GetTyped<std::string>(*this, name, dflt, Attribute::Kind::kString,
                               [](const Attribute& a) { return a.s(); });
}
Expected<std::vector<int64_t>> Node::GetInts(const std::string& name,
                                             std::optional<std::vector<int64_t>> dflt) const {
  return GetTyped<std::vector<int64_t>>(*this, name, dflt, Attribute::Kind::kInts,
                                        [](const Attribute& a) { return a.ints(); });
}
Expected<std::vector<float>> Node::GetFloats(const std::string& name,
                                             std::optional<std::vector<float>> dflt) const {
  return GetTyped<std::vector<float>>(*this, name, dflt, Attribute::Kind::kFloats,
                                      [](const Attribute& a) { return a.floats(); });
}

// ---- Graph ------------------------------------------------------------------

Value* Graph::NewValue(std::string name) {
  name = UniqueValueName(name.empty() ? "v" : name);
  values_.push_back(std::unique_ptr<Value>(new Value(this, name)));
  Value* v = values_.back().get();
  value_by_name_[name] = v;
  return v;
}

std::string Graph::UniqueValueName(const std::string& base) const {
  if (value_by_name_.count(base) == 0) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (value_by_name_.count(candidate) == 0) return candidate;
  }
}

std::string Graph::UniqueNodeName(const std::string& base) const {
  std::set<std::string> taken;
  for (const auto& n : nodes_)
    if (!n->dead_) taken.insert(n->name_);
  if (taken.count(base) == 0) return base;
  for (int i = 1;; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (taken.count(candidate) == 0) return candidate;
  }
}

Value* Graph::AddInput(std::string name, TensorType type) {
  Value* v = NewValue(std::move(name));
  v->type_ = std::move(type);
  v->is_graph_input_ = true;
  inputs_.push_back(v);
  return v;
}

Value* Graph::AddConstant(std::string name, Tensor value) {
  Value* v = NewValue(std::move(name));
  v->type_ = TensorType(value.dtype(), Shape::FromStatic(value.dims()));
  v->constant_ = std::move(value);
  return v;
}

Node* Graph::AddNode(std::string op_type, std::vector<Value*> inputs,
                     std::vector<std::string> output_names, std::string name, std::string domain,
                     const Node* before) {
  auto node =
      std::unique_ptr<Node>(new Node(this, std::move(op_type), std::move(domain), std::move(name)));
  Node* n = node.get();
  for (Value* v : inputs) n->AddInput(v);
  for (auto& out_name : output_names) {
    Value* v = NewValue(out_name);
    v->producer_ = n;
    v->producer_index_ = static_cast<int>(n->outputs_.size());
    n->outputs_.push_back(v);
  }
  if (before == nullptr) {
    nodes_.push_back(std::move(node));
  } else {
    auto it = std::find_if(nodes_.begin(), nodes_.end(),
                           [before](const std::unique_ptr<Node>& p) { return p.get() == before; });
    nodes_.insert(it, std::move(node));
  }
  return n;
}

std::vector<Node*> Graph::nodes() const {
  std::vector<Node*> out;
  out.reserve(nodes_.size());
  for (const auto& n : nodes_)
    if (!n->dead_) out.push_back(n.get());
  return out;
}

int Graph::num_nodes() const { return static_cast<int>(nodes_.size()) - dead_nodes_; }

std::vector<Value*> Graph::constants() const {
  std::vector<Value*> out;
  for (const auto& v : values_)
    if (v->is_constant()) out.push_back(v.get());
  return out;
}

Value* Graph::FindValue(const std::string& name) const {
  auto it = value_by_name_.find(name);
  return it == value_by_name_.end() ? nullptr : it->second;
}

Node* Graph::FindNode(const std::string& name) const {
  for (const auto& n : nodes_)
    if (!n->dead_ && n->name_ == name) return n.get();
  return nullptr;
}

void Graph::ReplaceAllUsesWith(Value* from, Value* to) {
  if (from == to) return;
  const std::vector<Use> uses = from->uses_;
  for (const Use& u : uses) u.node->SetInput(u.input_index, to);
  for (auto& out : outputs_)
    if (out == from) out = to;
}

Status Graph::RenameValue(Value* v, const std::string& name) {
  if (v->name_ == name) return Status::Ok();
  if (name.empty()) return InvalidArgument("cannot rename '", v->name_, "' to an empty name");
  if (value_by_name_.count(name) != 0)
    return InvalidArgument("cannot rename '", v->name_, "' to '", name, "': the name is taken");
  value_by_name_.erase(v->name_);
  v->name_ = name;
  value_by_name_[name] = v;
  return Status::Ok();
}

void Graph::MakeConstant(Value* v, Tensor value) {
  if (v->producer_ != nullptr) {
    v->producer_->outputs_[v->producer_index_] = NewValue(v->name_ + ".folded");
    Value* placeholder = v->producer_->outputs_[v->producer_index_];
    placeholder->producer_ = v->producer_;
    placeholder->producer_index_ = v->producer_index_;
    placeholder->type_ = v->type_;
  }
  v->producer_ = nullptr;
  v->producer_index_ = -1;
  v->type_ = TensorType(value.dtype(), Shape::FromStatic(value.dims()));
  v->constant_ = std::move(value);
}

Status Graph::RemoveNode(Node* n) {
  for (Value* out : n->outputs_) {
    if (!out->uses_.empty())
      return Internal("cannot remove node ", n->Describe(), ": its output '", out->name_,
                      "' still has ", out->uses_.size(), " use(s)");
    if (out->is_graph_output())
      return Internal("cannot remove node ", n->Describe(), ": its output '", out->name_,
                      "' is a graph output");
  }
  for (int i = 0; i < n->num_inputs(); ++i) n->SetInput(i, nullptr);
  n->inputs_.clear();
  for (Value* out : n->outputs_) out->producer_ = nullptr;
  n->dead_ = true;
  ++dead_nodes_;
  if (dead_nodes_ > 64 && dead_nodes_ * 2 > static_cast<int>(nodes_.size())) CompactNodes();
  return Status::Ok();
}

void Graph::CompactNodes() {
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                              [](const std::unique_ptr<Node>& n) { return n->dead_; }),
               nodes_.end());
  dead_nodes_ = 0;
}

void Graph::RemoveDeadValues() {
  CompactNodes();
  std::set<Value*> keep(inputs_.begin(), inputs_.end());
  keep.insert(outputs_.begin(), outputs_.end());
  auto dead = [&](const std::unique_ptr<Value>& v) {
    return v->uses_.empty() && v->producer_ == nullptr && keep.count(v.get()) == 0;
  };
  for (const auto& v : values_)
    if (dead(v)) value_by_name_.erase(v->name_);
  values_.erase(std::remove_if(values_.begin(), values_.end(), dead), values_.end());
}

Status Graph::TopologicalSort() {
  CompactNodes();
  // Kahn's algorithm; ties are broken by the current position so a sorted graph keeps its order.
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < nodes_.size(); ++i) position[nodes_[i].get()] = i;
  std::vector<int> pending(nodes_.size(), 0);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    std::set<const Node*> producers;
    for (Value* v : nodes_[i]->inputs_)
      if (v != nullptr && v->producer_ != nullptr) producers.insert(v->producer_);
    pending[i] = static_cast<int>(producers.size());
  }
  std::set<size_t> ready;
  for (size_t i = 0; i < nodes_.size(); ++i)
    if (pending[i] == 0) ready.insert(i);
  std::vector<std::unique_ptr<Node>> sorted;
  sorted.reserve(nodes_.size());
  while (!ready.empty()) {
    const size_t i = *ready.begin();
    ready.erase(ready.begin());
    Node* n = nodes_[i].get();
    std::set<const Node*> consumers;
    for (Value* out : n->outputs_)
      for (const Use& u : out->uses_) consumers.insert(u.node);
    for (const Node* c : consumers) {
      const size_t j = position[c];
      if (--pending[j] == 0) ready.insert(j);
    }
    sorted.push_back(std::move(nodes_[i]));
  }
  if (sorted.size() != nodes_.size()) {
    // The first node never scheduled is on (or behind) a cycle. Put the
    // scheduled nodes back in their old slots so the graph loses nothing.
    std::string desc;
    for (const auto& n : nodes_)
      if (n != nullptr) {
        desc = n->Describe();
        break;
      }
    for (auto& p : sorted) nodes_[position.at(p.get())] = std::move(p);
    return InvalidArgument("graph '", name_, "' has a cycle through node ", desc);
  }
  nodes_ = std::move(sorted);
  return Status::Ok();
}

}  // namespace octet

namespace octet {

std::unique_ptr<Graph> Graph::Clone() const {
  auto g = std::make_unique<Graph>(name_);
  std::unordered_map<const Value*, Value*> map;
  // Values without a producer first (inputs, constants, dangling), in creation
  // order, so names come out identical.
  for (const auto& v : values_) {
    if (v->producer_ != nullptr) continue;
    Value* c = g->NewValue(v->name_);
    c->type_ = v->type_;
    c->constant_ = v->constant_;
    map[v.get()] = c;
  }
  for (const Value* in : inputs_) {
    map.at(in)->is_graph_input_ = true;
    g->inputs_.push_back(map.at(in));
  }
  for (const auto& n : nodes_) {
    if (n->dead_) continue;
    std::vector<Value*> ins;
    for (const Value* v : n->inputs_) ins.push_back(v == nullptr ? nullptr : map.at(v));
    std::vector<std::string> outs;
    for (const Value* v : n->outputs_) outs.push_back(v->name_);
    Node* c = g->AddNode(n->op_type_, ins, outs, n->name_, n->domain_);
    c->attrs_ = n->attrs_;
    for (size_t i = 0; i < n->outputs_.size(); ++i) {
      c->outputs_[i]->type_ = n->outputs_[i]->type_;
      map[n->outputs_[i]] = c->outputs_[i];
    }
  }
  for (const Value* out : outputs_) g->outputs_.push_back(map.at(out));
  return g;
}

Model Model::Clone() const {
  Model m;
  m.graph = graph->Clone();
  m.opset_imports = opset_imports;
  m.producer_name = producer_name;
  m.producer_version = producer_version;
  m.ir_version = ir_version;
  m.metadata = metadata;
  return m;
}

}  // namespace octet
