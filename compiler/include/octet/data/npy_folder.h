// A folder of .npy files: each file one sample (its shape is the sample
// shape), or, with split_batch, each file a batch whose dim 0 is split into
// samples. Every sample must have the same dtype and shape as the first.
#pragma once

#include <memory>
#include <string>

#include "octet/data/data_source.h"

namespace octet::data {

struct NpyFolderOptions {
  bool recursive = false;
  bool split_batch = false;
};

// Without split_batch, a file whose header does not match the first file's
// fails only when it is loaded (so a skip policy can skip it). With
// split_batch every header is read here to count the samples, so a bad header
// or a mismatched shape fails the open.
Expected<std::unique_ptr<DataSource>> OpenNpyFolder(const std::string& dir,
                                                    const NpyFolderOptions& options);

struct NpyHeader {
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;
};
// Reads only the header of a .npy file.
Expected<NpyHeader> ReadNpyHeader(const std::string& path);

}  // namespace octet::data
