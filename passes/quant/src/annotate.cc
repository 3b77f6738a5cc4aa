#include "octet/quant/annotate.h"

#include <algorithm>
#include <sstream>
#include <unordered_map>

namespace octet::quant {
namespace {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool IsFloatActivation(const Value* v) {
  return v != nullptr && !v->is_constant() && IsFloat(v->type().dtype);
}

bool IsFloatConstant(const Value* v) {
  return v != nullptr && v->is_constant() && v->constant().dtype() == DType::kF32;
}

// Every filter must select something: a typo in a config is an error, not a
// silently different model.
Status CheckFiltersMatch(const Graph& graph, const std::vector<NodeFilter>& filters,
                         const char* list) {
  const std::vector<Node*> nodes = graph.nodes();
  for (const NodeFilter& f : filters) {
    const bool any =
        std::any_of(nodes.begin(), nodes.end(), [&](const Node* n) { return f.Matches(*n); });
    if (any) continue;
    std::string what = f.kind() == NodeFilter::Kind::kName     ? "no node is named"
                       : f.kind() == NodeFilter::Kind::kOpType ? "no node has op type"
                                                               : "no node name matches";
    std::string examples;
    for (size_t i = 0; i < nodes.size() && i < 5; ++i)
      examples += (i ? ", " : "") + std::string("'") + nodes[i]->name() + "'";
    return InvalidArgument(list, " filter '", f.ToString(), "': ", what, " '", f.pattern(),
                           "' in graph '", graph.name(), "' (", nodes.size(), " nodes, e.g. ",
                           examples, ")");
  }
  return Status::Ok();
}

// The axis a weight scheme applies to: the output channel for per-channel,
// the reduction axis for per-group.
Expected<int> WeightAxis(const Node& n, int weight_rank, Granularity g) {
  const bool per_group = g == Granularity::kPerGroup;
  if (n.op_type() == "Conv") return per_group ? 1 : 0;
  if (n.op_type() == "ConvTranspose") return per_group ? 0 : 1;
  if (n.op_type() == "Gemm") {
    OCTET_ASSIGN_OR_RETURN(int64_t trans_b, n.GetInt("transB", 0));
    return per_group ? (trans_b ? 1 : 0) : (trans_b ? 0 : 1);
  }
  return per_group ? weight_rank - 2 : weight_rank - 1;  // MatMul [..., K, N]
}

class Annotator {
 public:
  Annotator(const Graph& g, const QuantizerConfig& c) : graph_(g), config_(c) {}

  Expected<QuantPlan> Run() {
    OCTET_RETURN_IF_ERROR(CheckFiltersMatch(graph_, config_.include, "include"));
    OCTET_RETURN_IF_ERROR(CheckFiltersMatch(graph_, config_.exclude, "exclude"));
    for (const Node* n : graph_.nodes()) {
      if (!Contains(config_.ops, n->op_type()) || !n->domain().empty()) continue;
      if (std::string why = Excluded(*n); !why.empty()) {
        plan_.skipped.emplace_back(n->name(), why);
        continue;
      }
      OCTET_RETURN_IF_ERROR(Annotate(*n));
    }
    return std::move(plan_);
  }

 private:
  // Why a node is left float by the include/exclude lists ("" if it is not).
  std::string Excluded(const Node& n) const {
    for (const NodeFilter& f : config_.exclude)
      if (f.Matches(n)) return "excluded by " + f.ToString();
    if (config_.include.empty()) return "";
    for (const NodeFilter& f : config_.include)
      if (f.Matches(n)) return "";
    return "not selected by the include list";
  }

