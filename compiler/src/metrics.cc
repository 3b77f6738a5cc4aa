#include "octet/metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace octet {

Expected<Agreement> Compare(const Tensor& reference, const Tensor& candidate,
                            const std::string& what) {
  if (reference.dims() != candidate.dims())
    return InvalidArgument(what, ": shapes differ: reference ", reference.ShapeString(),
                           " vs candidate ", candidate.ShapeString());
  Agreement a;
  a.count = reference.numel();
  double ref2 = 0, cand2 = 0, dot = 0, err2 = 0;
  for (int64_t i = 0; i < a.count; ++i) {
    const double r = reference.GetAsDouble(i), c = candidate.GetAsDouble(i);
    if (!std::isfinite(r) || !std::isfinite(c)) {
      ++a.nonfinite;
      continue;
    }
    const double d = r - c;
    ref2 += r * r;
    cand2 += c * c;
    dot += r * c;
    err2 += d * d;
    a.max_abs_error = std::max(a.max_abs_error, std::abs(d));
  }
  a.relative_l2 = ref2 > 0 ? std::sqrt(err2 / ref2) : (err2 > 0 ? INFINITY : 0.0);
  a.cosine = (ref2 > 0 && cand2 > 0) ? dot / std::sqrt(ref2 * cand2) : (err2 == 0 ? 1.0 : 0.0);
  a.sqnr_db = err2 > 0 ? 10.0 * std::log10(ref2 / err2) : std::numeric_limits<double>::infinity();
  return a;
}

std::string FormatAgreement(const Agreement& a) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "rel_l2 %.3e  cosine %.6f  sqnr %.1f dB  max_abs %.3e  (%lld values%s)",
                a.relative_l2, a.cosine, a.sqnr_db, a.max_abs_error,
                static_cast<long long>(a.count), a.nonfinite ? ", NON-FINITE present" : "");
  return buf;
}

}  // namespace octet
