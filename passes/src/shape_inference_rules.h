// Private to shape inference: the context a shape rule sees, the helpers the
// rule files share, and the registration hooks of the rule table.
//
// A rule reads its node's input types (and, for shape-determining inputs, their
// values) and sets every output's type. Values are known for constants and for
// small integer tensors that value propagation tracks through the Shape ->
// Gather -> Unsqueeze -> Concat chains exporters emit, so a Reshape whose target
// is computed from Shape(x) still gets an exact (possibly symbolic) shape.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "octet/ir.h"
#include "octet/status.h"

namespace octet::shape_inference {

// One element of a tracked integer tensor: a number, a symbol (the run-time
// value of a symbolic dim, as Shape produces it) or unknown.
struct SymInt {
  enum class Kind { kUnknown, kNumber, kSymbol };
  Kind kind = Kind::kUnknown;
  int64_t number = 0;
  std::string symbol;

  static SymInt Number(int64_t n) { return {Kind::kNumber, n, {}}; }
  static SymInt Symbol(std::string s) { return {Kind::kSymbol, 0, std::move(s)}; }
  static SymInt FromDim(const Dim& d);
  bool is_number() const { return kind == Kind::kNumber; }
  bool is_symbol() const { return kind == Kind::kSymbol; }
  // A number >= 0 becomes a static dim, a symbol a symbolic one, anything else unknown.
  Dim ToDim() const;
};
// The elements (row-major) of a rank-0 or rank-1 integer tensor.
using SymValue = std::vector<SymInt>;

// Tracked values are limited to this many elements (shapes, axes, indices).
inline constexpr int64_t kMaxTrackedElements = 64;

using ValueTable = std::unordered_map<const Value*, SymValue>;

class InferenceContext {
 public:
  InferenceContext(const Node& node, const ValueTable& values);

  const Node& node() const { return node_; }
  int num_inputs() const { return node_.num_inputs(); }
  int num_outputs() const { return node_.num_outputs(); }
  bool has_input(int i) const { return node_.input(i) != nullptr; }

  // The type of input i; an absent input has an undefined type without shape.
  const TensorType& input_type(int i) const;
  DType input_dtype(int i) const { return input_type(i).dtype; }
  bool input_has_shape(int i) const { return input_type(i).has_shape; }
  const Shape& input_shape(int i) const { return input_type(i).shape; }
  int input_rank(int i) const { return input_type(i).shape.rank(); }
  // Constant data of input i, or nullptr.
  const Tensor* input_constant(int i) const;
  // The elements of input i when it is a rank-0/1 integer tensor whose value is
  // known (a constant or a tracked value); nullopt otherwise.
  std::optional<SymValue> input_value(int i) const;
  // Same, only when every element is a number.
  std::optional<std::vector<int64_t>> input_ints(int i) const;
  // "input 'x' f32[N,3]" for error messages.
  std::string Describe(int input) const;

  void set_output(int i, TensorType type) { outputs_[i] = std::move(type); }
  void set_output(int i, DType dtype, Shape shape) { outputs_[i] = TensorType(dtype, shape); }
  void set_output_unknown_rank(int i, DType dtype);
  void set_output_value(int i, SymValue value) { output_values_[i] = std::move(value); }
  const TensorType& output(int i) const { return outputs_[i]; }
  std::vector<TensorType>& outputs() { return outputs_; }
  std::vector<std::optional<SymValue>>& output_values() { return output_values_; }

  // "node Conv 'c1': <parts>" as an InvalidArgument status.
  template <typename... Args>
  Status Fail(Args&&... parts) const {
    return InvalidArgument("node ", node_.Describe(), ": ", std::forward<Args>(parts)...);
  }
  // Checks that inputs [0, required) are present, that there are at most
  // `max_inputs` and at least `min_outputs` outputs.
  Status CheckArity(int required, int max_inputs, int min_outputs = 1, int max_outputs = 1) const;
  // Checks that present inputs `a` and `b` have the same dtype.
  Status CheckSameDType(int a, int b) const;
  // Checks that input i's dtype is one of `allowed`; `what` names the input role.
  Status CheckDType(int i, std::initializer_list<DType> allowed, const char* what) const;
  // Attribute helpers that add nothing but brevity.
  Expected<int64_t> Int(const std::string& name, int64_t dflt) const {
    return node_.GetInt(name, dflt);
  }
  Expected<std::vector<int64_t>> Ints(const std::string& name,
                                      std::vector<int64_t> dflt = {}) const {
    return node_.GetInts(name, std::move(dflt));
  }

 private:
  const Node& node_;
  const ValueTable& values_;
  std::vector<TensorType> outputs_;
  std::vector<std::optional<SymValue>> output_values_;
};

using ShapeRule = Status (*)(InferenceContext&);
using RuleTable = std::map<std::string, ShapeRule, std::less<>>;

// Each rule file adds its rules; shape_inference.cc builds the table once.
void AddElementwiseRules(RuleTable& table);
void AddTensorRules(RuleTable& table);
void AddSliceRules(RuleTable& table);
void AddShapeRules(RuleTable& table);
void AddNnRules(RuleTable& table);
void AddLinalgRules(RuleTable& table);
void AddReduceRules(RuleTable& table);

// Value propagation for small integer tensors (shape_inference_values.cc):
// fills ctx.output_values() after the node's shape rule ran.
void PropagateValues(InferenceContext& ctx);

// ---- helpers shared by the rule files (shape_inference_util.cc) -----------

// Numpy broadcasting of two shapes. Per dim: equal dims stay; 1 gives way to
// anything; a symbol or unknown against a static k != 1 becomes k (the model
// is only valid if it is k at run time); two different symbols, or a symbol
// and unknown, become unknown. Two different static dims, neither 1, are an
// error naming the node and both inputs.
Expected<Shape> Broadcast(const InferenceContext& ctx, const Shape& a, const Shape& b,
                          const std::string& a_what, const std::string& b_what);
// Broadcasts every present input (variadic Sum/Max/..., Where). Unknown rank
// anywhere gives nullopt.
Expected<std::optional<Shape>> BroadcastInputs(const InferenceContext& ctx, int first, int last);

// Two dims that must be equal (Concat's other axes, MatMul's inner dim):
// static vs static must match (else nullopt); otherwise the more precise one
// wins (static > symbol > unknown).
std::optional<Dim> UnifyDims(const Dim& a, const Dim& b);

// Arithmetic on dims that keeps what can be kept: static op static is static,
// x*1 = x, x+0 = x, 0*x = 0; anything else involving a non-static dim is unknown.
Dim MulDims(const Dim& a, const Dim& b);
Dim AddDims(const Dim& a, const Dim& b);
Dim ProductOfDims(const std::vector<Dim>& dims, size_t begin, size_t end);

// Normalises an axis in [-rank, rank) to [0, rank); error names the node.
Expected<int> NormalizeAxis(const InferenceContext& ctx, int64_t axis, int rank,
                            const char* what = "axis");

// "[2,N,-1]" for error messages.
std::string ValueString(const SymValue& v);
// The length of 1-D input `input` when its shape says so, else -1.
int64_t StaticLength(const InferenceContext& ctx, int input);

// An unknown-rank type with the given dtype.
TensorType UnknownRank(DType dtype);
// A shape of `rank` unknown dims.
Shape UnknownDims(int rank);

}  // namespace octet::shape_inference
