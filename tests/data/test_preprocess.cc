// Image decoding and preprocessing against hand-computed values and against
// PIL/torchvision outputs stored in testdata/ (see make_testdata.py).
#include <gtest/gtest.h>

#include <cmath>

#include "octet/data/image_preprocess.h"
#include "test_util.h"

namespace octet::data {
namespace {

using testing::TestDataDir;

std::string DataFile(const std::string& name) { return (TestDataDir() / name).string(); }

// Largest |a - b| over two f32 tensors of equal shape (inf if shapes differ).
double MaxAbsDiff(const Tensor& a, const Tensor& b) {
  if (a.dims() != b.dims()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i)
    m = std::max(m, std::fabs(a.GetAsDouble(i) - b.GetAsDouble(i)));
  return m;
}

DecodedImage Ramp4x4() {
  DecodedImage img;
  img.height = img.width = 4;
  for (int i = 0; i < 16; ++i)
    for (int c = 0; c < 3; ++c) img.rgb.push_back(static_cast<uint8_t>(i * 16));
  return img;
}

TEST(DecodeImage, GreyPngHasKnownPixels) {
  auto bytes = ReadFileBytes(DataFile("ramp_4x4.png"));
  ASSERT_TRUE(bytes.ok()) << bytes.status().ToString();
  auto img = DecodeImage(*bytes, "ramp_4x4.png");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  EXPECT_EQ(img->height, 4);
  EXPECT_EQ(img->width, 4);
  EXPECT_EQ(img->rgb, Ramp4x4().rgb);
}

TEST(DecodeImage, JpegCloseToPil) {
  auto bytes = ReadFileBytes(DataFile("smooth_12x16.jpg"));
  auto pil = ReadNpy(DataFile("smooth_12x16_pil.npy"));
  ASSERT_TRUE(bytes.ok() && pil.ok());
  auto img = DecodeImage(*bytes, "smooth_12x16.jpg");
  ASSERT_TRUE(img.ok()) << img.status().ToString();
  ASSERT_EQ(pil->dims(), (std::vector<int64_t>{img->height, img->width, 3}));
  // stb_image and libjpeg use different IDCTs and chroma upsampling.
  int max_diff = 0;
  for (size_t i = 0; i < img->rgb.size(); ++i)
    max_diff = std::max(
        max_diff,
        std::abs(int{img->rgb[i]} - static_cast<int>(pil->GetAsInt64(static_cast<int64_t>(i)))));
  EXPECT_LE(max_diff, 6);
}

TEST(DecodeImage, CorruptJpegNamesTheFile) {
  auto bytes = ReadFileBytes(DataFile("corrupt.jpg"));
  ASSERT_TRUE(bytes.ok());
  auto img = DecodeImage(*bytes, "some/dir/corrupt.jpg");
  ASSERT_FALSE(img.ok());
  EXPECT_NE(img.status().message().find("some/dir/corrupt.jpg"), std::string::npos)
      << img.status().message();
  EXPECT_FALSE(DecodeImage("not an image at all", "x.png").ok());
}

TEST(Resize, PlainBilinearHalvingAveragesBlocks) {
  std::vector<float> px(16);
  for (int i = 0; i < 16; ++i) px[i] = static_cast<float>(i * 16);
  const auto out = ResizeBilinear(px, 4, 4, 1, 2, 2, /*antialias=*/false, /*round=*/false);
  ASSERT_EQ(out.size(), 4u);
  // Output (y, x) averages input rows 2y..2y+1 and columns 2x..2x+1.
  EXPECT_FLOAT_EQ(out[0], (0 + 16 + 64 + 80) / 4.0f);
  EXPECT_FLOAT_EQ(out[1], (32 + 48 + 96 + 112) / 4.0f);
  EXPECT_FLOAT_EQ(out[2], (128 + 144 + 192 + 208) / 4.0f);
  EXPECT_FLOAT_EQ(out[3], (160 + 176 + 224 + 240) / 4.0f);
}

TEST(Resize, AntialiasWidensTheTriangle) {
  std::vector<float> px(16);
  for (int i = 0; i < 16; ++i) px[i] = static_cast<float>(i * 16);
  const auto out = ResizeBilinear(px, 4, 4, 1, 2, 2, /*antialias=*/true, /*round=*/false);
  // Halving: support 2 input pixels; output 0 weighs inputs 0,1,2 by 3:3:1,
  // output 1 weighs inputs 1,2,3 by 1:3:3.
  const double w[2][4] = {{3 / 7.0, 3 / 7.0, 1 / 7.0, 0}, {0, 1 / 7.0, 3 / 7.0, 3 / 7.0}};
  for (int oy = 0; oy < 2; ++oy)
    for (int ox = 0; ox < 2; ++ox) {
      double v = 0;
      for (int y = 0; y < 4; ++y)
        for (int x = 0; x < 4; ++x) v += w[oy][y] * w[ox][x] * px[y * 4 + x];
      EXPECT_NEAR(out[oy * 2 + ox], v, 1e-4) << oy << "," << ox;
    }
}

TEST(Resize, UpscaleMatchesPilExactly) {
  auto bytes = ReadFileBytes(DataFile("noise_20x13.png"));
  auto pil = ReadNpy(DataFile("noise_pil_40x26.npy"));
  ASSERT_TRUE(bytes.ok() && pil.ok());
  auto img = DecodeImage(*bytes, "noise_20x13.png");
  ASSERT_TRUE(img.ok());
  std::vector<float> px(img->rgb.begin(), img->rgb.end());
  const auto out = ResizeBilinear(px, 13, 20, 3, 26, 40, true, true);
  ASSERT_EQ(static_cast<int64_t>(out.size()), pil->numel());
  int mismatches = 0;
  for (int64_t i = 0; i < pil->numel(); ++i) mismatches += out[i] != pil->GetAsDouble(i);
  EXPECT_EQ(mismatches, 0);
}

TEST(Preprocess, CropScaleNormaliseGrey) {
  ImagePreprocess p;
  p.channels = 1;
  p.crop_height = p.crop_width = 2;
  p.mean = {0.5f};
  p.std = {0.25f};
  auto t = PreprocessImage(Ramp4x4(), p, "ramp");
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_EQ(t->dims(), (std::vector<int64_t>{1, 2, 2}));
  // Center crop of 4x4 by 2 starts at (1, 1): pixels 5, 6, 9, 10.
  const int idx[4] = {5, 6, 9, 10};
  for (int i = 0; i < 4; ++i)
    EXPECT_FLOAT_EQ(t->data<float>()[i], (idx[i] * 16 / 255.0f - 0.5f) / 0.25f);
}

TEST(Preprocess, LumaMatchesPil) {
  DecodedImage img;
  img.height = 1;
  img.width = 3;
  img.rgb = {255, 0, 0, 0, 255, 0, 10, 20, 30};
  ImagePreprocess p;
  p.channels = 1;
  p.scale = 1.0f;
  auto t = PreprocessImage(img, p, "luma");
  ASSERT_TRUE(t.ok());
  // PIL convert("L"): 76, 150, 18.
  EXPECT_EQ(t->data<float>()[0], 76.0f);
  EXPECT_EQ(t->data<float>()[1], 150.0f);
  EXPECT_EQ(t->data<float>()[2], 18.0f);
}

TEST(Preprocess, PadAndNhwc) {
  ImagePreprocess p;
  p.scale = 1.0f;
  p.pad_height = 5;
  p.pad_width = 6;
  p.pad_value = -1;
  p.layout = ImageLayout::kNHWC;
  auto t = PreprocessImage(Ramp4x4(), p, "ramp");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->dims(), (std::vector<int64_t>{5, 6, 3}));
  const float* v = t->data<float>();
  EXPECT_EQ(v[(1 * 6 + 2) * 3 + 1], 6 * 16.0f);  // pixel (1, 2), channel 1
  EXPECT_EQ(v[(1 * 6 + 4) * 3 + 0], -1.0f);      // right padding
  EXPECT_EQ(v[(4 * 6 + 0) * 3 + 2], -1.0f);      // bottom padding
}

TEST(Preprocess, ErrorsNameTheImage) {
  ImagePreprocess p;
  p.crop_height = p.crop_width = 5;
  auto t = PreprocessImage(Ramp4x4(), p, "small.png");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.status().message().find("small.png"), std::string::npos);
  EXPECT_NE(t.status().message().find("4x4"), std::string::npos) << t.status().message();
}

