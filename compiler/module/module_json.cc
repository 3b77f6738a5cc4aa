// The module description as JSON: readable with any JSON tool, and exact:
// integers are int64, floats are written as the shortest decimal that reads
// back to the same double (so the same float), and non-finite floats as their
// bit pattern ("f32:0x7fc00000"), which JSON numbers cannot express.
#include <cfloat>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "module_internal.h"

namespace octet::module_internal {
namespace {

using Json = nlohmann::ordered_json;

Json FloatToJson(float f) {
  if (std::isfinite(f)) return static_cast<double>(f);
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  char buf[24];
  std::snprintf(buf, sizeof buf, "f32:0x%08" PRIx32, bits);
  return std::string(buf);
}

Json DimToJson(const Dim& d) {
  if (d.is_static()) return d.value();
  return d.is_symbolic() ? Json(d.symbol()) : Json("?");
}

Json AttrToJson(const ModuleAttr& a) {
  Json j;
  j["name"] = a.name;
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) j["int"] = v;
        if constexpr (std::is_same_v<T, float>) j["float"] = FloatToJson(v);
        if constexpr (std::is_same_v<T, std::string>) j["string"] = v;
        if constexpr (std::is_same_v<T, std::vector<int64_t>>) j["ints"] = v;
        if constexpr (std::is_same_v<T, std::vector<float>>) {
          Json arr = Json::array();
          for (float f : v) arr.push_back(FloatToJson(f));
          j["floats"] = std::move(arr);
        }
      },
      a.value);
  return j;
}

Json SlotToJson(const TensorSlot& s) {
  Json j;
  j["name"] = s.name;
  j["dtype"] = std::string(DTypeName(s.dtype));
  Json shape = Json::array();
  for (const Dim& d : s.shape.dims()) shape.push_back(DimToJson(d));
  j["shape"] = std::move(shape);
  j["kind"] = SlotKindName(s.kind);
  if (s.kind == SlotKind::kActivation) {
    if (s.dynamic) {
      j["dynamic"] = true;
    } else {
      j["offset"] = s.arena_offset;
      j["bytes"] = s.byte_size;
    }
  }
  if (s.kind == SlotKind::kConstant) j["weight"] = s.weight_section;
  return j;
}

// --- decoding: every access checks the JSON type and names the field ----------

Status Bad(const std::string& where, const std::string& what) {
  return DataLoss("module description: '", where, "' ", what);
}

Expected<const Json*> Member(const Json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) return Bad(where, "is not an object");
  auto it = obj.find(key);
  if (it == obj.end()) return Bad(where + "." + key, "is missing");
  return &*it;
}

Status ReadInt(const Json& v, const std::string& where, int64_t* out) {
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t{INT64_MAX})
    return Bad(where, "is out of the int64 range");
  if (!v.is_number_integer()) return Bad(where, "is not an integer");
  *out = v.get<int64_t>();
  return Status::Ok();
}

Status ReadIndex(const Json& v, const std::string& where, int32_t* out) {
  int64_t i = 0;
  OCTET_RETURN_IF_ERROR(ReadInt(v, where, &i));
  if (i < -1 || i > INT32_MAX) return Bad(where, "is not a valid index");
  *out = static_cast<int32_t>(i);
  return Status::Ok();
}

Status ReadString(const Json& v, const std::string& where, std::string* out) {
  if (!v.is_string()) return Bad(where, "is not a string");
  *out = v.get<std::string>();
  return Status::Ok();
}

Status ReadFloat(const Json& v, const std::string& where, float* out) {
  if (v.is_number()) {
    const double d = v.get<double>();
    // Converting a double outside the float range is undefined behaviour.
    if (!(std::fabs(d) <= static_cast<double>(FLT_MAX))) return Bad(where, "is not a float");
    *out = static_cast<float>(d);
    return Status::Ok();
  }
  // Non-finite values: exactly "f32:0x" and 8 hex digits.
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    uint32_t bits = 0;
    bool ok = s.size() == 14 && s.compare(0, 6, "f32:0x") == 0;
    for (size_t i = 6; ok && i < s.size(); ++i) {
      const char c = s[i];
      const int digit = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
      ok = digit >= 0;
      bits = (bits << 4) | static_cast<uint32_t>(digit & 15);
    }
    if (ok) {
      std::memcpy(out, &bits, sizeof *out);
      return Status::Ok();
    }
  }
  return Bad(where, "is not a float (a number or \"f32:0xXXXXXXXX\")");
}

