// `octet compile` -> `octet run` on the .octet (same outputs as on the .onnx)
// -> `octet bench --json`, and the errors of a bad target and a damaged file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "cli_util.h"
#include "octet/ir_text.h"
#include "octet/module/module.h"
#include "octet/npy.h"
#include "octet/onnx.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::RunOctet;

class CompileCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("octet_compile_cli_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
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
    onnx_ = (dir_ / "model.onnx").string();
    octet_ = (dir_ / "model.octet").string();
    ASSERT_TRUE(ExportOnnxFile(*model, onnx_).ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
  std::string onnx_, octet_;
};

TEST_F(CompileCliTest, InspectDescribesACompiledModule) {
  auto r = RunOctet("compile " + onnx_ + " --target reference -o " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunOctet("inspect " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target reference"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("input  x : f32[N,"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("output y : f32[N,3]"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ops by kernel"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("ops in execution order"), std::string::npos) << r.output;
  r = RunOctet("inspect --ops " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ops in execution order"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("fc"), std::string::npos) << r.output;  // the Gemm's node name
  // --ops is for modules; on an ONNX model it is an error that says so.
  r = RunOctet("inspect --ops " + onnx_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("is not a module"), std::string::npos) << r.output;
  // A truncated module is named, not half-printed.
  {
    std::ifstream in(octet_, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(octet_, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  }
  r = RunOctet("inspect " + octet_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("model.octet"), std::string::npos) << r.output;
}

TEST_F(CompileCliTest, CompileRunBench) {
  auto r = RunOctet("compile " + onnx_ + " --target reference -o " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target reference"), std::string::npos) << r.output;

  // Same seeded inputs at batch 3 (not the planned batch 1) on both files.
  const std::string a = (dir_ / "a").string(), b = (dir_ / "b").string();
  r = RunOctet("run " + octet_ + " --batch 3 --seed 4 --threads 1 --output-dir " + a);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("compiled module (target reference)"), std::string::npos) << r.output;
  r = RunOctet("run " + onnx_ + " --batch 3 --seed 4 --threads 1 --output-dir " + b);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto ya = ReadNpy(a + "/y.npy");
  auto yb = ReadNpy(b + "/y.npy");
  ASSERT_TRUE(ya.ok() && yb.ok());
  EXPECT_EQ(ya->dims(), (std::vector<int64_t>{3, 3}));
  EXPECT_TRUE(ya->BitwiseEquals(*yb));

  const std::string json = (dir_ / "bench.json").string();
  r = RunOctet("bench " + octet_ + " --batch 2 --threads 1 --warmup 1 --iterations 5 --json " +
               json);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("p99"), std::string::npos) << r.output;
  std::ifstream in(json);
  const nlohmann::json j = nlohmann::json::parse(in);
  EXPECT_EQ(j.at("batch"), 2);
  EXPECT_EQ(j.at("iterations"), 5);
  const auto& lat = j.at("latency_ms");
  EXPECT_GT(lat.at("median").get<double>(), 0.0);
  EXPECT_LE(lat.at("median").get<double>(), lat.at("p90").get<double>());
  EXPECT_LE(lat.at("p90").get<double>(), lat.at("p99").get<double>());
  EXPECT_GT(j.at("throughput_per_s").get<double>(), 0.0);

  // --profile: per-op times that add up to the run.
  r = RunOctet("bench " + octet_ + " --batch 2 --threads 1 --iterations 3 --profile");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("profile:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ref.ai.onnx::Conv"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("by kernel:"), std::string::npos) << r.output;

  r = RunOctet("bench " + onnx_ + " --batch 2 --iterations 2");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("reference interpreter"), std::string::npos) << r.output;
}

// Lowering for x86 needs no oneDNN: a float model has nothing to match and
// compiles to reference ops in an x86 module.
TEST_F(CompileCliTest, TargetX86) {
  auto r = RunOctet("compile " + onnx_ + " --target x86 --reduce-range -o " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target x86"), std::string::npos) << r.output;
  r = RunOctet("compile " + onnx_ + " --reduce-range -o " + octet_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--reduce-range applies to --target x86"), std::string::npos) << r.output;
}

// --cuda-conv takes cudnn or im2col, for --target cuda only; a refused
// command writes nothing. (This float model's convolutions have 3 channels:
// im2col either way.)
TEST_F(CompileCliTest, CudaConvChoice) {
  auto r = RunOctet("compile " + onnx_ + " --target cuda --cuda-conv im2col -o " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target cuda"), std::string::npos) << r.output;
  fs::remove(octet_);
  r = RunOctet("compile " + onnx_ + " --target cuda --cuda-conv winograd -o " + octet_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unknown --cuda-conv 'winograd'; use cudnn or im2col"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(octet_));
  r = RunOctet("compile " + onnx_ + " --cuda-conv im2col -o " + octet_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--cuda-conv applies to --target cuda"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(octet_));
}

// Quantize + compile in one command: the module equals compiling the QDQ
// model that --qdq-out saved, runs, and int8 ops are in it. A model that is
// already QDQ is refused with --calib, and nothing is written.
TEST_F(CompileCliTest, CalibQuantizesThenCompiles) {
  const fs::path calib = dir_ / "calib";
  fs::create_directories(calib);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int i = 0; i < 6; ++i) {
    Tensor t(DType::kF32, {3, 4, 4});
    for (int64_t k = 0; k < t.numel(); ++k) t.data<float>()[k] = u(rng);
    ASSERT_TRUE(WriteNpy((calib / ("s" + std::to_string(i) + ".npy")).string(), t).ok());
  }
  const std::string qdq = (dir_ / "qdq.onnx").string();
  auto r = RunOctet("compile " + onnx_ + " --calib npy:" + calib.string() +
                    " --target x86 --reduce-range --qdq-out " + qdq + " --quiet -o " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target x86"), std::string::npos) << r.output;
  ASSERT_TRUE(fs::exists(qdq));
  const std::string again = (dir_ / "again.octet").string();
  r = RunOctet("compile " + qdq + " --target x86 --reduce-range -o " + again);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto a = LoadModule(octet_);
  auto b = LoadModule(again);
  ASSERT_TRUE(a.ok() && b.ok());
  int int8_ops = 0;
  for (const ModuleOp& op : a->desc().ops) int8_ops += op.kernel.rfind("x86.int8_", 0) == 0;
  EXPECT_GE(int8_ops, 2);  // the conv and the classifier
  EXPECT_EQ(a->desc().ops, b->desc().ops);

  // --prepack: the same ops, each int8 op with its packed weights; octet run
  // gives the same output as the unpacked module.
  const std::string packed = (dir_ / "packed.octet").string();
  r = RunOctet("compile " + qdq + " --target x86 --reduce-range --prepack -o " + packed);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int with_weights = 0;  // int8 convolutions and matmuls (pooling has no weights)
  for (const ModuleOp& op : a->desc().ops)
    with_weights += op.kernel == "x86.int8_conv" || op.kernel == "x86.int8_matmul";
  EXPECT_NE(r.output.find("prepacked " + std::to_string(with_weights) + " ops for "),
            std::string::npos)
      << r.output;
  const std::string out_a = (dir_ / "out_a").string(), out_p = (dir_ / "out_p").string();
  ASSERT_EQ(RunOctet("run " + again + " --seed 2 --output-dir " + out_a).exit_code, 0);
  ASSERT_EQ(RunOctet("run " + packed + " --seed 2 --output-dir " + out_p).exit_code, 0);
  r = RunOctet("compare " + out_a + " " + out_p + " --max-rel-l2 0");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = RunOctet("compile " + qdq + " --target reference --prepack -o " +
               (dir_ / "p.octet").string());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--prepack applies to --target x86 only"), std::string::npos) << r.output;

  const std::string bad = (dir_ / "bad.octet").string();
  r = RunOctet("compile " + qdq + " --calib npy:" + calib.string() + " --target x86 -o " + bad);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("already quantized"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(bad));
}

TEST_F(CompileCliTest, Errors) {
  auto r = RunOctet("compile " + onnx_ + " --target npu -o " + octet_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("unknown --target 'npu'"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(octet_));
  // The float CNN runs on cuda (Conv + Relu, GlobalAveragePool, Flatten +
  // Gemm); what cuda refuses is listed in one error (tests/cuda_lower).
  r = RunOctet("compile " + onnx_ + " --target cuda -o " + octet_);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(fs::exists(octet_));
  fs::remove(octet_);

  r = RunOctet("compile " + onnx_ + " -o " + octet_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  {
    std::fstream f(octet_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(20);  // inside the header: its checksum no longer matches
    f.put('\x7f');
  }
  r = RunOctet("run " + octet_);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("checksum"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace octet
