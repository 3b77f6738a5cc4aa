// Damaged, foreign, wrong-version and wrong-target files give an error that
// says what is wrong, never a crash or a read outside the file (the ASan build
// runs these too).
#include <sys/stat.h>

#include <cstring>

#include "module_test_util.h"

namespace octet {
namespace {

using module_testing::MakeSampleModule;
using module_testing::ScratchDir;
using module_testing::WriteRaw;
namespace L = module_layout;

uint32_t U32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}
uint64_t U64(const std::string& b, size_t at) {
  return U32(b, at) | (static_cast<uint64_t>(U32(b, at + 4)) << 32);
}
void PutU64(std::string& b, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) b[at + i] = static_cast<char>(v >> (8 * i));
}
void PutU32(std::string& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b[at + i] = static_cast<char>(v >> (8 * i));
}

// A sample module image and where its parts are.
struct Image {
  std::string bytes;
  uint64_t table = 0, count = 0;
  uint64_t Entry(uint64_t i, size_t field) const { return table + i * L::kEntrySize + field; }
  uint64_t SectionOffset(uint64_t i) const { return U64(bytes, Entry(i, L::kEntryOffsetOffset)); }
  uint64_t SectionSize(uint64_t i) const { return U64(bytes, Entry(i, L::kEntrySizeOffset)); }
};

Image SampleImage() {
  const auto m = MakeSampleModule();
  auto bytes = SerializeModule(m.desc, m.weights);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  Image img{*bytes};
  img.table = U64(img.bytes, L::kTableOffsetOffset);
  img.count = U32(img.bytes, L::kSectionCountOffset);
  EXPECT_EQ(img.count, 5u);  // description + 4 weight sections
  return img;
}

// Loads `bytes` and expects an error of `code` whose message contains `part`.
void ExpectError(const std::string& bytes, StatusCode code, const std::string& part,
                 const LoadOptions& options = {}) {
  auto m = LoadModuleFromBytes(bytes, "module 'm.octet'", options);
  ASSERT_FALSE(m.ok()) << "loaded although it should fail with: " << part;
  EXPECT_EQ(m.status().code(), code) << m.status().ToString();
  EXPECT_NE(m.status().message().find(part), std::string::npos) << m.status().message();
  EXPECT_NE(m.status().message().find("m.octet"), std::string::npos) << m.status().message();
}

TEST(ModuleCorruption, TruncatedAtEveryCutPoint) {
  const Image img = SampleImage();
  ExpectError("", StatusCode::kDataLoss, "is empty");
  for (size_t cut = 1; cut < img.bytes.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    ExpectError(img.bytes.substr(0, cut), StatusCode::kDataLoss, "is truncated");
  }
}

TEST(ModuleCorruption, TruncatedFilesOnDisk) {
  ScratchDir dir;
  const Image img = SampleImage();
  for (size_t cut :
       {size_t{0}, size_t{5}, size_t{40}, size_t{64}, img.table + 3, img.bytes.size() - 1}) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    WriteRaw(dir / "m.octet", img.bytes.substr(0, cut));
    auto m = LoadModule(dir / "m.octet");
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), StatusCode::kDataLoss);
    const std::string& msg = m.status().message();
    EXPECT_TRUE(msg.find("truncated") != std::string::npos ||
                msg.find("empty") != std::string::npos)
        << msg;
  }
}

TEST(ModuleCorruption, TrailingBytes) {
  ExpectError(SampleImage().bytes + "x", StatusCode::kDataLoss, "1 bytes after the end");
}