  Status Annotate(const Node& n) {
    if (n.op_type() == "Add") return AnnotateResidualAdd(n);
    const bool matmul = n.op_type() == "MatMul";
    const Value* a = n.input(0);
    const Value* w = n.input(1);
    if (matmul && IsFloatActivation(a) && IsFloatActivation(w)) {
      if (!config_.quantize_activation_matmul || config_.weight_only())
        return Skip(n, "both operands are activations (quantize_activation_matmul is off)");
      QuantizedNode q{n.name(), n.op_type(), {}};
      for (int i = 0; i < 2; ++i) {
        OCTET_ASSIGN_OR_RETURN(int g, GroupFor(n.input(i), n));
        if (g < 0) return Skip(n, "activation '" + n.input(i)->name() + "' cannot be quantized");
        q.activation_groups.push_back(g);
      }
      plan_.nodes.push_back(std::move(q));
      return Status::Ok();
    }
    if (!IsFloatConstant(w)) return Skip(n, "weight is not an f32 constant");
    if (!IsFloatActivation(a)) return Skip(n, "input 0 is not a float activation");
    if (n.op_type() == "Gemm") {
      OCTET_ASSIGN_OR_RETURN(int64_t trans_a, n.GetInt("transA", 0));
      if (trans_a != 0 && !config_.weight_only() &&
          config_.activation->granularity == Granularity::kPerToken)
        return Skip(n, "per-token activations need transA = 0");
    }
    WeightQuant wq{n.name(), 1, config_.weight};
    const int rank = w->constant().rank();
    if (rank < 2) return Skip(n, "weight has rank < 2");
    OCTET_ASSIGN_OR_RETURN(wq.scheme.axis, WeightAxis(n, rank, config_.weight.granularity));
    if (config_.weight.granularity == Granularity::kPerGroup &&
        w->constant().dim(wq.scheme.axis) < config_.weight.group_size)
      return Skip(n, "reduction axis (" + std::to_string(w->constant().dim(wq.scheme.axis)) +
                         ") is shorter than the group size");

    if (n.op_type() == "Conv" && !config_.weight_only() && config_.activation->dynamic) {
      if (std::string why = WhyNotDynamicConv(n); !why.empty()) return Skip(n, why);
    }
    QuantizedNode q{n.name(), n.op_type(), {}};
    if (!config_.weight_only()) {
      OCTET_ASSIGN_OR_RETURN(int g, GroupFor(a, n));
      if (g < 0)
        return Skip(n, "activation '" + a->name() +
                           "' cannot be quantized per token "
                           "(its last dimension is not static)");
      q.activation_groups.push_back(g);
    }
    plan_.weights.push_back(wq);
    if (int bias = BiasInput(n, wq); bias >= 0 && !q.activation_groups.empty() &&
                                     !plan_.groups[q.activation_groups[0]].scheme.dynamic &&
                                     config_.activation->granularity == Granularity::kPerTensor)
      plan_.biases.push_back({n.name(), bias, q.activation_groups[0]});
    plan_.nodes.push_back(std::move(q));
    return Status::Ok();
  }

  // Conv + Add fusion (PyTorch's x86 flow does the same): when one addend is
  // the sole output of a quantized Conv, only the other addend (the residual)
  // is quantized. The Conv's output stays float, so a backend can add the
  // dequantized residual inside the convolution (oneDNN's sum post-op) and
  // requantize once after the Add (and a following Relu). Any other Add stays
  // float: quantizing a transformer's residual stream costs accuracy.
  Status AnnotateResidualAdd(const Node& n) {
    if (config_.weight_only() || config_.activation->dynamic)
      return Skip(n, "Add is quantized only with static activations (Conv + Add fusion)");
    if (n.num_inputs() != 2 || !IsFloatActivation(n.input(0)) || !IsFloatActivation(n.input(1)))
      return Skip(n, "Add of two float activations expected");
    const TensorType& a = n.input(0)->type();
    const TensorType& b = n.input(1)->type();
    if (!a.has_shape || !b.has_shape || !(a.shape == b.shape))
      return Skip(n, "addends of different or unknown shapes (broadcast)");
    auto fused_conv = [&](const Value* v) {
      const Node* p = v->producer();
      if (p == nullptr || p->op_type() != "Conv" || !p->domain().empty() || v->uses().size() != 1 ||
          v->is_graph_output())
        return false;
      return std::any_of(plan_.nodes.begin(), plan_.nodes.end(),
                         [&](const QuantizedNode& q) { return q.node == p->name(); });
    };
    int residual = -1;
    if (fused_conv(n.input(0))) {
      residual = 1;
    } else if (fused_conv(n.input(1))) {
      residual = 0;
    } else {
      return Skip(n, "no quantized Conv feeds it (only Conv + Add is quantized)");
    }
    OCTET_ASSIGN_OR_RETURN(int g, GroupFor(n.input(residual), n));
    if (g < 0) return Skip(n, "residual '" + n.input(residual)->name() + "' cannot be quantized");
    plan_.nodes.push_back({n.name(), n.op_type(), {g}});
    return Status::Ok();
  }

  // The input index of a bias that can be stored as int32, or -1. Its scale
  // is input scale x weight scale, so the weight must be per-tensor or have
  // one scale per bias element.
  int BiasInput(const Node& n, const WeightQuant& wq) const {
    if (!config_.int32_bias || !IsFloatConstant(n.input(2))) return -1;
    const Tensor& bias = n.input(2)->constant();
    const Tensor& w = n.input(1)->constant();
    if (bias.rank() != 1) return -1;
    if (wq.scheme.granularity == Granularity::kPerChannel) {
      if (w.dim(wq.scheme.axis) != bias.dim(0)) return -1;  // e.g. grouped ConvTranspose
    } else if (wq.scheme.granularity != Granularity::kPerTensor) {
      return -1;
    }
    if (n.op_type() == "Conv" || n.op_type() == "ConvTranspose") return 2;
    if (n.op_type() != "Gemm") return -1;
    // Y = alpha A B + beta C: an integer bias needs alpha = beta = 1.
    auto alpha = n.GetFloat("alpha", 1.0f), beta = n.GetFloat("beta", 1.0f);
    if (!alpha.ok() || !beta.ok() || *alpha != 1.0f || *beta != 1.0f) return -1;
    return 2;
  }

  Status Skip(const Node& n, std::string why) {
    plan_.skipped.emplace_back(n.name(), std::move(why));
    return Status::Ok();
  }

