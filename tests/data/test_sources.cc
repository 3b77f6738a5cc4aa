// Image and .npy folders, spec parsing and auto-detection, label files.
#include <gtest/gtest.h>

#include "octet/data/data_source.h"
#include "octet/data/npy_folder.h"
#include "test_util.h"

namespace octet::data {
namespace {

using testing::ReadBytes;
using testing::ScratchDir;
using testing::TestDataDir;
using testing::WriteBytes;
namespace fs = std::filesystem;

void CopyTestImage(const std::string& name, const std::string& to) {
  WriteBytes(to, ReadBytes((TestDataDir() / name).string()));
}

Tensor Filled(std::vector<int64_t> dims, float start) {
  Tensor t(DType::kF32, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = start + static_cast<float>(i);
  return t;
}

TEST(ImageFolder, SortedCaseInsensitiveOptionallyRecursive) {
  ScratchDir dir;
  CopyTestImage("ramp_4x4.png", dir / "b.PNG");
  CopyTestImage("smooth_12x16.jpg", dir / "a.JpEg");
  CopyTestImage("noise_20x13.png", dir / "sub/c.png");
  WriteBytes(dir / "notes.txt", "not an image");
  DataSourceOptions o;
  o.preprocess.resize_mode = ResizeMode::kExact;
  o.preprocess.resize_height = o.preprocess.resize_width = 8;
  auto flat = OpenDataSource("images:" + dir.path().string(), o);
  ASSERT_TRUE(flat.ok()) << flat.status().ToString();
  ASSERT_EQ((*flat)->size(), 2);
  EXPECT_EQ((*flat)->SourceName(0), dir / "a.JpEg");
  EXPECT_EQ((*flat)->SourceName(1), dir / "b.PNG");
  EXPECT_FALSE((*flat)->has_labels());
  auto s = (*flat)->Get(1);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->data.ShapeString(), "f32[3,8,8]");

  o.recursive = true;
  auto deep = OpenDataSource(dir.path().string(), o);  // bare DIR: detected as images
  ASSERT_TRUE(deep.ok()) << deep.status().ToString();
  ASSERT_EQ((*deep)->size(), 3);
  EXPECT_EQ((*deep)->SourceName(2), dir / "sub/c.png");
}

TEST(ImageFolder, LabelsFromClassSubfolders) {
  ScratchDir dir;
  CopyTestImage("ramp_4x4.png", dir / "dog/y.png");
  CopyTestImage("ramp_4x4.png", dir / "cat/x.png");
  CopyTestImage("ramp_4x4.png", dir / "dog/deeper/z.png");
  CopyTestImage("ramp_4x4.png", dir / "top_level_ignored.png");
  DataSourceOptions o;
  o.labels_from_subdirs = true;
  auto src = OpenDataSource("images:" + dir.path().string(), o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_EQ((*src)->size(), 3);
  EXPECT_TRUE((*src)->has_labels());
  EXPECT_EQ((*src)->Get(0)->label, 0);  // cat/x.png
  EXPECT_EQ((*src)->Get(1)->label, 1);  // dog/deeper/z.png
  EXPECT_EQ((*src)->Get(2)->label, 1);  // dog/y.png
}

TEST(ImageFolder, CorruptFileErrorNamesIt) {
  ScratchDir dir;
  CopyTestImage("corrupt.jpg", dir / "bad.jpg");
  auto src = OpenDataSource("images:" + dir.path().string());
  ASSERT_TRUE(src.ok());
  auto s = (*src)->Get(0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find(dir / "bad.jpg"), std::string::npos) << s.status().message();
}

TEST(NpyFolder, OneSamplePerFile) {
  ScratchDir dir;
  ASSERT_TRUE(WriteNpy(dir / "s0.npy", Filled({2, 3}, 0)).ok());
  ASSERT_TRUE(WriteNpy(dir / "s1.npy", Filled({2, 3}, 10)).ok());
  auto src = OpenDataSource("npy:" + dir.path().string());
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_EQ((*src)->size(), 2);
  auto s = (*src)->Get(1);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->data.ShapeString(), "f32[2,3]");
  EXPECT_EQ(s->data.data<float>()[0], 10.0f);
  EXPECT_EQ(s->source, dir / "s1.npy");
}

TEST(NpyFolder, MismatchedShapeNamesTheFile) {
  ScratchDir dir;
  ASSERT_TRUE(WriteNpy(dir / "a.npy", Filled({2, 3}, 0)).ok());
  ASSERT_TRUE(WriteNpy(dir / "b.npy", Filled({2, 4}, 0)).ok());
  ASSERT_TRUE(
      WriteNpy(dir / "c.npy", Tensor::FromVector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3})).ok());
  auto src = OpenDataSource(dir.path().string());  // bare DIR: detected as npy
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  EXPECT_TRUE((*src)->Get(0).ok());
  auto b = (*src)->Get(1);
  ASSERT_FALSE(b.ok());
  const std::string& m = b.status().message();
  EXPECT_NE(m.find(dir / "b.npy"), std::string::npos) << m;
  EXPECT_NE(m.find("f32[2,4]"), std::string::npos) << m;
  EXPECT_NE(m.find("expected f32[2,3]"), std::string::npos) << m;
  auto c = (*src)->Get(2);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("i32[2,3]"), std::string::npos) << c.status().message();
}

