// `octet quantize` end to end: outputs and reports on success, and on every
// kind of bad input a named error with nothing written.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "cli_util.h"
#include "octet/ir_text.h"
#include "octet/npy.h"
#include "octet/onnx.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

using testing::CommandResult;
using testing::RunOctet;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A small conv classifier on [N,3,4,4] and a folder of calibration samples.
class QuantizeCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("octet_quantize_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "calib");
    auto model = ParseModel(R"(opset "" 17
graph g {
  input %x : f32[N,3,4,4]
  const %w : f32[2,3,1,1] = [0.5, -1.0, 0.25, 1.5, 0.75, -0.5]
  const %b : f32[2] = [0.1, -0.2]
  %c : f32[N,2,4,4] = Conv(%x, %w, %b) name="conv"
  %r : f32[N,2,4,4] = Relu(%c) name="relu"
  %p : f32[N,2,1,1] = GlobalAveragePool(%r) name="pool"
  %f : f32[N,2] = Flatten(%p) name="flatten"
  const %fw : f32[3,2] = [1.0, -1.0, 0.5, 2.0, -0.5, 0.25]
  const %fb : f32[3] = [0.0, 0.1, -0.1]
  %y : f32[N,3] = Gemm(%f, %fw, %fb) {transB = 1} name="fc"
  output %y
})");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_ = (dir_ / "model.onnx").string();
    ASSERT_TRUE(ExportOnnxFile(*model, model_).ok());
    std::mt19937 rng(42);
    std::normal_distribution<float> d;
    for (int i = 0; i < 12; ++i) {
      std::vector<float> v(48);
      for (float& x : v) x = d(rng);
      ASSERT_TRUE(WriteNpy((dir_ / "calib" / ("s" + std::to_string(100 + i) + ".npy")).string(),
                           Tensor::FromVector<float>(v, {3, 4, 4}))
                      .ok());
    }
    out_ = (dir_ / "q.onnx").string();
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Quantize(const std::string& extra) const {
    return "quantize " + model_ + " -o " + out_ + " " + extra;
  }
  // Nothing but the inputs is left in the folder.
  void ExpectNothingWritten() const {
    for (const auto& e : fs::directory_iterator(dir_)) {
      const std::string name = e.path().filename().string();
      EXPECT_TRUE(name == "model.onnx" || name == "calib" || name == "config.json" ||
                  name == "bad" || name == "empty")
          << "left behind: " << name;
    }
  }

  fs::path dir_;
  std::string model_, out_;
};

