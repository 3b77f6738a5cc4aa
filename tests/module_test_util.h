// Helpers for tests that compile graphs to modules and run them: a fixture
// with a fresh temporary folder per test (and a module writer into it), and
// the cosine similarity of two f32 outputs.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "octet/compile/compile.h"
#include "octet/module/module.h"
#include "octet/tensor.h"

namespace octet::testing {

inline double Cosine(const Tensor& a, const Tensor& b) {
  double ab = 0, aa = 0, bb = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double x = a.data<float>()[i], y = b.data<float>()[i];
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  return aa == 0 && bb == 0 ? 1.0 : ab / std::sqrt(aa * bb);
}

// ||got - ref|| / ||ref|| over f32 elements.
inline double RelativeL2(const Tensor& ref, const Tensor& got) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data<float>()[i], x = got.data<float>()[i];
    num += (r - x) * (r - x);
    den += r * r;
  }
  return std::sqrt(num / den);
}

// dir_: <gtest temp dir>/octet_<suite>_<test>, created empty for each test
// and removed after it.
class ModuleFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("octet_" + std::string(info->test_suite_name()) + "_" + info->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `m` (which must be ok) as dir_/name and returns the path.
  std::string Write(const Expected<CompiledModule>& m, const std::string& name) {
    EXPECT_TRUE(m.ok()) << m.status().ToString();
    const std::string path = (dir_ / name).string();
    if (!m.ok()) return path;
    Status s = WriteModule(m->desc, m->weights, path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }

  std::filesystem::path dir_;
};

}  // namespace octet::testing
