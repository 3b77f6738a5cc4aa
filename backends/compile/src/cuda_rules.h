// Single-node lowerings of the cuda target: for the ops no pattern (fused
// GEMM, attention) takes, one rule per ONNX op type says whether the device
// can run a node and emits its cuda op. Each family of ops keeps its rules in
// its own file (cuda_rules_*.cc) and adds them to the table compile_cuda.cc
// consults, so that adding an op touches one file.
#pragma once

#include <map>
#include <string>

#include "module_builder.h"
#include "octet/ir.h"

namespace octet::compile_internal {

struct CudaNodeRule {
  // "" when the device can run `n`, else why not, in words the user can act
  // on (it is listed in the compile error with the node's name).
  std::string (*why_not)(const Node& n);
  // Emits the node as cuda op(s); called only when why_not(n) is "".
  Status (*emit)(const Node& n, ModuleBuilder& builder);
};

// Keyed by ONNX op type (default domain).
using CudaNodeRules = std::map<std::string, CudaNodeRule>;

// The rule families; each file adds its op types.
void AddCudaNormRules(CudaNodeRules& rules);         // cuda_rules_norm.cc
void AddCudaElementwiseRules(CudaNodeRules& rules);  // cuda_rules_elementwise.cc
void AddCudaLayoutRules(CudaNodeRules& rules);       // cuda_rules_layout.cc
void AddCudaReduceRules(CudaNodeRules& rules);       // cuda_rules_reduce.cc
void AddCudaPoolRules(CudaNodeRules& rules);         // cuda_rules_pool.cc
void AddCudaMatMulRules(CudaNodeRules& rules);       // cuda_rules_matmul.cc

// "f32[1,3,?]" for error messages.
std::string CudaShapeText(const TensorType& t);

// Every dim static, or symbolic (bound by the inputs at run time): the device
// arena is planned per set of input dims, so no size may depend on data.
bool CudaPlannableShape(const TensorType& t);

}  // namespace octet::compile_internal