template <typename T, typename ReadOne>
Status ReadArray(const Json& v, const std::string& where, std::vector<T>* out, ReadOne read) {
  if (!v.is_array()) return Bad(where, "is not an array");
  out->assign(v.size(), T{});
  for (size_t i = 0; i < v.size(); ++i)
    OCTET_RETURN_IF_ERROR(read(v[i], where + "[" + std::to_string(i) + "]", &(*out)[i]));
  return Status::Ok();
}

Status ReadStringMap(const Json& v, const std::string& where,
                     std::map<std::string, std::string>* out) {
  if (!v.is_object()) return Bad(where, "is not an object");
  for (const auto& [k, val] : v.items())
    OCTET_RETURN_IF_ERROR(ReadString(val, where + "." + k, &(*out)[k]));
  return Status::Ok();
}

Status ReadAttr(const Json& j, const std::string& where, ModuleAttr* a) {
  OCTET_ASSIGN_OR_RETURN(const Json* name, Member(j, "name", where));
  OCTET_RETURN_IF_ERROR(ReadString(*name, where + ".name", &a->name));
  if (j.size() != 2) return Bad(where, "must have a name and exactly one typed value");
  if (auto it = j.find("int"); it != j.end()) {
    int64_t v = 0;
    OCTET_RETURN_IF_ERROR(ReadInt(*it, where + ".int", &v));
    a->value = v;
  } else if (auto it = j.find("float"); it != j.end()) {
    float v = 0;
    OCTET_RETURN_IF_ERROR(ReadFloat(*it, where + ".float", &v));
    a->value = v;
  } else if (auto it = j.find("string"); it != j.end()) {
    std::string v;
    OCTET_RETURN_IF_ERROR(ReadString(*it, where + ".string", &v));
    a->value = std::move(v);
  } else if (auto it = j.find("ints"); it != j.end()) {
    std::vector<int64_t> v;
    OCTET_RETURN_IF_ERROR(ReadArray(*it, where + ".ints", &v, ReadInt));
    a->value = std::move(v);
  } else if (auto it = j.find("floats"); it != j.end()) {
    std::vector<float> v;
    OCTET_RETURN_IF_ERROR(ReadArray(*it, where + ".floats", &v, ReadFloat));
    a->value = std::move(v);
  } else {
    return Bad(where, "has no value of a known type (int, float, string, ints, floats)");
  }
  return Status::Ok();
}

Status ReadDim(const Json& j, const std::string& where, Dim* d) {
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s.empty()) return Bad(where, "is an empty dim name");
    *d = s == "?" ? Dim::Unknown() : Dim::Symbol(s);
    return Status::Ok();
  }
  int64_t v = 0;
  OCTET_RETURN_IF_ERROR(ReadInt(j, where, &v));
  if (v < 0) return Bad(where, "is a negative dim");
  *d = Dim(v);
  return Status::Ok();
}

