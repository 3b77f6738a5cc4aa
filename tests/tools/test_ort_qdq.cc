// Octet's QDQ models on ONNX Runtime: every preset's output passes
// onnx.checker (full check), loads in ONNX Runtime, and ONNX Runtime's outputs
// agree with Octet's own execution of the same QDQ graph.
//
// Tolerances. With graph optimisations disabled ORT runs the Q/DQ nodes one by
// one as Octet does; only the float ops' summation order differs, which can
// move a value across a rounding boundary and flip one code by one step, so
// agreement is high but not bit-exact (SQNR >= 40 dB). With optimisations on,
// ORT fuses DQ -> Conv/MatMul -> Q into integer kernels that requantize with
// their own rounding: a few steps of error per layer (SQNR >= 25 dB, cosine
// >= 0.99).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>

#include "octet/ir_text.h"
#include "octet/metrics.h"
#include "octet/npy.h"
#include "octet/onnx.h"
#include "octet/reference/interpreter.h"
#include "octet/runtime/quantize.h"
#include "ort_util.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

// A conv + linear model with every quantizable op the presets touch.
constexpr const char* kSmallModel = R"(opset "" 17
graph g {
  input %x : f32[N,3,6,6]
  const %w : f32[4,3,3,3] = <conv>
  const %b : f32[4] = [0.1, -0.2, 0.05, 0.3]
  %c : f32[N,4,6,6] = Conv(%x, %w, %b) {pads = ints[1, 1, 1, 1]} name="conv"
  %r : f32[N,4,6,6] = Relu(%c) name="relu"
  %m : f32[N,4,3,3] = MaxPool(%r) {kernel_shape = ints[2, 2], strides = ints[2, 2]} name="pool"
  const %shape : i64[3] = [0, 4, 9]
  %t : f32[N,4,9] = Reshape(%m, %shape) name="reshape"
  const %lw : f32[9,64] = <lin1>
  %h : f32[N,4,64] = MatMul(%t, %lw) name="lin1"
  const %lb : f32[64] = <bias64>
  %hb : f32[N,4,64] = Add(%h, %lb) name="lin1_bias"
  %a : f32[N,4,64] = Relu(%hb) name="act"
  const %ow : f32[64,5] = <lin2>
  %y : f32[N,4,5] = MatMul(%a, %ow) name="lin2"
  output %y
})";

std::string Fill(std::string text, const std::string& key, int n, std::mt19937& rng, float s) {
  std::normal_distribution<float> d(0.0f, s);
  std::string values = "[";
  for (int i = 0; i < n; ++i) values += (i ? ", " : "") + std::to_string(d(rng));
  values += "]";
  text.replace(text.find("<" + key + ">"), key.size() + 2, values);
  return text;
}

Model SmallModel() {
  std::mt19937 rng(2024);
  std::string text = kSmallModel;
  text = Fill(text, "conv", 108, rng, 0.3f);
  text = Fill(text, "lin1", 576, rng, 0.3f);
  text = Fill(text, "bias64", 64, rng, 0.1f);
  text = Fill(text, "lin2", 320, rng, 0.2f);
  auto m = ParseModel(text);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(*m);
}

class OrtQdqTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("octet_ort_qdq_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "calib");
    std::mt19937 rng(7);
    std::normal_distribution<float> d;
    for (int i = 0; i < 16; ++i) {
      std::vector<float> v(108);
      for (float& x : v) x = d(rng);
      ASSERT_TRUE(WriteNpy((dir_ / "calib" / ("s" + std::to_string(10 + i) + ".npy")).string(),
                           Tensor::FromVector<float>(v, {3, 6, 6}))
                      .ok());
    }
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Quantizes `model` with `preset` (calibrating on `calib` when needed) and
  // writes the QDQ model; returns its path.
  std::string QuantizeTo(Model model, const std::string& preset, const data::DataSource* calib,
                         int64_t group_size = 0, bool reduce_range = false) {
    auto config = quant::MakePreset(preset);
    EXPECT_TRUE(config.ok());
    if (group_size > 0) config->weight.group_size = group_size;
    if (reduce_range) config->activation->reduce_range = true;
    auto prepared = PrepareForQuantization(std::move(model), *config);
    EXPECT_TRUE(prepared.ok()) << prepared.status().ToString();
    if (!prepared.ok()) return "";
    EXPECT_FALSE(prepared->plan.nodes.empty());
    CalibrationStats stats;
    if (prepared->plan.num_static_groups() > 0) {
      EXPECT_NE(calib, nullptr);
      CalibrationRun run;
      run.max_samples = 32;
      auto s = Calibrate(*prepared, *calib, run);
      EXPECT_TRUE(s.ok()) << s.status().ToString();
      stats = std::move(*s);
    }
    auto q = ConvertToQuantized(*prepared, stats);
    EXPECT_TRUE(q.ok()) << q.status().ToString();
    const std::string path =
        (dir_ / (preset + (reduce_range ? "-reduce-range" : "") + ".onnx")).string();
    EXPECT_TRUE(ExportOnnxFile(*q, path).ok());
    return path;
  }

  // onnx.checker, then ORT (optimised and not) against Octet on `input`.
  // `fused_bar`: whether ORT's fused integer kernels must meet the bar too (see
  // the x86-int8 case below).
  // `unfused_sqnr` / `unfused_cosine`: the bar with optimisations disabled.
  void ExpectOrtAgrees(const std::string& python, const std::string& path, const Tensor& input,
                       bool fused_bar = true, double unfused_sqnr = 40.0,
                       double unfused_cosine = 0.9999) {
    std::string log;
    const int rc = ort::RunShell(
        ort::ShellQuote(python) + " -c " +
            ort::ShellQuote("import onnx,sys; onnx.checker.check_model(onnx.load(sys.argv[1]), "
                            "full_check=True)") +
            " " + ort::ShellQuote(path) + " 2>&1",
        &log);
    EXPECT_EQ(rc, 0) << "onnx.checker rejects " << path << ": " << log;
    auto model = ImportOnnxFile(path);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const std::string in = model->graph->inputs()[0]->name();
    auto mine = reference::Interpreter(*model->graph).Run({{in, input}});
    ASSERT_TRUE(mine.ok()) << mine.status().ToString();
    for (const char* level : {"disable", "default"}) {
      ort::RunOptions options;
      options.opt_level = level;
      auto theirs = ort::Run(python, path, {{in, input}}, options);
      ASSERT_TRUE(theirs.ok()) << theirs.status().ToString();
      for (const auto& [name, t] : *mine) {
        ASSERT_TRUE(theirs->count(name)) << name;
        auto a = Compare(t, theirs->at(name), name);
        ASSERT_TRUE(a.ok()) << a.status().ToString();
        std::printf("[ %s / %s, ORT opt %s ] %s\n", fs::path(path).filename().c_str(), name.c_str(),
                    level, FormatAgreement(*a).c_str());
        const bool fused = std::string(level) == "default";
        if (fused && !fused_bar) continue;
        EXPECT_GE(a->sqnr_db, fused ? 25.0 : unfused_sqnr) << path << " " << level;
        EXPECT_GE(a->cosine, fused ? 0.99 : unfused_cosine) << path << " " << level;
      }
    }
  }

  fs::path dir_;
};

