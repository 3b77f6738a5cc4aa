#include "octet/shape.h"

#include <limits>

#include "octet/quant.h"

namespace octet {

std::string Dim::ToString() const {
  if (is_static()) return std::to_string(value_);
  if (is_symbolic()) return symbol_;
  return "?";
}

Shape::Shape(std::initializer_list<int64_t> dims) {
  for (int64_t d : dims) dims_.emplace_back(d);
}

Shape Shape::FromStatic(const std::vector<int64_t>& dims) {
  std::vector<Dim> out;
  out.reserve(dims.size());
  for (int64_t d : dims) out.emplace_back(d);
  return Shape(std::move(out));
}

bool Shape::is_static() const {
  for (const Dim& d : dims_)
    if (!d.is_static()) return false;
  return true;
}

std::vector<int64_t> Shape::static_dims() const {
  std::vector<int64_t> out;
  out.reserve(dims_.size());
  for (const Dim& d : dims_) out.push_back(d.value());
  return out;
}

Expected<int64_t> Shape::NumElements() const {
  if (!is_static()) return InvalidArgument("shape ", ToString(), " is not static");
  return CheckedProduct(static_dims(), "shape " + ToString());
}

std::string Shape::ToString() const {
  std::string s = "[";
  for (size_t i = 0; i < dims_.size(); ++i) {
    if (i) s += ",";
    s += dims_[i].ToString();
  }
  return s + "]";
}

Expected<int64_t> CheckedProduct(const std::vector<int64_t>& dims, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return InvalidArgument(what, " has a negative dimension ", d);
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      return OutOfRange(what, ": the product of its dimensions overflows int64");
    n *= d;
  }
  return n;
}

const char* QuantGranularityName(QuantGranularity g) {
  switch (g) {
    case QuantGranularity::kPerTensor:
      return "per_tensor";
    case QuantGranularity::kPerAxis:
      return "per_axis";
    case QuantGranularity::kPerBlock:
      return "per_block";
  }
  return "?";
}

}  // namespace octet
