#include "octet/metrics.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace octet {

Status AgreementAccumulator::Add(const Tensor& reference, const Tensor& candidate,
                                 const std::string& what) {
  if (reference.dims() != candidate.dims())
    return InvalidArgument(what, ": shapes differ: reference ", reference.ShapeString(),
                           " vs candidate ", candidate.ShapeString());
  const int64_t n = reference.numel();
  count_ += n;
  const bool f32 = reference.dtype() == DType::kF32 && candidate.dtype() == DType::kF32;
  const float* rf = f32 ? reference.data<float>() : nullptr;
  const float* cf = f32 ? candidate.data<float>() : nullptr;
  for (int64_t i = 0; i < n; ++i) {
    const double r = f32 ? rf[i] : reference.GetAsDouble(i);
    const double c = f32 ? cf[i] : candidate.GetAsDouble(i);
    if (!std::isfinite(r) || !std::isfinite(c)) {
      ++nonfinite_;
      continue;
    }
    const double d = r - c;
    ref2_ += r * r;
    cand2_ += c * c;
    dot_ += r * c;
    err2_ += d * d;
    max_abs_ = std::max(max_abs_, std::abs(d));
  }
  return Status::Ok();
}

Agreement AgreementAccumulator::Result() const {
  Agreement a;
  a.count = count_;
  a.nonfinite = nonfinite_;
  a.max_abs_error = max_abs_;
  a.relative_l2 = ref2_ > 0 ? std::sqrt(err2_ / ref2_) : (err2_ > 0 ? INFINITY : 0.0);
  a.cosine =
      (ref2_ > 0 && cand2_ > 0) ? dot_ / std::sqrt(ref2_ * cand2_) : (err2_ == 0 ? 1.0 : 0.0);
  a.sqnr_db =
      err2_ > 0 ? 10.0 * std::log10(ref2_ / err2_) : std::numeric_limits<double>::infinity();
  return a;
}

Expected<Agreement> Compare(const Tensor& reference, const Tensor& candidate,
                            const std::string& what) {
  AgreementAccumulator acc;
  OCTET_RETURN_IF_ERROR(acc.Add(reference, candidate, what));
  return acc.Result();
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
