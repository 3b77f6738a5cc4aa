// Where tests find what models/build.sh made, and whether a missing model is a
// skip (a developer's partial checkout) or a failure (CI sets
// OCTET_REQUIRE_MODELS=1).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace octet::testing {

// ${OCTET_BUILD_DIR} (relative to the source tree) or this build's folder.
inline std::filesystem::path BuildDir() {
  const char* env = std::getenv("OCTET_BUILD_DIR");
  std::filesystem::path build =
      env != nullptr ? std::filesystem::path(env) : std::filesystem::path(OCTET_BINARY_DIR);
  if (build.is_relative()) build = std::filesystem::path(OCTET_SOURCE_DIR) / build;
  return build;
}

inline std::filesystem::path ModelsDir() { return BuildDir() / "models"; }

inline bool ModelsRequired() {
  const char* env = std::getenv("OCTET_REQUIRE_MODELS");
  return env != nullptr && std::string(env) == "1";
}

}  // namespace octet::testing

// Ends the test when `path` is missing: GTEST_SKIP, or FAIL under
// OCTET_REQUIRE_MODELS=1. `how` is the models/build.sh target that makes it.
#define OCTET_REQUIRE_PATH(path, how)                                         \
  do {                                                                        \
    if (!std::filesystem::exists(path)) {                                     \
      if (::octet::testing::ModelsRequired())                                 \
        FAIL() << (path) << " is missing: run models/build.sh " << (how);     \
      GTEST_SKIP() << (path) << " is missing: run models/build.sh " << (how); \
    }                                                                         \
  } while (0)
