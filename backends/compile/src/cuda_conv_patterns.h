// The cuda lowering's float fusions (docs/cuda-backend.md, "Convolutions,
// pooling, float GEMMs"): each is anchored at a Conv, a MatMul with a
// constant weight or a Gemm, absorbs what the cuBLASLt epilogue (or the
// op's own last step) can do, and is emitted as one cuda op where its last
// node stood:
//   Conv -> [Add(residual)] -> [Relu]      cuda.conv2d_cudnn where cuDNN is
//                    faster (UseCudnn), else cuda.conv2d_bf16 / cuda.grouped_conv2d
//   MatMul(x, w [K, N]) -> [Add(bias)] -> [Relu | GELU(erf)]     cuda.linear_bf16
//   [Flatten ->] Gemm(A, B, [C]) -> [Relu]                      cuda.linear_bf16
// A weight may be a constant or the DequantizeLinear of one (dequantized
// here, then rounded to bf16 like a float weight).
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "module_builder.h"
#include "octet/ir.h"

namespace octet::compile_internal {

struct CudaFloatFusion {
  const Node* anchor = nullptr;     // Conv, MatMul or Gemm
  std::vector<const Node*> nodes;   // every node it takes, anchor included
  const Node* last = nullptr;       // writes the op's output
  const Value* x = nullptr;         // the activation read (before a Flatten)
  const Node* bias_add = nullptr;   // MatMul only
  const Value* residual = nullptr;  // Conv only
  std::string activation = "none";  // "relu", "gelu_erf"
  // "" when the device runs the fusion; else why not (the anchor alone is
  // then reported and nothing is absorbed).
  std::string why_not;
};

// The fusion anchored at `n`, or nullopt when `n` is not a Conv, a Gemm or a
// MatMul with a constant (or dequantized constant) weight, or when its input
// is itself dequantized (a quantized pattern's job). With `fuse` false it
// takes `n` alone (when a following node belongs to another fusion already).
std::optional<CudaFloatFusion> MatchCudaFloatFusion(const Node* n, bool fuse = true);

// Values passed between cuDNN convolutions in cuDNN's bf16 NHWC instead of
// f32 NCHW (no conversion on either side): the outputs of cuDNN fusions
// that are not graph outputs and that only cuDNN fusions read, as their
// Conv's input or as their residual (resnet's conv1 -> conv2 inside a
// block, and a block's output where the next block reads it). `fusions` by
// their last node, as the lowering keeps them.
struct CudnnNhwcValues {
  std::set<const Value*> values;
  std::map<const Value*, int32_t> slots;  // filled as their producers are emitted
};
CudnnNhwcValues ChooseCudnnNhwcValues(const std::map<const Node*, CudaFloatFusion>& fusions,
                                      const CompileOptions& options);

Status EmitCudaFloatFusion(const CudaFloatFusion& f, ModuleBuilder& builder, CudnnNhwcValues* nhwc);

}  // namespace octet::compile_internal
