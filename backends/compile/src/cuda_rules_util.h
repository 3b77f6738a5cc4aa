// Helpers shared by the cuda rule families: constant integer inputs, axis
// normalisation, and the emission of a one-input one-output op.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "cuda_rules.h"

namespace octet::compile_internal {

// The values of a constant integer tensor (i32 / i64), or nullopt when `v` is
// not one (absent, an activation, another dtype).
std::optional<std::vector<int64_t>> CudaConstInts(const Value* v);

// "" when `v` is an activation whose dtype the strided copy moves (1, 2, 4
// or 8 bytes an element), else why not, naming `what` (the kernel id).
std::string CudaWhyNotCopyable(const Value* v, const std::string& what);

// The value, or `dflt` when `e` is an error (a malformed attribute: the
// caller's why_not reports what it expected).
template <typename T>
T CudaOr(const Expected<T>& e, T dflt) {
  return e.ok() ? *e : std::move(dflt);
}

// Axis `a` of a rank-`rank` tensor as a non-negative index; nullopt outside
// [-rank, rank).
std::optional<int64_t> CudaNormalizeAxis(int64_t a, int64_t rank);

// Slice's starts, ends, axes (normalised, distinct) and steps (non-zero), from
// constant inputs (opset 10+) or attributes (opset 1); `error` says what is
// wrong when they cannot be read.
struct SliceArgs {
  std::vector<int64_t> starts, ends, axes, steps;
  std::string error;
};
SliceArgs GetSliceArgs(const Node& n);

// Pad (constant mode, no cropping): 2 * rank pads (begins, then ends) and the
// value; `error` says why the device cannot pad so.
struct PadArgs {
  std::vector<int64_t> pads;
  float value = 0.f;
  std::string error;
};
PadArgs GetPadArgs(const Node& n);

// Emits `kernel` reading `inputs` (graph values; constants become constant
// slots) and writing the node's outputs, with attrs and inplace.
Status CudaEmitOp(const Node& n, const std::string& kernel, const std::vector<const Value*>& inputs,
                  std::vector<ModuleAttr> attrs, std::vector<std::pair<int32_t, int32_t>> inplace,
                  ModuleBuilder& builder);

}  // namespace octet::compile_internal
