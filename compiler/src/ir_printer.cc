// Prints the IR text form described in ir_text.h.
#include <cinttypes>
#include <cmath>
#include <cstdio>

#include "ir_text_common.h"
#include "octet/ir_text.h"

namespace octet {
namespace {

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// A name as written after '%' or 'graph': bare when possible, else quoted.
std::string NameText(const std::string& n) {
  bool bare = !n.empty() && n != "_";
  for (char c : n) bare = bare && ir_text::IsBareNameChar(c);
  return bare ? n : Quote(n);
}

std::string ValueName(const Value* v) { return v == nullptr ? "_" : "%" + NameText(v->name()); }

// Shortest decimal text that parses back to the same float; always marked as a float.
std::string FloatText(double v, bool is_f32) {
  if (std::isnan(v)) return std::signbit(v) ? "-nan" : "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  char buf[40];
  for (int precision = is_f32 ? 6 : 15; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, v);
    if (is_f32 ? std::strtof(buf, nullptr) == static_cast<float>(v)
               : std::strtod(buf, nullptr) == v)
      break;
  }
  std::string s = buf;
  if (s.find_first_of(".en") == std::string::npos) s += ".0";
  return s;
}

std::string FloatText(float v) { return FloatText(static_cast<double>(v), true); }

std::string TypeText(const TensorType& t) {
  std::string s(DTypeName(t.dtype));
  s += t.has_shape ? t.shape.ToString() : "[*]";
  if (t.quant) {
    const QuantParams& q = *t.quant;
    s += "{";
    s += QuantGranularityName(q.granularity);
    if (q.granularity != QuantGranularity::kPerTensor) s += " axis=" + std::to_string(q.axis);
    if (q.granularity == QuantGranularity::kPerBlock) s += " block=" + std::to_string(q.block_size);
    s += " scale=[";
    for (size_t i = 0; i < q.scales.size(); ++i) s += (i ? ", " : "") + FloatText(q.scales[i]);
    s += "] zp=[";
    for (size_t i = 0; i < q.zero_points.size(); ++i)
      s += (i ? ", " : "") + std::to_string(q.zero_points[i]);
    s += "]}";
  }
  return s;
}

std::string TensorDataText(const Tensor& t, const PrintOptions& options) {
  if (options.max_constant_elements >= 0 && t.numel() > options.max_constant_elements)
    return "<" + std::to_string(t.numel()) + " elements>";
  std::string s;
  if (!ir_text::HasDecimalForm(t.dtype())) {
    s = "0x";
    const auto* bytes = t.data<uint8_t>();
    char buf[4];
    for (int64_t i = 0; i < t.nbytes(); ++i) {
      std::snprintf(buf, sizeof(buf), "%02x", bytes[i]);
      s += buf;
    }
    return s;
  }
  s = "[";
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (i) s += ", ";
    switch (t.dtype()) {
      case DType::kF32:
        s += FloatText(t.data<float>()[i]);
        break;
      case DType::kF64:
        s += FloatText(t.data<double>()[i], false);
        break;
      case DType::kU64:
        s += std::to_string(t.data<uint64_t>()[i]);
        break;
      default:
        s += std::to_string(t.GetAsInt64(i));
        break;
    }
  }
  return s + "]";
}

std::string AttributeText(const Attribute& a, const PrintOptions& options) {
  auto join = [](const auto& items, auto fn) {
    std::string s = "[";
    for (size_t i = 0; i < items.size(); ++i) s += (i ? ", " : "") + fn(items[i]);
    return s + "]";
  };
  switch (a.kind()) {
    case Attribute::Kind::kInt:
      return std::to_string(a.i());
    case Attribute::Kind::kFloat:
      return FloatText(a.f());
    case Attribute::Kind::kString:
      return Quote(a.s());
    case Attribute::Kind::kTensor:
      return "tensor<" + a.t().ShapeString() + ">" + TensorDataText(a.t(), {});
    case Attribute::Kind::kInts:
      return "ints" + join(a.ints(), [](int64_t v) { return std::to_string(v); });
    case Attribute::Kind::kFloats:
      return "floats" + join(a.floats(), [](float v) { return FloatText(v); });
    case Attribute::Kind::kStrings:
      return "strings" + join(a.strings(), [](const std::string& v) { return Quote(v); });
  }
  return "?";
}

}  // namespace

std::string PrintGraph(const Graph& graph, const PrintOptions& options) {
  std::string out = "graph " + NameText(graph.name()) + " {\n";
  for (const Value* in : graph.inputs())
    out += "  input " + ValueName(in) + " : " + TypeText(in->type()) + "\n";
  for (const Value* c : graph.constants())
    out += "  const " + ValueName(c) + " : " + TypeText(c->type()) + " = " +
           TensorDataText(c->constant(), options) + "\n";
  for (const Node* n : graph.nodes()) {
    out += "  ";
    for (int i = 0; i < n->num_outputs(); ++i) {
      if (i) out += ", ";
      out += ValueName(n->output(i)) + " : " + TypeText(n->output(i)->type());
    }
    out += " = " + n->op_type() + "(";
    for (int i = 0; i < n->num_inputs(); ++i) out += (i ? ", " : "") + ValueName(n->input(i));
    out += ")";
    if (!n->attributes().empty()) {
      out += " {";
      bool first = true;
      for (const auto& [name, attr] : n->attributes()) {
        out += (first ? "" : ", ") + name + " = " + AttributeText(attr, options);
        first = false;
      }
      out += "}";
    }
    if (!n->name().empty()) out += " name=" + Quote(n->name());
    if (!n->domain().empty()) out += " domain=" + Quote(n->domain());
    out += "\n";
  }
  if (!graph.outputs().empty()) {
    out += "  output ";
    for (size_t i = 0; i < graph.outputs().size(); ++i)
      out += (i ? ", " : "") + ValueName(graph.outputs()[i]);
    out += "\n";
  }
  return out + "}\n";
}

std::string PrintModel(const Model& model, const PrintOptions& options) {
  std::string out;
  for (const auto& [domain, version] : model.opset_imports)
    out += "opset " + Quote(domain) + " " + std::to_string(version) + "\n";
  if (model.ir_version != 8) out += "ir_version " + std::to_string(model.ir_version) + "\n";
  if (!model.producer_name.empty() || !model.producer_version.empty())
    out += "producer " + Quote(model.producer_name) + " " + Quote(model.producer_version) + "\n";
  for (const auto& [k, v] : model.metadata) out += "metadata " + Quote(k) + " " + Quote(v) + "\n";
  return out + PrintGraph(*model.graph, options);
}

}  // namespace octet
