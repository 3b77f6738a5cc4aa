// Model regression: Octet's reference interpreter against PyTorch's outputs on
// the same inputs, for the models exported by models/build.sh. fp32 with the
// same math in a different order agrees to ~1e-6 relative; the bar is
// 1e-4 relative L2.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "octet/metrics.h"
#include "octet/npy.h"
#include "octet/runtime/reference_session.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

class ModelRegression : public ::testing::TestWithParam<std::string> {};

TEST_P(ModelRegression, ReferenceMatchesPyTorch) {
  const fs::path dir = testing::ModelsDir() / GetParam();
  if (!fs::exists(dir / "model.onnx")) {
    if (testing::ModelsRequired())
      FAIL() << dir << " is missing: run models/build.sh " << GetParam();
    GTEST_SKIP() << dir << " is missing: run models/build.sh " << GetParam();
  }
  ReferenceSessionOptions options;
  options.verify_passes = true;
  auto session = ReferenceSession::FromOnnxFile((dir / "model.onnx").string(), options);
  ASSERT_TRUE(session.ok()) << session.status().ToString();

  std::map<std::string, Tensor> inputs;
  for (const auto& e : fs::directory_iterator(dir / "inputs")) {
    auto t = ReadNpy(e.path().string());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    inputs[e.path().stem().string()] = *t;
  }
  auto outputs = session->Run(inputs);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();

  int compared = 0;
  for (const Value* out : session->model().graph->outputs()) {
    const fs::path golden = dir / "golden" / (out->name() + ".npy");
    ASSERT_TRUE(fs::exists(golden)) << golden;
    auto expected = ReadNpy(golden.string());
    ASSERT_TRUE(expected.ok()) << expected.status().ToString();
    auto agreement = Compare(*expected, outputs->at(out->name()), out->name());
    ASSERT_TRUE(agreement.ok()) << agreement.status().ToString();
    std::printf("[ %s / %s ] %s\n", GetParam().c_str(), out->name().c_str(),
                FormatAgreement(*agreement).c_str());
    EXPECT_LT(agreement->relative_l2, 1e-4);
    EXPECT_EQ(agreement->nonfinite, 0);
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

INSTANTIATE_TEST_SUITE_P(CiModels, ModelRegression,
                         ::testing::Values("resnet18", "resnet18_bnfolded", "sam_tiny",
                                           "fashion_resnet"));

}  // namespace
}  // namespace octet
