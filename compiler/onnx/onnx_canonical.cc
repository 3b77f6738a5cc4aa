// The canonical (newest-opset) form of ops whose attributes became inputs; see
// the table in octet/onnx.h. Kernels and passes only ever see the input form.
#include <vector>

#include "octet/onnx.h"
#include "onnx_internal.h"

namespace octet::onnx_internal {
namespace {

struct AttrAsInput {
  const char* op_type;
  const char* attr;
  int input_index;
  int64_t input_since;  // first opset where the value is an input
};

// Clip, Pad and Slice moved to inputs before opset 13 and need no entry.
// At legacy opsets (7..12) every entry below has its attribute form, as at
// any opset below its input_since, so the opset comparisons need no special
// case. (All of these ops changed at 13, so a legacy import never holds one;
// a graph built in Octet and exported at a legacy opset can.)
constexpr AttrAsInput kAttrAsInput[] = {
    {"Split", "split", 1, 13},          {"Squeeze", "axes", 1, 13},
    {"Unsqueeze", "axes", 1, 13},       {"ReduceSum", "axes", 1, 13},
    {"ReduceMean", "axes", 1, 18},      {"ReduceMax", "axes", 1, 18},
    {"ReduceMin", "axes", 1, 18},       {"ReduceProd", "axes", 1, 18},
    {"ReduceL1", "axes", 1, 18},        {"ReduceL2", "axes", 1, 18},
    {"ReduceLogSum", "axes", 1, 18},    {"ReduceLogSumExp", "axes", 1, 18},
    {"ReduceSumSquare", "axes", 1, 18},
};

// Split's 'num_outputs' attribute exists from opset 18 on.
constexpr int64_t kSplitNumOutputsSince = 18;

const AttrAsInput* FindEntry(const std::string& domain, const std::string& op_type) {
  if (!domain.empty()) return nullptr;
  for (const AttrAsInput& e : kAttrAsInput)
    if (op_type == e.op_type) return &e;
  return nullptr;
}

void RemoveProtoAttr(onnx::NodeProto* proto, const std::string& name) {
  auto* attrs = proto->mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i) {
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      return;
    }
  }
}

}  // namespace

Status CanonicalizeNode(Graph& graph, Node& node, int64_t opset) {
  const AttrAsInput* e = FindEntry(node.domain(), node.op_type());
  if (e != nullptr && node.HasAttr(e->attr)) {
    if (opset >= e->input_since)
      return InvalidArgument("node ", node.Describe(), ": attribute '", e->attr,
                             "' is not allowed at opset ", opset, " (it is input ", e->input_index,
                             " since opset ", e->input_since, ")");
    if (node.input(e->input_index) != nullptr)
      return InvalidArgument("node ", node.Describe(), ": has both attribute '", e->attr,
                             "' and input ", e->input_index);
    OCTET_ASSIGN_OR_RETURN(std::vector<int64_t> values, node.GetInts(e->attr, std::nullopt));
    const std::string base =
        (node.name().empty() ? node.output(0)->name() : node.name()) + "_" + e->attr;
    const auto count = static_cast<int64_t>(values.size());
    Value* c = graph.AddConstant(graph.UniqueValueName(base),
                                 Tensor::FromVector<int64_t>(values, {count}));
    node.SetInput(e->input_index, c);
    node.RemoveAttr(e->attr);
  }
  if (node.domain().empty() && node.op_type() == "Split" && opset < kSplitNumOutputsSince &&
      node.input(1) == nullptr && !node.HasAttr("num_outputs")) {
    // Without a 'split' input the output count implies an even split.
    node.SetAttr("num_outputs", static_cast<int64_t>(node.num_outputs()));
  }
  return Status::Ok();
}

Status DecanonicalizeNode(const Node& node, int64_t opset, onnx::NodeProto* proto,
                          std::vector<int>* inputs_as_attrs) {
  const AttrAsInput* e = FindEntry(node.domain(), node.op_type());
  if (e != nullptr && opset < e->input_since && node.input(e->input_index) != nullptr) {
    const Value* v = node.input(e->input_index);
    if (!v->is_constant())
      return InvalidArgument("node ", node.Describe(), ": input ", e->input_index, " ('", v->name(),
                             "') must be a constant to export at opset ", opset, ", where '",
                             e->attr, "' is an attribute");
    const Tensor& t = v->constant();
    if (!IsInteger(t.dtype()) || t.rank() > 1)
      return InvalidArgument("node ", node.Describe(), ": input ", e->input_index, " ('", v->name(),
                             "') should be a 1-D integer tensor but is ", t.ShapeString());
    onnx::AttributeProto* a = proto->add_attribute();
    a->set_name(e->attr);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t i = 0; i < t.numel(); ++i) a->add_ints(t.GetAsInt64(i));
    inputs_as_attrs->push_back(e->input_index);
  }
  if (node.domain().empty() && node.op_type() == "Split" && opset < kSplitNumOutputsSince &&
      node.HasAttr("num_outputs")) {
    // Opset 18 allows a smaller last chunk; older opsets only an even split.
    const Value* in = node.input(0);
    OCTET_ASSIGN_OR_RETURN(int64_t axis, node.GetInt("axis", 0));
    OCTET_ASSIGN_OR_RETURN(int64_t parts, node.GetInt("num_outputs", std::nullopt));
    if (in != nullptr && in->type().has_shape && parts > 0) {
      const Shape& s = in->type().shape;
      const int64_t a = axis < 0 ? axis + s.rank() : axis;
      if (a >= 0 && a < s.rank() && s[static_cast<int>(a)].is_static() &&
          s[static_cast<int>(a)].value() % parts != 0)
        return Unimplemented("node ", node.Describe(), ": splitting a dimension of ",
                             s[static_cast<int>(a)].value(), " into ", parts,
                             " uneven parts needs opset 18, but the model is opset ", opset);
    }
    RemoveProtoAttr(proto, "num_outputs");
  }
  return Status::Ok();
}

}  // namespace octet::onnx_internal
