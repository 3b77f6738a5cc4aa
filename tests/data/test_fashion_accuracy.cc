// End to end: fashion_resnet (models/build.sh fashion_resnet) over the full
// Fashion-MNIST test set through the IDX loader, the batcher and the
// reference interpreter. Predictions must equal PyTorch's one for one, and
// the accuracy the one recorded in info.json.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "octet/data/batcher.h"
#include "octet/data/classification.h"
#include "octet/data/data_source.h"
#include "octet/runtime/reference_session.h"
#include "test_util.h"

namespace octet::data {
namespace {

using testing::ModelsDir;
using testing::ModelsRequired;
namespace fs = std::filesystem;

// The number after "key": in a JSON text, or NaN.
double JsonNumber(const std::string& json, const std::string& key) {
  const size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return NAN;
  const size_t colon = json.find(':', at);
  if (colon == std::string::npos) return NAN;
  return std::strtod(json.c_str() + colon + 1, nullptr);
}

fs::path FashionMnistDir() {
  const char* env = std::getenv("OCTET_FASHION_MNIST_DIR");
  return env != nullptr && *env ? fs::path(env) : fs::path("/usr/share/datasets/fashion-mnist");
}

TEST(FashionAccuracy, ReferenceMatchesPyTorch) {
  const fs::path dir = ModelsDir() / "fashion_resnet";
  const fs::path images = FashionMnistDir() / "t10k-images-idx3-ubyte.gz";
  const fs::path labels = FashionMnistDir() / "t10k-labels-idx1-ubyte.gz";
  for (const fs::path& need : {dir / "model.onnx", dir / "info.json", images, labels}) {
    if (fs::exists(need)) continue;
    if (ModelsRequired()) FAIL() << need << " is missing: run models/build.sh fashion_resnet";
    GTEST_SKIP() << need << " is missing: run models/build.sh fashion_resnet";
  }
  const std::string info = testing::ReadBytes((dir / "info.json").string());
  const double torch_accuracy = JsonNumber(info, "fp32_test_accuracy");
  ASSERT_TRUE(std::isfinite(torch_accuracy)) << "no fp32_test_accuracy in " << dir / "info.json";

  auto source = OpenDataSource("idx:" + images.string() + ":" + labels.string());
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  ASSERT_EQ((*source)->size(), 10000);

  // The loader's samples are bit-identical to the normalised inputs PyTorch saw.
  auto golden_input = ReadNpy((dir / "inputs/input.npy").string());
  ASSERT_TRUE(golden_input.ok()) << golden_input.status().ToString();
  const int64_t per_sample = 28 * 28;
  for (int64_t k = 0; k < golden_input->dim(0); ++k) {
    auto s = (*source)->Get(k);
    ASSERT_TRUE(s.ok());
    ASSERT_EQ(std::memcmp(s->data.raw(), golden_input->data<float>() + k * per_sample,
                          per_sample * sizeof(float)),
              0)
        << "sample " << k << " differs from inputs/input.npy";
  }

  auto session = ReferenceSession::FromOnnxFile((dir / "model.onnx").string());
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  const std::string input = session->model().graph->inputs()[0]->name();
  const std::string output = session->model().graph->outputs()[0]->name();
  BatcherOptions options;
  options.batch_size = 500;
  auto batcher = Batcher::Create(**source, options);
  ASSERT_TRUE(batcher.ok());
  ClassificationCounts counts;
  std::vector<int64_t> predictions, truth;
  const auto start = std::chrono::steady_clock::now();
  while (true) {
    auto batch = batcher->Next();
    ASSERT_TRUE(batch.ok()) << batch.status().ToString();
    if (!batch->has_value()) break;
    auto out = session->Run({{input, (**batch).data}});
    ASSERT_TRUE(out.ok()) << out.status().ToString();
    ASSERT_TRUE(
        AccumulateClassification(out->at(output), (**batch).labels, &counts, &predictions).ok());
    truth.insert(truth.end(), (**batch).labels.begin(), (**batch).labels.end());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double accuracy = static_cast<double>(counts.top1) / static_cast<double>(counts.samples);
  std::printf("[ fashion_resnet ] %lld test images in %.1f s: top-1 %.4f (PyTorch %.4f)\n",
              static_cast<long long>(counts.samples), seconds, accuracy, torch_accuracy);
  ASSERT_EQ(counts.samples, 10000);

  const fs::path golden = dir / "golden/test_predictions.npy";
  if (fs::exists(golden)) {
    auto torch_predictions = ReadNpy(golden.string());
    ASSERT_TRUE(torch_predictions.ok()) << torch_predictions.status().ToString();
    ASSERT_EQ(torch_predictions->numel(), counts.samples);
    int64_t mismatches = 0;
    for (int64_t i = 0; i < counts.samples; ++i) {
      const int64_t theirs = torch_predictions->GetAsInt64(i);
      if (predictions[i] == theirs) continue;
      if (++mismatches <= 20)
        ADD_FAILURE() << "test image " << i << ": Octet predicts " << predictions[i] << ", PyTorch "
                      << theirs << " (label " << truth[i] << ")";
    }
    EXPECT_EQ(mismatches, 0) << "predictions differing from PyTorch's";
  }
  EXPECT_EQ(counts.top1, std::llround(torch_accuracy * static_cast<double>(counts.samples)))
      << "accuracy " << accuracy << " vs PyTorch's " << torch_accuracy;
}

}  // namespace
}  // namespace octet::data
