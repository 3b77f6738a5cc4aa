// Compiling a graph into a module (docs/module-format.md) that the runtime
// loads. The reference target maps every node to one op whose kernel id names
// a reference kernel, "ref.<domain>::<OpType>" (the ONNX default domain is
// written "ai.onnx"), so any model the interpreter runs can be compiled;
// optimised targets (x86, cuda) replace matched groups of nodes by their own kernels
// and emit the rest as the reference target does.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/module/module.h"
#include "octet/status.h"

namespace octet {

struct CompileOptions {
  // Run the standard simplification pipeline (shape inference, constant
  // folding, ...) first, as ReferenceSession does, so the module computes
  // exactly what `octet run MODEL.onnx` computes.
  bool simplify = true;
  int num_threads = 0;  // for constant folding
  // Values of symbolic dims the arena is planned for. Symbols of the graph
  // inputs not listed here take `default_symbol_value` (a batch of 1); other
  // batch sizes still run, with per-run allocation (see runtime/module.h).
  std::map<std::string, int64_t> reference_dims;
  int64_t default_symbol_value = 1;
  std::map<std::string, std::string> metadata;  // copied into the module
  // x86: the activations were quantized to 7 bits (u8 0..127, the quantizer's
  // `reduce_range`), which CPUs without VNNI need for exact int8 products.
  // Recorded as the requirement "reduce_range": "1"; the runtime refuses a
  // module without it on such a CPU (docs/x86-backend.md). Not checked
  // against the graph: the quantizer's configuration is the source of truth.
  bool reduce_range = false;
  // cuda: how the float convolutions run. kCudnn: "cuda.conv2d_cudnn" (cuDNN
  // 9 in bf16 channels last) for those it runs faster (group 1, 16+ channels
  // in multiples of 8, not a strided 1x1, symmetric pads; the module then
  // requires "cudnn": "9",
  // which a runtime built without cuDNN refuses at load), im2col for the
  // rest. kIm2colBf16: "cuda.conv2d_bf16" (im2col + cuBLASLt bf16) and
  // "cuda.grouped_conv2d" (direct f32) only, no library beyond cuBLASLt.
  // (The `octet` CLI defaults to im2col when built without cuDNN.)
  enum class CudaConv { kCudnn, kIm2colBf16 };
  CudaConv cuda_conv = CudaConv::kCudnn;
};

struct CompiledModule {
  ModuleDesc desc;
  std::vector<WeightSection> weights;
};

// The kernel id of a node on the reference target and its inverse.
std::string ReferenceKernelId(const std::string& domain, const std::string& op_type);
// False when `kernel` is not a reference kernel id.
bool ParseReferenceKernelId(const std::string& kernel, std::string* domain, std::string* op_type);

// Float or QDQ model -> module for the reference target. Errors name the node:
// ops without a reference kernel, tensor- or string-list-valued attributes
// (which the module format cannot hold), graph outputs that are inputs or
// constants, and values of unknown rank at the graph boundary.
Expected<CompiledModule> CompileForReference(Model model, const CompileOptions& options = {});

// QDQ model -> module for the x86 target (docs/x86-backend.md, "Lowering").
// Patterns, each replaced by one op:
//   QuantizedConvRelu  DequantizeLinear(x u8, per-tensor) -> Conv(DequantizeLinear(w i8
//                      constant, symmetric, per-tensor or per-channel on axis 0),
//                      [DequantizeLinear(b i32 constant) or f32 constant]) -> [Relu] ->
//                      [Clip(constant bounds), as reduce_range emits] ->
//                      QuantizeLinear(per-tensor, u8)
//                      => "x86.int8_conv" (u8 in, u8 out; oneDNN Int8Conv2d at run time)
//   QuantizedMatMul    DequantizeLinear(x u8 [M, K], per-tensor) -> MatMul / Gemm(
//                      DequantizeLinear(w i8 constant, symmetric, per-tensor or per output
//                      column), [bias]) with an f32 output (alpha = beta = 1, no transA)
//                      => "x86.int8_matmul" (u8 in, f32 out; oneDNN Int8MatMul)
//   DynamicMatMul      the int8-dynamic per-token form (+ bias, + GELU or + residual)
//                      => "x86.dynamic_int8_matmul"
//   Attention          f32 softmax(q k^T [+ SAM's relative-position terms]) v,
//                      with its packed-qkv head split and head merge
//                      => "x86.attention" (F32Attention)
// Q/DQ nodes the patterns absorb disappear; everything else is emitted exactly
// as CompileForReference does (kernel ids "ref.*"). The module's metadata
// counts the matches per kernel id ("x86.int8_conv": "20", ...).
Expected<CompiledModule> CompileForX86(Model model, const CompileOptions& options = {});

// QDQ model -> module for the cuda target (docs/cuda-backend.md, "Lowering
// and runtime"). Every op runs on the device; there is no host fallback:
//   DynamicMatMul       the int8-dynamic per-token form (+ bias, + GELU)
//                       => "cuda.dynamic_int8_matmul" (QuantizeRowsPerToken +
//                       Int8DynamicGemm, weights stored [N, K])
//   Add                 of two f32 activations of one shape => "cuda.add"
//   LayerNormalization  over the last axis, constant f32 Scale / B
//                       => "cuda.layer_norm"
// Any other node, or a matched one the kernels cannot take (K not a multiple
// of 16), makes compilation fail with one Unimplemented error listing every
// such node by name and op type. Requirements: "cuda_arch": "sm_90a". The
// metadata counts the ops per kernel id.
Expected<CompiledModule> CompileForCuda(Model model, const CompileOptions& options = {});

}  // namespace octet