Status ReadSlot(const Json& j, const std::string& where, TensorSlot* s) {
  std::string dtype, kind;
  OCTET_ASSIGN_OR_RETURN(const Json* name, Member(j, "name", where));
  OCTET_RETURN_IF_ERROR(ReadString(*name, where + ".name", &s->name));
  OCTET_ASSIGN_OR_RETURN(const Json* dt, Member(j, "dtype", where));
  OCTET_RETURN_IF_ERROR(ReadString(*dt, where + ".dtype", &dtype));
  const std::optional<DType> parsed = DTypeFromName(dtype);
  if (!parsed) return Bad(where + ".dtype", "names no known dtype ('" + dtype + "')");
  s->dtype = *parsed;
  OCTET_ASSIGN_OR_RETURN(const Json* shape, Member(j, "shape", where));
  std::vector<Dim> dims;
  OCTET_RETURN_IF_ERROR(ReadArray(*shape, where + ".shape", &dims, ReadDim));
  s->shape = Shape(std::move(dims));
  OCTET_ASSIGN_OR_RETURN(const Json* k, Member(j, "kind", where));
  OCTET_RETURN_IF_ERROR(ReadString(*k, where + ".kind", &kind));
  if (kind == "input") {
    s->kind = SlotKind::kInput;
  } else if (kind == "output") {
    s->kind = SlotKind::kOutput;
  } else if (kind == "constant") {
    s->kind = SlotKind::kConstant;
    OCTET_ASSIGN_OR_RETURN(const Json* w, Member(j, "weight", where));
    OCTET_RETURN_IF_ERROR(ReadInt(*w, where + ".weight", &s->weight_section));
  } else if (kind == "activation") {
    s->kind = SlotKind::kActivation;
    if (auto it = j.find("dynamic"); it != j.end()) {
      if (!it->is_boolean() || !it->get<bool>()) return Bad(where + ".dynamic", "is not true");
      s->dynamic = true;
    } else {
      OCTET_ASSIGN_OR_RETURN(const Json* off, Member(j, "offset", where));
      OCTET_RETURN_IF_ERROR(ReadInt(*off, where + ".offset", &s->arena_offset));
      OCTET_ASSIGN_OR_RETURN(const Json* bytes, Member(j, "bytes", where));
      OCTET_RETURN_IF_ERROR(ReadInt(*bytes, where + ".bytes", &s->byte_size));
    }
  } else {
    return Bad(where + ".kind", "is not input, output, activation or constant");
  }
  return Status::Ok();
}

Status ReadPair(const Json& j, const std::string& where, std::pair<int32_t, int32_t>* p) {
  if (!j.is_array() || j.size() != 2) return Bad(where, "is not an [output, input] pair");
  OCTET_RETURN_IF_ERROR(ReadIndex(j[0], where + "[0]", &p->first));
  return ReadIndex(j[1], where + "[1]", &p->second);
}

Status ReadOp(const Json& j, const std::string& where, ModuleOp* op) {
  OCTET_ASSIGN_OR_RETURN(const Json* kernel, Member(j, "kernel", where));
  OCTET_RETURN_IF_ERROR(ReadString(*kernel, where + ".kernel", &op->kernel));
  OCTET_ASSIGN_OR_RETURN(const Json* name, Member(j, "name", where));
  OCTET_RETURN_IF_ERROR(ReadString(*name, where + ".name", &op->name));
  OCTET_ASSIGN_OR_RETURN(const Json* attrs, Member(j, "attrs", where));
  OCTET_RETURN_IF_ERROR(ReadArray(*attrs, where + ".attrs", &op->attrs, ReadAttr));
  OCTET_ASSIGN_OR_RETURN(const Json* in, Member(j, "inputs", where));
  OCTET_RETURN_IF_ERROR(ReadArray(*in, where + ".inputs", &op->inputs, ReadIndex));
  OCTET_ASSIGN_OR_RETURN(const Json* out, Member(j, "outputs", where));
  OCTET_RETURN_IF_ERROR(ReadArray(*out, where + ".outputs", &op->outputs, ReadIndex));
  OCTET_ASSIGN_OR_RETURN(const Json* w, Member(j, "weights", where));
  OCTET_RETURN_IF_ERROR(ReadArray(*w, where + ".weights", &op->weight_sections, ReadIndex));
  OCTET_ASSIGN_OR_RETURN(const Json* inplace, Member(j, "inplace", where));
  return ReadArray(*inplace, where + ".inplace", &op->inplace, ReadPair);
}

Status ReadWeight(const Json& j, const std::string& where, std::pair<std::string, int64_t>* w) {
  OCTET_ASSIGN_OR_RETURN(const Json* name, Member(j, "name", where));
  OCTET_RETURN_IF_ERROR(ReadString(*name, where + ".name", &w->first));
  OCTET_ASSIGN_OR_RETURN(const Json* size, Member(j, "size", where));
  return ReadInt(*size, where + ".size", &w->second);
}

