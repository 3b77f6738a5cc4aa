#include "octet/data/gzip.h"

#include <zlib.h>

#include <algorithm>

namespace octet::data {

bool IsGzip(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<uint8_t>(bytes[0]) == 0x1f &&
         static_cast<uint8_t>(bytes[1]) == 0x8b;
}

Expected<std::string> Gunzip(std::string_view bytes, const std::string& what, int64_t max_bytes) {
  z_stream zs{};
  // 15 + 32: largest window, and detect a gzip or zlib header automatically.
  if (inflateInit2(&zs, 15 + 32) != Z_OK) return Internal("zlib inflateInit2 failed");
  std::string out;
  size_t in_pos = 0;
  int rc = Z_OK;
  // avail_in is 32 bits: feed inputs over 4 GiB in pieces.
  constexpr size_t kChunk = size_t{1} << 30;
  while (rc != Z_STREAM_END) {
    if (zs.avail_in == 0 && in_pos < bytes.size()) {
      const size_t n = std::min(kChunk, bytes.size() - in_pos);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data() + in_pos));
      zs.avail_in = static_cast<uInt>(n);
      in_pos += n;
    }
    const size_t before = out.size();
    const size_t grow = std::max<size_t>(size_t{1} << 16, before);
    if (static_cast<int64_t>(before) >= max_bytes) {
      inflateEnd(&zs);
      return DataLoss("'", what, "': decompressed size exceeds the limit of ", max_bytes, " bytes");
    }
    out.resize(std::min<size_t>(before + grow, static_cast<size_t>(max_bytes)));
    zs.next_out = reinterpret_cast<Bytef*>(&out[before]);
    zs.avail_out = static_cast<uInt>(out.size() - before);
    rc = inflate(&zs, Z_NO_FLUSH);
    out.resize(out.size() - zs.avail_out);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && in_pos == bytes.size()) {
      inflateEnd(&zs);
      return DataLoss("'", what, "': gzip stream is truncated (ends after ", bytes.size(),
                      " compressed bytes, ", out.size(), " decompressed)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      const std::string msg = zs.msg != nullptr ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      return DataLoss("'", what, "': corrupt gzip data: ", msg);
    }
  }
  inflateEnd(&zs);
  return out;
}

}  // namespace octet::data
