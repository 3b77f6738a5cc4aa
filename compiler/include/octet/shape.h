// Tensor shapes with static and symbolic dimensions. A dimension is either a
// known extent (>= 0), a named symbol ("N", shared by every tensor that uses
// the same name), or unknown.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "octet/status.h"

namespace octet {

class Dim {
 public:
  Dim() = default;                       // unknown
  Dim(int64_t value) : value_(value) {}  // NOLINT: a number is a static dim
  static Dim Symbol(std::string name) {
    Dim d;
    d.symbol_ = std::move(name);
    return d;
  }
  static Dim Unknown() { return Dim(); }

  bool is_static() const { return value_ >= 0; }
  bool is_symbolic() const { return value_ < 0 && !symbol_.empty(); }
  bool is_unknown() const { return value_ < 0 && symbol_.empty(); }
  int64_t value() const { return value_; }  // -1 unless static
  const std::string& symbol() const { return symbol_; }

  bool operator==(const Dim& o) const { return value_ == o.value_ && symbol_ == o.symbol_; }
  bool operator!=(const Dim& o) const { return !(*this == o); }
  std::string ToString() const;  // "3", "N" or "?"

 private:
  int64_t value_ = -1;
  std::string symbol_;
};

class Shape {
 public:
  Shape() = default;                                        // rank 0 (a scalar)
  Shape(std::vector<Dim> dims) : dims_(std::move(dims)) {}  // NOLINT
  Shape(std::initializer_list<int64_t> dims);
  static Shape FromStatic(const std::vector<int64_t>& dims);

  int rank() const { return static_cast<int>(dims_.size()); }
  const Dim& operator[](int i) const { return dims_[i]; }
  Dim& operator[](int i) { return dims_[i]; }
  const std::vector<Dim>& dims() const { return dims_; }
  bool is_static() const;
  // Static extents; only valid when is_static().
  std::vector<int64_t> static_dims() const;
  // Element count, or an error if a dim is not static or the product overflows int64.
  Expected<int64_t> NumElements() const;

  bool operator==(const Shape& o) const { return dims_ == o.dims_; }
  bool operator!=(const Shape& o) const { return !(*this == o); }
  std::string ToString() const;  // "[N,3,224,224]"

 private:
  std::vector<Dim> dims_;
};

// Product of dims with overflow checking; error names `what`.
Expected<int64_t> CheckedProduct(const std::vector<int64_t>& dims, const std::string& what);

}  // namespace octet