Expected<ModuleDesc> Decode(const Json& j, std::vector<std::pair<std::string, int64_t>>* weights) {
  ModuleDesc d;
  OCTET_ASSIGN_OR_RETURN(const Json* target, Member(j, "target", "description"));
  OCTET_RETURN_IF_ERROR(ReadString(*target, "target", &d.target));
  OCTET_ASSIGN_OR_RETURN(const Json* req, Member(j, "requirements", "description"));
  OCTET_RETURN_IF_ERROR(ReadStringMap(*req, "requirements", &d.requirements));
  OCTET_ASSIGN_OR_RETURN(const Json* meta, Member(j, "metadata", "description"));
  OCTET_RETURN_IF_ERROR(ReadStringMap(*meta, "metadata", &d.metadata));
  OCTET_ASSIGN_OR_RETURN(const Json* plan, Member(j, "memory_plan", "description"));
  OCTET_ASSIGN_OR_RETURN(const Json* arena, Member(*plan, "arena_size", "memory_plan"));
  OCTET_RETURN_IF_ERROR(ReadInt(*arena, "memory_plan.arena_size", &d.memory_plan.arena_size));
  OCTET_ASSIGN_OR_RETURN(const Json* align, Member(*plan, "alignment", "memory_plan"));
  OCTET_RETURN_IF_ERROR(ReadInt(*align, "memory_plan.alignment", &d.memory_plan.alignment));
  OCTET_ASSIGN_OR_RETURN(const Json* ref, Member(*plan, "reference_dims", "memory_plan"));
  if (!ref->is_object()) return Bad("memory_plan.reference_dims", "is not an object");
  for (const auto& [k, v] : ref->items())
    OCTET_RETURN_IF_ERROR(
        ReadInt(v, "memory_plan.reference_dims." + k, &d.memory_plan.reference_dims[k]));
  OCTET_ASSIGN_OR_RETURN(const Json* w, Member(j, "weights", "description"));
  OCTET_RETURN_IF_ERROR(ReadArray(*w, "weights", weights, ReadWeight));
  OCTET_ASSIGN_OR_RETURN(const Json* slots, Member(j, "slots", "description"));
  OCTET_RETURN_IF_ERROR(ReadArray(*slots, "slots", &d.slots, ReadSlot));
  OCTET_ASSIGN_OR_RETURN(const Json* ops, Member(j, "ops", "description"));
  OCTET_RETURN_IF_ERROR(ReadArray(*ops, "ops", &d.ops, ReadOp));
  return d;
}

}  // namespace

Expected<std::string> EncodeDescription(const ModuleDesc& desc,
                                        const std::vector<WeightSection>& weights) {
  Json j;
  j["target"] = desc.target;
  j["requirements"] = desc.requirements;
  j["metadata"] = desc.metadata;
  j["memory_plan"] = {{"arena_size", desc.memory_plan.arena_size},
                      {"alignment", desc.memory_plan.alignment},
                      {"reference_dims", desc.memory_plan.reference_dims}};
  Json w = Json::array();
  for (const WeightSection& s : weights)
    w.push_back({{"name", s.name}, {"size", static_cast<int64_t>(s.bytes.size())}});
  j["weights"] = std::move(w);
  Json slots = Json::array();
  for (const TensorSlot& s : desc.slots) slots.push_back(SlotToJson(s));
  j["slots"] = std::move(slots);
  Json ops = Json::array();
  for (const ModuleOp& op : desc.ops) {
    Json o;
    o["kernel"] = op.kernel;
    o["name"] = op.name;
    Json attrs = Json::array();
    for (const ModuleAttr& a : op.attrs) attrs.push_back(AttrToJson(a));
    o["attrs"] = std::move(attrs);
    o["inputs"] = op.inputs;
    o["outputs"] = op.outputs;
    o["weights"] = op.weight_sections;
    o["inplace"] = op.inplace;  // [[output, input], ...]
    ops.push_back(std::move(o));
  }
  j["ops"] = std::move(ops);
  try {
    return j.dump();  // strict: a string that is not UTF-8 throws
  } catch (const Json::exception& e) {
    return InvalidArgument("module description: a name or metadata string is not valid UTF-8 (",
                           e.what(), ")");
  }
}

Expected<ModuleDesc> DecodeDescription(std::string_view json,
                                       std::vector<std::pair<std::string, int64_t>>* weights) {
  Json j;
  try {
    j = Json::parse(json.begin(), json.end());
  } catch (const Json::exception& e) {
    return DataLoss("module description is not valid JSON: ", e.what());
  }
  if (!j.is_object()) return DataLoss("module description is not a JSON object");
  try {
    return Decode(j, weights);
  } catch (const Json::exception& e) {  // not expected: every access is type-checked
    return DataLoss("module description is malformed: ", e.what());
  }
}

}  // namespace octet::module_internal
