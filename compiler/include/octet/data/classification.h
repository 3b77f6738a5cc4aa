// Top-1 / top-5 accuracy bookkeeping for classifier outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::data {

struct ClassificationCounts {
  int64_t samples = 0;
  int64_t top1 = 0;
  int64_t top5 = 0;     // counted only when there are at least 5 classes
  int64_t classes = 0;  // scores per sample, from the last logits seen
};

// Scores the first `labels.size()` rows of `logits` [N, ...] (each row
// flattened to one score per class) against `labels`. The prediction is the
// first maximum (NumPy argmax: a NaN wins). A label is in the top 5 when fewer
// than 5 classes score strictly higher. Appends predictions when given.
Status AccumulateClassification(const Tensor& logits, const std::vector<int64_t>& labels,
                                ClassificationCounts* counts,
                                std::vector<int64_t>* predictions = nullptr);

}  // namespace octet::data
