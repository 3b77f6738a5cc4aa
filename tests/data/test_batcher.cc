// Batching, the bad-file policies and the sample limit; top-k bookkeeping.
#include <gtest/gtest.h>

#include "octet/data/batcher.h"
#include "octet/data/classification.h"
#include "test_util.h"

namespace octet::data {
namespace {

using testing::ScratchDir;
using testing::WriteBytes;

// 0.npy .. 6.npy holding f32[2] {i, i}; 2.npy is corrupt and 4.npy has the wrong shape.
std::unique_ptr<DataSource> FolderWithBadFiles(const ScratchDir& dir) {
  for (int i = 0; i < 7; ++i) {
    const std::string path = dir / (std::to_string(i) + ".npy");
    if (i == 2) {
      WriteBytes(path, "\x93NUMPY garbage");
    } else {
      const float v = static_cast<float>(i);
      Tensor t = i == 4 ? Tensor::FromVector<float>({v, v, v}, {3})
                        : Tensor::FromVector<float>({v, v}, {2});
      EXPECT_TRUE(WriteNpy(path, t).ok());
    }
  }
  auto src = OpenDataSource("npy:" + dir.path().string());
  EXPECT_TRUE(src.ok()) << src.status().ToString();
  return std::move(src).value();
}

TEST(Batcher, FailPolicyStopsAtTheFirstBadFile) {
  ScratchDir dir;
  auto src = FolderWithBadFiles(dir);
  BatcherOptions o;
  o.batch_size = 4;
  auto b = Batcher::Create(*src, o);
  ASSERT_TRUE(b.ok());
  auto first = b->Next();
  ASSERT_FALSE(first.ok());
  EXPECT_NE(first.status().message().find(dir / "2.npy"), std::string::npos)
      << first.status().message();
}

TEST(Batcher, SkipPolicyRecordsEveryBadFile) {
  ScratchDir dir;
  auto src = FolderWithBadFiles(dir);
  BatcherOptions o;
  o.batch_size = 2;
  o.on_bad_file = BadFilePolicy::kSkip;
  auto b = Batcher::Create(*src, o);
  ASSERT_TRUE(b.ok());
  std::vector<float> firsts;
  std::vector<int64_t> sizes;
  while (true) {
    auto next = b->Next();
    ASSERT_TRUE(next.ok()) << next.status().ToString();
    if (!next->has_value()) break;
    const Batch& batch = **next;
    sizes.push_back(batch.data.dim(0));
    EXPECT_EQ(batch.data.dim(1), 2);
    EXPECT_EQ(batch.sources.size(), static_cast<size_t>(batch.data.dim(0)));
    for (int64_t k = 0; k < batch.data.dim(0); ++k)
      firsts.push_back(batch.data.data<float>()[k * 2]);
  }
  EXPECT_EQ(sizes, (std::vector<int64_t>{2, 2, 1}));
  EXPECT_EQ(firsts, (std::vector<float>{0, 1, 3, 5, 6}));
  EXPECT_EQ(b->delivered(), 5);
  ASSERT_EQ(b->skipped().size(), 2u);
  EXPECT_EQ(b->skipped()[0].source, dir / "2.npy");
  EXPECT_EQ(b->skipped()[0].index, 2);
  EXPECT_EQ(b->skipped()[1].source, dir / "4.npy");
  EXPECT_NE(b->skipped()[1].reason.find("f32[3]"), std::string::npos) << b->skipped()[1].reason;
}

TEST(Batcher, MaxSamplesCountsGoodSamples) {
  ScratchDir dir;
  auto src = FolderWithBadFiles(dir);
  BatcherOptions o;
  o.batch_size = 10;
  o.on_bad_file = BadFilePolicy::kSkip;
  o.max_samples = 3;
  auto b = Batcher::Create(*src, o);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->planned(), 3);
  auto next = b->Next();
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((**next).data.dim(0), 3);
  EXPECT_EQ((**next).sources.back(), dir / "3.npy");
  auto end = b->Next();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->has_value());
}

TEST(Batcher, RejectsBadOptions) {
  ScratchDir dir;
  auto src = FolderWithBadFiles(dir);
  BatcherOptions o;
  o.batch_size = 0;
  EXPECT_FALSE(Batcher::Create(*src, o).ok());
  EXPECT_TRUE(ParseBadFilePolicy("skip").ok());
  EXPECT_FALSE(ParseBadFilePolicy("ignore").ok());
}

TEST(Classification, TopOneAndTopFive) {
  // 3 rows of 6 classes.
  Tensor logits = Tensor::FromVector<float>({0, 5, 1, 1, 1, 1,   // argmax 1
                                             3, 3, 0, 0, 0, 0,   // tie: first max, 0
                                             6, 5, 4, 3, 2, 1},  // label 5 is 6th
                                            {3, 6});
  ClassificationCounts counts;
  std::vector<int64_t> predictions;
  ASSERT_TRUE(AccumulateClassification(logits, {1, 1, 5}, &counts, &predictions).ok());
  EXPECT_EQ(predictions, (std::vector<int64_t>{1, 0, 0}));
  EXPECT_EQ(counts.samples, 3);
  EXPECT_EQ(counts.top1, 1);
  EXPECT_EQ(counts.top5, 2);
  ASSERT_TRUE(AccumulateClassification(logits, {0}, &counts).ok());  // a padded batch
  EXPECT_EQ(counts.samples, 4);
  EXPECT_EQ(counts.top1, 1);
  EXPECT_FALSE(AccumulateClassification(logits, {0, 0, 0, 0}, &counts).ok());
}

}  // namespace
}  // namespace octet::data
