// What the tests measure about their own process.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <fstream>

namespace octet::testing {

// Resident set size of this process in bytes (from /proc/self/statm).
inline int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

}  // namespace octet::testing
