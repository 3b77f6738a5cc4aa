#include "octet/data/classification.h"

#include <cmath>

namespace octet::data {

Status AccumulateClassification(const Tensor& logits, const std::vector<int64_t>& labels,
                                ClassificationCounts* counts, std::vector<int64_t>* predictions) {
  const int64_t rows = static_cast<int64_t>(labels.size());
  if (logits.rank() < 1 || logits.dim(0) < rows)
    return InvalidArgument("classifier output ", logits.ShapeString(), " has fewer than ", rows,
                           " rows (one per sample)");
  if (!IsFloat(logits.dtype()) && !IsInteger(logits.dtype()))
    return InvalidArgument("classifier output ", logits.ShapeString(), " is not numeric");
  const int64_t classes = logits.dim(0) == 0 ? 0 : logits.numel() / logits.dim(0);
  if (classes < 1) return InvalidArgument("classifier output ", logits.ShapeString(), " is empty");
  counts->classes = classes;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t base = r * classes;
    int64_t best = 0;
    double best_v = logits.GetAsDouble(base);
    for (int64_t c = 0; c < classes && !std::isnan(best_v); ++c) {
      const double v = logits.GetAsDouble(base + c);
      if (std::isnan(v) || v > best_v) {
        best = c;
        best_v = v;
      }
    }
    if (predictions != nullptr) predictions->push_back(best);
    ++counts->samples;
    const int64_t label = labels[r];
    if (label == best) ++counts->top1;
    if (classes >= 5 && label >= 0 && label < classes) {
      const double lv = logits.GetAsDouble(base + label);
      int64_t higher = 0;
      for (int64_t c = 0; c < classes && higher < 5; ++c)
        if (logits.GetAsDouble(base + c) > lv) ++higher;
      if (higher < 5 && !std::isnan(lv)) ++counts->top5;
    }
  }
  return Status::Ok();
}

}  // namespace octet::data
