// The post-training quantization targets on the model zoo (models/build.sh):
//   - fashion_resnet x86-int8, every calibration method: accuracy on the full
//     Fashion-MNIST test set within 0.5 points of fp32 for the best method;
//   - resnet18 (BatchNorm kept) calibrated on 324 real images, evaluated on
//     105 others: output cosine >= 0.99, no BatchNormalization left;
//   - sam_tiny with x86-int8 and int8-dynamic: cosine >= 0.99 for int8-dynamic.
// Numbers are printed for docs/quantization.md (scripts/quantization_report.sh
// prints the same table with the CLI).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "octet/data/classification.h"
#include "octet/onnx.h"
#include "octet/reference/interpreter.h"
#include "octet/runtime/quantize.h"
#include "test_paths.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

PreparedModel Prepare(const fs::path& model, const std::string& preset) {
  auto m = ImportOnnxFile(model.string());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  auto config = quant::MakePreset(preset);
  EXPECT_TRUE(config.ok());
  auto p = PrepareForQuantization(std::move(*m), *config);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return std::move(*p);
}

std::unique_ptr<data::DataSource> Open(const std::string& spec, const std::string& preprocess) {
  data::DataSourceOptions o;
  if (!preprocess.empty()) o.preprocess = *data::ParsePreprocessSpec(preprocess);
  auto s = data::OpenDataSource(spec, o);
  EXPECT_TRUE(s.ok()) << s.status().ToString();
  return s.ok() ? std::move(*s) : nullptr;
}

// Top-1 accuracy of `model` over every sample of `source`.
double Accuracy(const Model& model, const data::DataSource& source) {
  data::BatcherOptions bo;
  bo.batch_size = 250;
  auto batcher = data::Batcher::Create(source, bo);
  EXPECT_TRUE(batcher.ok());
  reference::Interpreter run(*model.graph);
  data::ClassificationCounts counts;
  const std::string in = model.graph->inputs()[0]->name();
  while (true) {
    auto batch = batcher->Next();
    EXPECT_TRUE(batch.ok());
    if (!batch.ok() || !batch->has_value()) break;
    auto out = run.Run({{in, (*batch)->data}});
    EXPECT_TRUE(out.ok()) << out.status().ToString();
    if (!out.ok()) break;
    EXPECT_TRUE(
        data::AccumulateClassification(out->begin()->second, (*batch)->labels, &counts).ok());
  }
  return counts.samples ? 100.0 * counts.top1 / counts.samples : 0;
}

TEST(QuantizationTargets, FashionMnistX86Int8EveryMethod) {
  const fs::path model = testing::BuildDir() / "models/fashion_resnet/model.onnx";
  const fs::path data = "/usr/share/datasets/fashion-mnist";
  OCTET_REQUIRE_PATH(model, "fashion_resnet");
  const std::string train = "idx:" + (data / "train-images-idx3-ubyte.gz").string() + ":" +
                            (data / "train-labels-idx1-ubyte.gz").string();
  const std::string test = "idx:" + (data / "t10k-images-idx3-ubyte.gz").string() + ":" +
                           (data / "t10k-labels-idx1-ubyte.gz").string();
  PreparedModel prepared = Prepare(model, "x86-int8");
  auto calib = Open(train, "");
  auto eval = Open(test, "");
  ASSERT_TRUE(calib && eval);
  // One calibration run; every method reads the same statistics.
  CalibrationRun run;
  run.batch_size = 64;
  run.max_samples = 1024;
  auto stats = Calibrate(prepared, *calib, run);
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const double fp32 = Accuracy(prepared.model, *eval);
  std::printf("[ fashion_resnet ] fp32 top-1 %.2f %% (10000 test images)\n", fp32);
  double best = 0;
  for (auto method : {quant::CalibrationMethod::kMinMax, quant::CalibrationMethod::kMovingAverage,
                      quant::CalibrationMethod::kPercentile, quant::CalibrationMethod::kEntropy,
                      quant::CalibrationMethod::kMse}) {
    prepared.config.calibration.method = method;
    auto q = ConvertToQuantized(prepared, *stats);
    ASSERT_TRUE(q.ok()) << q.status().ToString();
    const double acc = Accuracy(*q, *eval);
    std::printf("[ fashion_resnet ] x86-int8 %-14s top-1 %.2f %% (%+.2f)\n",
                quant::CalibrationMethodName(method), acc, acc - fp32);
    best = std::max(best, acc);
  }
  EXPECT_GE(best, fp32 - 0.5);
}

