// Octet's image preprocessing against the inputs PyTorch was run on for the
// model zoo (models/build.sh): resnet18 (torchvision Resize+CenterCrop+
// Normalize) and sam_tiny (segment-anything resize/normalise/pad). The
// images are PNGs, so decoding is lossless and the match should be exact.
#include <gtest/gtest.h>

#include <cmath>

#include "octet/data/image_preprocess.h"
#include "test_util.h"

namespace octet::data {
namespace {

using testing::ModelsDir;
using testing::ModelsRequired;
namespace fs = std::filesystem;

// The strings of the JSON list under `key` (no escapes expected).
std::vector<std::string> JsonStringList(const std::string& json, const std::string& key) {
  std::vector<std::string> out;
  const size_t at = json.find("\"" + key + "\"");
  if (at == std::string::npos) return out;
  const size_t open = json.find('[', at), close = json.find(']', at);
  if (open == std::string::npos || close == std::string::npos) return out;
  const std::string list = json.substr(open + 1, close - open - 1);
  for (size_t p = list.find('"'); p != std::string::npos; p = list.find('"', p + 1)) {
    const size_t q = list.find('"', p + 1);
    if (q == std::string::npos) break;
    out.push_back(list.substr(p + 1, q - p - 1));
    p = q;
  }
  return out;
}

void CheckGolden(const std::string& model, const ImagePreprocess& p) {
  const fs::path dir = ModelsDir() / model;
  if (!fs::exists(dir / "info.json") || !fs::exists(dir / "inputs/input.npy")) {
    if (ModelsRequired()) FAIL() << dir << " is missing: run models/build.sh " << model;
    GTEST_SKIP() << dir << " is missing: run models/build.sh " << model;
  }
  const std::vector<std::string> images =
      JsonStringList(testing::ReadBytes((dir / "info.json").string()), "golden_inputs");
  ASSERT_FALSE(images.empty()) << "no golden_inputs in " << dir / "info.json";
  auto golden = ReadNpy((dir / "inputs/input.npy").string());
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  ASSERT_EQ(golden->dim(0), static_cast<int64_t>(images.size()));
  const int64_t per_image = golden->numel() / golden->dim(0);
  for (size_t k = 0; k < images.size(); ++k) {
    const fs::path image = ModelsDir().parent_path() / images[k];
    auto t = LoadImageFile(image.string(), p);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    ASSERT_EQ(t->numel(), per_image) << t->ShapeString() << " vs " << golden->ShapeString();
    int64_t mismatches = 0;
    double max_diff = 0;
    for (int64_t i = 0; i < per_image; ++i) {
      const double d = std::fabs(t->GetAsDouble(i) - golden->GetAsDouble(k * per_image + i));
      mismatches += d != 0;
      max_diff = std::max(max_diff, d);
    }
    EXPECT_EQ(mismatches, 0) << image << ": max |diff| " << max_diff;
  }
}

TEST(PreprocessGolden, Resnet18Imagenet) { CheckGolden("resnet18", ImagenetPreprocess()); }

TEST(PreprocessGolden, SamTiny) { CheckGolden("sam_tiny", SamPreprocess(256)); }

}  // namespace
}  // namespace octet::data
