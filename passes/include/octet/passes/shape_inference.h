// Shape inference: sets the dtype and shape of every node output from its
// inputs, following the ONNX operator semantics of opsets 13..21 in Octet's
// canonical IR form (Split/Squeeze/Unsqueeze/Reduce*/Pad/Slice/Clip take their
// parameters as inputs).
//
// Symbolic dims. A symbol ("N") names one run-time extent wherever it
// appears, so it flows through ops unchanged: Conv, MatMul, Reshape with a 0
// or with a target computed by Shape/Gather/Concat, and so on. Broadcasting
// two dims: equal dims stay; 1 gives way to the other; N against a static
// k != 1 gives k (the model is only valid if N == k at run time); two
// different symbols, or a symbol against an unknown dim, give unknown (either
// might be 1). Arithmetic keeps symbols only where it is exact (N*1, N+0);
// otherwise the dim becomes unknown ('?'), and a dim whose value depends on
// data that is not known (a non-constant Reshape target, Slice bounds, ...)
// is unknown too, or the whole rank when even that cannot be known.
//
// Shape-determining inputs (Reshape shape, Slice starts/ends, Expand shape,
// Tile repeats, ConstantOfShape, Range, Pad pads, Split split, axes) give
// exact shapes when they are constants, and also when they are small integer
// tensors computed from shapes: values are tracked through Shape, Size,
// Gather, Unsqueeze, Squeeze, Concat, Slice, Cast, Reshape, Identity and
// integer Add/Sub/Mul/Div, with symbols standing for symbolic dims.
//
// Declared types (ONNX value_info, graph outputs, an earlier run) are merged
// with inferred ones: a static dim beats a symbol beats unknown, an inferred
// symbol replaces a declared one, and any disagreement between two static
// dims, two ranks or two dtypes is an error naming the value. Quantization
// parameters of a declared type are kept.
//
// An op without a rule is an error unless every output already has a
// declared dtype and shape (ops outside the catalog added by later passes).
#pragma once

#include <memory>
#include <string_view>

#include "octet/ir.h"
#include "octet/passes/pass.h"
#include "octet/status.h"

namespace octet {

// Infers every node output's type in topological order.
Status InferShapes(Graph& graph);

// Whether `op_type` (ai.onnx domain) has a shape rule.
bool HasShapeInference(std::string_view op_type);

// The pass form of InferShapes: "infer-shapes". Reports a change when any
// value's type changed.
class InferShapesPass : public Pass {
 public:
  std::string_view name() const override { return "infer-shapes"; }
  Expected<bool> Run(Model& model) override;
};

}  // namespace octet