TEST_F(OrtQdqTest, EveryPresetOnASmallModel) {
  OCTET_ORT_OR_SKIP(python);
  auto calib = data::OpenDataSource("npy:" + (dir_ / "calib").string());
  ASSERT_TRUE(calib.ok());
  std::mt19937 rng(99);
  std::normal_distribution<float> d;
  std::vector<float> v(2 * 108);
  for (float& x : v) x = d(rng);
  const Tensor input = Tensor::FromVector<float>(v, {2, 3, 6, 6});
  for (const char* preset : {"int8-dynamic", "int8-weight-only", "int4-weight-only"}) {
    SCOPED_TRACE(preset);
    const std::string path = QuantizeTo(SmallModel(), preset, calib->get(),
                                        std::string(preset) == "int4-weight-only" ? 32 : 0);
    ASSERT_FALSE(path.empty());
    ExpectOrtAgrees(python, path, input);
  }
  // Full-range u8 activations: ORT's fused u8 x s8 kernels on a CPU without
  // VNNI (AVX2: vpmaddubsw) add pairs of products in saturating int16, so on
  // such a CPU only the unfused execution is comparable. With 7-bit
  // activations (reduce range) the sums cannot saturate and the fused kernels
  // agree too: the reason the option exists.
  ExpectOrtAgrees(python, QuantizeTo(SmallModel(), "x86-int8", calib->get()), input,
                  /*fused_bar=*/false);
  ExpectOrtAgrees(python, QuantizeTo(SmallModel(), "x86-int8", calib->get(), 0, true), input);
}

TEST_F(OrtQdqTest, ModelZoo) {
  OCTET_ORT_OR_SKIP(python);
  const fs::path fashion = testing::BuildDir() / "models/fashion_resnet";
  const fs::path sam = testing::BuildDir() / "models/sam_tiny";
  if (!fs::exists(fashion / "model.onnx") || !fs::exists(sam / "model.onnx")) {
    if (testing::ModelsRequired()) FAIL() << "run models/build.sh fashion_resnet sam_tiny";
    GTEST_SKIP() << "run models/build.sh fashion_resnet sam_tiny";
  }
  const fs::path mnist = "/usr/share/datasets/fashion-mnist";
  auto calib = data::OpenDataSource("idx:" + (mnist / "train-images-idx3-ubyte.gz").string());
  ASSERT_TRUE(calib.ok()) << calib.status().ToString();
  auto fashion_model = ImportOnnxFile((fashion / "model.onnx").string());
  ASSERT_TRUE(fashion_model.ok());
  auto fashion_in = ReadNpy((fashion / "inputs/input.npy").string());
  ASSERT_TRUE(fashion_in.ok());
  // 7-bit activations, so that ORT's fused kernels are exact on any CPU (see
  // EveryPresetOnASmallModel).
  ExpectOrtAgrees(python, QuantizeTo(std::move(*fashion_model), "x86-int8", calib->get(), 0, true),
                  *fashion_in);
  auto sam_model = ImportOnnxFile((sam / "model.onnx").string());
  ASSERT_TRUE(sam_model.ok());
  auto sam_in = ReadNpy((sam / "inputs/input.npy").string());
  ASSERT_TRUE(sam_in.ok());
  // int8-dynamic quantizes SAM's patch embedding and neck convolutions with
  // one scale per image (a row of their GEMM mixes pixels, so a per-pixel
  // scale would not factor out): a code that the float ops' summation order
  // flips then moves by absmax(image) / 127 instead of absmax(row) / 127, and
  // the neck's inputs carry the encoder's flips. Measured (ORT 1.x, Debian 12,
  // commit 75a69f0): 33.9 dB, cosine 0.999798 unfused, where SAM's
  // MatMul-only quantization gave >= 40 dB; a wrong scale or layout gives
  // cosine < 0.99.
  ExpectOrtAgrees(python, QuantizeTo(std::move(*sam_model), "int8-dynamic", nullptr), *sam_in, true,
                  30.0, 0.9995);
}

}  // namespace
}  // namespace octet
