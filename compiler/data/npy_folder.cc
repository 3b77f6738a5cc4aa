#include "octet/data/npy_folder.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <mutex>
#include <optional>

#include "file_list.h"
#include "octet/npy.h"

namespace octet::data {
namespace {

std::string TypeString(DType dtype, const std::vector<int64_t>& dims) {
  std::string s = std::string(DTypeName(dtype)) + "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

// Text of `key`'s value in the header dict: quoted strings unquoted, tuples
// with their parentheses.
std::string HeaderValue(const std::string& header, const std::string& key) {
  size_t p = header.find("'" + key + "'");
  if (p == std::string::npos) return "";
  p = header.find(':', p);
  if (p == std::string::npos) return "";
  p = header.find_first_not_of(' ', p + 1);
  if (p == std::string::npos) return "";
  const char open = header[p];
  const char close = open == '\'' ? '\'' : open == '(' ? ')' : ',';
  const size_t end = header.find(close, p + 1);
  if (end == std::string::npos) return "";
  return open == '\'' ? header.substr(p + 1, end - p - 1) : header.substr(p, end - p + 1);
}

Expected<DType> DTypeFromDescr(const std::string& descr, const std::string& path) {
  static const std::pair<const char*, DType> kTypes[] = {
      {"<f4", DType::kF32}, {"<f8", DType::kF64}, {"<f2", DType::kF16}, {"|i1", DType::kI8},
      {"|u1", DType::kU8},  {"<i2", DType::kI16}, {"<u2", DType::kU16}, {"<i4", DType::kI32},
      {"<u4", DType::kU32}, {"<i8", DType::kI64}, {"<u8", DType::kU64}, {"|b1", DType::kBool}};
  for (const auto& [name, dtype] : kTypes)
    if (descr == name) return dtype;
  return Unimplemented("'", path, "': .npy dtype '", descr, "' is not supported");
}

bool IsNpyFileName(const std::string& name) {
  const std::string lower = ToLower(name);
  return lower.size() > 4 && lower.compare(lower.size() - 4, 4, ".npy") == 0;
}

class NpyFolderSource : public DataSource {
 public:
  struct File {
    std::string path;
    int64_t first = 0;  // index of its first sample (split mode)
  };

  NpyFolderSource(std::string dir, std::vector<File> files, int64_t count,
                  std::optional<NpyHeader> reference, std::string reference_path, bool split)
      : dir_(std::move(dir)),
        files_(std::move(files)),
        count_(count),
        reference_(std::move(reference)),
        reference_path_(std::move(reference_path)),
        split_(split) {}

  int64_t size() const override { return count_; }
  bool has_labels() const override { return false; }
  std::string SourceName(int64_t i) const override {
    if (!split_) return files_[i].path;
    const File& f = FileOf(i);
    return f.path + "[" + std::to_string(i - f.first) + "]";
  }
  std::string Describe() const override {
    std::string s = "npy " + dir_ + ": " + std::to_string(count_) + " samples";
    if (split_) s += " from " + std::to_string(files_.size()) + " files";
    if (reference_) s += ", " + TypeString(reference_->dtype, reference_->dims);
    return s;
  }

  Expected<Sample> Get(int64_t i) const override {
    if (i < 0 || i >= count_) return OutOfRange("'", dir_, "': sample ", i, " of ", count_);
    Sample s;
    s.source = SourceName(i);
    if (!split_) {
      OCTET_ASSIGN_OR_RETURN(s.data, ReadNpy(files_[i].path));
      OCTET_RETURN_IF_ERROR(CheckMatches(files_[i].path, s.data.dtype(), s.data.dims()));
      return s;
    }
    const File& f = FileOf(i);
    OCTET_ASSIGN_OR_RETURN(Tensor batch, LoadCached(f.path));
    std::vector<int64_t> dims(batch.dims().begin() + 1, batch.dims().end());
    s.data = Tensor(batch.dtype(), dims);
    const int64_t bytes = s.data.nbytes();
    std::memcpy(s.data.raw(), static_cast<const char*>(batch.raw()) + (i - f.first) * bytes, bytes);
    return s;
  }

 private:
  const File& FileOf(int64_t i) const {
    auto it = std::upper_bound(files_.begin(), files_.end(), i,
                               [](int64_t v, const File& f) { return v < f.first; });
    return *(it - 1);
  }

  Status CheckMatches(const std::string& path, DType dtype,
                      const std::vector<int64_t>& dims) const {
    if (!reference_ || (dtype == reference_->dtype && dims == reference_->dims))
      return Status::Ok();
    return InvalidArgument("'", path, "': sample is ", TypeString(dtype, dims), ", expected ",
                           TypeString(reference_->dtype, reference_->dims), " like '",
                           reference_path_, "'");
  }

  // Split files are read whole; consecutive samples come from the same file,
  // so keeping the last one avoids reading it once per sample.
  Expected<Tensor> LoadCached(const std::string& path) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (cached_path_ == path) return cached_;
    OCTET_ASSIGN_OR_RETURN(Tensor t, ReadNpy(path));
    if (t.rank() < 1)
      return InvalidArgument("'", path, "': expected a batch (rank >= 1), got a scalar");
    std::vector<int64_t> dims(t.dims().begin() + 1, t.dims().end());
    OCTET_RETURN_IF_ERROR(CheckMatches(path, t.dtype(), dims));
    cached_path_ = path;
    cached_ = t;
    return t;
  }

  std::string dir_;
  std::vector<File> files_;
  int64_t count_;
  std::optional<NpyHeader> reference_;  // sample dtype and dims every file must have
  std::string reference_path_;
  bool split_;
  mutable std::mutex mu_;
  mutable std::string cached_path_;
  mutable Tensor cached_;
};

}  // namespace

Expected<NpyHeader> ReadNpyHeader(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return NotFound("cannot open '", path, "': ", std::strerror(errno));
  unsigned char pre[12] = {};
  f.read(reinterpret_cast<char*>(pre), 10);
  if (f.gcount() < 10 || std::memcmp(pre, "\x93NUMPY", 6) != 0)
    return DataLoss("'", path, "': not a .npy file (bad magic)");
  size_t header_len = pre[8] | (pre[9] << 8);
  if (pre[6] >= 2) {
    f.read(reinterpret_cast<char*>(pre + 10), 2);
    if (f.gcount() < 2) return DataLoss("'", path, "': truncated .npy header");
    header_len |= (size_t{pre[10]} << 16) | (size_t{pre[11]} << 24);
  }
  if (header_len > (1 << 20)) return DataLoss("'", path, "': .npy header is implausibly long");
  std::string header(header_len, '\0');
  f.read(header.data(), static_cast<std::streamsize>(header_len));
  if (static_cast<size_t>(f.gcount()) < header_len)
    return DataLoss("'", path, "': truncated .npy header");
  NpyHeader h;
  OCTET_ASSIGN_OR_RETURN(h.dtype, DTypeFromDescr(HeaderValue(header, "descr"), path));
  if (HeaderValue(header, "fortran_order").rfind("True", 0) == 0)
    return Unimplemented("'", path, "': Fortran-ordered .npy files are not supported");
  const std::string shape = HeaderValue(header, "shape");
  if (shape.size() < 2 || shape.front() != '(')
    return DataLoss("'", path, "': .npy header has no shape");
  size_t p = 1;
  while (p < shape.size()) {
    while (p < shape.size() && (shape[p] == ' ' || shape[p] == ',' || shape[p] == ')')) ++p;
    if (p >= shape.size()) break;
    char* end = nullptr;
    const long long d = std::strtoll(shape.c_str() + p, &end, 10);
    if (end == shape.c_str() + p || d < 0) return DataLoss("'", path, "': bad .npy shape ", shape);
    h.dims.push_back(d);
    p = end - shape.c_str();
  }
  return h;
}

Expected<std::unique_ptr<DataSource>> OpenNpyFolder(const std::string& dir,
                                                    const NpyFolderOptions& options) {
  OCTET_ASSIGN_OR_RETURN(std::vector<std::string> paths,
                         ListFiles(dir, options.recursive, IsNpyFileName));
  if (paths.empty())
    return NotFound("'", dir, "' has no .npy files",
                    options.recursive ? "" : " (not searching subfolders)");
  std::vector<NpyFolderSource::File> files;
  std::optional<NpyHeader> reference;
  std::string reference_path;
  int64_t count = 0;
  for (const std::string& path : paths) {
    files.push_back({path, count});
    if (!options.split_batch) {
      ++count;
      // The first readable header sets the expected sample type; a bad file
      // is reported when it is loaded.
      if (!reference) {
        auto h = ReadNpyHeader(path);
        if (h.ok()) {
          reference = *h;
          reference_path = path;
        }
      }
      continue;
    }
    OCTET_ASSIGN_OR_RETURN(NpyHeader h, ReadNpyHeader(path));
    if (h.dims.empty())
      return InvalidArgument("'", path, "': expected a batch [N, ...], got a scalar");
    NpyHeader sample{h.dtype, std::vector<int64_t>(h.dims.begin() + 1, h.dims.end())};
    if (!reference) {
      reference = sample;
      reference_path = path;
    } else if (sample.dtype != reference->dtype || sample.dims != reference->dims) {
      return InvalidArgument("'", path, "': samples are ", TypeString(sample.dtype, sample.dims),
                             ", expected ", TypeString(reference->dtype, reference->dims),
                             " like '", reference_path, "'");
    }
    count += h.dims[0];
  }
  // Split files with zero samples own no index; drop them so lookup stays simple.
  std::vector<NpyFolderSource::File> nonempty;
  for (size_t i = 0; i < files.size(); ++i) {
    const int64_t end = i + 1 < files.size() ? files[i + 1].first : count;
    if (end > files[i].first) nonempty.push_back(files[i]);
  }
  if (count == 0) return NotFound("'", dir, "' has .npy files but no samples");
  return std::unique_ptr<DataSource>(new NpyFolderSource(dir, std::move(nonempty), count, reference,
                                                         reference_path, options.split_batch));
}

}  // namespace octet::data
