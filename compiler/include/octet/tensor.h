// A dense, row-major tensor that owns (or shares) its bytes. Copies share the
// buffer; Clone() makes an independent copy. Buffers are 64-byte aligned so
// kernels and the module format can use aligned vector loads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/dtype.h"
#include "octet/status.h"

namespace octet {

class Tensor {
 public:
  Tensor() = default;
  // Zero-initialised tensor. Fails if the element count overflows or is negative.
  static Expected<Tensor> Create(DType dtype, std::vector<int64_t> dims);
  // Same, for callers that computed dims themselves (kernels); asserts on bad dims.
  Tensor(DType dtype, std::vector<int64_t> dims);
  // Contents left undefined, for kernels that write every element; asserts
  // on bad dims. Large blocks (both kinds) are recycled within the process.
  static Tensor Uninitialized(DType dtype, std::vector<int64_t> dims);
  // Scalar and vector helpers for tests and constant folding.
  template <typename T>
  static Tensor FromVector(const std::vector<T>& values, std::vector<int64_t> dims);
  template <typename T>
  static Tensor Scalar(T value) {
    return FromVector<T>({value}, {});
  }
  // Wraps external memory (for example an mmap-ed weight section) without copying.
  // `owner` keeps the memory alive.
  static Tensor View(DType dtype, std::vector<int64_t> dims, void* data,
                     std::shared_ptr<void> owner);

  bool defined() const { return dtype_ != DType::kUndefined; }
  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  int rank() const { return static_cast<int>(dims_.size()); }
  int64_t dim(int i) const { return dims_[i]; }
  int64_t numel() const { return numel_; }
  int64_t nbytes() const { return DTypeStorageBytes(dtype_, numel_); }

  void* raw() { return data_; }
  const void* raw() const { return data_; }
  template <typename T>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T>
  const T* data() const {
    return static_cast<const T*>(data_);
  }

  Tensor Clone() const;
  // Same bytes, new dims with the same element count.
  Tensor Reshaped(std::vector<int64_t> dims) const;
  // Element i converted to double / int64 (any numeric dtype; i4/u4 unpacked).
  double GetAsDouble(int64_t i) const;
  int64_t GetAsInt64(int64_t i) const;
  void SetFromDouble(int64_t i, double v);
  // Bitwise equality of dtype, dims and bytes.
  bool BitwiseEquals(const Tensor& other) const;
  std::string ShapeString() const;  // "f32[2,3]"

 private:
  DType dtype_ = DType::kUndefined;
  std::vector<int64_t> dims_;
  int64_t numel_ = 0;
  std::shared_ptr<void> owner_;
  void* data_ = nullptr;
};

template <typename T>
Tensor Tensor::FromVector(const std::vector<T>& values, std::vector<int64_t> dims) {
  Tensor t(DTypeOf<T>::value, std::move(dims));
  T* out = t.data<T>();
  for (size_t i = 0; i < values.size() && static_cast<int64_t>(i) < t.numel(); ++i)
    out[i] = values[i];
  return t;
}

}  // namespace octet