TEST(QuantizationTargets, Resnet18RealImages) {
  const fs::path model = testing::BuildDir() / "models/resnet18/model.onnx";
  const fs::path calib_dir = testing::BuildDir() / "data/calib300_images";
  const fs::path eval_dir = testing::BuildDir() / "data/eval100_images";
  OCTET_REQUIRE_PATH(model, "resnet18");
  OCTET_REQUIRE_PATH(calib_dir, "calib300");
  PreparedModel prepared = Prepare(model, "x86-int8");
  EXPECT_EQ(prepared.folded_batchnorms, 20);
  for (const Node* n : prepared.model.graph->nodes()) EXPECT_NE(n->op_type(), "BatchNormalization");
  prepared.config.calibration.method = quant::CalibrationMethod::kMse;
  auto calib = Open("images:" + calib_dir.string(), "imagenet");
  auto eval = Open("images:" + eval_dir.string(), "imagenet");
  ASSERT_TRUE(calib && eval);
  ASSERT_GE(calib->size(), 300);
  auto stats = Calibrate(prepared, *calib, CalibrationRun{});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->summary.samples, calib->size());
  auto q = ConvertToQuantized(prepared, *stats);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  auto report = MeasureFidelity(prepared, *q, *eval, FidelityRun{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->outputs.size(), 1u);
  const Agreement& out = report->outputs[0].second;
  std::printf(
      "[ resnet18 ] x86-int8 mse, %lld calib / %lld eval images: cosine %.5f, SQNR %.2f dB,"
      " top-1 agreement %lld/%lld; worst layer %s %.1f dB\n",
      static_cast<long long>(stats->summary.samples), static_cast<long long>(report->eval_samples),
      out.cosine, out.sqnr_db, static_cast<long long>(report->classification->top1_agreement),
      static_cast<long long>(report->classification->samples), report->layers[0].node.c_str(),
      report->layers[0].sqnr_in_model_db);
  EXPECT_GE(out.cosine, 0.99);
  // 20 convolutions + fc, and the 8 residual Adds fused with their convolution.
  EXPECT_EQ(report->layers.size(), 29u);
}

void SamTiny(const std::string& preset, double min_cosine) {
  const fs::path model = testing::BuildDir() / "models/sam_tiny/model.onnx";
  const fs::path calib_dir = testing::BuildDir() / "data/calib_images";
  const fs::path eval_dir = testing::BuildDir() / "data/eval_images";
  OCTET_REQUIRE_PATH(model, "sam_tiny");
  PreparedModel prepared = Prepare(model, preset);
  prepared.config.calibration.method = quant::CalibrationMethod::kMse;
  CalibrationStats stats;
  if (prepared.plan.num_static_groups() > 0) {
    auto calib = Open("images:" + calib_dir.string(), "sam:256");
    ASSERT_TRUE(calib);
    CalibrationRun run;
    run.max_samples = 32;
    auto s = Calibrate(prepared, *calib, run);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    stats = std::move(*s);
  }
  auto q = ConvertToQuantized(prepared, stats);
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  auto eval = Open("images:" + eval_dir.string(), "sam:256");
  ASSERT_TRUE(eval);
  FidelityRun run;
  run.max_samples = 12;
  auto report = MeasureFidelity(prepared, *q, *eval, run);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  const Agreement& out = report->outputs[0].second;
  std::printf("[ sam_tiny ] %s (%s): cosine %.5f, SQNR %.2f dB, max abs %.3e over %lld images\n",
              preset.c_str(), prepared.plan.num_static_groups() ? "mse" : "dynamic", out.cosine,
              out.sqnr_db, out.max_abs_error, static_cast<long long>(report->eval_samples));
  EXPECT_GE(out.cosine, min_cosine);
}

TEST(QuantizationTargets, SamTinyInt8Dynamic) { SamTiny("int8-dynamic", 0.99); }
// x86-int8 has no bar in the issue; 0.95 guards against regressions.
TEST(QuantizationTargets, SamTinyX86Int8) { SamTiny("x86-int8", 0.95); }

}  // namespace
}  // namespace octet