// Flips one byte at a time (all bits) across each part of the file; every
// position must fail, and name the part that is damaged.
TEST(ModuleCorruption, FlippedBytesAreNamed) {
  const Image img = SampleImage();
  auto expect_each = [&](uint64_t begin, uint64_t end, const std::string& part) {
    for (uint64_t at = begin; at < end; ++at) {
      SCOPED_TRACE(part + " byte " + std::to_string(at));
      std::string b = img.bytes;
      b[at] = static_cast<char>(b[at] ^ 0xff);
      ExpectError(b, at < 8 ? StatusCode::kInvalidArgument : StatusCode::kDataLoss,
                  at < 8 ? "not an Octet compiled module" : part);
    }
  };
  expect_each(0, L::kHeaderSize, "header");
  expect_each(img.table, img.table + img.count * L::kEntrySize, "section table checksum mismatch");
  expect_each(img.SectionOffset(0), img.SectionOffset(0) + img.SectionSize(0),
              "description checksum mismatch");
  for (uint64_t w = 1; w < img.count; ++w)
    expect_each(img.SectionOffset(w), img.SectionOffset(w) + img.SectionSize(w),
                "weight section " + std::to_string(w - 1) + " '");
  // Alignment padding belongs to no section but is checked to be zero.
  const uint64_t pad = img.SectionOffset(0) + img.SectionSize(0);
  ASSERT_LT(pad, img.table);
  expect_each(pad, img.table, "padding byte");
}

TEST(ModuleCorruption, WeightChecksumsCanBeSkipped) {
  const Image img = SampleImage();
  std::string b = img.bytes;
  b[img.SectionOffset(3) + 10] ^= 1;
  ExpectError(b, StatusCode::kDataLoss, "weight section 2 'conv1.packed' checksum mismatch");
  LoadOptions fast;
  fast.verify_weight_checksums = false;
  EXPECT_TRUE(LoadModuleFromBytes(b, "m", fast).ok());
}

TEST(ModuleCorruption, WrongMagicAndForeignFiles) {
  std::string b = SampleImage().bytes;
  b[3] = 'X';
  ExpectError(b, StatusCode::kInvalidArgument, "does not start with \"OCTETMOD\"");
  ExpectError("\x89PNG\r\n\x1a\n and more", StatusCode::kInvalidArgument,
              "not an Octet compiled module");
  ExpectError("OCTE", StatusCode::kDataLoss, "is truncated");
  ExpectError("PK", StatusCode::kInvalidArgument, "not an Octet compiled module");
}

TEST(ModuleCorruption, WrongVersionAsksToRecompile) {
  for (uint32_t version : {0u, 1u, 2u, 3u, 5u, 1000u}) {
    std::string b = SampleImage().bytes;
    PutU32(b, L::kVersionOffset, version);
    ASSERT_TRUE(ResealModuleImage(&b));
    ExpectError(b, StatusCode::kUnimplemented,
                "module format version " + std::to_string(version) +
                    ", this Octet reads version 4: recompile the model");
  }
  // A future version with a longer header is still recognised.
  std::string b = SampleImage().bytes;
  PutU32(b, L::kVersionOffset, 5);
  PutU32(b, L::kHeaderLengthOffset, 128);
  ASSERT_TRUE(ResealModuleImage(&b));
  ExpectError(b, StatusCode::kUnimplemented, "module format version 5");
}

TEST(ModuleCorruption, WrongTargetNamesBoth) {
  const Image img = SampleImage();
  ExpectError(img.bytes, StatusCode::kInvalidArgument,
              "was compiled for target 'x86', but target 'cuda' was requested", {"cuda"});
  EXPECT_TRUE(LoadModuleFromBytes(img.bytes, "m", {"x86"}).ok());
  EXPECT_TRUE(LoadModuleFromBytes(img.bytes, "m", {""}).ok());
}

