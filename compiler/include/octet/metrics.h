// Agreement between a reference tensor and a candidate (fp32 vs PyTorch,
// quantized vs float): the numbers every fidelity check and report uses.
#pragma once

#include <cstdint>
#include <string>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

struct Agreement {
  int64_t count = 0;
  double relative_l2 = 0;  // ||a - b|| / ||a||  (0 when both are zero)
  double cosine = 1;       // <a, b> / (||a|| ||b||)
  double sqnr_db = 0;      // 10 log10(||a||^2 / ||a - b||^2); +inf when equal
  double max_abs_error = 0;
  int64_t nonfinite = 0;  // positions where either side is NaN or Inf
};

// Compares element-wise; both must have the same shape and a numeric dtype.
// `what` names the pair in errors.
Expected<Agreement> Compare(const Tensor& reference, const Tensor& candidate,
                            const std::string& what);
std::string FormatAgreement(const Agreement& a);

// Agreement over many tensor pairs (batches), as if they were one tensor:
// sums of squares and products are accumulated in double.
class AgreementAccumulator {
 public:
  Status Add(const Tensor& reference, const Tensor& candidate, const std::string& what);
  Agreement Result() const;
  int64_t count() const { return count_; }

 private:
  int64_t count_ = 0, nonfinite_ = 0;
  double ref2_ = 0, cand2_ = 0, dot_ = 0, err2_ = 0, max_abs_ = 0;
};

}  // namespace octet
