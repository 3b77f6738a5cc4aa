// Pass "remove-identity": removes nodes that pass their input through
// unchanged and rewires their uses to the input, keeping graph output names.
// The list of no-ops and the note on x+0 are in remove_identity.h.
#include "octet/passes/remove_identity.h"

#include <limits>

namespace octet {
namespace {

constexpr int64_t kToTheEnd = std::numeric_limits<int32_t>::max();

// Both shapes known, equal, and free of unknown dims (equal symbols are the
// same run-time extent).
bool SameKnownShape(const TensorType& a, const TensorType& b) {
  if (!a.has_shape || !b.has_shape || a.shape != b.shape) return false;
  for (const Dim& d : a.shape.dims())
    if (d.is_unknown()) return false;
  return true;
}

// The elements of a constant integer input; nullopt if absent or not constant.
std::optional<std::vector<int64_t>> ConstInts(const Value* v) {
  if (v == nullptr || !v->is_constant() || !IsInteger(v->constant().dtype())) return std::nullopt;
  std::vector<int64_t> out;
  for (int64_t i = 0; i < v->constant().numel(); ++i) out.push_back(v->constant().GetAsInt64(i));
  return out;
}

bool AllEqual(const std::optional<std::vector<int64_t>>& v, int64_t x) {
  if (!v) return false;
  for (int64_t e : *v)
    if (e != x) return false;
  return true;
}

// A constant whose every element equals `x` (for 0, either sign).
bool IsConstantFilledWith(const Value* v, double x) {
  if (v == nullptr || !v->is_constant()) return false;
  const Tensor& t = v->constant();
  if (!IsFloat(t.dtype()) && !IsInteger(t.dtype())) return false;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (t.GetAsDouble(i) != x) return false;
  return true;
}

// Whether broadcasting constant `c` against `x` leaves x's shape as it is.
bool BroadcastKeepsShape(const TensorType& x, const TensorType& c) {
  if (!x.has_shape || !c.has_shape || c.shape.rank() > x.shape.rank()) return false;
  const int offset = x.shape.rank() - c.shape.rank();
  for (int i = 0; i < c.shape.rank(); ++i) {
    const Dim& d = c.shape[i];
    if (d != Dim(1) && !(d.is_static() && x.shape[offset + i] == d)) return false;
  }
  return true;
}

// x op c (or c op x when `commutes`) with c filled with `neutral`.
Value* ArithmeticNoOp(const Node& n, double neutral, bool commutes) {
  for (int data = 0; data < (commutes ? 2 : 1); ++data) {
    Value* x = n.input(data);
    const Value* c = n.input(1 - data);
    if (x != nullptr && IsConstantFilledWith(c, neutral) &&
        BroadcastKeepsShape(x->type(), c->type()) && x->type().dtype == c->type().dtype)
      return x;
  }
  return nullptr;
}

bool SliceTakesAll(const Node& n) {
  const Value* x = n.input(0);
  if (x == nullptr || !x->type().has_shape) return false;
  const Shape& shape = x->type().shape;
  std::optional<std::vector<int64_t>> starts = ConstInts(n.input(1)), ends = ConstInts(n.input(2));
  std::optional<std::vector<int64_t>> axes = ConstInts(n.input(3));
  if (!starts || !ends || starts->size() != ends->size()) return false;
  if (n.input(3) == nullptr) {
    axes = std::vector<int64_t>();
    for (size_t i = 0; i < starts->size(); ++i) axes->push_back(static_cast<int64_t>(i));
  }
  if (!axes || axes->size() != starts->size()) return false;
  if (n.input(4) != nullptr && !AllEqual(ConstInts(n.input(4)), 1)) return false;
  for (size_t i = 0; i < axes->size(); ++i) {
    int64_t axis = (*axes)[i];
    if (axis < 0) axis += shape.rank();
    if (axis < 0 || axis >= shape.rank()) return false;
    const Dim& d = shape[static_cast<int>(axis)];
    int64_t start = (*starts)[i];
    const int64_t end = (*ends)[i];
    if (d.is_static()) {
      if (start < 0) start += d.value();
      if (start > 0 || end < d.value()) return false;
    } else if (start != 0 || end < kToTheEnd) {
      return false;
    }
  }
  return true;
}

bool IsIdentityPerm(const Node& n) {
  const Value* x = n.input(0);
  const Attribute* perm = n.FindAttr("perm");
  if (perm == nullptr) return x != nullptr && x->type().has_shape && x->type().shape.rank() <= 1;
  if (perm->kind() != Attribute::Kind::kInts) return false;
  for (size_t i = 0; i < perm->ints().size(); ++i)
    if (perm->ints()[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// The input a node forwards unchanged, or nullptr.
Value* ForwardedInput(const Node& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return nullptr;
  if (n.num_inputs() < 1 || n.num_outputs() < 1 || n.input(0) == nullptr) return nullptr;
  for (int i = 1; i < n.num_outputs(); ++i)
    if (!n.output(i)->uses().empty() || n.output(i)->is_graph_output()) return nullptr;
  Value* x = n.input(0);
  const TensorType& in = x->type();
  const TensorType& out = n.output(0)->type();
  const std::string& op = n.op_type();
  if (op == "Identity") return x;
  if (op == "Dropout") {
    const Value* mode = n.input(2);
    const bool inference =
        mode == nullptr || (mode->is_constant() && mode->constant().numel() == 1 &&
                            mode->constant().GetAsInt64(0) == 0);
    return inference ? x : nullptr;
  }
  if (in.dtype == DType::kUndefined || in.dtype != out.dtype) return nullptr;
  if (op == "Cast" || op == "CastLike") return x;
  if (op == "Reshape" || op == "Expand") return SameKnownShape(in, out) ? x : nullptr;
  if (op == "Transpose") return IsIdentityPerm(n) ? x : nullptr;
  if (op == "Tile") return AllEqual(ConstInts(n.input(1)), 1) ? x : nullptr;
  if (op == "Slice") return SliceTakesAll(n) ? x : nullptr;
  if (op == "Concat") return n.num_inputs() == 1 ? x : nullptr;
  if (op == "Pad") return AllEqual(ConstInts(n.input(1)), 0) ? x : nullptr;
  if (op == "Mul") return ArithmeticNoOp(n, 1.0, true);
  if (op == "Add") return ArithmeticNoOp(n, 0.0, true);
  if (op == "Div") return ArithmeticNoOp(n, 1.0, false);
  if (op == "Sub") return ArithmeticNoOp(n, 0.0, false);
  return nullptr;
}

// Removes `n`, which forwards `x`; returns false when it must stay.
Expected<bool> Forward(Graph& graph, Node& n, Value* x) {
  Value* y = n.output(0);
  if (!y->is_graph_output()) {
    graph.ReplaceAllUsesWith(y, x);
    OCTET_RETURN_IF_ERROR(graph.RemoveNode(&n));
    return true;
  }
  // y is a graph output: its name must survive, so x takes it over. A graph
  // input or constant x keeps its own name (the node stays).
  if (x->producer() == nullptr || x->is_graph_output()) return false;
  const std::string name = y->name();
  if (y->type().has_shape) x->set_type(y->type());
  graph.ReplaceAllUsesWith(y, x);
  OCTET_RETURN_IF_ERROR(graph.RemoveNode(&n));
  OCTET_RETURN_IF_ERROR(graph.RenameValue(y, graph.UniqueValueName(name + ".removed")));
  OCTET_RETURN_IF_ERROR(graph.RenameValue(x, name));
  return true;
}

}  // namespace

Expected<bool> RemoveIdentities(Graph& graph) {
  bool changed = false;
  for (Node* n : graph.nodes()) {
    Value* x = ForwardedInput(*n);
    if (x == nullptr) continue;
    OCTET_ASSIGN_OR_RETURN(bool removed, Forward(graph, *n, x));
    changed |= removed;
  }
  return changed;
}

}  // namespace octet
