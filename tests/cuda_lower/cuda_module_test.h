// The fixture of the cuda lowering tests: a temporary folder per test and a
// loader that skips, printing the loader's reason, where this runtime or
// machine cannot run a cuda module (no CUDA build, no GPU, not Hopper), so
// the same tests check the lowering in CI and the results on the GPU machine.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "module_test_util.h"
#include "octet/runtime/module.h"

namespace octet::testing {

class CudaModuleTest : public ModuleFolderTest {
 protected:
  // The cuda module, or null (the caller then GTEST_SKIPs) when it cannot run
  // here; any other load error fails the test.
  std::shared_ptr<const runtime::Module> LoadOrSkip(const std::string& path) {
    auto m = runtime::Module::Load(path);
    if (m.ok()) return *m;
    const StatusCode code = m.status().code();
    EXPECT_TRUE(code == StatusCode::kNotFound || code == StatusCode::kUnimplemented)
        << m.status().ToString();
    std::printf("cannot run the cuda module here: %s\n", m.status().ToString().c_str());
    return nullptr;
  }
};

}  // namespace octet::testing
