// The in-memory description: equality, validation and memory planning. The
// same validation runs before writing and after loading, so a file that loads
// is one the writer would have accepted.
#include <cstring>
#include <limits>
#include <set>
#include <sstream>

#include "octet/module/module.h"

namespace octet {
namespace {

std::string SlotRef(const ModuleDesc& d, int64_t i) {
  std::ostringstream os;
  os << "slot " << i << " '" << d.slots[i].name << "'";
  return os.str();
}

std::string OpRef(const ModuleDesc& d, size_t i) {
  std::ostringstream os;
  os << "op " << i << " '" << d.ops[i].name << "' (" << d.ops[i].kernel << ")";
  return os.str();
}

bool IsPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

// Bytes an activation needs at the plan's reference dims. Fails when a dim is
// unknown or a symbol has no reference value: such slots must be dynamic.
Expected<int64_t> ReferenceBytes(const ModuleDesc& d, int64_t slot) {
  const TensorSlot& s = d.slots[slot];
  std::vector<int64_t> dims;
  for (const Dim& dim : s.shape.dims()) {
    if (dim.is_static()) {
      dims.push_back(dim.value());
      continue;
    }
    auto it = d.memory_plan.reference_dims.find(dim.symbol());
    if (dim.is_unknown() || it == d.memory_plan.reference_dims.end())
      return InvalidArgument(SlotRef(d, slot), " has shape ", s.shape.ToString(),
                             " with a dim that has no reference value in the memory plan; "
                             "it must be dynamic");
    dims.push_back(it->second);
  }
  OCTET_ASSIGN_OR_RETURN(int64_t n, CheckedProduct(dims, SlotRef(d, slot)));
  if (n > std::numeric_limits<int64_t>::max() / 64)
    return OutOfRange(SlotRef(d, slot), " is too large");
  return DTypeStorageBytes(s.dtype, n);
}

Status ValidateSlot(const ModuleDesc& d, int64_t i, const std::vector<int64_t>& weight_sizes) {
  const TensorSlot& s = d.slots[i];
  if (s.dtype == DType::kUndefined || s.dtype == DType::kString)
    return InvalidArgument(SlotRef(d, i), " has no storable dtype");
  const bool no_arena = !s.dynamic && s.arena_offset == -1 && s.byte_size == -1;
  switch (s.kind) {
    case SlotKind::kInput:
    case SlotKind::kOutput:
      if (!no_arena || s.weight_section != -1)
        return InvalidArgument(SlotRef(d, i), " is a graph ", SlotKindName(s.kind),
                               " but has an arena placement or weight section");
      return Status::Ok();
    case SlotKind::kConstant: {
      if (!no_arena)
        return InvalidArgument(SlotRef(d, i), " is a constant but has an arena placement");
      if (s.weight_section < 0 || s.weight_section >= static_cast<int64_t>(weight_sizes.size()))
        return OutOfRange(SlotRef(d, i), " refers to weight section ", s.weight_section,
                          ", but there are ", weight_sizes.size());
      if (!s.shape.is_static())
        return InvalidArgument(SlotRef(d, i), " is a constant with non-static shape ",
                               s.shape.ToString());
      OCTET_ASSIGN_OR_RETURN(int64_t bytes, ReferenceBytes(d, i));
      if (bytes != weight_sizes[s.weight_section])
        return InvalidArgument(SlotRef(d, i), " (", DTypeName(s.dtype), s.shape.ToString(),
                               ") needs ", bytes, " bytes, but weight section ", s.weight_section,
                               " has ", weight_sizes[s.weight_section]);
      return Status::Ok();
    }
    case SlotKind::kActivation:
      break;
  }
  if (s.weight_section != -1)
    return InvalidArgument(SlotRef(d, i), " is an activation but has a weight section");
  if (s.dynamic) {
    if (s.arena_offset != -1 || s.byte_size != -1)
      return InvalidArgument(SlotRef(d, i), " is dynamic but has an arena placement");
    return Status::Ok();
  }
  const int64_t arena = d.memory_plan.arena_size;
  if (s.arena_offset < 0 || s.byte_size < 0 || s.arena_offset > arena ||
      s.byte_size > arena - s.arena_offset)
    return OutOfRange(SlotRef(d, i), " at arena offset ", s.arena_offset, " with ", s.byte_size,
                      " bytes is not inside the arena (", arena, " bytes)");
  OCTET_ASSIGN_OR_RETURN(int64_t needed, ReferenceBytes(d, i));
  if (s.byte_size < needed)
    return InvalidArgument(SlotRef(d, i), " (", DTypeName(s.dtype), s.shape.ToString(), ") needs ",
                           needed, " bytes at the reference dims, but has ", s.byte_size);
  return Status::Ok();  // the offset's alignment is checked with the plan
}

// SSA order: every activation and output is written by exactly one op, before
// any op reads it; nothing else is written.
Status ValidateOps(const ModuleDesc& d, const std::vector<int64_t>& weight_sizes) {
  const int64_t num_slots = static_cast<int64_t>(d.slots.size());
  std::vector<bool> written(d.slots.size(), false);
  for (size_t i = 0; i < d.ops.size(); ++i) {
    const ModuleOp& op = d.ops[i];
    if (op.kernel.empty()) return InvalidArgument("op ", i, " '", op.name, "' has no kernel id");
    std::set<std::string> attr_names;
    for (const ModuleAttr& a : op.attrs)
      if (a.name.empty() || !attr_names.insert(a.name).second)
        return InvalidArgument(OpRef(d, i), " has an empty or repeated attribute name '", a.name,
                               "'");
    for (int32_t in : op.inputs) {
      if (in == -1) continue;
      if (in < -1 || in >= num_slots)
        return OutOfRange(OpRef(d, i), " reads slot ", in, ", but there are ", num_slots);
      const SlotKind k = d.slots[in].kind;
      if ((k == SlotKind::kActivation || k == SlotKind::kOutput) && !written[in])
        return InvalidArgument(OpRef(d, i), " reads ", SlotRef(d, in), " before any op writes it");
    }
    for (int32_t out : op.outputs) {
      if (out < 0 || out >= num_slots)
        return OutOfRange(OpRef(d, i), " writes slot ", out, ", but there are ", num_slots);
      const SlotKind k = d.slots[out].kind;
      if (k != SlotKind::kActivation && k != SlotKind::kOutput)
        return InvalidArgument(OpRef(d, i), " writes ", SlotRef(d, out), ", a graph ",
                               SlotKindName(k));
      if (written[out])
        return InvalidArgument(OpRef(d, i), " writes ", SlotRef(d, out),
                               ", which an earlier op already wrote");
      written[out] = true;
    }
    for (int32_t w : op.weight_sections)
      if (w < 0 || w >= static_cast<int64_t>(weight_sizes.size()))
        return OutOfRange(OpRef(d, i), " uses weight section ", w, ", but there are ",
                          weight_sizes.size());
    for (const auto& [o, in] : op.inplace)
      if (o < 0 || o >= static_cast<int32_t>(op.outputs.size()) || in < 0 ||
          in >= static_cast<int32_t>(op.inputs.size()) || op.inputs[in] == -1)
        return InvalidArgument(OpRef(d, i), " has an invalid in-place pair (", o, ", ", in, ")");
  }
  for (size_t s = 0; s < d.slots.size(); ++s) {
    const SlotKind k = d.slots[s].kind;
    if ((k == SlotKind::kActivation || k == SlotKind::kOutput) && !written[s])
      return InvalidArgument(SlotRef(d, static_cast<int64_t>(s)), " (", SlotKindName(k),
                             ") is never written by any op");
  }
  return Status::Ok();
}

}  // namespace

bool IsKnownModuleTarget(const std::string& target) {
  return target == "x86" || target == "cuda" || target == "reference";
}

const char* SlotKindName(SlotKind kind) {
  switch (kind) {
    case SlotKind::kInput:
      return "input";
    case SlotKind::kOutput:
      return "output";
    case SlotKind::kActivation:
      return "activation";
    case SlotKind::kConstant:
      return "constant";
  }
  return "?";
}

bool TensorSlot::operator==(const TensorSlot& o) const {
  return name == o.name && dtype == o.dtype && shape == o.shape && kind == o.kind &&
         dynamic == o.dynamic && arena_offset == o.arena_offset && byte_size == o.byte_size &&
         weight_section == o.weight_section;
}

bool ModuleAttr::operator==(const ModuleAttr& o) const {
  if (name != o.name || value.index() != o.value.index()) return false;
  auto bits = [](const std::vector<float>& v) {
    std::vector<uint32_t> b(v.size());
    if (!v.empty()) std::memcpy(b.data(), v.data(), v.size() * sizeof(float));
    return b;
  };
  if (const float* f = std::get_if<float>(&value))
    return bits({*f}) == bits({std::get<float>(o.value)});
  if (const auto* fs = std::get_if<std::vector<float>>(&value))
    return bits(*fs) == bits(std::get<std::vector<float>>(o.value));
  return value == o.value;
}

bool ModuleOp::operator==(const ModuleOp& o) const {
  return kernel == o.kernel && name == o.name && attrs == o.attrs && inputs == o.inputs &&
         outputs == o.outputs && weight_sections == o.weight_sections && inplace == o.inplace;
}

bool ModuleDesc::operator==(const ModuleDesc& o) const {
  return target == o.target && requirements == o.requirements && metadata == o.metadata &&
         slots == o.slots && ops == o.ops && memory_plan == o.memory_plan;
}

const ModuleAttr* ModuleOp::FindAttr(const std::string& attr_name) const {
  for (const ModuleAttr& a : attrs)
    if (a.name == attr_name) return &a;
  return nullptr;
}

Status ValidateModuleDesc(const ModuleDesc& d, const std::vector<int64_t>& weight_sizes) {
  if (!IsKnownModuleTarget(d.target))
    return InvalidArgument("module target '", d.target, "' is not x86, cuda or reference");
  for (const auto* m : {&d.requirements, &d.metadata})
    for (const auto& kv : *m)
      if (kv.first.empty())
        return InvalidArgument("module requirements/metadata have an empty key");
  const ModuleMemoryPlan& plan = d.memory_plan;
  if (!IsPowerOfTwo(plan.alignment) || plan.alignment > 4096)
    return InvalidArgument("memory plan alignment ", plan.alignment,
                           " is not a power of two up to 4096");
  if (plan.arena_size < 0 || plan.arena_size % plan.alignment != 0)
    return InvalidArgument("memory plan arena size ", plan.arena_size,
                           " is not a non-negative multiple of the alignment");
  for (const auto& [name, value] : plan.reference_dims)
    if (name.empty() || name == "?" || value < 0)
      return InvalidArgument("memory plan reference dim '", name, "' = ", value, " is invalid");
  for (size_t w = 0; w < weight_sizes.size(); ++w)
    if (weight_sizes[w] < 0) return InvalidArgument("weight section ", w, " has a negative size");

  std::set<std::string> names;
  for (size_t i = 0; i < d.slots.size(); ++i) {
    if (d.slots[i].name.empty() || !names.insert(d.slots[i].name).second)
      return InvalidArgument("slot ", i, " has an empty or repeated name '", d.slots[i].name, "'");
    OCTET_RETURN_IF_ERROR(ValidateSlot(d, static_cast<int64_t>(i), weight_sizes));
  }
  OCTET_RETURN_IF_ERROR(ValidateOps(d, weight_sizes));

  MemoryPlan placed;
  placed.arena_size = plan.arena_size;
  for (const TensorSlot& s : d.slots) placed.offsets.push_back(s.arena_offset);
  return VerifyMemoryPlan(MemoryPlanProblemFromModule(d), placed);
}

MemoryPlanProblem MemoryPlanProblemFromModule(const ModuleDesc& d) {
  MemoryPlanProblem p;
  p.alignment = d.memory_plan.alignment;
  for (const TensorSlot& s : d.slots) {
    MemoryPlanTensor t;
    t.in_arena = s.kind == SlotKind::kActivation && !s.dynamic;
    t.size = t.in_arena ? s.byte_size : 0;
    t.name = s.name;
    p.tensors.push_back(std::move(t));
  }
  for (const ModuleOp& op : d.ops)
    p.ops.push_back({op.inputs, op.outputs, op.inplace, op.name + " (" + op.kernel + ")"});
  return p;
}

Status PlanModuleMemory(ModuleDesc* d) {
  OCTET_ASSIGN_OR_RETURN(MemoryPlan plan, PlanMemory(MemoryPlanProblemFromModule(*d)));
  for (size_t i = 0; i < d->slots.size(); ++i)
    if (d->slots[i].kind == SlotKind::kActivation && !d->slots[i].dynamic)
      d->slots[i].arena_offset = plan.offsets[i];
  d->memory_plan.arena_size = plan.arena_size;
  return Status::Ok();
}

}  // namespace octet