TEST(Preprocess, TorchvisionResizeCropNormalise) {
  auto golden = ReadNpy(DataFile("noise_imagenet_r8_c5.npy"));
  ASSERT_TRUE(golden.ok());
  ImagePreprocess p = ImagenetPreprocess();
  p.resize_size = 8;
  p.crop_height = p.crop_width = 5;
  auto t = LoadImageFile(DataFile("noise_20x13.png"), p);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(MaxAbsDiff(*t, *golden), 0.0);
}

TEST(Preprocess, SegmentAnythingStyle) {
  auto golden = ReadNpy(DataFile("noise_sam16.npy"));
  ASSERT_TRUE(golden.ok());
  auto t = LoadImageFile(DataFile("noise_20x13.png"), SamPreprocess(16));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(MaxAbsDiff(*t, *golden), 0.0);
}

TEST(Preprocess, ResizedSizes) {
  int64_t h = 0, w = 0;
  ImagePreprocess p = ImagenetPreprocess();
  ResizedSize(p, 480, 640, &h, &w);
  EXPECT_EQ(h, 256);
  EXPECT_EQ(w, 341);  // int(256 * 640 / 480)
  ResizedSize(p, 640, 480, &h, &w);
  EXPECT_EQ(h, 341);
  EXPECT_EQ(w, 256);
  ResizedSize(SamPreprocess(1024), 400, 600, &h, &w);
  EXPECT_EQ(h, 683);  // int(400 * 1024 / 600 + 0.5)
  EXPECT_EQ(w, 1024);
}