  bool IsShared(const Node* p) const {
    return p != nullptr && p->domain().empty() && Contains(config_.shared_ops, p->op_type()) &&
           Excluded(*p).empty();
  }

  GroupMember& Member(int g, const Value* v) {
    for (GroupMember& m : plan_.groups[g].members)
      if (m.value == v->name()) return m;
    plan_.groups[g].members.push_back({v->name(), {}});
    group_of_[v] = g;
    return plan_.groups[g].members.back();
  }

  static void AddConsumer(GroupMember& m, const Node& consumer) {
    if (!Contains(m.consumers, consumer.name())) m.consumers.push_back(consumer.name());
  }

  int NewGroup(const Value* observed) {
    ActivationGroup g;
    g.id = static_cast<int>(plan_.groups.size());
    g.scheme = *config_.activation;
    g.observed_value = observed->name();
    plan_.groups.push_back(std::move(g));
    return plan_.groups.back().id;
  }

  // Dynamic activations of a Conv are quantized per image (convert.h): the
  // input must be [N, C, H, W] with C, H, W static, and the convolution 2-D
  // with group 1 (one GEMM whose rows all share their image's scale).
  static std::string WhyNotDynamicConv(const Node& n) {
    const TensorType& t = n.input(0)->type();
    if (!t.has_shape || t.shape.rank() != 4)
      return "dynamic activations quantize 2-D convolutions (input [N, C, H, W]) only, got " +
             t.ToString();
    for (int i = 1; i < 4; ++i)
      if (!t.shape[i].is_static())
        return "dynamic per-image quantization needs C, H, W static, got " + t.ToString();
    auto group = n.GetInt("group", 1);
    if (!group.ok() || *group != 1)
      return "dynamic activations quantize convolutions with group 1 only";
    return "";
  }

  // The group of activation `v` as read by `consumer` (created as needed), or
  // -1 when it cannot be quantized with the configured scheme.
  Expected<int> GroupFor(const Value* v, const Node& consumer) {
    OCTET_ASSIGN_OR_RETURN(int g, GroupOf(v));
    if (g >= 0) AddConsumer(Member(g, v), consumer);
    return g;
  }

  Expected<int> GroupOf(const Value* v) {
    if (auto it = group_of_.find(v); it != group_of_.end()) return it->second;
    const QuantScheme& s = *config_.activation;
    if (s.dynamic) {
      // Per-token scales come from the tensor itself; nothing is shared.
      const TensorType& t = v->type();
      if (s.granularity == Granularity::kPerToken &&
          (!t.has_shape || t.shape.rank() < 1 || !t.shape[t.shape.rank() - 1].is_static()))
        return -1;
      const int g = NewGroup(v);
      Member(g, v);
      return g;
    }
    const Node* p = v->producer();
    if (IsShared(p) && p->op_type() == "Concat") {
      // One set of parameters over all inputs and the output, observed at the
      // output (whose range is the union of the inputs').
      const int g = NewGroup(v);
      Member(g, v);
      for (const Value* in : p->inputs())
        if (IsFloatActivation(in) && group_of_.count(in) == 0) AddConsumer(Member(g, in), *p);
      return g;
    }
    if (IsShared(p) && p->num_outputs() == 1 && IsFloatActivation(p->input(0))) {
      // Pass-through: the output's range lies within the input's, so both use
      // the input's group (observed at the top of the chain).
      OCTET_ASSIGN_OR_RETURN(int g, GroupOf(p->input(0)));
      if (g >= 0) {
        AddConsumer(Member(g, p->input(0)), *p);
        Member(g, v);
        return g;
      }
    }
    const int g = NewGroup(v);
    Member(g, v);
    return g;
  }

  const Graph& graph_;
  const QuantizerConfig& config_;
  QuantPlan plan_;
  std::unordered_map<const Value*, int> group_of_;
};

}  // namespace

int QuantPlan::num_static_groups() const {
  return static_cast<int>(std::count_if(
      groups.begin(), groups.end(), [](const ActivationGroup& g) { return !g.scheme.dynamic; }));
}

std::string QuantPlan::Describe() const {
  std::ostringstream out;
  for (const QuantizedNode& q : nodes) {
    out << q.node << " " << q.op_type << ":";
    for (int g : q.activation_groups) out << " act[" << g << "] " << groups[g].scheme.ToString();
    for (const WeightQuant& w : weights)
      if (w.node == q.node)
        out << (q.activation_groups.empty() ? " " : "; ") << "w " << w.scheme.ToString();
    for (const BiasQuant& b : biases)
      if (b.node == q.node) out << "; bias i32";
    out << "\n";
  }
  for (const auto& [node, why] : skipped) out << node << ": float (" << why << ")\n";
  return out.str();
}

Expected<QuantPlan> AnnotateForQuantization(const Graph& graph, const QuantizerConfig& config) {
  OCTET_RETURN_IF_ERROR(ValidateConfig(config, "quantizer config"));
  return Annotator(graph, config).Run();
}

}  // namespace octet::quant
