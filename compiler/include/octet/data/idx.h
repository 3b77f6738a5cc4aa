// IDX files, the format of MNIST and Fashion-MNIST: big-endian header
// (0, 0, type, rank, rank x u32 dims) then the data. Only unsigned-byte data
// (type 0x08) is supported. Files may be gzip-compressed (detected by magic).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/data/data_source.h"

namespace octet::data {

struct IdxArray {
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // row-major, product(dims) bytes
};

// Parses IDX bytes (already decompressed); checks the magic, the type, and
// that the data is exactly as long as the dims say. `what` names the file.
Expected<IdxArray> ParseIdx(std::string_view bytes, const std::string& what);
// Reads (and gunzips when needed) an IDX file.
Expected<IdxArray> ReadIdxFile(const std::string& path);

struct IdxOptions {
  float mean = 0.2860f;  // Fashion-MNIST's; MNIST's is 0.1307 / 0.3081
  float std = 0.3530f;
};

// Images [N,H,W] (+ labels [N], optional: empty path) -> samples f32 [1,H,W]
// with value (x / 255 - mean) / std, computed in f32 like NumPy/PyTorch do.
// Both files are read into memory here.
Expected<std::unique_ptr<DataSource>> OpenIdx(const std::string& images_path,
                                              const std::string& labels_path,
                                              const IdxOptions& options);

}  // namespace octet::data
