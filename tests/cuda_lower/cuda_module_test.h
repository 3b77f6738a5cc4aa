// The fixture of the cuda lowering tests: a temporary folder per test and a
// loader that skips, printing the loader's reason, where this runtime or
// machine cannot run a cuda module (no CUDA build, no GPU, not Hopper), so
// the same tests check the lowering in CI and the results on the GPU machine.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "module_test_util.h"
#include "octet/runtime/module.h"
#include "octet/runtime/tune.h"

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

  // `octet compile --tune`'s measurement of `module`, or nothing (the caller
  // then GTEST_SKIPs) where no GPU can run it here; any other error fails the
  // test.
  std::optional<std::vector<runtime::TunedOp>> TuneOrSkip(CompiledModule* module) {
    auto tuned = runtime::TuneCudaModule(module);
    if (tuned.ok()) return std::move(*tuned);
    const StatusCode code = tuned.status().code();
    EXPECT_TRUE(code == StatusCode::kNotFound || code == StatusCode::kUnimplemented)
        << tuned.status().ToString();
    std::printf("cannot tune here: %s\n", tuned.status().ToString().c_str());
    return std::nullopt;
  }
};

}  // namespace octet::testing
