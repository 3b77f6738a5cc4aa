#include "octet/data/data_source.h"

#include <cstring>
#include <filesystem>

#include "file_list.h"
#include "octet/data/idx.h"
#include "octet/data/image_folder.h"
#include "octet/data/npy_folder.h"
#include "octet/npy.h"

namespace octet::data {
namespace {

namespace fs = std::filesystem;

// Adds (or replaces) labels from a .npy file of integers, one per sample.
class RelabelledSource : public DataSource {
 public:
  RelabelledSource(std::unique_ptr<DataSource> inner, std::vector<int64_t> labels,
                   std::string labels_file)
      : inner_(std::move(inner)),
        labels_(std::move(labels)),
        labels_file_(std::move(labels_file)) {}

  int64_t size() const override { return inner_->size(); }
  bool has_labels() const override { return true; }
  std::string SourceName(int64_t i) const override { return inner_->SourceName(i); }
  std::string Describe() const override {
    return inner_->Describe() + ", labels from " + labels_file_;
  }
  Expected<Sample> Get(int64_t i) const override {
    OCTET_ASSIGN_OR_RETURN(Sample s, inner_->Get(i));
    s.label = labels_[i];
    return s;
  }

 private:
  std::unique_ptr<DataSource> inner_;
  std::vector<int64_t> labels_;
  std::string labels_file_;
};

Expected<std::unique_ptr<DataSource>> AddLabels(std::unique_ptr<DataSource> source,
                                                const std::string& path) {
  OCTET_ASSIGN_OR_RETURN(Tensor t, ReadNpy(path));
  if (!IsInteger(t.dtype()) || t.rank() != 1)
    return InvalidArgument("'", path, "': labels must be a 1-D integer array, got ",
                           t.ShapeString());
  if (t.numel() != source->size())
    return InvalidArgument("'", path, "': ", t.numel(), " labels, expected ", source->size(),
                           " (one per sample of ", source->Describe(), ")");
  std::vector<int64_t> labels(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) labels[i] = t.GetAsInt64(i);
  return std::unique_ptr<DataSource>(new RelabelledSource(std::move(source), labels, path));
}

// Which kind of folder `dir` is: "images" or "npy".
Expected<std::string> DetectFolderKind(const std::string& dir, bool recursive) {
  int64_t images = 0, npys = 0;
  // Counts through the filter; nothing is kept.
  auto count = [&](const std::string& name) {
    const std::string lower = ToLower(name);
    if (IsImageFileName(name)) ++images;
    if (lower.size() > 4 && lower.substr(lower.size() - 4) == ".npy") ++npys;
    return false;
  };
  OCTET_RETURN_IF_ERROR(ListFiles(dir, recursive, count).status());
  if (images > 0 && npys > 0)
    return InvalidArgument("'", dir, "' holds both images (", images, ") and .npy files (", npys,
                           "): say which with images:", dir, " or npy:", dir);
  if (images > 0) return std::string("images");
  if (npys > 0) return std::string("npy");
  return NotFound("'", dir, "' has no .jpg/.jpeg/.png or .npy files",
                  recursive ? "" : " (not searching subfolders)");
}

}  // namespace

Expected<std::unique_ptr<DataSource>> OpenDataSource(std::string_view spec_view,
                                                     const DataSourceOptions& options) {
  const std::string spec(spec_view);
  std::string kind, rest = spec;
  for (const char* prefix : {"images:", "npy:", "idx:"}) {
    if (spec.rfind(prefix, 0) == 0) {
      kind = std::string(prefix, std::strlen(prefix) - 1);
      rest = spec.substr(std::strlen(prefix));
      break;
    }
  }
  if (rest.empty())
    return InvalidArgument("data spec '", spec,
                           "': expected images:DIR, npy:DIR, idx:IMAGES[:LABELS] or DIR");
  if (kind.empty()) {
    std::error_code ec;
    if (!fs::is_directory(rest, ec))
      return NotFound("data spec '", spec, "': '", rest,
                      "' is not a folder (for IDX files write idx:IMAGES[:LABELS])");
    OCTET_ASSIGN_OR_RETURN(
        kind, DetectFolderKind(rest, options.recursive || options.labels_from_subdirs));
  }

  std::unique_ptr<DataSource> source;
  if (kind == "images") {
    ImageFolderOptions o;
    o.preprocess = options.preprocess;
    o.recursive = options.recursive;
    o.labels_from_subdirs = options.labels_from_subdirs;
    OCTET_ASSIGN_OR_RETURN(source, OpenImageFolder(rest, o));
  } else if (kind == "npy") {
    NpyFolderOptions o;
    o.recursive = options.recursive;
    o.split_batch = options.npy_split_batch;
    OCTET_ASSIGN_OR_RETURN(source, OpenNpyFolder(rest, o));
  } else {
    const size_t colon = rest.find(':');
    const std::string images = rest.substr(0, colon);
    const std::string labels = colon == std::string::npos ? "" : rest.substr(colon + 1);
    IdxOptions o;
    o.mean = options.idx_mean;
    o.std = options.idx_std;
    OCTET_ASSIGN_OR_RETURN(source, OpenIdx(images, labels, o));
  }
  if (!options.labels_file.empty()) return AddLabels(std::move(source), options.labels_file);
  return source;
}

}  // namespace octet::data
