// IDX (MNIST format) parsing, plain and gzip, and the IDX data source.
#include <gtest/gtest.h>
#include <zlib.h>

#include "octet/data/data_source.h"
#include "octet/data/gzip.h"
#include "octet/data/idx.h"
#include "test_util.h"

namespace octet::data {
namespace {

using testing::ScratchDir;
using testing::WriteBytes;

std::string Idx(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data,
                uint8_t type = 0x08) {
  std::string s = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((d >> shift) & 0xff);
  s.append(data.begin(), data.end());
  return s;
}

std::string Gzip(const std::string& raw) {
  z_stream zs{};
  EXPECT_EQ(deflateInit2(&zs, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&zs, raw.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  zs.avail_in = static_cast<uInt>(raw.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

// 3 images of 2x2 and their labels.
const std::vector<uint8_t> kPixels = {0, 51, 102, 255, 1, 2, 3, 4, 200, 100, 50, 25};
const std::vector<uint8_t> kLabels = {7, 0, 9};

TEST(Idx, ParsesHeaderAndData) {
  auto a = ParseIdx(Idx({3, 2, 2}, kPixels), "x");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->dims, (std::vector<int64_t>{3, 2, 2}));
  EXPECT_EQ(a->data, kPixels);
}

TEST(Idx, RejectsBadFiles) {
  auto bad_magic = ParseIdx(std::string("\x01\x00\x08\x01\x00\x00\x00\x00", 8), "m.idx");
  ASSERT_FALSE(bad_magic.ok());
  EXPECT_NE(bad_magic.status().message().find("m.idx"), std::string::npos);

  auto bad_type = ParseIdx(Idx({1}, {0, 0, 0, 0}, 0x0d), "f.idx");
  ASSERT_FALSE(bad_type.ok());
  EXPECT_EQ(bad_type.status().code(), StatusCode::kUnimplemented);

  std::string truncated = Idx({3, 2, 2}, kPixels);
  truncated.resize(truncated.size() - 5);
  auto t = ParseIdx(truncated, "t10k-images");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(t.status().message().find("t10k-images"), std::string::npos);
  EXPECT_NE(t.status().message().find("need 12 data bytes, file has 7"), std::string::npos)
      << t.status().message();

  EXPECT_FALSE(ParseIdx(Idx({3, 2, 2}, kPixels) + "x", "trailing").ok());
  EXPECT_FALSE(ParseIdx(std::string("\0\0\x08\x03\0\0", 6), "short header").ok());
  EXPECT_FALSE(ParseIdx("", "empty").ok());
}

TEST(Idx, SourceFromPlainAndGzipFiles) {
  ScratchDir dir;
  WriteBytes(dir / "img", Idx({3, 2, 2}, kPixels));
  WriteBytes(dir / "lab.gz", Gzip(Idx({3}, kLabels)));
  WriteBytes(dir / "img.gz", Gzip(Idx({3, 2, 2}, kPixels)));
  for (const std::string& images : {dir / "img", dir / "img.gz"}) {
    DataSourceOptions o;
    o.idx_mean = 0.25f;
    o.idx_std = 0.5f;
    auto src = OpenDataSource("idx:" + images + ":" + (dir / "lab.gz"), o);
    ASSERT_TRUE(src.ok()) << src.status().ToString();
    ASSERT_EQ((*src)->size(), 3);
    EXPECT_TRUE((*src)->has_labels());
    auto s = (*src)->Get(2);
    ASSERT_TRUE(s.ok());
    EXPECT_EQ(s->label, 9);
    EXPECT_EQ(s->data.dims(), (std::vector<int64_t>{1, 2, 2}));
    EXPECT_EQ(s->data.data<float>()[1], (100 / 255.0f - 0.25f) / 0.5f);
    EXPECT_EQ(s->source, images + "[2]");
  }
  auto unlabelled = OpenDataSource("idx:" + (dir / "img"));
  ASSERT_TRUE(unlabelled.ok());
  EXPECT_FALSE((*unlabelled)->has_labels());
  EXPECT_EQ((*unlabelled)->Get(0)->label, -1);
}

TEST(Idx, TruncatedGzipAndCountMismatchAreErrors) {
  ScratchDir dir;
  std::string gz = Gzip(Idx({3, 2, 2}, kPixels));
  WriteBytes(dir / "cut.gz", gz.substr(0, gz.size() / 2));
  WriteBytes(dir / "img", Idx({3, 2, 2}, kPixels));
  WriteBytes(dir / "two_labels", Idx({2}, {1, 2}));
  auto cut = OpenDataSource("idx:" + (dir / "cut.gz"));
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find("cut.gz"), std::string::npos) << cut.status().message();

  auto mismatch = OpenDataSource("idx:" + (dir / "img") + ":" + (dir / "two_labels"));
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("two_labels"), std::string::npos);
  EXPECT_NE(mismatch.status().message().find("2 labels, expected 3"), std::string::npos)
      << mismatch.status().message();

  auto missing = OpenDataSource("idx:" + (dir / "nope"));
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);
}

TEST(Gzip, RoundTripAndGarbage) {
  const std::string raw(100000, 'a');
  auto out = Gunzip(Gzip(raw), "x");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, raw);
  EXPECT_FALSE(Gunzip(Gzip(raw), "x", 1000).ok());  // over the size limit
  auto garbage = Gunzip(std::string("\x1f\x8b\x08\x00garbage-garbage", 19), "g.gz");
  ASSERT_FALSE(garbage.ok());
  EXPECT_NE(garbage.status().message().find("g.gz"), std::string::npos);
}

}  // namespace
}  // namespace octet::data