TEST_F(QuantizeCliTest, WritesModelReportsAndReusableStatistics) {
  const std::string calib = "--calib npy:" + (dir_ / "calib").string();
  CommandResult r = RunOctet(
      Quantize(calib + " --method percentile --report " + (dir_ / "r.json").string() + " --html " +
               (dir_ / "r.html").string() + " --stats-out " + (dir_ / "stats.json").string()));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("percentile, 12 samples"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("top-1 agreement"), std::string::npos) << r.output;
  auto q = ImportOnnxFile(out_);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  int qdq = 0;
  for (const Node* n : q->graph->nodes()) qdq += n->op_type() == "QuantizeLinear";
  // x; then one group shared through GlobalAveragePool and Flatten: the
  // pool's input, its output and the flattened form.
  EXPECT_EQ(qdq, 4);
  const std::string json = ReadFile(dir_ / "r.json");
  EXPECT_NE(json.find("\"preset\""), std::string::npos);
  EXPECT_NE(json.find("\"conv\""), std::string::npos);
  EXPECT_NE(ReadFile(dir_ / "r.html").find("<svg"), std::string::npos);

  // Statistics reused with another method: no calibration run, and the model
  // matches a fresh calibration with that method bit for bit.
  const std::string reused = (dir_ / "reused.onnx").string();
  r = RunOctet("quantize " + model_ + " -o " + reused + " --method mse --stats-in " +
               (dir_ / "stats.json").string() + " --eval npy:" + (dir_ / "calib").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunOctet(Quantize(calib + " --method mse"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(ReadFile(out_), ReadFile(reused));
}

TEST_F(QuantizeCliTest, EmptyCalibrationFolder) {
  fs::create_directories(dir_ / "empty");
  CommandResult r = RunOctet(Quantize("--calib npy:" + (dir_ / "empty").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find((dir_ / "empty").string()), std::string::npos) << r.output;
  ExpectNothingWritten();
}

TEST_F(QuantizeCliTest, ImagesThatFailToDecode) {
  fs::create_directories(dir_ / "bad");
  fs::copy_file(fs::path(OCTET_SOURCE_DIR) / "tests/data/testdata/corrupt.jpg",
                dir_ / "bad" / "corrupt.jpg");
  { std::ofstream(dir_ / "bad" / "empty.png") << ""; }
  CommandResult r = RunOctet(
      Quantize("--calib images:" + (dir_ / "bad").string() + " --preprocess resize=4,crop=4"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("corrupt.jpg"), std::string::npos) << r.output;
  ExpectNothingWritten();
  // Skipping them leaves no sample at all: still an error, listing none used.
  r = RunOctet(Quantize("--calib images:" + (dir_ / "bad").string() +
                        " --preprocess resize=4,crop=4 --on-bad-file skip"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no usable sample (2 skipped)"), std::string::npos) << r.output;
  ExpectNothingWritten();
}

TEST_F(QuantizeCliTest, CalibrationTensorOfTheWrongShape) {
  fs::create_directories(dir_ / "bad");
  ASSERT_TRUE(WriteNpy((dir_ / "bad" / "a.npy").string(),
                       Tensor::FromVector<float>(std::vector<float>(75, 0.5f), {3, 5, 5}))
                  .ok());
  CommandResult r = RunOctet(Quantize("--calib npy:" + (dir_ / "bad").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("a.npy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("f32[N,3,4,4]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("[1,3,5,5]"), std::string::npos) << r.output;
  ExpectNothingWritten();
}

TEST_F(QuantizeCliTest, ConfigNamingNodesThatDoNotExist) {
  { std::ofstream(dir_ / "config.json") << R"({"exclude": ["name:layer4.conv9"]})"; }
  CommandResult r = RunOctet(Quantize("--calib npy:" + (dir_ / "calib").string() + " --config " +
                                      (dir_ / "config.json").string()));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("name:layer4.conv9"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("'conv'"), std::string::npos) << r.output;  // real names shown
  ExpectNothingWritten();
  r = RunOctet(Quantize("--calib npy:" + (dir_ / "calib").string() + " --exclude op:LSTM"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("op:LSTM"), std::string::npos) << r.output;
  ExpectNothingWritten();
}

TEST_F(QuantizeCliTest, MissingCalibrationAndUnwritableOutput) {
  CommandResult r = RunOctet("quantize " + model_ + " -o " + out_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--calib"), std::string::npos) << r.output;
  r = RunOctet("quantize " + model_ + " --calib npy:" + (dir_ / "calib").string() + " -o " +
               (dir_ / "no_such_dir" / "q.onnx").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("no_such_dir"), std::string::npos) << r.output;
  ExpectNothingWritten();
}

TEST_F(QuantizeCliTest, WeightOnlyPresetsNeedNoCalibration) {
  CommandResult r = RunOctet(Quantize("--preset int8-weight-only"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("fidelity not measured"), std::string::npos) << r.output;
  auto q = ImportOnnxFile(out_);
  ASSERT_TRUE(q.ok());
  int q_nodes = 0, dq_nodes = 0;
  for (const Node* n : q->graph->nodes()) {
    q_nodes += n->op_type() == "QuantizeLinear";
    dq_nodes += n->op_type() == "DequantizeLinear";
  }
  EXPECT_EQ(q_nodes, 0);
  EXPECT_EQ(dq_nodes, 1);  // the Gemm weight
}

TEST_F(QuantizeCliTest, BiasCorrectionFromTheCalibrationData) {
  // The Gemm's bias moves; the report says so, and the statistics file keeps
  // the input sums for a second run.
  const std::string stats = (dir_ / "s.json").string();
  CommandResult r = RunOctet(Quantize("--preset int8-weight-only --bias-correction --calib npy:" +
                                      (dir_ / "calib").string() + " --stats-out " + stats));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bias correction: 1 of 1 nodes"), std::string::npos) << r.output;
  auto q = ImportOnnxFile(out_);
  ASSERT_TRUE(q.ok());
  const Value* c = q->graph->FindNode("fc")->input(2);
  ASSERT_TRUE(c != nullptr && c->is_constant());
  // fc's first row, [1, -1], is exact in int8 (scale 1/127): its bias stays.
  // The second, [0.5, 2], rounds 0.5 to 32 * 2/127: its bias moves.
  EXPECT_EQ(c->constant().data<float>()[0], 0.0f);
  EXPECT_NE(c->constant().data<float>()[1], 0.1f);
  r = RunOctet(Quantize("--preset int8-weight-only --bias-correction --stats-in " + stats));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto again = ImportOnnxFile(out_);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->graph->FindNode("fc")->input(2)->constant().data<float>()[1],
            c->constant().data<float>()[1]);

  // No data: said, and the biases stay.
  r = RunOctet(Quantize("--preset int8-weight-only --bias-correction"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("bias correction: off (no --calib data)"), std::string::npos) << r.output;
}

TEST_F(QuantizeCliTest, BiasCorrectionFlagsExcludeEachOther) {
  CommandResult r =
      RunOctet(Quantize("--preset int8-weight-only --bias-correction "
                        "--no-bias-correction"));
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("excludes"), std::string::npos) << r.output;
  ExpectNothingWritten();
}

}  // namespace
}  // namespace octet
