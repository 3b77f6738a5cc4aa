// Parses the IR text form described in ir_text.h (recursive descent over the
// raw text; errors carry line:column).
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <map>

#include "ir_text_common.h"
#include "octet/ir_text.h"

namespace octet {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Expected<Model> ParseModel();

 private:
  // ---- lexing helpers -------------------------------------------------------
  template <typename... Args>
  Status Fail(Args&&... parts) const {
    int line = 1, col = 1;
    for (size_t i = 0; i < pos_ && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return InvalidArgument("IR text ", line, ":", col, ": ", std::forward<Args>(parts)...);
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ >= text_.size();
  }
  char Peek() {
    SkipSpace();
    return pos_ < text_.size() ? text_[pos_] : '\0';
  }
  void SkipSpace() {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++pos_;
      } else if (c == '#' || (c == '/' && pos_ + 1 < text_.size() && text_[pos_ + 1] == '/')) {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else {
        break;
      }
    }
  }
  bool TryConsume(char c) {
    if (Peek() != c) return false;
    ++pos_;
    return true;
  }
  Status Expect(char c) {
    if (TryConsume(c)) return Status::Ok();
    return Fail("expected '", c, "'");
  }
  // A keyword-like word: letters, digits, '_' and '.'.
  std::string Word() {
    SkipSpace();
    const size_t start = pos_;
    while (pos_ < text_.size() && (std::isalnum(static_cast<unsigned char>(text_[pos_])) ||
                                   text_[pos_] == '_' || text_[pos_] == '.'))
      ++pos_;
    return std::string(text_.substr(start, pos_ - start));
  }
  bool TryWord(std::string_view w) {
    SkipSpace();
    const size_t save = pos_;
    if (Word() == w) return true;
    pos_ = save;
    return false;
  }
  Expected<std::string> String();
  Expected<std::string> Name();  // bare or quoted, after '%' or 'graph'
  std::string NumberToken();
  Expected<int64_t> Int();
  Expected<double> Float(const std::string& token);

  // ---- grammar ----------------------------------------------------------------
  Expected<TensorType> Type();
  Expected<Tensor> TensorData(DType dtype, const std::vector<int64_t>& dims);
  Expected<Attribute> AttributeValue();
  Status GraphBody(Graph& g);
  Expected<Value*> Operand(Graph& g);

  std::string_view text_;
  size_t pos_ = 0;
};

Expected<std::string> Parser::String() {
  if (Peek() != '"') return Fail("expected a quoted string");
  ++pos_;
  std::string out;
  while (pos_ < text_.size() && text_[pos_] != '"') {
    char c = text_[pos_++];
    if (c == '\\' && pos_ < text_.size()) {
      const char e = text_[pos_++];
      if (e == 'n') {
        c = '\n';
      } else if (e == 'x' && pos_ + 2 <= text_.size()) {
        c = static_cast<char>(std::strtol(std::string(text_.substr(pos_, 2)).c_str(), nullptr, 16));
        pos_ += 2;
      } else {
        c = e;
      }
    }
    out += c;
  }
  if (pos_ >= text_.size()) return Fail("unterminated string");
  ++pos_;
  return out;
}

Expected<std::string> Parser::Name() {
  if (Peek() == '"') return String();
  const size_t start = pos_;
  while (pos_ < text_.size() && ir_text::IsBareNameChar(text_[pos_])) ++pos_;
  if (pos_ == start) return Fail("expected a name");
  return std::string(text_.substr(start, pos_ - start));
}

std::string Parser::NumberToken() {
  SkipSpace();
  const size_t start = pos_;
  while (pos_ < text_.size()) {
    const char c = text_[pos_];
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      ++pos_;
    } else {
      break;
    }
  }
  return std::string(text_.substr(start, pos_ - start));
}

Expected<int64_t> Parser::Int() {
  const std::string tok = NumberToken();
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(tok.c_str(), &end, 10);
  if (tok.empty() || *end != '\0' || errno == ERANGE)
    return Fail("expected an integer, got '", tok, "'");
  return static_cast<int64_t>(v);
}

Expected<double> Parser::Float(const std::string& tok) {
  if (tok == "nan" || tok == "-nan") return tok[0] == '-' ? -std::nan("") : std::nan("");
  char* end = nullptr;
  const double v = std::strtod(tok.c_str(), &end);
  if (tok.empty() || *end != '\0') return Fail("expected a number, got '", tok, "'");
  return v;
}

