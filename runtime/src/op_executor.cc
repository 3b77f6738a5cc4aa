#include "octet/runtime/op_executor.h"

#include "octet/compile/compile.h"
#include "octet/reference/kernel.h"
#ifdef OCTET_HAVE_X86
#include "octet/x86/float_provider.h"
#include "x86_executor.h"
#endif

namespace octet::runtime {
namespace {

// Runs one reference kernel. The kernel API takes a Node, so the executor
// keeps a one-node graph with the op's attributes and its inputs' and
// outputs' declared types, built once at load. In x86 modules `fn` may be the
// oneDNN fp32 kernel of a provider the executor keeps (its cache is keyed by
// the node, which lives as long as the executor).
class ReferenceExecutor : public OpExecutor {
 public:
  ReferenceExecutor(std::unique_ptr<Graph> graph, const Node* node, const reference::KernelFn* fn,
                    std::shared_ptr<const reference::KernelProvider> provider = nullptr)
      : graph_(std::move(graph)), node_(node), fn_(fn), provider_(std::move(provider)) {}

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    reference::KernelContext ctx{*node_, inputs, std::vector<Tensor>(outputs.size()), num_threads};
    OCTET_RETURN_IF_ERROR((*fn_)(ctx));
    outputs = std::move(ctx.outputs);
    return Status::Ok();
  }

 private:
  std::unique_ptr<Graph> graph_;
  const Node* node_;
  const reference::KernelFn* fn_;
  std::shared_ptr<const reference::KernelProvider> provider_;  // owns fn_ when set
};

// Reshape, Flatten, Squeeze and Unsqueeze keep the bytes and change the dims.
// In a module the output's dims come from its slot (all static, or one
// symbolic dim fixed by the element count), so the output is the input's
// bytes with new dims: no copy. The builder declares the output in place over
// the input, so when the input dies here the planner gives both one place and
// nothing moves; otherwise the session copies once into the output's place.
// When the slot cannot fix the dims (unknown dims, or an element count that
// does not fit), the reference kernel runs and decides (or reports the error).
class ShapeOnlyExecutor : public OpExecutor {
 public:
  ShapeOnlyExecutor(std::unique_ptr<OpExecutor> reference, Shape out_shape, bool graph_output)
      : reference_(std::move(reference)),
        out_shape_(std::move(out_shape)),
        graph_output_(graph_output) {}

  Status Run(const std::vector<const Tensor*>& inputs, std::vector<Tensor>& outputs,
             int num_threads) const override {
    const Tensor* x = inputs.empty() ? nullptr : inputs[0];
    std::vector<int64_t> dims;
    if (x == nullptr || !x->defined() || !DimsFor(x->numel(), &dims))
      return reference_->Run(inputs, outputs, num_threads);
    outputs[0] =
        graph_output_ ? x->Reshaped(std::move(dims)).Clone() : x->Reshaped(std::move(dims));
    return Status::Ok();
  }

 private:
  bool DimsFor(int64_t numel, std::vector<int64_t>* dims) const {
    int64_t known = 1;
    int free_dim = -1;
    for (size_t i = 0; i < out_shape_.dims().size(); ++i) {
      const Dim& d = out_shape_.dims()[i];
      if (d.is_static()) {
        known *= d.value();
        dims->push_back(d.value());
      } else if (free_dim < 0) {
        free_dim = static_cast<int>(i);
        dims->push_back(-1);
      } else {
        return false;
      }
    }
    if (free_dim < 0) return known == numel;
    if (known <= 0 || numel % known != 0) return false;
    (*dims)[free_dim] = numel / known;
    return true;
  }

