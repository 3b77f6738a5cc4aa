#include "module_builder.h"
#include "octet/compile/compile.h"

namespace octet {
namespace {

constexpr const char kRefPrefix[] = "ref.";
constexpr const char kOnnxDomain[] = "ai.onnx";

}  // namespace

std::string ReferenceKernelId(const std::string& domain, const std::string& op_type) {
  return kRefPrefix + (domain.empty() ? std::string(kOnnxDomain) : domain) + "::" + op_type;
}

bool ParseReferenceKernelId(const std::string& kernel, std::string* domain, std::string* op_type) {
  const size_t prefix = sizeof(kRefPrefix) - 1;
  if (kernel.compare(0, prefix, kRefPrefix) != 0) return false;
  const size_t sep = kernel.find("::", prefix);
  if (sep == std::string::npos || sep + 2 == kernel.size()) return false;
  *domain = kernel.substr(prefix, sep - prefix);
  if (*domain == kOnnxDomain) domain->clear();
  *op_type = kernel.substr(sep + 2);
  return true;
}

Expected<CompiledModule> CompileForReference(Model model, const CompileOptions& options) {
  OCTET_RETURN_IF_ERROR(compile_internal::SimplifyForCompile(model, options));
  compile_internal::ModuleBuilder builder(*model.graph, options, "reference");
  OCTET_RETURN_IF_ERROR(builder.Begin());
  for (const Node* n : model.graph->nodes()) OCTET_RETURN_IF_ERROR(builder.AddReferenceOp(*n));
  return builder.Finish();
}

}  // namespace octet
