#include "octet/data/image_folder.h"

#include <algorithm>
#include <filesystem>

#include "file_list.h"

namespace octet::data {
namespace {

namespace fs = std::filesystem;

class ImageFolderSource : public DataSource {
 public:
  ImageFolderSource(std::string dir, std::vector<std::string> files, std::vector<int64_t> labels,
                    size_t num_classes, ImageFolderOptions options)
      : dir_(std::move(dir)),
        files_(std::move(files)),
        labels_(std::move(labels)),
        num_classes_(num_classes),
        options_(std::move(options)) {}

  int64_t size() const override { return static_cast<int64_t>(files_.size()); }
  bool has_labels() const override { return options_.labels_from_subdirs; }
  std::string SourceName(int64_t i) const override { return files_[i]; }
  std::string Describe() const override {
    std::string s = "images " + dir_ + ": " + std::to_string(files_.size()) + " files";
    if (options_.labels_from_subdirs) s += ", " + std::to_string(num_classes_) + " classes";
    return s + ", preprocess " + DescribePreprocess(options_.preprocess);
  }

  Expected<Sample> Get(int64_t i) const override {
    if (i < 0 || i >= size()) return OutOfRange("'", dir_, "': sample ", i, " of ", size());
    Sample s;
    OCTET_ASSIGN_OR_RETURN(s.data, LoadImageFile(files_[i], options_.preprocess));
    s.source = files_[i];
    s.label = labels_.empty() ? -1 : labels_[i];
    return s;
  }

 private:
  std::string dir_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;
  size_t num_classes_;
  ImageFolderOptions options_;
};

}  // namespace

bool IsImageFileName(const std::string& name) {
  const std::string ext = ToLower(fs::path(name).extension().string());
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

Expected<std::unique_ptr<DataSource>> OpenImageFolder(const std::string& dir,
                                                      const ImageFolderOptions& options) {
  OCTET_RETURN_IF_ERROR(ValidatePreprocess(options.preprocess));
  std::vector<std::string> files;
  std::vector<int64_t> labels;
  size_t num_classes = 0;
  if (options.labels_from_subdirs) {
    std::vector<std::string> classes;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return NotFound("'", dir, "' is not a folder");
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->is_directory(ec)) classes.push_back(it->path().filename().string());
    if (ec) return IoError("cannot list '", dir, "': ", ec.message());
    std::sort(classes.begin(), classes.end());
    num_classes = classes.size();
    for (size_t c = 0; c < classes.size(); ++c) {
      // Class folders are always searched recursively, as torchvision does.
      OCTET_ASSIGN_OR_RETURN(
          auto in_class, ListFiles((fs::path(dir) / classes[c]).string(), true, IsImageFileName));
      files.insert(files.end(), in_class.begin(), in_class.end());
      labels.insert(labels.end(), in_class.size(), static_cast<int64_t>(c));
    }
  } else {
    OCTET_ASSIGN_OR_RETURN(files, ListFiles(dir, options.recursive, IsImageFileName));
  }
  if (files.empty())
    return NotFound("'", dir, "' has no .jpg, .jpeg or .png files",
                    options.labels_from_subdirs ? " in class subfolders" : "",
                    options.recursive ? "" : " (not searching subfolders)");
  return std::unique_ptr<DataSource>(
      new ImageFolderSource(dir, std::move(files), std::move(labels), num_classes, options));
}

}  // namespace octet::data
