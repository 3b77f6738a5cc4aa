// The int8-dynamic convolution on cuda (docs/cuda-backend.md, "int8
// convolutions"). The preset quantizes a Conv's input per image
// (passes/quant/include/octet/quant/convert.h):
//
//   Reshape(x, [0, -1]) -> Abs / ReduceMax / Div / Max -> QuantizeLinear ->
//   DequantizeLinear -> Reshape(., [0, C, H, W]) -> Conv(., DequantizeLinear(
//   w i8 [O, C, kh, kw], per output channel or per tensor), [bias])
//   -> [Add(residual)] -> [Relu]
//
// which becomes one cuda.dynamic_int8_conv: per-image absolute maximum, the
// quantizing im2col gather (rows = output pixels, columns = taps with the
// channel innermost, padded to a multiple of 16) and the int8 GEMM with the
// dequantization, bias, residual and relu in its epilogue. Its activations
// may be NCHW (the graph's) or NHWC (what the GEMM writes); the lowering
// chooses per value (compile_cuda.cc, `ChooseConvLayouts`).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "module_builder.h"
#include "octet/ir.h"
#include "x86_patterns.h"

namespace octet::compile_internal {

struct DynamicConvPattern {
  DynamicMatMulPattern quant;       // the per-token part, over [N, C*H*W]
  const Node* flatten = nullptr;    // Reshape x -> [N, C*H*W]
  const Node* unflatten = nullptr;  // Reshape -> [N, C, H, W]
  const Node* conv = nullptr;
  const Node* dq_w = nullptr;
  const Value* x = nullptr;  // f32 [N, C, H, W]
  const Node* residual_add = nullptr;
  const Value* residual = nullptr;  // f32 of the output's type
  const Node* relu = nullptr;
  // Set when the input is the per-image form but the op cannot take the
  // rest (the compile error then names the node and this).
  std::string why_not;

  std::vector<const Node*> nodes() const;  // every node the op absorbs
  const Node* last() const { return relu ? relu : residual_add ? residual_add : conv; }
};

// The pattern at `conv` (a Conv whose input is the per-image form), or
// nullopt. With `fuse` false the Add and Relu after it are left alone.
std::optional<DynamicConvPattern> MatchCudaDynamicConv(const Node* conv, bool fuse = true);

// Where the op reads and writes: slots and whether each is NHWC.
struct DynamicConvPlaces {
  int32_t x = -1, residual = -1;
  bool x_nhwc = false, residual_nhwc = false, y_nhwc = false;
  // x's per-image absolute maximum, written by x's producer (its GEMM
  // epilogue), or -1: the op computes it (ImageAbsMax).
  int32_t x_absmax = -1;
  // The GEMM's epilogue also writes y's per-image maximum (y_nhwc only: the
  // maximum is of the values the GEMM writes) for the int8 convolutions that
  // read y.
  bool y_absmax = false;
};

struct DynamicConvSlots {
  int32_t y = -1;         // an NHWC slot of its own when y_nhwc, else the graph value's
  int32_t y_absmax = -1;  // f32 [N] when y_absmax, else -1
};

// Emits the op; returns the slots of its outputs.
Expected<DynamicConvSlots> EmitCudaDynamicConv(const DynamicConvPattern& p,
                                               const DynamicConvPlaces& at, ModuleBuilder& builder);

}  // namespace octet::compile_internal