  std::unique_ptr<OpExecutor> reference_;
  Shape out_shape_;
  bool graph_output_;
};

bool IsShapeOnlyOp(const std::string& domain, const std::string& op_type) {
  return domain.empty() && (op_type == "Reshape" || op_type == "Flatten" || op_type == "Squeeze" ||
                            op_type == "Unsqueeze");
}

Attribute ToAttribute(const ModuleAttrValue& v) {
  return std::visit([](const auto& x) { return Attribute(x); }, v);
}

Expected<std::unique_ptr<OpExecutor>> CreateReferenceExecutor(
    const ModuleDesc& desc, const ModuleOp& op, const std::string& domain,
    const std::string& op_type, const std::vector<Tensor>& constants) {
  const reference::KernelFn* fn = reference::KernelRegistry::Get().Find(domain, op_type);
  if (fn == nullptr)
    return Unimplemented("op '", op.name, "': unknown kernel id '", op.kernel,
                         "' (no reference kernel for it)");
  auto graph = std::make_unique<Graph>(op.name);
  std::map<int32_t, Value*> values;  // an op may read one slot twice (Mul(x, x))
  std::vector<Value*> inputs;
  for (int32_t s : op.inputs) {
    if (s < 0) {
      inputs.push_back(nullptr);
      continue;
    }
    Value*& v = values[s];
    const TensorSlot& slot = desc.slots[s];
    if (v == nullptr)
      v = slot.kind == SlotKind::kConstant
              ? graph->AddConstant(slot.name, constants[s])
              : graph->AddInput(slot.name, TensorType(slot.dtype, slot.shape));
    inputs.push_back(v);
  }
  std::vector<std::string> output_names;
  for (int32_t s : op.outputs) output_names.push_back(desc.slots[s].name);
  Node* node = graph->AddNode(op_type, inputs, output_names, op.name, domain);
  for (size_t i = 0; i < op.outputs.size(); ++i) {
    const TensorSlot& slot = desc.slots[op.outputs[i]];
    node->output(static_cast<int>(i))->set_type(TensorType(slot.dtype, slot.shape));
    graph->AddOutput(node->output(static_cast<int>(i)));
  }
  for (const ModuleAttr& a : op.attrs) node->SetAttr(a.name, ToAttribute(a.value));
#ifdef OCTET_HAVE_X86
  // The float ops an x86 module leaves on reference kernels (Conv, MatMul,
  // Gemm, Softmax, LayerNormalization) run on oneDNN when they can; the
  // provider falls back to the reference kernel otherwise.
  if (desc.target == "x86") {
    std::shared_ptr<const reference::KernelProvider> provider = x86::MakeFloatKernelProvider();
    if (const reference::KernelFn* f = provider->Find(*node))
      return std::unique_ptr<OpExecutor>(
          new ReferenceExecutor(std::move(graph), node, f, std::move(provider)));
  }
#endif
  return std::unique_ptr<OpExecutor>(new ReferenceExecutor(std::move(graph), node, fn));
}

}  // namespace

Expected<std::unique_ptr<OpExecutor>> CreateOpExecutor(const ModuleDesc& desc, int op_index,
                                                       const std::vector<Tensor>& constants) {
  const ModuleOp& op = desc.ops[op_index];
  std::string domain, op_type;
  if (ParseReferenceKernelId(op.kernel, &domain, &op_type)) {
    OCTET_ASSIGN_OR_RETURN(std::unique_ptr<OpExecutor> reference,
                           CreateReferenceExecutor(desc, op, domain, op_type, constants));
    if (!IsShapeOnlyOp(domain, op_type) || op.outputs.size() != 1 || op.inputs.empty() ||
        op.inputs[0] < 0)
      return reference;
    const TensorSlot& out = desc.slots[op.outputs[0]];
    return std::unique_ptr<OpExecutor>(
        new ShapeOnlyExecutor(std::move(reference), out.shape, out.kind == SlotKind::kOutput));
  }
#ifdef OCTET_HAVE_X86
  if (op.kernel.rfind("x86.", 0) == 0) return CreateX86Executor(desc, op, constants);
  constexpr const char kKnown[] = "'ref.<domain>::<op>' and 'x86.*'";
#else
  constexpr const char kKnown[] = "'ref.<domain>::<op>' only (built without oneDNN)";
#endif
  return Unimplemented("op '", op.name, "': unknown kernel id '", op.kernel,
                       "' (this runtime has kernels ", kKnown, ")");
}

}  // namespace octet::runtime