Expected<TensorType> Parser::Type() {
  const std::string dtype_name = Word();
  const auto dtype = DTypeFromName(dtype_name);
  if (!dtype) return Fail("unknown dtype '", dtype_name, "'");
  TensorType type;
  type.dtype = *dtype;
  OCTET_RETURN_IF_ERROR(Expect('['));
  if (TryConsume('*')) {
    OCTET_RETURN_IF_ERROR(Expect(']'));
  } else {
    type.has_shape = true;
    std::vector<Dim> dims;
    while (Peek() != ']') {
      if (!dims.empty()) OCTET_RETURN_IF_ERROR(Expect(','));
      const char c = Peek();
      if (c == '?') {
        ++pos_;
        dims.push_back(Dim::Unknown());
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        OCTET_ASSIGN_OR_RETURN(int64_t v, Int());
        dims.emplace_back(v);
      } else {
        OCTET_ASSIGN_OR_RETURN(std::string sym, Name());
        dims.push_back(Dim::Symbol(sym));
      }
    }
    ++pos_;
    type.shape = Shape(std::move(dims));
  }
  if (TryConsume('{')) {
    QuantParams q;
    const std::string kind = Word();
    if (kind == "per_tensor") {
      q.granularity = QuantGranularity::kPerTensor;
    } else if (kind == "per_axis") {
      q.granularity = QuantGranularity::kPerAxis;
    } else if (kind == "per_block") {
      q.granularity = QuantGranularity::kPerBlock;
    } else {
      return Fail("unknown quantization granularity '", kind, "'");
    }
    while (!TryConsume('}')) {
      const std::string key = Word();
      OCTET_RETURN_IF_ERROR(Expect('='));
      if (key == "axis") {
        OCTET_ASSIGN_OR_RETURN(int64_t v, Int());
        q.axis = static_cast<int>(v);
      } else if (key == "block") {
        OCTET_ASSIGN_OR_RETURN(q.block_size, Int());
      } else if (key == "scale" || key == "zp") {
        OCTET_RETURN_IF_ERROR(Expect('['));
        while (!TryConsume(']')) {
          if (key == "scale" ? !q.scales.empty() : !q.zero_points.empty())
            OCTET_RETURN_IF_ERROR(Expect(','));
          if (key == "scale") {
            OCTET_ASSIGN_OR_RETURN(double v, Float(NumberToken()));
            q.scales.push_back(static_cast<float>(v));
          } else {
            OCTET_ASSIGN_OR_RETURN(int64_t v, Int());
            q.zero_points.push_back(static_cast<int32_t>(v));
          }
        }
      } else {
        return Fail("unknown quantization key '", key, "'");
      }
    }
    type.quant = q;
  }
  return type;
}

Expected<Tensor> Parser::TensorData(DType dtype, const std::vector<int64_t>& dims) {
  OCTET_ASSIGN_OR_RETURN(Tensor t, Tensor::Create(dtype, dims));
  if (Peek() == '<') return Fail("constant data was elided when printed; it cannot be parsed");
  if (!ir_text::HasDecimalForm(dtype)) {
    const std::string tok = NumberToken();
    if (tok.rfind("0x", 0) != 0) return Fail("expected hex bytes 0x... for ", DTypeName(dtype));
    const std::string hex = tok.substr(2);
    if (static_cast<int64_t>(hex.size()) != 2 * t.nbytes())
      return Fail("expected ", t.nbytes(), " bytes of data for ", t.ShapeString(), ", got ",
                  hex.size() / 2);
    for (int64_t i = 0; i < t.nbytes(); ++i)
      t.data<uint8_t>()[i] =
          static_cast<uint8_t>(std::strtol(hex.substr(2 * i, 2).c_str(), nullptr, 16));
    return t;
  }
  OCTET_RETURN_IF_ERROR(Expect('['));
  int64_t i = 0;
  while (!TryConsume(']')) {
    if (i > 0) OCTET_RETURN_IF_ERROR(Expect(','));
    if (i >= t.numel()) return Fail("too many values for ", t.ShapeString());
    const std::string tok = NumberToken();
    if (dtype == DType::kF32 || dtype == DType::kF64) {
      OCTET_ASSIGN_OR_RETURN(double v, Float(tok));
      if (dtype == DType::kF32) {
        t.data<float>()[i] = std::strtof(tok.c_str(), nullptr);
        if (std::isnan(v)) t.data<float>()[i] = static_cast<float>(v);
      } else {
        t.data<double>()[i] = v;
      }
    } else if (dtype == DType::kU64) {
      t.data<uint64_t>()[i] = std::strtoull(tok.c_str(), nullptr, 10);
    } else {
      char* end = nullptr;
      const long long v = std::strtoll(tok.c_str(), &end, 10);
      if (tok.empty() || *end != '\0') return Fail("expected an integer, got '", tok, "'");
      t.SetFromDouble(i, static_cast<double>(v));
      if (dtype == DType::kI64) t.data<int64_t>()[i] = v;
    }
    ++i;
  }
  if (i != t.numel())
    return Fail("expected ", t.numel(), " values for ", t.ShapeString(), ", got ", i);
  return t;
}