TEST(PreprocessSpec, PresetsAndKeys) {
  auto p = ParsePreprocessSpec("imagenet");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(DescribePreprocess(*p), DescribePreprocess(ImagenetPreprocess()));
  EXPECT_EQ(DescribePreprocess(*p),
            "resize=256,crop=224,scale=1/255,mean=0.485:0.456:0.406,std=0.229:0.224:0.225,"
            "layout=nchw");

  p = ParsePreprocessSpec("sam:256");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->resize_mode, ResizeMode::kLongerSide);
  EXPECT_EQ(p->resize_size, 256);
  EXPECT_EQ(p->pad_height, 256);

  p = ParsePreprocessSpec("imagenet,crop=200x100,layout=nhwc,mean=0.5,std=0.5,scale=1");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->crop_height, 200);
  EXPECT_EQ(p->crop_width, 100);
  EXPECT_EQ(p->layout, ImageLayout::kNHWC);
  EXPECT_EQ(p->mean, std::vector<float>{0.5f});
  EXPECT_EQ(p->scale, 1.0f);
  EXPECT_EQ(p->resize_size, 256);

  // Describe round-trips.
  for (const char* spec : {"imagenet", "sam", "sam:256", "resize=32x48,antialias=0,round=0",
                           "gray,resize_longest=100,pad=100x120,pad_value=-3.5,scale=0.5"}) {
    auto a = ParsePreprocessSpec(spec);
    ASSERT_TRUE(a.ok()) << spec << ": " << a.status().ToString();
    auto b = ParsePreprocessSpec(DescribePreprocess(*a));
    ASSERT_TRUE(b.ok()) << DescribePreprocess(*a);
    EXPECT_EQ(DescribePreprocess(*a), DescribePreprocess(*b));
  }
}

TEST(PreprocessSpec, Errors) {
  for (const char* spec : {"resize=abc", "foo=1", "mean=1:2", "imagenett", "std=0", "crop=0",
                           "layout=chw", "scale=1/0", "channels=2", "pad=10x"}) {
    auto p = ParsePreprocessSpec(spec);
    EXPECT_FALSE(p.ok()) << spec;
  }
  auto p = ParsePreprocessSpec("resize=abc");
  EXPECT_NE(p.status().message().find("'abc'"), std::string::npos) << p.status().message();
}

}  // namespace
}  // namespace octet::data
