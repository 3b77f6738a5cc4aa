// Samples for calibration and evaluation: a DataSource is an indexed,
// read-only collection of samples (one tensor each, without the batch dim),
// optionally labelled. Implementations: image folders, .npy folders and IDX
// (MNIST-format) files; OpenDataSource picks one from a spec string.
//
// Thread safety: Get() is const and may be called from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "octet/data/image_preprocess.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::data {

struct Sample {
  Tensor data;         // one sample, no batch dim (e.g. f32[3,224,224])
  std::string source;  // file or record name, for messages ("dir/a.png", "x.npy[3]")
  int64_t label = -1;  // class index; -1 when the source has no labels
};

class DataSource {
 public:
  virtual ~DataSource() = default;
  virtual int64_t size() const = 0;
  // Loads sample i (0 <= i < size()). Errors name the file and the problem.
  virtual Expected<Sample> Get(int64_t i) const = 0;
  // Name of sample i without loading it, for skip reports.
  virtual std::string SourceName(int64_t i) const = 0;
  virtual bool has_labels() const = 0;
  // One line for logs: kind, location, count and settings.
  virtual std::string Describe() const = 0;
};

struct DataSourceOptions {
  ImagePreprocess preprocess;        // image folders
  bool recursive = false;            // image and .npy folders: descend into subfolders
  bool labels_from_subdirs = false;  // image folders: label = sorted index of the class
                                     // subfolder (torchvision ImageFolder layout)
  bool npy_split_batch = false;      // .npy folders: dim 0 of each file is a batch of samples
  float idx_mean = 0.2860f;          // IDX: x/255 then (x - mean) / std; defaults are
  float idx_std = 0.3530f;           // Fashion-MNIST's
  std::string labels_file;           // optional .npy of integer labels, one per sample,
                                     // replacing the source's own
};

// spec: "images:DIR", "npy:DIR", "idx:IMAGES[:LABELS]" or a bare DIR (images or
// .npy files, whichever it holds). IDX files may be gzip-compressed. Paths in
// an idx: spec cannot contain ':'.
Expected<std::unique_ptr<DataSource>> OpenDataSource(std::string_view spec,
                                                     const DataSourceOptions& options = {});

}  // namespace octet::data
