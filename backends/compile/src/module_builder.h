// Builds a ModuleDesc slot by slot while a lowering walks the graph in
// topological order. Shared by every target: the reference target emits one
// reference op per node through it; optimised targets emit their own ops for
// matched patterns and fall back to the same reference emission for the rest.
#pragma once

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "octet/compile/compile.h"

namespace octet::compile_internal {

// The standard simplification pipeline, when options.simplify is set, with
// constant folding on the reference kernels.
Status SimplifyForCompile(Model& model, const CompileOptions& options);

class ModuleBuilder {
 public:
  ModuleBuilder(const Graph& graph, const CompileOptions& options, const std::string& target);

  // Graph inputs become input slots and graph outputs are remembered (so the
  // node writing them gets an output slot). Call once, before any op.
  Status Begin();
  // Plans memory, validates and hands over the module. Call once, last.
  Expected<CompiledModule> Finish();

  ModuleDesc& desc() { return out_.desc; }
  const CompileOptions& options() const { return options_; }

  // The node as a reference op ("ref.<domain>::<op>", attributes copied).
  Status AddReferenceOp(const Node& n);

  // The slot of a value already defined (input, earlier op output) or, for a
  // graph constant, a new constant slot. -1 for null (absent optional input).
  Expected<int32_t> InputSlot(const Value* v);
  // A constant the lowering made (packed weights, converted bias).
  int32_t AddConstantTensor(const std::string& name, const Tensor& t);
  // The slot an op writes `v` into: an output slot when `v` is a graph
  // output, else an activation planned at the reference dims.
  int32_t OutputSlot(const Value* v);
  // The same, stored as `dtype` instead of v's own (an activation a target
  // keeps in another precision between two of its ops); v must not be a
  // graph output.
  int32_t OutputSlotAs(const Value* v, DType dtype);
  // An activation slot that no graph value names (a value in another layout),
  // planned at the reference dims.
  int32_t AddActivation(const std::string& name, const TensorType& type);
  // Whether `v` already has a slot (an input, a constant or an op's output).
  bool HasSlot(const Value* v) const { return slot_of_.count(v) != 0; }
  bool IsGraphOutput(const Value* v) const { return outputs_.count(v) != 0; }
  // Appends a finished op, naming it after its source when it has no name.
  void AddOp(ModuleOp op);
  // The node as a reference op reading `inputs` and writing `outputs` instead
  // of its own values (a shared op run on int8 codes: the codes in, the
  // QuantizeLinear's output out).
  Status AddReferenceOpOn(const Node& n, const std::vector<const Value*>& inputs,
                          const std::vector<const Value*>& outputs);

 private:
  int32_t AddSlot(const Value* v, TensorSlot slot);
  int64_t PlannedBytes(const TensorType& t) const;

  const Graph& graph_;
  const CompileOptions& options_;
  CompiledModule out_;
  std::unordered_map<const Value*, int32_t> slot_of_;
  std::set<const Value*> outputs_;
  std::map<std::string, int64_t> reference_dims_;
};

}  // namespace octet::compile_internal
