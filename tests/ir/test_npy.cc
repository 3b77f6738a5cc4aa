#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "octet/npy.h"

namespace octet {
namespace {

TEST(Npy, WriteReadRoundTrip) {
  const std::string path = testing::TempDir() + "/octet_npy_test.npy";
  Tensor t = Tensor::FromVector<float>({1.5f, -2.0f, 3.0f, 0.25f, 8.0f, 9.0f}, {2, 3});
  ASSERT_TRUE(WriteNpy(path, t).ok());
  auto back = ReadNpy(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_TRUE(back->BitwiseEquals(t));
  std::remove(path.c_str());
}

TEST(Npy, ScalarAndOneDim) {
  const std::string path = testing::TempDir() + "/octet_npy_scalar.npy";
  for (const Tensor& t : {Tensor::Scalar<int64_t>(7), Tensor::FromVector<uint8_t>({1, 2}, {2})}) {
    ASSERT_TRUE(WriteNpy(path, t).ok());
    auto back = ReadNpy(path);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(back->BitwiseEquals(t)) << back->ShapeString();
  }
  std::remove(path.c_str());
}

TEST(Npy, TruncatedFileIsReportedByName) {
  Tensor t = Tensor::FromVector<float>({1, 2, 3, 4}, {4});
  const std::string path = testing::TempDir() + "/octet_npy_trunc.npy";
  ASSERT_TRUE(WriteNpy(path, t).ok());
  auto bytes = ReadFileBytes(path);
  ASSERT_TRUE(bytes.ok());
  auto parsed = ParseNpy(bytes->substr(0, bytes->size() - 3), "'x.npy'");
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("'x.npy'"), std::string::npos);
  EXPECT_NE(parsed.status().message().find("expected 16 bytes"), std::string::npos);
  EXPECT_FALSE(ParseNpy("garbage", "'g.npy'").ok());
  std::remove(path.c_str());
}

TEST(Npy, MissingFile) {
  auto r = ReadNpy("/nonexistent/dir/x.npy");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/dir/x.npy"), std::string::npos);
}

}  // namespace
}  // namespace octet
