// `octet compile --target cuda`, `octet run` and `octet bench` on a cuda
// module. Compiling needs no GPU (runs in CI); running and benchmarking do,
// and where the module cannot load, the CLI must say why.
#include <gtest/gtest.h>

#include <filesystem>

#include "cli_util.h"
#include "cuda_lower/mlp_block.h"
#include "octet/module/module.h"
#include "octet/onnx.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::RunOctet;

TEST(CudaCliTest, CompileRunAndBenchAnMlpBlock) {
  const fs::path dir = fs::path(::testing::TempDir()) / "octet_cuda_cli";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string onnx = (dir / "mlp.onnx").string(), octet = (dir / "mlp.octet").string();
  ASSERT_TRUE(ExportOnnxFile(testing::TransformerMlpBlock(3, 7, 64, 256), onnx).ok());
  auto r = RunOctet("compile " + onnx + " --preset int8-dynamic --target cuda --quiet -o " + octet);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target cuda, 2 ops"), std::string::npos) << r.output;
  r = RunOctet("run " + octet + " --batch 3");
  if (r.exit_code != 0) {
    // No GPU, or a runtime built without CUDA: the reason, not a crash.
    EXPECT_TRUE(r.output.find("no usable CUDA device") != std::string::npos ||
                r.output.find("built without CUDA") != std::string::npos ||
                r.output.find("needs a sm_90a GPU") != std::string::npos)
        << r.output;
    fs::remove_all(dir);
    GTEST_SKIP() << "cuda modules do not run here: " << r.output;
  }
  EXPECT_NE(r.output.find("out"), std::string::npos) << r.output;
  std::printf("%s", r.output.c_str());
  r = RunOctet("bench " + octet + " --batch 64 --iterations 50 --profile");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("target cuda"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("device ms"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("cuda.dynamic_int8_matmul"), std::string::npos) << r.output;
  std::printf("%s", r.output.c_str());
  fs::remove_all(dir);
}

TEST(CudaCliTest, TuneStoresTheMeasuredTileOrSaysWhyNot) {
  const fs::path dir = fs::path(::testing::TempDir()) / "octet_cuda_cli_tune";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string onnx = (dir / "mlp.onnx").string(), out = (dir / "mlp.octet").string();
  ASSERT_TRUE(ExportOnnxFile(testing::TransformerMlpBlock(5, 7, 64, 256), onnx).ok());
  auto r = RunOctet("compile " + onnx + " --preset int8-dynamic --target x86 --tune -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--tune applies to --target cuda only"), std::string::npos) << r.output;
  r = RunOctet("compile " + onnx + " --preset int8-dynamic --target cuda --tune --batch 64 -o " +
               out);
  if (r.exit_code != 0) {
    // No GPU (or no CUDA build): the reason, and no module written.
    EXPECT_TRUE(r.output.find("--tune needs a CUDA GPU") != std::string::npos ||
                r.output.find("built without CUDA") != std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(out));
    fs::remove_all(dir);
    GTEST_SKIP() << "no GPU to tune on: " << r.output;
  }
  // Both GEMMs timed at 64 x 7 rows, every tile, the fastest stored.
  EXPECT_NE(r.output.find("tuned lin1 (M 448, N 256, K 64)"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("pingpong128x128"), std::string::npos) << r.output;
  std::printf("%s", r.output.c_str());
  auto module = LoadModule(out);
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  int tuned = 0;
  for (const ModuleOp& op : module->desc().ops) {
    if (op.kernel != "cuda.dynamic_int8_matmul") continue;
    EXPECT_TRUE(op.Get<std::string>("tuned_tile").ok()) << op.name;
    EXPECT_EQ(*op.Get<int64_t>("tuned_rows"), 448) << op.name;
    ++tuned;
  }
  EXPECT_EQ(tuned, 2);
  r = RunOctet("run " + out + " --batch 64");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  fs::remove_all(dir);
}

TEST(CudaCliTest, Bf16PresetIsForTheCudaTargetAndAFloatModel) {
  const fs::path dir = fs::path(::testing::TempDir()) / "octet_cuda_cli_bf16";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string onnx = (dir / "mlp.onnx").string(), out = (dir / "mlp.octet").string();
  ASSERT_TRUE(ExportOnnxFile(testing::TransformerMlpBlock(4, 7, 64, 256), onnx).ok());
  auto r = RunOctet("compile " + onnx + " --preset bf16 --target x86 -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--preset bf16 runs the float model's layers in bf16 on --target cuda"),
            std::string::npos)
      << r.output;
  r = RunOctet("compile " + onnx + " --preset bf16 --target cuda --calib npy:" + dir.string() +
               " -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("quantizes nothing, so it takes no --calib"), std::string::npos)
      << r.output;
  // A quantized model is not a bf16 model.
  const std::string qdq = (dir / "qdq.onnx").string();
  r = RunOctet("quantize " + onnx + " --preset int8-dynamic -o " + qdq);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = RunOctet("compile " + qdq + " --preset bf16 --target cuda -o " + out);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--preset bf16 takes a float model"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out)) << "no module is written after an error";
  fs::remove_all(dir);
}

}  // namespace
}  // namespace octet
