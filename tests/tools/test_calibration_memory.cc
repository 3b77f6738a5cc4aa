// Calibration memory is bounded: `octet quantize` calibrating resnet18 with
// the entropy method on 324 images keeps its peak RSS under 1 GB beyond the
// model file (observers keep histograms, never activations). Measured on the
// CLI process itself (wait4's rusage), not on the test process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "test_paths.h"

extern char** environ;

namespace octet {
namespace {

namespace fs = std::filesystem;

// Runs argv (no shell) with stdout/stderr to /dev/null; returns the exit code
// and the child's peak resident set in bytes.
std::pair<int, int64_t> RunMeasured(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return {-1, 0};
  int status = 0;
  struct rusage usage {};
  if (wait4(pid, &status, 0, &usage) != pid) return {-1, 0};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, int64_t{usage.ru_maxrss} * 1024};
}

TEST(CalibrationMemory, Resnet18EntropyOn324ImagesStaysUnder1GB) {
  const fs::path model = testing::BuildDir() / "models/resnet18/model.onnx";
  const fs::path images = testing::BuildDir() / "data/calib300_images";
  OCTET_REQUIRE_PATH(model, "resnet18");
  OCTET_REQUIRE_PATH(images, "calib300");
  const fs::path out = fs::path(::testing::TempDir()) / "octet_calibration_memory.onnx";
  auto [code, peak] =
      RunMeasured({std::string(OCTET_BINARY_DIR) + "/tools/octet", "quantize", model.string(),
                   "--calib", "images:" + images.string(), "--preprocess", "imagenet", "--method",
                   "entropy", "--eval-samples", "0", "--batch", "16", "-o", out.string()});
  ASSERT_EQ(code, 0);
  const int64_t model_bytes = static_cast<int64_t>(fs::file_size(model));
  std::printf(
      "[ calibration memory ] resnet18 entropy, 324 images: peak RSS %.1f MB "
      "(model file %.1f MB)\n",
      peak / 1e6, model_bytes / 1e6);
  EXPECT_LT(peak - model_bytes, int64_t{1} << 30);
  fs::remove(out);
}

}  // namespace
}  // namespace octet
