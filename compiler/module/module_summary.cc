#include "octet/module/module_summary.h"

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

namespace octet {
namespace {

std::string SlotText(const ModuleDesc& desc, int32_t index) {
  if (index < 0) return "-";
  if (index >= static_cast<int32_t>(desc.slots.size())) return "<bad slot>";
  const TensorSlot& s = desc.slots[index];
  std::string text = s.name + ":" + std::string(DTypeName(s.dtype)) + s.shape.ToString();
  if (s.kind == SlotKind::kConstant) text += "(const)";
  return text;
}

std::string AttrText(const ModuleAttr& a) {
  std::ostringstream os;
  os << a.name << "=";
  if (const auto* i = std::get_if<int64_t>(&a.value)) {
    os << *i;
  } else if (const auto* f = std::get_if<float>(&a.value)) {
    os << *f;
  } else if (const auto* s = std::get_if<std::string>(&a.value)) {
    os << '"' << *s << '"';
  } else {
    // Lists: the first few values; long tables (row maps, scales) as a count.
    auto list = [&os](const auto& v) {
      os << "[";
      const size_t shown = v.size() <= 8 ? v.size() : 4;
      for (size_t k = 0; k < shown; ++k) os << (k ? "," : "") << v[k];
      if (shown < v.size()) os << ",... (" << v.size() << " values)";
      os << "]";
    };
    if (const auto* iv = std::get_if<std::vector<int64_t>>(&a.value)) list(*iv);
    if (const auto* fv = std::get_if<std::vector<float>>(&a.value)) list(*fv);
  }
  return os.str();
}

std::string Bytes(int64_t b) {
  char buf[64];
  if (b >= (int64_t{1} << 20)) {
    std::snprintf(buf, sizeof(buf), "%.1f MiB", static_cast<double>(b) / (1 << 20));
  } else {
    std::snprintf(buf, sizeof(buf), "%lld bytes", static_cast<long long>(b));
  }
  return buf;
}

}  // namespace

bool LooksLikeModuleFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[kModuleMagicSize] = {};
  if (!in.read(magic, kModuleMagicSize)) return false;
  return std::string(magic, kModuleMagicSize) == std::string(kModuleMagic, kModuleMagicSize);
}

std::string FormatModuleSummary(const LoadedModule& module, const ModuleSummaryOptions& options) {
  const ModuleDesc& desc = module.desc();
  std::ostringstream os;
  os << module.source() << ": format " << module.format_version() << ", target " << desc.target
     << "\n";
  for (const auto& [k, v] : desc.requirements) os << "  requires " << k << " = " << v << "\n";
  if (!desc.metadata.empty()) os << "metadata:\n";
  for (const auto& [k, v] : desc.metadata) os << "  " << k << ": " << v << "\n";
  int64_t weight_bytes = 0;
  for (const WeightView& w : module.weights()) weight_bytes += w.size;
  std::map<SlotKind, int> kinds;
  for (const TensorSlot& s : desc.slots) ++kinds[s.kind];
  os << "slots: " << desc.slots.size() << " (" << kinds[SlotKind::kActivation] << " activations, "
     << kinds[SlotKind::kConstant] << " constants); arena " << Bytes(desc.memory_plan.arena_size)
     << "; " << module.weights().size() << " weight sections, " << Bytes(weight_bytes) << "\n";
  for (size_t i = 0; i < desc.slots.size(); ++i) {
    const TensorSlot& s = desc.slots[i];
    if (s.kind == SlotKind::kInput || s.kind == SlotKind::kOutput) {
      os << (s.kind == SlotKind::kInput ? "input  " : "output ") << s.name << " : "
         << DTypeName(s.dtype) << s.shape.ToString() << "\n";
    }
  }
  std::map<std::string, int> histogram;
  for (const ModuleOp& op : desc.ops) ++histogram[op.kernel];
  os << desc.ops.size() << " ops by kernel:\n";
  for (const auto& [kernel, count] : histogram) os << "  " << count << "  " << kernel << "\n";
  if (options.list_ops) {
    os << "ops in execution order:\n";
    for (size_t i = 0; i < desc.ops.size(); ++i) {
      const ModuleOp& op = desc.ops[i];
      os << "  " << i << "  " << op.kernel << "  " << op.name << "\n      (";
      for (size_t k = 0; k < op.inputs.size(); ++k) {
        os << (k ? ", " : "") << SlotText(desc, op.inputs[k]);
      }
      os << ") -> (";
      for (size_t k = 0; k < op.outputs.size(); ++k) {
        os << (k ? ", " : "") << SlotText(desc, op.outputs[k]);
      }
      os << ")";
      for (const ModuleAttr& a : op.attrs) os << " " << AttrText(a);
      os << "\n";
    }
  }
  return os.str();
}

}  // namespace octet
