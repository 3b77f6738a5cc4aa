// Helpers for the compiled-module runtime tests: compile a model to a file,
// load it, and compare a Session against the reference interpreter.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "octet/compile/compile.h"
#include "octet/runtime/module.h"
#include "octet/runtime/reference_session.h"

namespace octet::testing {

// A fresh folder named after the running test, removed by the fixture.
class ModuleDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("octet_rtmod_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Compiles for the reference target and writes `name`; returns its path.
  std::string CompileToFile(const Model& model, const std::string& name = "m.octet") {
    auto compiled = CompileForReference(model.Clone());
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    if (!compiled.ok()) return "";
    const std::string path = Path(name);
    Status s = WriteModule(compiled->desc, compiled->weights, path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }

  std::filesystem::path dir_;
};

inline std::shared_ptr<const runtime::Module> MustLoad(const std::string& path) {
  auto m = runtime::Module::Load(path);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : nullptr;
}

// Every output of `session` on `inputs` equals the interpreter's, bit for bit.
inline void ExpectSameAsReference(const ReferenceSession& ref, runtime::Session& session,
                                  const std::map<std::string, Tensor>& inputs) {
  auto want = ref.Run(inputs);
  ASSERT_TRUE(want.ok()) << want.status().ToString();
  auto got = session.Run(inputs);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), want->size());
  for (const auto& [name, t] : *want) {
    auto it = got->find(name);
    ASSERT_NE(it, got->end()) << "missing output " << name;
    EXPECT_TRUE(it->second.BitwiseEquals(t))
        << name << ": " << it->second.ShapeString() << " vs " << t.ShapeString();
  }
}

}  // namespace octet::testing
