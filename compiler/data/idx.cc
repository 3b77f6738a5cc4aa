#include "octet/data/idx.h"

#include "octet/data/gzip.h"
#include "octet/npy.h"

namespace octet::data {
namespace {

uint32_t BigEndian32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

class IdxSource : public DataSource {
 public:
  IdxSource(IdxArray images, std::vector<uint8_t> labels, std::string images_path,
            std::string labels_path, IdxOptions options)
      : images_(std::move(images)),
        labels_(std::move(labels)),
        images_path_(std::move(images_path)),
        labels_path_(std::move(labels_path)),
        options_(options) {}

  int64_t size() const override { return images_.dims[0]; }
  bool has_labels() const override { return !labels_.empty(); }
  std::string SourceName(int64_t i) const override {
    return images_path_ + "[" + std::to_string(i) + "]";
  }
  std::string Describe() const override {
    return "idx " + images_path_ + (labels_path_.empty() ? "" : " + " + labels_path_) + ": " +
           std::to_string(size()) + " samples f32[1," + std::to_string(images_.dims[1]) + "," +
           std::to_string(images_.dims[2]) + "], (x/255 - " + std::to_string(options_.mean) +
           ") / " + std::to_string(options_.std);
  }

  Expected<Sample> Get(int64_t i) const override {
    if (i < 0 || i >= size()) return OutOfRange("'", images_path_, "': sample ", i, " of ", size());
    const int64_t h = images_.dims[1], w = images_.dims[2];
    Sample s;
    s.data = Tensor(DType::kF32, {1, h, w});
    s.source = SourceName(i);
    s.label = labels_.empty() ? -1 : labels_[i];
    const uint8_t* px = images_.data.data() + i * h * w;
    float* out = s.data.data<float>();
    // Same f32 operations, in the same order, as models/fashion_resnet.py's
    // NumPy code, so the samples are bit-identical to PyTorch's inputs.
    for (int64_t k = 0; k < h * w; ++k)
      out[k] = (static_cast<float>(px[k]) / 255.0f - options_.mean) / options_.std;
    return s;
  }

 private:
  IdxArray images_;
  std::vector<uint8_t> labels_;
  std::string images_path_, labels_path_;
  IdxOptions options_;
};

}  // namespace

Expected<IdxArray> ParseIdx(std::string_view bytes, const std::string& what) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4)
    return DataLoss("'", what, "': IDX file is ", bytes.size(), " bytes, shorter than its header");
  if (p[0] != 0 || p[1] != 0)
    return InvalidArgument("'", what, "': not an IDX file (magic starts ", int{p[0]}, " ",
                           int{p[1]}, ", expected 0 0)");
  if (p[2] != 0x08)
    return Unimplemented("'", what, "': IDX data type 0x", std::hex, int{p[2]},
                         " is not supported (expected 0x08, unsigned byte)");
  const int rank = p[3];
  if (rank < 1) return InvalidArgument("'", what, "': IDX rank is 0");
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  if (bytes.size() < header)
    return DataLoss("'", what, "': IDX header of rank ", rank, " needs ", header,
                    " bytes, file has ", bytes.size());
  IdxArray a;
  int64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    const int64_t dim = BigEndian32(p + 4 + 4 * d);
    a.dims.push_back(dim);
    // Dims are < 2^32 each; stop before the product overflows.
    if (dim != 0 && count > (int64_t{1} << 40) / dim)
      return InvalidArgument("'", what, "': IDX dims ", DimsString(a.dims), " are too large");
    count *= dim;
  }
  const size_t have = bytes.size() - header;
  if (have != static_cast<size_t>(count))
    return DataLoss("'", what, "': IDX dims ", DimsString(a.dims), " need ", count,
                    " data bytes, file has ", have,
                    have < static_cast<size_t>(count) ? " (truncated)" : " (trailing bytes)");
  a.data.assign(p + header, p + bytes.size());
  return a;
}

Expected<IdxArray> ReadIdxFile(const std::string& path) {
  OCTET_ASSIGN_OR_RETURN(std::string bytes, ReadFileBytes(path));
  if (IsGzip(bytes)) {
    OCTET_ASSIGN_OR_RETURN(bytes, Gunzip(bytes, path));
  }
  return ParseIdx(bytes, path);
}

Expected<std::unique_ptr<DataSource>> OpenIdx(const std::string& images_path,
                                              const std::string& labels_path,
                                              const IdxOptions& options) {
  if (!(options.std != 0.0f)) return InvalidArgument("IDX std must be non-zero, got ", options.std);
  OCTET_ASSIGN_OR_RETURN(IdxArray images, ReadIdxFile(images_path));
  if (images.dims.size() != 3)
    return InvalidArgument("'", images_path, "': expected IDX images of rank 3 [N,H,W], got ",
                           DimsString(images.dims));
  std::vector<uint8_t> labels;
  if (!labels_path.empty()) {
    OCTET_ASSIGN_OR_RETURN(IdxArray l, ReadIdxFile(labels_path));
    if (l.dims.size() != 1)
      return InvalidArgument("'", labels_path, "': expected IDX labels of rank 1 [N], got ",
                             DimsString(l.dims));
    if (l.dims[0] != images.dims[0])
      return InvalidArgument("'", labels_path, "': ", l.dims[0], " labels, expected ",
                             images.dims[0], " (one per image in '", images_path, "')");
    labels = std::move(l.data);
  }
  return std::unique_ptr<DataSource>(
      new IdxSource(std::move(images), std::move(labels), images_path, labels_path, options));
}

}  // namespace octet::data
