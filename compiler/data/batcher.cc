#include "octet/data/batcher.h"

#include <algorithm>
#include <cstring>

namespace octet::data {

Expected<BadFilePolicy> ParseBadFilePolicy(std::string_view name) {
  if (name == "fail") return BadFilePolicy::kFail;
  if (name == "skip") return BadFilePolicy::kSkip;
  return InvalidArgument("bad-file policy: expected 'fail' or 'skip', got '", std::string(name),
                         "'");
}

Expected<Batcher> Batcher::Create(const DataSource& source, const BatcherOptions& options) {
  if (options.batch_size < 1)
    return InvalidArgument("batch size must be at least 1, got ", options.batch_size);
  if (options.max_samples < -1)
    return InvalidArgument("sample limit must be -1 (none) or >= 0, got ", options.max_samples);
  return Batcher(source, options);
}

int64_t Batcher::planned() const {
  const int64_t n = source_->size();
  return options_.max_samples < 0 ? n : std::min(n, options_.max_samples);
}

Expected<Sample> Batcher::Load(int64_t i) {
  OCTET_ASSIGN_OR_RETURN(Sample s, source_->Get(i));
  if (!first_) {
    first_ = s.data;
    first_source_ = s.source;
  } else if (s.data.dtype() != first_->dtype() || s.data.dims() != first_->dims()) {
    return InvalidArgument("'", s.source, "': sample is ", s.data.ShapeString(), ", expected ",
                           first_->ShapeString(), " like the first sample ('", first_source_, "')");
  }
  return s;
}

Expected<std::optional<Batch>> Batcher::Next() {
  const int64_t limit = options_.max_samples < 0 ? source_->size() : options_.max_samples;
  std::vector<Sample> samples;
  while (static_cast<int64_t>(samples.size()) < options_.batch_size &&
         delivered_ + static_cast<int64_t>(samples.size()) < limit &&
         next_index_ < source_->size()) {
    const int64_t i = next_index_++;
    auto s = Load(i);
    if (s.ok()) {
      samples.push_back(std::move(s).value());
      continue;
    }
    // A bug in Octet is never a bad file.
    if (options_.on_bad_file == BadFilePolicy::kFail || s.status().code() == StatusCode::kInternal)
      return s.status();
    skipped_.push_back({i, source_->SourceName(i), s.status().message()});
  }
  if (samples.empty()) return std::optional<Batch>();

  Batch batch;
  std::vector<int64_t> dims = samples[0].data.dims();
  dims.insert(dims.begin(), static_cast<int64_t>(samples.size()));
  OCTET_ASSIGN_OR_RETURN(batch.data, Tensor::Create(samples[0].data.dtype(), dims));
  const int64_t bytes = samples[0].data.nbytes();
  char* dst = static_cast<char*>(batch.data.raw());
  for (size_t k = 0; k < samples.size(); ++k) {
    std::memcpy(dst + k * bytes, samples[k].data.raw(), bytes);
    batch.sources.push_back(std::move(samples[k].source));
    batch.labels.push_back(samples[k].label);
  }
  delivered_ += static_cast<int64_t>(samples.size());
  return std::optional<Batch>(std::move(batch));
}

}  // namespace octet::data
