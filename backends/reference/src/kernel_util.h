// Helpers shared by the reference kernels: dtype dispatch, broadcasting,
// axis normalisation and reading small integer tensors (shapes, axes).
#pragma once

#include <cstdint>
#include <vector>

#include "octet/reference/kernel.h"

namespace octet::reference {

// Calls fn(T{}) with T the C++ type of `dtype` for the numeric types that have
// one (f16/bf16 are stored as uint16_t and need explicit conversion, so they
// are not dispatched here; kernels that accept them convert through float).
// Returns false if the dtype is not handled.
template <typename Fn>
bool DispatchNumeric(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF32:
      fn(float{});
      return true;
    case DType::kF64:
      fn(double{});
      return true;
    case DType::kI8:
      fn(int8_t{});
      return true;
    case DType::kU8:
      fn(uint8_t{});
      return true;
    case DType::kI16:
      fn(int16_t{});
      return true;
    case DType::kU16:
      fn(uint16_t{});
      return true;
    case DType::kI32:
      fn(int32_t{});
      return true;
    case DType::kU32:
      fn(uint32_t{});
      return true;
    case DType::kI64:
      fn(int64_t{});
      return true;
    case DType::kU64:
      fn(uint64_t{});
      return true;
    case DType::kBool:
      fn(bool{});
      return true;
    default:
      return false;
  }
}

// Same, floats only (f32, f64).
template <typename Fn>
bool DispatchFloat(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF32:
      fn(float{});
      return true;
    case DType::kF64:
      fn(double{});
      return true;
    default:
      return false;
  }
}

// Numpy-style broadcast of two shapes; error names both shapes.
Expected<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                               const std::vector<int64_t>& b);

// Row-major strides of `dims`.
std::vector<int64_t> Strides(const std::vector<int64_t>& dims);

// For an input of shape `in` broadcast to `out`, the input's strides in the
// output's index space (0 where the input is broadcast). `in` is right-aligned.
std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& in,
                                      const std::vector<int64_t>& out);

// Maps each flat output index to the flat input index for a broadcast input.
// Precomputes per-dim strides; Map(i) is O(rank).
class BroadcastIndexer {
 public:
  BroadcastIndexer(const std::vector<int64_t>& in, const std::vector<int64_t>& out);
  int64_t Map(int64_t out_index) const;

 private:
  std::vector<int64_t> out_dims_;
  std::vector<int64_t> in_strides_;
  bool identity_ = false;
};

// Normalises a possibly negative axis against `rank`; error names the node.
Expected<int> NormalizeAxis(const KernelContext& ctx, int64_t axis, int rank);

// Reads a 1-D (or scalar) i32/i64 tensor as int64 values.
Expected<std::vector<int64_t>> ReadInts(const KernelContext& ctx, const Tensor& t,
                                        const char* what);

}  // namespace octet::reference
