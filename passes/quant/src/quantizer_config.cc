#include "octet/quant/quantizer_config.h"

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace octet::quant {

using nlohmann::json;

// ---- NodeFilter ---------------------------------------------------------------

Expected<NodeFilter> NodeFilter::Parse(const std::string& spec) {
  NodeFilter f;
  std::string rest = spec;
  if (spec.rfind("name:", 0) == 0) {
    rest = spec.substr(5);
  } else if (spec.rfind("op:", 0) == 0) {
    f.kind_ = Kind::kOpType;
    rest = spec.substr(3);
  } else if (spec.rfind("re:", 0) == 0) {
    f.kind_ = Kind::kRegex;
    rest = spec.substr(3);
    try {
      f.regex_ = std::regex(rest, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return InvalidArgument("node filter '", spec, "': invalid regular expression: ", e.what());
    }
  }
  if (rest.empty())
    return InvalidArgument("node filter '", spec,
                           "' is empty; use name:NAME, op:OPTYPE or re:REGEX");
  f.pattern_ = rest;
  return f;
}

bool NodeFilter::Matches(const Node& node) const {
  switch (kind_) {
    case Kind::kName:
      return node.name() == pattern_;
    case Kind::kOpType:
      return node.op_type() == pattern_;
    case Kind::kRegex:
      return std::regex_match(node.name(), regex_);
  }
  return false;
}

std::string NodeFilter::ToString() const {
  switch (kind_) {
    case Kind::kName:
      return "name:" + pattern_;
    case Kind::kOpType:
      return "op:" + pattern_;
    case Kind::kRegex:
      return "re:" + pattern_;
  }
  return pattern_;
}

// ---- presets ----------------------------------------------------------------

namespace {

const std::vector<std::string> kQuantizableOps = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add"};

QuantScheme PerChannelSymmetricInt8() {
  QuantScheme s;
  s.dtype = DType::kI8;
  s.symmetric = true;
  s.narrow_range = true;
  s.granularity = Granularity::kPerChannel;
  return s;
}

QuantScheme PerTensorAffineUint8() {
  QuantScheme s;
  s.dtype = DType::kU8;
  return s;
}

QuantScheme PerTokenDynamicInt8() {
  QuantScheme s;
  s.dtype = DType::kI8;
  s.symmetric = true;
  s.narrow_range = true;
  s.granularity = Granularity::kPerToken;
  s.dynamic = true;
  return s;
}

QuantScheme PerGroupAffineUint4(int64_t group_size) {
  QuantScheme s;
  s.dtype = DType::kU4;
  s.granularity = Granularity::kPerGroup;
  s.group_size = group_size;
  return s;
}

}  // namespace

std::vector<std::string> PresetNames() {
  return {"x86-int8", "int8-dynamic", "int8-weight-only", "int4-weight-only"};
}

Expected<QuantizerConfig> MakePreset(const std::string& name) {
  QuantizerConfig c;
  c.preset = name;
  if (name == "x86-int8") {
    c.ops = {"Conv", "ConvTranspose", "Gemm", "MatMul", "Add"};
    c.activation = PerTensorAffineUint8();
    c.weight = PerChannelSymmetricInt8();
    c.int32_bias = true;
    c.shared_ops = {"MaxPool",   "AveragePool", "GlobalAveragePool", "Reshape", "Flatten",
                    "Transpose", "Squeeze",     "Unsqueeze",         "Concat"};
    // PyTorch's x86 flow uses HistogramObserver, which minimises the L2 error of
    // the quantized histogram: the same criterion as kMse.
    c.calibration.method = CalibrationMethod::kMse;
  } else if (name == "int8-dynamic") {
    c.ops = {"Conv", "Gemm", "MatMul"};
    c.activation = PerTokenDynamicInt8();
    c.weight = PerChannelSymmetricInt8();
    c.int32_bias = false;
  } else if (name == "int8-weight-only") {
    c.ops = {"Gemm", "MatMul"};
    c.weight = PerChannelSymmetricInt8();
    c.int32_bias = false;
  } else if (name == "int4-weight-only") {
    c.ops = {"Gemm", "MatMul"};
    c.weight = PerGroupAffineUint4(128);
    c.int32_bias = false;
    // 4-bit rounding shifts each output channel's mean; with calibration data
    // the bias takes the shift back (bias_correction.h).
    c.bias_correction = true;
  } else {
    std::string names;
    for (const std::string& n : PresetNames()) names += (names.empty() ? "" : ", ") + n;
    return InvalidArgument("unknown preset '", name, "' (presets: ", names, ")");
  }
  return c;
}

// ---- validation ---------------------------------------------------------------

Status ValidateConfig(const QuantizerConfig& c, const std::string& what) {
  if (c.ops.empty()) return InvalidArgument(what, ": 'ops' is empty: nothing would be quantized");
  for (const std::string& op : c.ops)
    if (std::find(kQuantizableOps.begin(), kQuantizableOps.end(), op) == kQuantizableOps.end())
      return InvalidArgument(
          what, ": op '", op,
          "' cannot be quantized (supported: Conv, ConvTranspose, Gemm, MatMul, Add)");
  if (c.activation) {
    OCTET_RETURN_IF_ERROR(ValidateScheme(*c.activation, what + ": activation scheme"));
    if (c.activation->granularity == Granularity::kPerChannel ||
        c.activation->granularity == Granularity::kPerGroup)
      return InvalidArgument(what, ": activations can be per-tensor or per-token, not ",
                             GranularityName(c.activation->granularity));
    if (c.activation->granularity == Granularity::kPerToken && !c.activation->dynamic)
      return InvalidArgument(what,
                             ": per-token activations must be dynamic (a calibrated "
                             "per-token scale would fix the token count)");
    if (c.activation->dynamic && (!c.activation->symmetric || c.activation->dtype != DType::kI8 ||
                                  c.activation->granularity != Granularity::kPerToken))
      return InvalidArgument(what,
                             ": dynamic activations are supported as symmetric i8 "
                             "per-token; got ",
                             c.activation->ToString());
    if (c.activation->dtype == DType::kI4 || c.activation->dtype == DType::kU4)
      return InvalidArgument(what, ": 4-bit activations are not supported; use u8 or i8");
  } else if (c.quantize_activation_matmul) {
    return InvalidArgument(what,
                           ": quantize_activation_matmul needs an activation scheme (the "
                           "configuration is weight-only)");
  }
  OCTET_RETURN_IF_ERROR(ValidateScheme(c.weight, what + ": weight scheme"));
  if (c.weight.dynamic) return InvalidArgument(what, ": weights cannot be dynamic");
  if (c.weight.granularity == Granularity::kPerToken)
    return InvalidArgument(what, ": weights cannot be per-token");
  if (c.weight.granularity == Granularity::kPerGroup &&
      (c.weight.group_size < 16 || (c.weight.group_size & (c.weight.group_size - 1)) != 0))
    return InvalidArgument(what, ": weight group_size must be a power of two >= 16, got ",
                           c.weight.group_size);
  return ValidateCalibrationOptions(c.calibration);
}

// ---- JSON -----------------------------------------------------------------------

namespace {

Expected<DType> ParseQuantDType(const std::string& s, const std::string& where) {
  if (s == "u8") return DType::kU8;
  if (s == "i8") return DType::kI8;
  if (s == "u4") return DType::kU4;
  if (s == "i4") return DType::kI4;
  return InvalidArgument(where, ": dtype '", s, "' is not one of u8, i8, u4, i4");
}

// Reads an optional field of a JSON object with a type check.
template <typename T>
Status Read(const json& obj, const char* key, const std::string& where, T* out) {
  auto it = obj.find(key);
  if (it == obj.end()) return Status::Ok();
  try {
    *out = it->template get<T>();
  } catch (const json::exception&) {
    return InvalidArgument(where, ".", key, ": expected ",
                           std::is_same_v<T, bool>          ? "true or false"
                           : std::is_same_v<T, std::string> ? "a string"
                           : std::is_arithmetic_v<T>        ? "a number"
                                                            : "a list of strings",
                           ", got ", it->dump());
  }
  return Status::Ok();
}

Status CheckKeys(const json& obj, const std::vector<std::string>& allowed,
                 const std::string& where) {
  if (!obj.is_object()) return InvalidArgument(where, ": expected a JSON object, got ", obj.dump());
  for (auto it = obj.begin(); it != obj.end(); ++it)
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string keys;
      for (const std::string& k : allowed) keys += (keys.empty() ? "" : ", ") + k;
      return InvalidArgument(where, ": unknown key '", it.key(), "' (known: ", keys, ")");
    }
  return Status::Ok();
}

Status ApplyScheme(const json& obj, const std::string& where, QuantScheme* s) {
  OCTET_RETURN_IF_ERROR(CheckKeys(obj,
                                  {"dtype", "symmetric", "granularity", "group_size", "dynamic",
                                   "reduce_range", "narrow_range"},
                                  where));
  std::string dtype, granularity;
  OCTET_RETURN_IF_ERROR(Read(obj, "dtype", where, &dtype));
  if (!dtype.empty()) {
    OCTET_ASSIGN_OR_RETURN(s->dtype, ParseQuantDType(dtype, where));
  }
  OCTET_RETURN_IF_ERROR(Read(obj, "granularity", where, &granularity));
  if (!granularity.empty()) {
    auto g = ParseGranularity(granularity);
    if (!g.ok()) return g.status().WithContext(where);
    s->granularity = *g;
  }
  OCTET_RETURN_IF_ERROR(Read(obj, "symmetric", where, &s->symmetric));
  OCTET_RETURN_IF_ERROR(Read(obj, "group_size", where, &s->group_size));
  OCTET_RETURN_IF_ERROR(Read(obj, "dynamic", where, &s->dynamic));
  OCTET_RETURN_IF_ERROR(Read(obj, "reduce_range", where, &s->reduce_range));
  OCTET_RETURN_IF_ERROR(Read(obj, "narrow_range", where, &s->narrow_range));
  return Status::Ok();
}

Status ApplyFilters(const json& obj, const char* key, const std::string& where,
                    std::vector<NodeFilter>* out) {
  std::vector<std::string> specs;
  if (!obj.contains(key)) return Status::Ok();
  OCTET_RETURN_IF_ERROR(Read(obj, key, where, &specs));
  out->clear();
  for (const std::string& spec : specs) {
    auto f = NodeFilter::Parse(spec);
    if (!f.ok()) return f.status().WithContext(where + "." + key);
    out->push_back(std::move(*f));
  }
  return Status::Ok();
}

json SchemeToJson(const QuantScheme& s) {
  json j;
  j["dtype"] = std::string(DTypeName(s.dtype));
  j["symmetric"] = s.symmetric;
  j["granularity"] = GranularityName(s.granularity);
  if (s.granularity == Granularity::kPerGroup) j["group_size"] = s.group_size;
  j["dynamic"] = s.dynamic;
  j["reduce_range"] = s.reduce_range;
  j["narrow_range"] = s.narrow_range;
  return j;
}

}  // namespace

Status ApplyConfigJson(const std::string& json_text, const std::string& what,
                       QuantizerConfig* config) {
  json root;
  try {
    root = json::parse(json_text);
  } catch (const json::parse_error& e) {
    return InvalidArgument(what, ": not valid JSON: ", e.what());
  }
  OCTET_RETURN_IF_ERROR(CheckKeys(
      root,
      {"preset", "ops", "quantize_activation_matmul", "activation", "weight", "int32_bias",
       "shared_ops", "include", "exclude", "calibration", "fold_batchnorm", "bias_correction"},
      what));
  if (root.contains("preset")) {
    std::string preset;
    OCTET_RETURN_IF_ERROR(Read(root, "preset", what, &preset));
    auto base = MakePreset(preset);
    if (!base.ok()) return base.status().WithContext(what);
    *config = std::move(*base);
  }
  OCTET_RETURN_IF_ERROR(Read(root, "ops", what, &config->ops));
  OCTET_RETURN_IF_ERROR(
      Read(root, "quantize_activation_matmul", what, &config->quantize_activation_matmul));
  if (root.contains("activation")) {
    if (root["activation"].is_null()) {
      config->activation.reset();
    } else {
      QuantScheme s = config->activation.value_or(QuantScheme{});
      OCTET_RETURN_IF_ERROR(ApplyScheme(root["activation"], what + ".activation", &s));
      config->activation = s;
    }
  }
  if (root.contains("weight"))
    OCTET_RETURN_IF_ERROR(ApplyScheme(root["weight"], what + ".weight", &config->weight));
  OCTET_RETURN_IF_ERROR(Read(root, "int32_bias", what, &config->int32_bias));
  OCTET_RETURN_IF_ERROR(Read(root, "shared_ops", what, &config->shared_ops));
  OCTET_RETURN_IF_ERROR(ApplyFilters(root, "include", what, &config->include));
  OCTET_RETURN_IF_ERROR(ApplyFilters(root, "exclude", what, &config->exclude));
  OCTET_RETURN_IF_ERROR(Read(root, "fold_batchnorm", what, &config->fold_batchnorm));
  OCTET_RETURN_IF_ERROR(Read(root, "bias_correction", what, &config->bias_correction));
  if (root.contains("calibration")) {
    const json& c = root["calibration"];
    const std::string where = what + ".calibration";
    OCTET_RETURN_IF_ERROR(
        CheckKeys(c, {"method", "percentile", "histogram_bins", "moving_average_constant"}, where));
    std::string method;
    OCTET_RETURN_IF_ERROR(Read(c, "method", where, &method));
    if (!method.empty()) {
      auto m = ParseCalibrationMethod(method);
      if (!m.ok()) return m.status().WithContext(where);
      config->calibration.method = *m;
    }
    OCTET_RETURN_IF_ERROR(Read(c, "percentile", where, &config->calibration.percentile));
    OCTET_RETURN_IF_ERROR(Read(c, "histogram_bins", where, &config->calibration.histogram_bins));
    OCTET_RETURN_IF_ERROR(
        Read(c, "moving_average_constant", where, &config->calibration.moving_average_constant));
  }
  return ValidateConfig(*config, what);
}

Status ApplyConfigFile(const std::string& path, QuantizerConfig* config) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot open quantizer config '", path, "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ApplyConfigJson(ss.str(), path, config);
}

std::string ConfigToJson(const QuantizerConfig& c) {
  json j;
  j["preset"] = c.preset;
  j["ops"] = c.ops;
  j["quantize_activation_matmul"] = c.quantize_activation_matmul;
  j["activation"] = c.activation ? SchemeToJson(*c.activation) : json(nullptr);
  j["weight"] = SchemeToJson(c.weight);
  j["int32_bias"] = c.int32_bias;
  j["shared_ops"] = c.shared_ops;
  std::vector<std::string> include, exclude;
  for (const NodeFilter& f : c.include) include.push_back(f.ToString());
  for (const NodeFilter& f : c.exclude) exclude.push_back(f.ToString());
  j["include"] = include;
  j["exclude"] = exclude;
  j["calibration"] = {{"method", CalibrationMethodName(c.calibration.method)},
                      {"percentile", c.calibration.percentile},
                      {"histogram_bins", c.calibration.histogram_bins},
                      {"moving_average_constant", c.calibration.moving_average_constant}};
  j["fold_batchnorm"] = c.fold_batchnorm;
  j["bias_correction"] = c.bias_correction;
  return j.dump(2);
}

}  // namespace octet::quant
