// gzip/zlib decompression (zlib), for compressed datasets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "octet/status.h"

namespace octet::data {

// True when `bytes` starts with the gzip magic 1f 8b.
bool IsGzip(std::string_view bytes);
// Inflates a gzip (or zlib) stream. Fails with DataLoss, naming `what`, on a
// corrupt or truncated stream, or when the output exceeds `max_bytes`
// (a guard against decompression bombs).
Expected<std::string> Gunzip(std::string_view bytes, const std::string& what,
                             int64_t max_bytes = int64_t{4} << 30);

}  // namespace octet::data
