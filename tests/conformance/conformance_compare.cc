#include "conformance_compare.h"

#include <cmath>
#include <sstream>

namespace octet::conformance {
namespace {

// fp8 has no arithmetic in Octet; its bit patterns are compared.
bool CompareAsFloat(DType t) {
  return t == DType::kF32 || t == DType::kF64 || t == DType::kF16 || t == DType::kBF16;
}

bool Close(double a, double e, const Tolerance& tol) {
  if (std::isnan(e)) return std::isnan(a);
  if (std::isinf(e)) return a == e;
  if (std::isnan(a) || std::isinf(a)) return false;
  return std::fabs(a - e) <= tol.atol + tol.rtol * std::fabs(e);
}

}  // namespace

std::string CompareTensors(const Tensor& actual, const Tensor& expected,
                           const Tolerance& tolerance) {
  std::ostringstream os;
  if (!actual.defined()) return "no value produced, expected " + expected.ShapeString();
  if (actual.dtype() != expected.dtype() || actual.dims() != expected.dims()) {
    os << "expected " << expected.ShapeString() << " but got " << actual.ShapeString();
    return os.str();
  }
  const DType t = expected.dtype();
  int64_t mismatches = 0;
  int64_t first = -1;
  double max_diff = 0;
  if (CompareAsFloat(t)) {
    for (int64_t i = 0; i < expected.numel(); ++i) {
      const double a = actual.GetAsDouble(i);
      const double e = expected.GetAsDouble(i);
      if (Close(a, e, tolerance)) continue;
      if (first < 0) first = i;
      ++mismatches;
      if (!std::isnan(a - e)) max_diff = std::fmax(max_diff, std::fabs(a - e));
    }
    if (mismatches == 0) return "";
    os.precision(9);
    os << mismatches << " of " << expected.numel() << " elements differ (max |diff| " << max_diff
       << "); first at flat index " << first << ": expected " << expected.GetAsDouble(first)
       << " but got " << actual.GetAsDouble(first);
    return os.str();
  }
  if (t == DType::kF8E4M3 || t == DType::kF8E5M2) {
    for (int64_t i = 0; i < expected.numel(); ++i) {
      if (actual.data<uint8_t>()[i] == expected.data<uint8_t>()[i]) continue;
      if (first < 0) first = i;
      ++mismatches;
    }
    if (mismatches == 0) return "";
    os << mismatches << " of " << expected.numel() << " fp8 elements differ; first at flat index "
       << first << ": expected bits 0x" << std::hex << int{expected.data<uint8_t>()[first]}
       << " but got 0x" << int{actual.data<uint8_t>()[first]};
    return os.str();
  }
  for (int64_t i = 0; i < expected.numel(); ++i) {
    const bool same = t == DType::kU64 ? actual.data<uint64_t>()[i] == expected.data<uint64_t>()[i]
                                       : actual.GetAsInt64(i) == expected.GetAsInt64(i);
    if (same) continue;
    if (first < 0) first = i;
    ++mismatches;
  }
  if (mismatches == 0) return "";
  os << mismatches << " of " << expected.numel() << " elements differ; first at flat index "
     << first << ": expected " << expected.GetAsInt64(first) << " but got "
     << actual.GetAsInt64(first);
  return os.str();
}

}  // namespace octet::conformance
