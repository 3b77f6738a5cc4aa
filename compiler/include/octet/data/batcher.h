// Groups the samples of a DataSource into batches [N, ...] in index order;
// the last batch may be smaller. A sample that fails to load, or whose dtype
// or shape differs from the first sample's, is a bad sample: with kFail the
// batcher returns its error (naming the file); with kSkip it records the file
// and the reason in skipped() and goes on. Nothing is dropped silently: a
// caller using kSkip must report skipped().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "octet/data/data_source.h"

namespace octet::data {

enum class BadFilePolicy { kFail, kSkip };
// "fail" or "skip".
Expected<BadFilePolicy> ParseBadFilePolicy(std::string_view name);

struct BatcherOptions {
  int64_t batch_size = 1;
  BadFilePolicy on_bad_file = BadFilePolicy::kFail;
  int64_t max_samples = -1;  // stop after this many good samples; -1: all
};

struct SkippedSample {
  int64_t index = 0;
  std::string source;
  std::string reason;
};

struct Batch {
  Tensor data;                       // [n, sample dims...]
  std::vector<std::string> sources;  // n entries
  std::vector<int64_t> labels;       // n entries (-1 where unlabelled)
};

class Batcher {
 public:
  // Fails when batch_size < 1 or max_samples < -1.
  static Expected<Batcher> Create(const DataSource& source, const BatcherOptions& options);

  // The next batch, or nullopt when the source (or max_samples) is exhausted.
  Expected<std::optional<Batch>> Next();

  const std::vector<SkippedSample>& skipped() const { return skipped_; }
  int64_t delivered() const { return delivered_; }
  // Samples Next() would deliver if none were bad: min(size, max_samples).
  int64_t planned() const;

 private:
  Batcher(const DataSource& source, const BatcherOptions& options)
      : source_(&source), options_(options) {}
  // Loads sample i and checks it against the first; an error is a bad sample.
  Expected<Sample> Load(int64_t i);

  const DataSource* source_;
  BatcherOptions options_;
  int64_t next_index_ = 0;
  int64_t delivered_ = 0;
  std::vector<SkippedSample> skipped_;
  // dtype and dims of the first good sample, which every later one must match.
  std::optional<Tensor> first_;
  std::string first_source_;
};

}  // namespace octet::data