TEST(NpyFolder, SplitBatches) {
  ScratchDir dir;
  ASSERT_TRUE(WriteNpy(dir / "a.npy", Filled({2, 3}, 0)).ok());
  ASSERT_TRUE(WriteNpy(dir / "b.npy", Filled({0, 3}, 0)).ok());
  ASSERT_TRUE(WriteNpy(dir / "c.npy", Filled({3, 3}, 100)).ok());
  DataSourceOptions o;
  o.npy_split_batch = true;
  auto src = OpenDataSource("npy:" + dir.path().string(), o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  ASSERT_EQ((*src)->size(), 5);
  EXPECT_EQ((*src)->SourceName(1), dir / "a.npy" + "[1]");
  auto s = (*src)->Get(3);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->source, dir / "c.npy" + "[1]");
  EXPECT_EQ(s->data.ShapeString(), "f32[3]");
  EXPECT_EQ(s->data.data<float>()[0], 103.0f);

  ASSERT_TRUE(WriteNpy(dir / "d.npy", Filled({1, 4}, 0)).ok());
  auto bad = OpenDataSource("npy:" + dir.path().string(), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(dir / "d.npy"), std::string::npos)
      << bad.status().message();
  EXPECT_NE(bad.status().message().find("expected f32[3]"), std::string::npos);
}

TEST(NpyFolder, HeaderReader) {
  ScratchDir dir;
  ASSERT_TRUE(WriteNpy(dir / "x.npy", Tensor(DType::kU8, {4, 1, 28, 28})).ok());
  auto h = ReadNpyHeader(dir / "x.npy");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->dtype, DType::kU8);
  EXPECT_EQ(h->dims, (std::vector<int64_t>{4, 1, 28, 28}));
  ASSERT_TRUE(WriteNpy(dir / "s.npy", Tensor::Scalar<float>(1)).ok());
  h = ReadNpyHeader(dir / "s.npy");
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->dims.empty());
  WriteBytes(dir / "junk.npy", "junk");
  EXPECT_FALSE(ReadNpyHeader(dir / "junk.npy").ok());
}

TEST(OpenDataSource, SpecErrorsAndDetection) {
  ScratchDir dir;
  EXPECT_FALSE(OpenDataSource("npy:").ok());
  auto empty = OpenDataSource(dir.path().string());
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find(dir.path().string()), std::string::npos);
  auto missing = OpenDataSource(dir / "missing");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("missing"), std::string::npos);

  ASSERT_TRUE(WriteNpy(dir / "a.npy", Filled({2}, 0)).ok());
  CopyTestImage("ramp_4x4.png", dir / "b.png");
  auto both = OpenDataSource(dir.path().string());
  ASSERT_FALSE(both.ok());
  EXPECT_NE(both.status().message().find("images:"), std::string::npos);
  EXPECT_TRUE(OpenDataSource("npy:" + dir.path().string()).ok());
  EXPECT_TRUE(OpenDataSource("images:" + dir.path().string()).ok());
}

TEST(OpenDataSource, LabelsFile) {
  ScratchDir dir;
  fs::create_directories(dir.path() / "data");
  ASSERT_TRUE(WriteNpy(dir / "data/a.npy", Filled({2}, 0)).ok());
  ASSERT_TRUE(WriteNpy(dir / "data/b.npy", Filled({2}, 0)).ok());
  ASSERT_TRUE(WriteNpy(dir / "labels.npy", Tensor::FromVector<int64_t>({4, 2}, {2})).ok());
  ASSERT_TRUE(WriteNpy(dir / "three.npy", Tensor::FromVector<int64_t>({4, 2, 1}, {3})).ok());
  DataSourceOptions o;
  o.labels_file = dir / "labels.npy";
  auto src = OpenDataSource("npy:" + (dir / "data"), o);
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  EXPECT_TRUE((*src)->has_labels());
  EXPECT_EQ((*src)->Get(1)->label, 2);
  o.labels_file = dir / "three.npy";
  auto bad = OpenDataSource("npy:" + (dir / "data"), o);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("3 labels, expected 2"), std::string::npos)
      << bad.status().message();
}

}  // namespace
}  // namespace octet::data
