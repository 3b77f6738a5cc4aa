// End-to-end tests of the `octet` CLI: exit codes, messages and files written.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
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

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("octet_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    auto model = ParseModel(R"(opset "" 17
graph g {
  input %x : f32[N,3]
  const %w : f32[3,2] = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
  %y : f32[N,2] = MatMul(%x, %w)
  %z : f32[N,2] = Relu(%y)
  output %z
})");
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    model_path_ = (dir_ / "model.onnx").string();
    ASSERT_TRUE(ExportOnnxFile(*model, model_path_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string model_path_;
};

TEST_F(CliTest, HelpOnEveryCommand) {
  for (const char* cmd :
       {"--help", "inspect --help", "run --help", "compare --help", "eval --help"}) {
    CommandResult r = RunOctet(cmd);
    EXPECT_EQ(r.exit_code, 0) << cmd << "\n" << r.output;
    EXPECT_NE(r.output.find("Usage"), std::string::npos) << cmd;
  }
}

TEST_F(CliTest, InspectPrintsInterfaceAndOps) {
  CommandResult r = RunOctet("inspect " + model_path_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("x : f32[N,3]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("MatMul"), std::string::npos);
  EXPECT_NE(r.output.find("parameters: 6"), std::string::npos);
}

TEST_F(CliTest, RunWritesOutputsAndMatchesTheMath) {
  ASSERT_TRUE(
      WriteNpy((dir_ / "x.npy").string(), Tensor::FromVector<float>({1, 0, 0, 0, 0, -1}, {2, 3}))
          .ok());
  const fs::path out = dir_ / "out";
  CommandResult r = RunOctet("run " + model_path_ + " --input x=" + (dir_ / "x.npy").string() +
                             " --output-dir " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto z = ReadNpy((out / "z.npy").string());
  ASSERT_TRUE(z.ok()) << z.status().ToString();
  // Row 0: [1,0,0] x W = [1,2]; row 1: [0,0,-1] x W = [-5,-6] -> Relu -> 0.
  EXPECT_TRUE(z->BitwiseEquals(Tensor::FromVector<float>({1, 2, 0, 0}, {2, 2})));
}

TEST_F(CliTest, RunWithRandomInputsUsesTheBatchFlag) {
  const fs::path out = dir_ / "out";
  CommandResult r = RunOctet("run " + model_path_ + " --batch 5 --seed 7 -o " + out.string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("seeded random data"), std::string::npos);
  auto z = ReadNpy((out / "z.npy").string());
  ASSERT_TRUE(z.ok());
  EXPECT_EQ(z->dims(), (std::vector<int64_t>{5, 2}));
}

TEST_F(CliTest, WrongInputShapeFailsAndWritesNothing) {
  ASSERT_TRUE(
      WriteNpy((dir_ / "x.npy").string(), Tensor::FromVector<float>({1, 2, 3, 4}, {2, 2})).ok());
  const fs::path out = dir_ / "out";
  CommandResult r = RunOctet("run " + model_path_ + " --input x=" + (dir_ / "x.npy").string() +
                             " -o " + out.string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("input 'x'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("f32[N,3]"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "z.npy"));
}

TEST_F(CliTest, WrongInputDtypeAndUnknownInputName) {
  ASSERT_TRUE(
      WriteNpy((dir_ / "x.npy").string(), Tensor::FromVector<int64_t>({1, 2, 3}, {1, 3})).ok());
  CommandResult r = RunOctet("run " + model_path_ + " --input x=" + (dir_ / "x.npy").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("expected dtype f32 but got i64"), std::string::npos) << r.output;
  r = RunOctet("run " + model_path_ + " --input nope=" + (dir_ / "x.npy").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("'nope' is not an input"), std::string::npos) << r.output;
}

TEST_F(CliTest, GarbageModelAndMissingFilesAreNamed) {
  { std::ofstream(dir_ / "bad.onnx") << "this is not a protobuf"; }
  CommandResult r = RunOctet("inspect " + (dir_ / "bad.onnx").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("bad.onnx"), std::string::npos) << r.output;
  r = RunOctet("run " + (dir_ / "missing.onnx").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("missing.onnx"), std::string::npos) << r.output;
  r = RunOctet("run " + model_path_ + " --input x=" + (dir_ / "missing.npy").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("missing.npy"), std::string::npos) << r.output;
}

TEST_F(CliTest, CompareReportsAgreementAndEnforcesTheBar) {
  ASSERT_TRUE(WriteNpy((dir_ / "a.npy").string(), Tensor::FromVector<float>({1, 2, 3}, {3})).ok());
  ASSERT_TRUE(
      WriteNpy((dir_ / "b.npy").string(), Tensor::FromVector<float>({1, 2, 3.5f}, {3})).ok());
  CommandResult r =
      RunOctet("compare " + (dir_ / "a.npy").string() + " " + (dir_ / "b.npy").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cosine"), std::string::npos);
  r = RunOctet("compare " + (dir_ / "a.npy").string() + " " + (dir_ / "b.npy").string() +
               " --max-rel-l2 1e-3");
  EXPECT_EQ(r.exit_code, 1) << r.output;
}

}  // namespace
}  // namespace octet
