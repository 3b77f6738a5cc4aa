// Shared by the module writer and loader: little-endian field access and the
// description's JSON encoding. Not installed; not part of the API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "octet/module/module.h"

namespace octet::module_internal {

// Field access that is independent of the host's byte order and alignment.
inline void PutU32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void PutU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t GetU32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t GetU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t AlignUp(uint64_t v, uint64_t alignment) {
  return (v + alignment - 1) / alignment * alignment;
}

// One loaded or to-be-written section table entry.
struct SectionEntry {
  uint32_t kind = 0;
  uint64_t offset = 0;
  uint64_t size = 0;
  uint32_t checksum = 0;
};

// The description as UTF-8 JSON. The weight sections are listed by name and
// size so the loader can cross-check them against the section table.
Expected<std::string> EncodeDescription(const ModuleDesc& desc,
                                        const std::vector<WeightSection>& weights);
// Parses and type-checks the JSON (not ValidateModuleDesc's semantic checks).
// Errors say which field is wrong; `weights` receives (name, size) per section.
Expected<ModuleDesc> DecodeDescription(std::string_view json,
                                       std::vector<std::pair<std::string, int64_t>>* weights);

}  // namespace octet::module_internal