Expected<Attribute> Parser::AttributeValue() {
  const char c = Peek();
  if (c == '"') {
    OCTET_ASSIGN_OR_RETURN(std::string s, String());
    return Attribute(std::move(s));
  }
  const size_t save = pos_;
  const std::string kind = std::isalpha(static_cast<unsigned char>(c)) ? Word() : "";
  if (kind == "inf" || kind == "nan") pos_ = save;
  if (!kind.empty() && kind != "inf" && kind != "nan") {
    if (kind == "tensor") {
      OCTET_RETURN_IF_ERROR(Expect('<'));
      OCTET_ASSIGN_OR_RETURN(TensorType type, Type());
      OCTET_RETURN_IF_ERROR(Expect('>'));
      if (!type.has_shape || !type.shape.is_static())
        return Fail("tensor attribute needs a static shape");
      OCTET_ASSIGN_OR_RETURN(Tensor t, TensorData(type.dtype, type.shape.static_dims()));
      return Attribute(std::move(t));
    }
    OCTET_RETURN_IF_ERROR(Expect('['));
    std::vector<int64_t> ints;
    std::vector<float> floats;
    std::vector<std::string> strings;
    size_t count = 0;
    while (!TryConsume(']')) {
      if (count++ > 0) OCTET_RETURN_IF_ERROR(Expect(','));
      if (kind == "ints") {
        OCTET_ASSIGN_OR_RETURN(int64_t v, Int());
        ints.push_back(v);
      } else if (kind == "floats") {
        const std::string tok = NumberToken();
        OCTET_ASSIGN_OR_RETURN(double v, Float(tok));
        floats.push_back(std::isnan(v) ? static_cast<float>(v) : std::strtof(tok.c_str(), nullptr));
      } else if (kind == "strings") {
        OCTET_ASSIGN_OR_RETURN(std::string s, String());
        strings.push_back(std::move(s));
      } else {
        return Fail("unknown attribute kind '", kind, "'");
      }
    }
    if (kind == "ints") return Attribute(std::move(ints));
    if (kind == "floats") return Attribute(std::move(floats));
    if (kind == "strings") return Attribute(std::move(strings));
    return Fail("unknown attribute kind '", kind, "'");
  }
  const std::string tok = NumberToken();
  const bool is_float = tok.find_first_of(".eEni") != std::string::npos;
  if (is_float) {
    OCTET_ASSIGN_OR_RETURN(double v, Float(tok));
    return Attribute(std::isnan(v) ? static_cast<float>(v) : std::strtof(tok.c_str(), nullptr));
  }
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(tok.c_str(), &end, 10);
  if (tok.empty() || *end != '\0' || errno == ERANGE)
    return Fail("bad attribute value '", tok, "'");
  return Attribute(static_cast<int64_t>(v));
}

Expected<Value*> Parser::Operand(Graph& g) {
  if (TryConsume('_')) return static_cast<Value*>(nullptr);
  OCTET_RETURN_IF_ERROR(Expect('%'));
  OCTET_ASSIGN_OR_RETURN(std::string name, Name());
  Value* v = g.FindValue(name);
  if (v == nullptr) return Fail("value '%", name, "' is used before it is defined");
  return v;
}

