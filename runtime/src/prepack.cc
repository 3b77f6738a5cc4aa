// PrepackX86Weights (prepack.h): loads the module in memory as the runtime
// would, creating each executor (and so its oneDNN primitive for the planned
// shape), and copies the weights each packing executor's primitive holds into
// a new constant slot of the module.
#include "octet/runtime/prepack.h"

#include <cstring>
#include <memory>

#include "octet/module/module.h"
#include "octet/runtime/op_executor.h"

#ifdef OCTET_HAVE_X86
#include "octet/x86/cpu_info.h"
#include "x86_executor.h"
#endif

namespace octet::runtime {

#ifdef OCTET_HAVE_X86

namespace {

bool PacksWeights(const std::string& kernel) {
  return kernel == "x86.int8_conv" || kernel == "x86.int8_matmul" ||
         kernel == "x86.dynamic_int8_matmul";
}

}  // namespace

Expected<PrepackReport> PrepackX86Weights(CompiledModule* module) {
  ModuleDesc& desc = module->desc;
  if (desc.target != "x86")
    return InvalidArgument("--prepack is for x86 modules; this one is for target '", desc.target,
                           "'");
  OCTET_ASSIGN_OR_RETURN(std::string bytes, SerializeModule(desc, module->weights));
  OCTET_ASSIGN_OR_RETURN(LoadedModule loaded, LoadModuleFromBytes(bytes, "module to prepack"));
  std::vector<Tensor> constants(desc.slots.size());
  for (size_t i = 0; i < desc.slots.size(); ++i)
    if (desc.slots[i].kind == SlotKind::kConstant) {
      OCTET_ASSIGN_OR_RETURN(constants[i], loaded.ConstantTensor(static_cast<int>(i)));
    }
  PrepackReport report;
  report.isa = x86::OneDnnIsa();
  for (size_t k = 0; k < desc.ops.size(); ++k) {
    ModuleOp& op = desc.ops[k];
    if (!PacksWeights(op.kernel) || op.FindAttr("prepacked_slot") != nullptr) continue;
    OCTET_ASSIGN_OR_RETURN(std::unique_ptr<OpExecutor> e,
                           CreateOpExecutor(desc, static_cast<int>(k), constants));
    const auto* packing = dynamic_cast<const PackingExecutor*>(e.get());
    if (packing == nullptr) continue;
    auto packed = packing->PlannedPackedWeights();
    if (!packed.ok()) {
      if (packed.status().code() == StatusCode::kUnimplemented) continue;  // nothing to pack here
      return packed.status();
    }
    WeightSection w;
    w.name = op.name + "/prepacked";
    w.bytes.resize(static_cast<size_t>(packed->bytes.nbytes()));
    std::memcpy(w.bytes.data(), packed->bytes.raw(), w.bytes.size());
    TensorSlot s;
    s.name = w.name;
    s.dtype = DType::kU8;
    s.shape = Shape::FromStatic({packed->bytes.nbytes()});
    s.kind = SlotKind::kConstant;
    s.weight_section = static_cast<int64_t>(module->weights.size());
    report.bytes += packed->bytes.nbytes();
    module->weights.push_back(std::move(w));
    desc.slots.push_back(std::move(s));
    op.attrs.push_back({"prepacked_slot", static_cast<int64_t>(desc.slots.size() - 1)});
    op.attrs.push_back({"prepacked_layout", packed->layout});
    ++report.ops_packed;
  }
  // Informational: which CPU the packed copies suit (others ignore them).
  if (report.ops_packed > 0) desc.metadata["x86.prepacked_for"] = report.isa;
  return report;
}

#else

Expected<PrepackReport> PrepackX86Weights(CompiledModule*) {
  return Unimplemented(
      "--prepack needs the x86 backend (oneDNN), which this build of Octet does not have");
}

#endif

}  // namespace octet::runtime
