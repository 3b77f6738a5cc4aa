// Loading a module: map the file, then check it from the outside in (magic,
// header, section table, description, weights) so that every later read is
// inside bounds that were already checked. Nothing here trusts a byte of the
// file before its checksum and bounds have been verified.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <set>
#include <tuple>

#include "module_internal.h"

namespace octet {

using module_internal::GetU32;
using module_internal::GetU64;
using module_internal::SectionEntry;
namespace L = module_layout;

namespace {

std::string Hex(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

Status ChecksumError(const std::string& what, const std::string& part, uint32_t stored,
                     uint32_t computed) {
  return DataLoss(what, ": ", part, " checksum mismatch (stored ", Hex(stored), ", computed ",
                  Hex(computed), "): the file is corrupt");
}

// Checks the fixed header; returns the section table's place.
Status CheckHeader(const uint8_t* b, uint64_t n, const std::string& what, uint64_t* table_offset,
                   uint64_t* count) {
  if (n < kModuleMagicSize || std::memcmp(b, kModuleMagic, kModuleMagicSize) != 0) {
    if (n < kModuleMagicSize && std::memcmp(b, kModuleMagic, n) == 0)
      return DataLoss(what, " is truncated: ", n, " bytes, shorter than a module header");
    return InvalidArgument(what, " is not an Octet compiled module (it does not start with \"",
                           kModuleMagic, "\")");
  }
  if (n < L::kMinHeaderLength)
    return DataLoss(what, " is truncated: ", n, " bytes, shorter than a module header");
  const uint32_t version = GetU32(b + L::kVersionOffset);
  const uint32_t header_length = GetU32(b + L::kHeaderLengthOffset);
  if (header_length < L::kMinHeaderLength || header_length > L::kMaxHeaderLength)
    return DataLoss(what, ": the header is corrupt (header length ", header_length, ")");
  if (n < header_length)
    return DataLoss(what, " is truncated: ", n, " bytes, shorter than its ", header_length,
                    "-byte header");
  // The header checksum is checked before the version, so a damaged version
  // field is reported as damage, not as a version to recompile for.
  const uint32_t stored = GetU32(b + header_length - 4);
  const uint32_t computed = ModuleChecksum(b, header_length - 4);
  if (stored != computed) return ChecksumError(what, "header", stored, computed);
  if (version != kModuleFormatVersion)
    return Unimplemented(what, ": module format version ", version, ", this Octet reads version ",
                         kModuleFormatVersion, ": recompile the model");
  if (header_length != L::kHeaderSize)
    return DataLoss(what, ": the header is corrupt (header length ", header_length, ", version ",
                    kModuleFormatVersion, " uses ", L::kHeaderSize, ")");
  const uint64_t file_size = GetU64(b + L::kFileSizeOffset);
  if (n < file_size)
    return DataLoss(what, " is truncated: it has ", n, " bytes, its header says ", file_size);
  if (n > file_size)
    return DataLoss(what, " has ", n - file_size, " bytes after the end its header records (",
                    file_size, " bytes)");
  bool reserved_zero = GetU32(b + L::kFlagsOffset) == 0;
  for (size_t i = L::kReservedOffset; i < L::kHeaderChecksumOffset; ++i)
    reserved_zero = reserved_zero && b[i] == 0;
  if (!reserved_zero) return DataLoss(what, ": the header has unknown flags or reserved bytes set");
  *count = GetU32(b + L::kSectionCountOffset);
  *table_offset = GetU64(b + L::kTableOffsetOffset);
  if (*count == 0) return DataLoss(what, ": the section table is empty (no description)");
  if (*table_offset < L::kHeaderSize || *table_offset > n ||
      *count > (n - *table_offset) / L::kEntrySize)
    return DataLoss(what, ": the section table (offset ", *table_offset, ", ", *count,
                    " entries) lies outside the file (", n, " bytes)");
  const uint32_t table_stored = GetU32(b + L::kTableChecksumOffset);
  const uint32_t table_computed = ModuleChecksum(b + *table_offset, *count * L::kEntrySize);
  if (table_stored != table_computed)
    return ChecksumError(what, "section table", table_stored, table_computed);
  return Status::Ok();
}

// Reads the (checksum-verified) table and checks every section's bounds,
// kind, alignment, and that no two sections or the table overlap.
Expected<std::vector<SectionEntry>> ReadSectionTable(const uint8_t* b, uint64_t n,
                                                     uint64_t table_offset, uint64_t count,
                                                     const std::string& what) {
  std::vector<SectionEntry> entries(count);
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> ranges;  // [begin, end), name
  ranges.emplace_back(table_offset, table_offset + count * L::kEntrySize, "the section table");
  for (uint64_t i = 0; i < count; ++i) {
    const uint8_t* e = b + table_offset + i * L::kEntrySize;
    SectionEntry& s = entries[i];
    s.kind = GetU32(e + L::kEntryKindOffset);
    s.offset = GetU64(e + L::kEntryOffsetOffset);
    s.size = GetU64(e + L::kEntrySizeOffset);
    s.checksum = GetU32(e + L::kEntryChecksumOffset);
    const std::string name = "section " + std::to_string(i);
    const uint32_t want = i == 0 ? L::kDescriptionSection : L::kWeightSection;
    if (s.kind != want || GetU32(e + L::kEntryFlagsOffset) != 0 ||
        GetU32(e + L::kEntryReservedOffset) != 0)
      return DataLoss(what, ": ", name, " has kind ", s.kind, " or flags set (expected kind ", want,
                      ")");
    if (s.offset < L::kHeaderSize || s.offset > n || s.size > n - s.offset)
      return DataLoss(what, ": ", name, " (offset ", s.offset, ", ", s.size,
                      " bytes) lies outside the file (", n, " bytes)");
    if (i > 0 && s.offset % kModuleSectionAlignment != 0)
      return DataLoss(what, ": ", name, " at offset ", s.offset, " is not ",
                      kModuleSectionAlignment, "-byte aligned");
    if (s.size > 0) ranges.emplace_back(s.offset, s.offset + s.size, name);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (std::get<0>(ranges[i]) < std::get<1>(ranges[i - 1]))
      return DataLoss(what, ": ", std::get<2>(ranges[i - 1]), " and ", std::get<2>(ranges[i]),
                      " overlap");
  // The bytes between sections are alignment padding, covered by no checksum;
  // requiring zeros there means every byte of the file is checked.
  uint64_t at = L::kHeaderSize;
  ranges.emplace_back(n, n, "the end of the file");
  for (const auto& [begin, end, name] : ranges) {
    for (; at < begin; ++at)
      if (b[at] != 0)
        return DataLoss(what, ": padding byte at offset ", at, " before ", name,
                        " is not zero: the file is corrupt");
    at = std::max(at, end);
  }
  return entries;
}

}  // namespace

class ModuleLoader {
 public:
  static Expected<LoadedModule> Parse(std::shared_ptr<const void> storage, uint64_t n,
                                      const std::string& what, const LoadOptions& options) {
    const uint8_t* b = static_cast<const uint8_t*>(storage.get());
    uint64_t table_offset = 0, count = 0;
    OCTET_RETURN_IF_ERROR(CheckHeader(b, n, what, &table_offset, &count));
    OCTET_ASSIGN_OR_RETURN(std::vector<SectionEntry> entries,
                           ReadSectionTable(b, n, table_offset, count, what));

    const SectionEntry& d = entries[0];
    const uint32_t desc_crc = ModuleChecksum(b + d.offset, d.size);
    if (desc_crc != d.checksum) return ChecksumError(what, "description", d.checksum, desc_crc);
    std::vector<std::pair<std::string, int64_t>> listed;
    auto desc = module_internal::DecodeDescription(
        std::string_view(reinterpret_cast<const char*>(b + d.offset), d.size), &listed);
    if (!desc.ok()) return desc.status().WithContext(what);
    if (!options.expected_target.empty() && desc->target != options.expected_target)
      return InvalidArgument(what, " was compiled for target '", desc->target, "', but target '",
                             options.expected_target,
                             "' was requested: recompile it with --target ",
                             options.expected_target);

    if (listed.size() != count - 1)
      return DataLoss(what, ": the description lists ", listed.size(),
                      " weight sections, the section table has ", count - 1);
    std::vector<int64_t> sizes;
    std::set<std::string> names;
    for (size_t i = 0; i < listed.size(); ++i) {
      const SectionEntry& e = entries[i + 1];
      if (listed[i].first.empty() || !names.insert(listed[i].first).second)
        return DataLoss(what, ": weight section ", i, " has an empty or repeated name '",
                        listed[i].first, "'");
      if (listed[i].second < 0 || static_cast<uint64_t>(listed[i].second) != e.size)
        return DataLoss(what, ": weight section ", i, " '", listed[i].first,
                        "': the description says ", listed[i].second, " bytes, the section table ",
                        e.size);
      sizes.push_back(listed[i].second);
    }
    const Status valid = ValidateModuleDesc(*desc, sizes);
    if (!valid.ok()) return DataLoss(what, ": the description is inconsistent: ", valid.message());

    LoadedModule m;
    for (size_t i = 0; i < listed.size(); ++i) {
      const SectionEntry& e = entries[i + 1];
      if (options.verify_weight_checksums) {
        const uint32_t crc = ModuleChecksum(b + e.offset, e.size);
        if (crc != e.checksum)
          return ChecksumError(what,
                               "weight section " + std::to_string(i) + " '" + listed[i].first + "'",
                               e.checksum, crc);
      }
      m.weights_.push_back({listed[i].first, b + e.offset, static_cast<int64_t>(e.size)});
    }
    m.storage_ = std::move(storage);
    m.desc_ = std::move(desc).value();
    m.format_version_ = kModuleFormatVersion;
    m.source_ = what;
    return m;
  }
};

Expected<LoadedModule> LoadModuleFromBytes(std::string_view bytes, const std::string& what,
                                           const LoadOptions& options) {
  if (bytes.empty()) return DataLoss(what, " is empty (0 bytes), not a compiled module");
  // Copied to a 64-byte aligned buffer of exactly the input's size, so weight
  // pointers are aligned and a sanitizer sees any read past the end.
  constexpr std::align_val_t kAlign{kModuleSectionAlignment};
  void* buffer = ::operator new(bytes.size(), kAlign);
  std::memcpy(buffer, bytes.data(), bytes.size());
  std::shared_ptr<const void> storage(
      buffer, [kAlign](const void* p) { ::operator delete(const_cast<void*>(p), kAlign); });
  return ModuleLoader::Parse(std::move(storage), bytes.size(), what, options);
}

Expected<LoadedModule> LoadModule(const std::string& path, const LoadOptions& options) {
  const std::string what = "module '" + path + "'";
  // O_NONBLOCK so that opening a FIFO by mistake does not hang; fstat then
  // refuses anything that is not a regular file.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return NotFound(what, " does not exist");
    return IoError("cannot open ", what, ": ", std::strerror(err));
  }
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return IoError("cannot stat ", what, ": ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(what, " is ", S_ISDIR(st.st_mode) ? "a directory" : "not a regular file",
                           ", not a compiled module file");
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return DataLoss(what, " is empty (0 bytes), not a compiled module");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int map_err = errno;
  ::close(fd);  // the mapping keeps the file
  if (addr == MAP_FAILED) return IoError("cannot map ", what, ": ", std::strerror(map_err));
  std::shared_ptr<const void> storage(
      addr, [size](const void* p) { ::munmap(const_cast<void*>(p), size); });
  return ModuleLoader::Parse(std::move(storage), size, what, options);
}

Expected<Tensor> LoadedModule::ConstantTensor(int slot) const {
  if (slot < 0 || slot >= static_cast<int>(desc_.slots.size()))
    return OutOfRange(source_, ": no slot ", slot, " (", desc_.slots.size(), " slots)");
  const TensorSlot& s = desc_.slots[slot];
  if (s.kind != SlotKind::kConstant)
    return InvalidArgument(source_, ": slot ", slot, " '", s.name, "' is of kind ",
                           SlotKindName(s.kind), ", not a constant");
  // The loader checked that the section holds exactly the tensor's bytes.
  const WeightView& w = weights_[s.weight_section];
  return Tensor::View(s.dtype, s.shape.static_dims(), const_cast<uint8_t*>(w.data),
                      std::const_pointer_cast<void>(storage_));
}

}  // namespace octet
