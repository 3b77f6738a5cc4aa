// Calibration or evaluation samples held in memory, for tests.
#pragma once

#include <string>
#include <vector>

#include "octet/data/data_source.h"

namespace octet::testing {

// Sample i is named "sample<i>"; no labels.
class MemorySource : public data::DataSource {
 public:
  explicit MemorySource(std::vector<Tensor> samples) : samples_(std::move(samples)) {}
  int64_t size() const override { return static_cast<int64_t>(samples_.size()); }
  Expected<data::Sample> Get(int64_t i) const override {
    return data::Sample{samples_[i], SourceName(i), -1};
  }
  std::string SourceName(int64_t i) const override { return "sample" + std::to_string(i); }
  bool has_labels() const override { return false; }
  std::string Describe() const override { return "memory: " + std::to_string(size()) + " samples"; }

 private:
  std::vector<Tensor> samples_;
};

}  // namespace octet::testing