Status Parser::GraphBody(Graph& g) {
  OCTET_RETURN_IF_ERROR(Expect('{'));
  auto define_name = [&](const std::string& name) -> Status {
    if (g.FindValue(name) != nullptr) return Fail("value '%", name, "' is defined twice");
    return Status::Ok();
  };
  while (!TryConsume('}')) {
    if (AtEnd()) return Fail("unexpected end of text: missing '}'");
    if (TryWord("input")) {
      OCTET_RETURN_IF_ERROR(Expect('%'));
      OCTET_ASSIGN_OR_RETURN(std::string name, Name());
      OCTET_RETURN_IF_ERROR(define_name(name));
      OCTET_RETURN_IF_ERROR(Expect(':'));
      OCTET_ASSIGN_OR_RETURN(TensorType type, Type());
      g.AddInput(name, type);
    } else if (TryWord("const")) {
      OCTET_RETURN_IF_ERROR(Expect('%'));
      OCTET_ASSIGN_OR_RETURN(std::string name, Name());
      OCTET_RETURN_IF_ERROR(define_name(name));
      OCTET_RETURN_IF_ERROR(Expect(':'));
      OCTET_ASSIGN_OR_RETURN(TensorType type, Type());
      if (!type.has_shape || !type.shape.is_static())
        return Fail("constant '%", name, "' needs a static shape");
      OCTET_RETURN_IF_ERROR(Expect('='));
      OCTET_ASSIGN_OR_RETURN(Tensor data, TensorData(type.dtype, type.shape.static_dims()));
      Value* v = g.AddConstant(name, std::move(data));
      v->mutable_type().quant = type.quant;
    } else if (TryWord("output")) {
      do {
        OCTET_ASSIGN_OR_RETURN(Value * v, Operand(g));
        if (v == nullptr) return Fail("a graph output cannot be '_'");
        g.AddOutput(v);
      } while (TryConsume(','));
    } else if (Peek() == '%') {
      std::vector<std::pair<std::string, TensorType>> outs;
      do {
        OCTET_RETURN_IF_ERROR(Expect('%'));
        OCTET_ASSIGN_OR_RETURN(std::string name, Name());
        OCTET_RETURN_IF_ERROR(define_name(name));
        for (const auto& o : outs)
          if (o.first == name) return Fail("value '%", name, "' is defined twice");
        OCTET_RETURN_IF_ERROR(Expect(':'));
        OCTET_ASSIGN_OR_RETURN(TensorType type, Type());
        outs.emplace_back(name, type);
      } while (TryConsume(','));
      OCTET_RETURN_IF_ERROR(Expect('='));
      SkipSpace();
      OCTET_ASSIGN_OR_RETURN(std::string op, Name());
      OCTET_RETURN_IF_ERROR(Expect('('));
      std::vector<Value*> inputs;
      while (!TryConsume(')')) {
        if (!inputs.empty()) OCTET_RETURN_IF_ERROR(Expect(','));
        OCTET_ASSIGN_OR_RETURN(Value * v, Operand(g));
        inputs.push_back(v);
      }
      std::map<std::string, Attribute> attrs;
      if (TryConsume('{')) {
        while (!TryConsume('}')) {
          if (!attrs.empty()) OCTET_RETURN_IF_ERROR(Expect(','));
          const std::string key = Word();
          if (key.empty()) return Fail("expected an attribute name");
          OCTET_RETURN_IF_ERROR(Expect('='));
          OCTET_ASSIGN_OR_RETURN(Attribute a, AttributeValue());
          attrs[key] = std::move(a);
        }
      }
      std::string node_name, domain;
      while (true) {
        if (TryWord("name")) {
          OCTET_RETURN_IF_ERROR(Expect('='));
          OCTET_ASSIGN_OR_RETURN(node_name, String());
        } else if (TryWord("domain")) {
          OCTET_RETURN_IF_ERROR(Expect('='));
          OCTET_ASSIGN_OR_RETURN(domain, String());
        } else {
          break;
        }
      }
      std::vector<std::string> names;
      for (const auto& o : outs) names.push_back(o.first);
      Node* n = g.AddNode(op, inputs, names, node_name, domain);
      for (size_t i = 0; i < outs.size(); ++i)
        n->output(static_cast<int>(i))->set_type(outs[i].second);
      for (auto& [k, a] : attrs) n->SetAttr(k, std::move(a));
    } else {
      return Fail("expected 'input', 'const', 'output' or a node definition");
    }
  }
  return Status::Ok();
}

Expected<Model> Parser::ParseModel() {
  Model model;
  model.ir_version = 8;
  while (true) {
    if (TryWord("opset")) {
      OCTET_ASSIGN_OR_RETURN(std::string domain, String());
      OCTET_ASSIGN_OR_RETURN(int64_t version, Int());
      model.opset_imports[domain] = version;
    } else if (TryWord("ir_version")) {
      OCTET_ASSIGN_OR_RETURN(model.ir_version, Int());
    } else if (TryWord("producer")) {
      OCTET_ASSIGN_OR_RETURN(model.producer_name, String());
      OCTET_ASSIGN_OR_RETURN(model.producer_version, String());
    } else if (TryWord("metadata")) {
      OCTET_ASSIGN_OR_RETURN(std::string key, String());
      OCTET_ASSIGN_OR_RETURN(model.metadata[key], String());
    } else {
      break;
    }
  }
  if (!TryWord("graph")) return Fail("expected 'graph'");
  SkipSpace();
  OCTET_ASSIGN_OR_RETURN(std::string name, Name());
  model.graph->set_name(name);
  OCTET_RETURN_IF_ERROR(GraphBody(*model.graph));
  if (!AtEnd()) return Fail("unexpected text after the graph");
  return model;
}

}  // namespace

Expected<Model> ParseModel(std::string_view text) { return Parser(text).ParseModel(); }

}  // namespace octet
