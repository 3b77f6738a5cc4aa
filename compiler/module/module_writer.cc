// Writing a module: header, description, section table, then the weight
// sections, each at a 64-byte boundary. Everything before the weights is built
// in memory; the weights are streamed to the file so a large model is not
// copied again.
#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>

#include "module_internal.h"

namespace octet {
namespace {

using module_internal::AlignUp;
using module_internal::PutU32;
using module_internal::PutU64;
using module_internal::SectionEntry;
namespace L = module_layout;

// Header, description, padding and section table: the bytes before the first
// weight section, plus where each section goes.
struct Prefix {
  std::string bytes;
  std::vector<SectionEntry> entries;
};

Expected<Prefix> BuildPrefix(const ModuleDesc& desc, const std::vector<WeightSection>& weights) {
  std::vector<int64_t> sizes;
  std::set<std::string> names;
  for (size_t i = 0; i < weights.size(); ++i) {
    if (weights[i].name.empty() || !names.insert(weights[i].name).second)
      return InvalidArgument("weight section ", i, " has an empty or repeated name '",
                             weights[i].name, "'");
    sizes.push_back(static_cast<int64_t>(weights[i].bytes.size()));
  }
  OCTET_RETURN_IF_ERROR(ValidateModuleDesc(desc, sizes).WithContext("module description"));
  OCTET_ASSIGN_OR_RETURN(std::string json, module_internal::EncodeDescription(desc, weights));

  Prefix p;
  const uint64_t table_offset = AlignUp(L::kHeaderSize + json.size(), kModuleSectionAlignment);
  const uint64_t count = 1 + weights.size();
  p.entries.push_back({L::kDescriptionSection, L::kHeaderSize, json.size(),
                       ModuleChecksum(json.data(), json.size())});
  uint64_t cursor = table_offset + count * L::kEntrySize;
  for (const WeightSection& w : weights) {
    cursor = AlignUp(cursor, kModuleSectionAlignment);
    p.entries.push_back({L::kWeightSection, cursor, w.bytes.size(),
                         ModuleChecksum(w.bytes.data(), w.bytes.size())});
    cursor += w.bytes.size();
  }
  const uint64_t file_size = cursor;

  p.bytes.assign(table_offset + count * L::kEntrySize, '\0');
  uint8_t* b = reinterpret_cast<uint8_t*>(p.bytes.data());
  std::memcpy(b + L::kHeaderSize, json.data(), json.size());
  uint8_t* table = b + table_offset;
  for (size_t i = 0; i < p.entries.size(); ++i) {
    uint8_t* e = table + i * L::kEntrySize;
    PutU32(e + L::kEntryKindOffset, p.entries[i].kind);
    PutU64(e + L::kEntryOffsetOffset, p.entries[i].offset);
    PutU64(e + L::kEntrySizeOffset, p.entries[i].size);
    PutU32(e + L::kEntryChecksumOffset, p.entries[i].checksum);
  }
  std::memcpy(b + L::kMagicOffset, kModuleMagic, kModuleMagicSize);
  PutU32(b + L::kVersionOffset, kModuleFormatVersion);
  PutU32(b + L::kHeaderLengthOffset, L::kHeaderSize);
  PutU64(b + L::kFileSizeOffset, file_size);
  PutU32(b + L::kSectionCountOffset, static_cast<uint32_t>(count));
  PutU64(b + L::kTableOffsetOffset, table_offset);
  PutU32(b + L::kTableChecksumOffset, ModuleChecksum(table, count * L::kEntrySize));
  PutU32(b + L::kHeaderChecksumOffset, ModuleChecksum(b, L::kHeaderChecksumOffset));
  return p;
}

using Sink = std::function<Status(const void*, size_t)>;

Status WriteImage(const Prefix& p, const std::vector<WeightSection>& weights, const Sink& sink) {
  OCTET_RETURN_IF_ERROR(sink(p.bytes.data(), p.bytes.size()));
  uint64_t pos = p.bytes.size();
  static const char kZeros[kModuleSectionAlignment] = {};
  for (size_t i = 0; i < weights.size(); ++i) {
    const SectionEntry& e = p.entries[i + 1];
    OCTET_RETURN_IF_ERROR(sink(kZeros, e.offset - pos));  // < 64 bytes of padding
    OCTET_RETURN_IF_ERROR(sink(weights[i].bytes.data(), weights[i].bytes.size()));
    pos = e.offset + e.size;
  }
  return Status::Ok();
}

Status WriteAll(int fd, const void* data, size_t size, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return IoError("error writing '", path, "': ", std::strerror(errno));
    p += n;
    size -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

uint32_t ModuleChecksum(const void* data, size_t size) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const Bytef* p = static_cast<const Bytef*>(data);
  // zlib takes 32-bit lengths; weight sections may be larger.
  while (size > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(size, size_t{1} << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    size -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

bool ResealModuleImage(std::string* image) {
  if (image->size() < L::kHeaderSize) return false;
  uint8_t* b = reinterpret_cast<uint8_t*>(image->data());
  const uint64_t size = image->size();
  PutU64(b + L::kFileSizeOffset, size);
  const uint64_t count = module_internal::GetU32(b + L::kSectionCountOffset);
  const uint64_t table = module_internal::GetU64(b + L::kTableOffsetOffset);
  if (table <= size && count <= (size - table) / L::kEntrySize) {
    for (uint64_t i = 0; i < count; ++i) {
      uint8_t* e = b + table + i * L::kEntrySize;
      const uint64_t off = module_internal::GetU64(e + L::kEntryOffsetOffset);
      const uint64_t len = module_internal::GetU64(e + L::kEntrySizeOffset);
      if (off <= size && len <= size - off)
        PutU32(e + L::kEntryChecksumOffset, ModuleChecksum(b + off, len));
    }
    PutU32(b + L::kTableChecksumOffset, ModuleChecksum(b + table, count * L::kEntrySize));
  }
  // The header checksum sits at the end of the header the file claims to have.
  const uint32_t header_length = module_internal::GetU32(b + L::kHeaderLengthOffset);
  const uint32_t at = header_length >= L::kMinHeaderLength &&
                              header_length <= L::kMaxHeaderLength && header_length <= size
                          ? header_length - 4
                          : L::kHeaderChecksumOffset;
  PutU32(b + at, ModuleChecksum(b, at));
  return true;
}

Expected<std::string> SerializeModule(const ModuleDesc& desc,
                                      const std::vector<WeightSection>& weights) {
  OCTET_ASSIGN_OR_RETURN(Prefix prefix, BuildPrefix(desc, weights));
  std::string out;
  OCTET_RETURN_IF_ERROR(WriteImage(prefix, weights, [&](const void* data, size_t n) {
    out.append(static_cast<const char*>(data), n);
    return Status::Ok();
  }));
  return out;
}

Status WriteModule(const ModuleDesc& desc, const std::vector<WeightSection>& weights,
                   const std::string& path) {
  auto prefix = BuildPrefix(desc, weights);
  if (!prefix.ok()) return prefix.status().WithContext("cannot write module '" + path + "'");
  // A unique temporary name in the same folder, so the rename is atomic and
  // concurrent writers (threads or processes) never share a temporary file.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0) return IoError("cannot create '", tmp, "': ", std::strerror(errno));
  Status st = WriteImage(*prefix, weights,
                         [&](const void* data, size_t n) { return WriteAll(fd, data, n, path); });
  // fsync before rename: otherwise a crash can leave an empty file under the
  // final name on some file systems.
  if (st.ok() && ::fsync(fd) != 0)
    st = IoError("cannot flush '", path, "': ", std::strerror(errno));
  if (::close(fd) != 0 && st.ok())
    st = IoError("error closing '", path, "': ", std::strerror(errno));
  if (st.ok() && std::rename(tmp.c_str(), path.c_str()) != 0)
    st = IoError("cannot move '", tmp, "' to '", path, "': ", std::strerror(errno));
  if (!st.ok()) std::remove(tmp.c_str());
  return st;
}

}  // namespace octet
