// ONNX Runtime as a peer: the same float model on ONNX Runtime (CPU EP, via
// scripts/ort_run.py in the venv) and on Octet's reference interpreter must
// agree to fp32 rounding. Skips without the venv (scripts/venv.sh) unless
// OCTET_REQUIRE_ORT=1; the model-zoo cases skip without models/build.sh output
// unless OCTET_REQUIRE_MODELS=1.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "octet/ir_text.h"
#include "octet/metrics.h"
#include "octet/npy.h"
#include "octet/onnx.h"
#include "octet/runtime/reference_session.h"
#include "ort_util.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

constexpr double kMaxRelL2 = 1e-5;

// Every output of `session` on `inputs` against ONNX Runtime at `opt_level`.
void ExpectAgreement(const std::string& python, const std::string& label,
                     const std::string& model_path, const ReferenceSession& session,
                     const std::map<std::string, Tensor>& inputs, const std::string& opt_level) {
  auto octet_out = session.Run(inputs);
  ASSERT_TRUE(octet_out.ok()) << octet_out.status().ToString();
  ort::RunOptions options;
  options.opt_level = opt_level;
  auto ort_out = ort::Run(python, model_path, inputs, options);
  ASSERT_TRUE(ort_out.ok()) << ort_out.status().ToString();
  ASSERT_EQ(ort_out->size(), session.model().graph->outputs().size());
  for (const Value* out : session.model().graph->outputs()) {
    ASSERT_TRUE(ort_out->count(out->name())) << "ONNX Runtime has no output " << out->name();
    auto a = Compare(octet_out->at(out->name()), ort_out->at(out->name()), out->name());
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    std::printf("[ %s / %s, ORT opt %s ] %s\n", label.c_str(), out->name().c_str(),
                opt_level.c_str(), FormatAgreement(*a).c_str());
    EXPECT_LT(a->relative_l2, kMaxRelL2) << out->name();
    EXPECT_EQ(a->nonfinite, 0) << out->name();
  }
}

// A small model written by Octet's own exporter: checks that ONNX Runtime
// loads what Octet writes, and the output-name sanitising of ort_run.py.
constexpr const char* kSmallModel = R"(opset "" 17
graph main {
  input %x : f32[3,4]
  const %w : f32[4,5] = [0.5, -1, 2, 0.25, 1, -0.5, 0.75, 1.5, -2, 0.125, 1, 1, -1, 0.5, 0.3, 0.2, -0.7, 0.9, 1.1, -1.3]
  const %b : f32[5] = [0.1, -0.2, 0.3, -0.4, 0.5]
  %mm : f32[3,5] = MatMul(%x, %w) name="mm"
  %y : f32[3,5] = Add(%mm, %b) name="add"
  %"out/relu:0" : f32[3,5] = Relu(%y) name="relu"
  %sm : f32[3,5] = Softmax(%y) {axis = 1} name="softmax"
  output %"out/relu:0", %sm
}
)";

TEST(OrtPeer, OctetExportedModelMatches) {
  OCTET_ORT_OR_SKIP(python);
  auto model = ParseModel(kSmallModel);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ort::TempDir tmp;
  const std::string path = tmp.path() + "/small.onnx";
  ASSERT_TRUE(ExportOnnxFile(*model, path).ok());
  auto session = ReferenceSession::FromOnnxFile(path);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  auto inputs = session->MakeRandomInputs(7);
  ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
  ExpectAgreement(python, "small", path, *session, *inputs, "default");
  ExpectAgreement(python, "small", path, *session, *inputs, "disable");
}

TEST(OrtPeer, LoadErrorCarriesOrtMessage) {
  OCTET_ORT_OR_SKIP(python);
  ort::TempDir tmp;
  const std::string path = tmp.path() + "/broken.onnx";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("this is not a protobuf", f);
  std::fclose(f);
  auto out = ort::Run(python, path, {});
  ASSERT_FALSE(out.ok());
  EXPECT_NE(out.status().message().find("onnxruntime could not load"), std::string::npos)
      << out.status().message();
  EXPECT_NE(out.status().message().find("ONNXRuntimeError"), std::string::npos)
      << out.status().message();
}

class OrtPeerZoo : public ::testing::TestWithParam<std::string> {};

TEST_P(OrtPeerZoo, ReferenceMatchesOnnxRuntime) {
  const fs::path dir = testing::ModelsDir() / GetParam();
  if (!fs::exists(dir / "model.onnx")) {
    if (testing::ModelsRequired())
      FAIL() << dir << " is missing: run models/build.sh " << GetParam();
    GTEST_SKIP() << dir << " is missing: run models/build.sh " << GetParam();
  }
  OCTET_ORT_OR_SKIP(python);
  auto session = ReferenceSession::FromOnnxFile((dir / "model.onnx").string());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::map<std::string, Tensor> inputs;
  for (const auto& e : fs::directory_iterator(dir / "inputs")) {
    auto t = ReadNpy(e.path().string());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    inputs[e.path().stem().string()] = *t;
  }
  const std::string path = (dir / "model.onnx").string();
  ExpectAgreement(python, GetParam(), path, *session, inputs, "default");
  ExpectAgreement(python, GetParam(), path, *session, inputs, "disable");
}

INSTANTIATE_TEST_SUITE_P(CiModels, OrtPeerZoo,
                         ::testing::Values("fashion_resnet", "resnet18", "sam_tiny"));

}  // namespace
}  // namespace octet
