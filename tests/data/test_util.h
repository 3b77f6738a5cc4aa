// Helpers shared by the octet_data tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "octet/npy.h"

namespace octet::data::testing {

namespace fs = std::filesystem;

inline fs::path TestDataDir() { return fs::path(OCTET_SOURCE_DIR) / "tests/data/testdata"; }

// A fresh empty folder for the running test, removed by the destructor.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("octet_data_" + std::string(info->test_suite_name()) +
                                         "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline void WriteBytes(const std::string& path, const std::string& bytes) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream f(path, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string ReadBytes(const std::string& path) {
  auto b = ReadFileBytes(path);
  return b.ok() ? *b : std::string();
}

// Build folder of models/build.sh, as tests/models does.
inline fs::path ModelsDir() {
  const char* env = std::getenv("OCTET_BUILD_DIR");
  fs::path build = env != nullptr ? fs::path(env) : fs::path(OCTET_BINARY_DIR);
  if (build.is_relative()) build = fs::path(OCTET_SOURCE_DIR) / build;
  return build / "models";
}

inline bool ModelsRequired() {
  const char* env = std::getenv("OCTET_REQUIRE_MODELS");
  return env != nullptr && std::string(env) == "1";
}

}  // namespace octet::data::testing