// Structural damage behind valid checksums (a buggy writer, or a hand-edited
// file): each is caught by the check after the checksum.
TEST(ModuleCorruption, StructuralDamageBehindValidChecksums) {
  const Image img = SampleImage();
  auto resealed = [](std::string b) {
    EXPECT_TRUE(ResealModuleImage(&b));
    return b;
  };
  auto edited_json = [&](const std::string& from, const std::string& to) {
    std::string b = img.bytes;
    const size_t at = b.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(from.size(), to.size());
    b.replace(at, from.size(), to);
    return resealed(b);
  };
  {
    std::string b = img.bytes;
    PutU64(b, img.Entry(2, L::kEntryOffsetOffset), img.SectionOffset(2) + 8);
    ExpectError(resealed(b), StatusCode::kDataLoss, "section 2 at offset");
  }
  {
    std::string b = img.bytes;
    PutU64(b, img.Entry(3, L::kEntrySizeOffset), 1ull << 62);
    ExpectError(resealed(b), StatusCode::kDataLoss, "section 3 (offset");
  }
  {
    std::string b = img.bytes;
    PutU64(b, img.Entry(2, L::kEntryOffsetOffset), img.SectionOffset(1));
    ExpectError(resealed(b), StatusCode::kDataLoss, "overlap");
  }
  {
    std::string b = img.bytes;
    PutU32(b, L::kSectionCountOffset, 0xffffffffu);
    ExpectError(resealed(b), StatusCode::kDataLoss, "lies outside the file");
  }
  {
    std::string b = img.bytes;
    PutU64(b, L::kTableOffsetOffset, ~0ull);
    ExpectError(resealed(b), StatusCode::kDataLoss, "section table (offset");
  }
  {
    std::string b = img.bytes;
    PutU32(b, L::kHeaderLengthOffset, 7);
    ExpectError(resealed(b), StatusCode::kDataLoss, "header length 7");
  }
  ExpectError(edited_json("\"inputs\":[3]", "\"inputs\":[9]"), StatusCode::kDataLoss,
              "description is inconsistent: op 1 'relu1' (x86.relu) reads slot 9");
  ExpectError(edited_json("{\"name\":\"w\",\"size\":108}", "{\"name\":\"w\",\"size\":109}"),
              StatusCode::kDataLoss, "description says 109 bytes, the section table 108");
  ExpectError(edited_json("\"dtype\":\"u8\"", "\"dtype\":\"q8\""), StatusCode::kDataLoss,
              "'slots[0].dtype' names no known dtype");
  ExpectError(edited_json("\"kernel\":", "\"kernel\"="), StatusCode::kDataLoss, "not valid JSON");
  ExpectError(edited_json("\"bytes\":256", "\"bytes\":\"2\""), StatusCode::kDataLoss,
              "'slots[3].bytes' is not an integer");
  ExpectError(edited_json("\"target\":\"x86\"", "\"target\":\"x87\""), StatusCode::kDataLoss,
              "target 'x87'");
}

TEST(ModuleCorruption, DirectoryMissingAndSpecialFiles) {
  ScratchDir dir;
  auto missing = LoadModule(dir / "absent.octet");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("absent.octet' does not exist"), std::string::npos);

  auto folder = LoadModule(dir.path().string());
  ASSERT_FALSE(folder.ok());
  EXPECT_EQ(folder.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(folder.status().message().find("is a directory"), std::string::npos)
      << folder.status().message();

  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  auto fifo = LoadModule(dir / "fifo");  // must not block waiting for a writer
  ASSERT_FALSE(fifo.ok());
  EXPECT_NE(fifo.status().message().find("not a regular file"), std::string::npos);

  WriteRaw(dir / "empty.octet", "");
  auto empty = LoadModule(dir / "empty.octet");
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("is empty"), std::string::npos);
}

TEST(ModuleCorruption, RandomGarbageAndRandomDamage) {
  const uint64_t seed = module_testing::FreshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  const Image img = SampleImage();
  for (int i = 0; i < 300; ++i) {
    std::string b = img.bytes;
    const int edits = 1 + static_cast<int>(rng() % 8);
    for (int e = 0; e < edits; ++e) b[rng() % b.size()] = static_cast<char>(rng());
    if (b == img.bytes) continue;
    if (i % 2) ResealModuleImage(&b);  // reach the checks behind the checksums
    auto m = LoadModuleFromBytes(b, "m");
    if (m.ok()) {
      // Only edits the checks cannot see may pass: the reseal made them
      // consistent, so the result must still be a valid module.
      std::vector<int64_t> sizes;
      for (const WeightView& w : m->weights()) sizes.push_back(w.size);
      EXPECT_TRUE(ValidateModuleDesc(m->desc(), sizes).ok());
    } else {
      EXPECT_FALSE(m.status().message().empty());
    }
  }
}

}  // namespace
}  // namespace octet
