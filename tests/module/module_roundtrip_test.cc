// Writing and loading a module gives back every field and weight byte, with
// weight pointers 64-byte aligned into the mapping; the writer refuses
// descriptions the loader would reject.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>

#include "module_test_util.h"

namespace octet {
namespace {

using module_testing::MakeSampleModule;
using module_testing::ReadAll;
using module_testing::SameBits;
using module_testing::ScratchDir;

TEST(ModuleRoundTrip, EveryFieldAndWeightByte) {
  ScratchDir dir;
  const auto m = MakeSampleModule();
  ASSERT_TRUE(WriteModule(m.desc, m.weights, dir / "m.octet").ok());
  auto loaded = LoadModule(dir / "m.octet", {"x86"});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const ModuleDesc& d = loaded->desc();
  EXPECT_EQ(loaded->format_version(), kModuleFormatVersion);
  EXPECT_EQ(d.target, "x86");
  EXPECT_EQ(d.requirements, m.desc.requirements);
  EXPECT_EQ(d.metadata, m.desc.metadata);
  EXPECT_EQ(d.memory_plan, m.desc.memory_plan);
  ASSERT_EQ(d.slots.size(), m.desc.slots.size());
  for (size_t i = 0; i < d.slots.size(); ++i) {
    SCOPED_TRACE(d.slots[i].name);
    EXPECT_EQ(d.slots[i].name, m.desc.slots[i].name);
    EXPECT_EQ(d.slots[i].dtype, m.desc.slots[i].dtype);
    EXPECT_EQ(d.slots[i].shape, m.desc.slots[i].shape) << d.slots[i].shape.ToString();
    EXPECT_EQ(d.slots[i].kind, m.desc.slots[i].kind);
    EXPECT_EQ(d.slots[i].dynamic, m.desc.slots[i].dynamic);
    EXPECT_EQ(d.slots[i].arena_offset, m.desc.slots[i].arena_offset);
    EXPECT_EQ(d.slots[i].byte_size, m.desc.slots[i].byte_size);
    EXPECT_EQ(d.slots[i].weight_section, m.desc.slots[i].weight_section);
  }
  ASSERT_EQ(d.ops.size(), m.desc.ops.size());
  for (size_t i = 0; i < d.ops.size(); ++i) {
    SCOPED_TRACE(d.ops[i].name);
    EXPECT_EQ(d.ops[i].kernel, m.desc.ops[i].kernel);
    EXPECT_EQ(d.ops[i].name, m.desc.ops[i].name);
    EXPECT_EQ(d.ops[i].inputs, m.desc.ops[i].inputs);
    EXPECT_EQ(d.ops[i].outputs, m.desc.ops[i].outputs);
    EXPECT_EQ(d.ops[i].weight_sections, m.desc.ops[i].weight_sections);
    EXPECT_EQ(d.ops[i].inplace, m.desc.ops[i].inplace);
    ASSERT_EQ(d.ops[i].attrs.size(), m.desc.ops[i].attrs.size());
    for (size_t a = 0; a < d.ops[i].attrs.size(); ++a)
      EXPECT_TRUE(d.ops[i].attrs[a] == m.desc.ops[i].attrs[a]) << d.ops[i].attrs[a].name;
  }
  EXPECT_TRUE(d == m.desc);

  ASSERT_EQ(loaded->weights().size(), m.weights.size());
  for (size_t i = 0; i < m.weights.size(); ++i) {
    const WeightView& w = loaded->weights()[i];
    EXPECT_EQ(w.name, m.weights[i].name);
    ASSERT_EQ(w.size, static_cast<int64_t>(m.weights[i].bytes.size()));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u) << w.name;
    EXPECT_TRUE(std::equal(w.data, w.data + w.size, m.weights[i].bytes.begin())) << w.name;
  }
}

TEST(ModuleRoundTrip, TypedAttributeAccess) {
  const auto m = MakeSampleModule();
  const ModuleOp& conv = m.desc.ops[0];
  EXPECT_EQ(*conv.Get<int64_t>("group"), -3);
  EXPECT_EQ(*conv.Get<std::vector<int64_t>>("strides"), (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(*conv.Get<std::string>("layout"), "nChw16c");
  EXPECT_EQ(*conv.Get<int64_t>("absent", 7), 7);
  auto missing = conv.Get<int64_t>("absent");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("conv1"), std::string::npos);
  EXPECT_FALSE(conv.Get<float>("group").ok());
}

TEST(ModuleRoundTrip, FloatsAreBitExact) {
  // Random bit patterns cover denormals, NaN payloads, infinities and -0.
  const uint64_t seed = module_testing::FreshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  auto m = MakeSampleModule();
  std::vector<float> values;
  for (int i = 0; i < 4000; ++i) {
    const uint32_t bits = static_cast<uint32_t>(rng());
    float f;
    std::memcpy(&f, &bits, sizeof f);
    values.push_back(f);
  }
  m.desc.ops[1].attrs = {{"many", values}, {"one", values[17]}};
  auto image = SerializeModule(m.desc, m.weights);
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  auto loaded = LoadModuleFromBytes(*image, "image");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const auto& got = std::get<std::vector<float>>(loaded->desc().ops[1].attrs[0].value);
  ASSERT_EQ(got.size(), values.size());
  for (size_t i = 0; i < values.size(); ++i)
    ASSERT_TRUE(SameBits(got[i], values[i])) << i << ": " << values[i] << " -> " << got[i];
  EXPECT_TRUE(SameBits(std::get<float>(loaded->desc().ops[1].attrs[1].value), values[17]));
}

TEST(ModuleRoundTrip, SerializedImageEqualsFileAndLoadsFromBytes) {
  ScratchDir dir;
  const auto m = MakeSampleModule();
  ASSERT_TRUE(WriteModule(m.desc, m.weights, dir / "m.octet").ok());
  auto image = SerializeModule(m.desc, m.weights);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(*image, ReadAll(dir / "m.octet"));
  EXPECT_EQ(image->compare(0, 8, "OCTETMOD"), 0);
  auto loaded = LoadModuleFromBytes(*image, "image");
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->desc() == m.desc);
  for (const WeightView& w : loaded->weights())
    EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 64, 0u);
  // The description is plain JSON, readable with any tool.
  EXPECT_NE(image->find("\"kernel\":\"x86.int8_conv\""), std::string::npos);
}

TEST(ModuleRoundTrip, ConstantTensorViewsTheMapping) {
  ScratchDir dir;
  const auto m = MakeSampleModule();
  ASSERT_TRUE(WriteModule(m.desc, m.weights, dir / "m.octet").ok());
  Tensor w;
  {
    auto loaded = LoadModule(dir / "m.octet");
    ASSERT_TRUE(loaded.ok());
    auto t = loaded->ConstantTensor(1);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->ShapeString(), "i8[4,3,3,3]");
    EXPECT_EQ(t->raw(), loaded->weights()[0].data);  // a view, not a copy
    w = *t;
    auto act = loaded->ConstantTensor(3);
    ASSERT_FALSE(act.ok());
    EXPECT_NE(act.status().message().find("'conv' is of kind activation"), std::string::npos)
        << act.status().message();
    EXPECT_FALSE(loaded->ConstantTensor(99).ok());
  }
  // The view keeps the mapping alive after the module is gone.
  ASSERT_EQ(w.nbytes(), 108);
  EXPECT_EQ(std::memcmp(w.raw(), m.weights[0].bytes.data(), 108), 0);
}

TEST(ModuleRoundTrip, MovedModuleKeepsItsWeights) {
  const auto m = MakeSampleModule();
  auto image = SerializeModule(m.desc, m.weights);
  ASSERT_TRUE(image.ok());
  auto loaded = LoadModuleFromBytes(*image, "image");
  ASSERT_TRUE(loaded.ok());
  const uint8_t* p = loaded->weights()[2].data;
  LoadedModule moved = std::move(loaded).value();
  EXPECT_EQ(moved.weights()[2].data, p);
  EXPECT_EQ(std::memcmp(p, m.weights[2].bytes.data(), m.weights[2].bytes.size()), 0);
  LoadedModule assigned = std::move(moved);
  EXPECT_EQ(assigned.desc().ops.size(), 4u);
}

TEST(ModuleRoundTrip, NoWeightsAndNoOps) {
  ModuleDesc d;
  d.target = "reference";
  auto image = SerializeModule(d, {});
  ASSERT_TRUE(image.ok()) << image.status().ToString();
  auto loaded = LoadModuleFromBytes(*image, "image", {"reference"});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->desc() == d);
  EXPECT_TRUE(loaded->weights().empty());
}

TEST(ModuleRoundTrip, OverwritesAtomicallyAndLeavesNoTemporaryFiles) {
  ScratchDir dir;
  auto m = MakeSampleModule();
  ASSERT_TRUE(WriteModule(m.desc, m.weights, dir / "m.octet").ok());
  m.desc.metadata["version"] = "2";
  ASSERT_TRUE(WriteModule(m.desc, m.weights, dir / "m.octet").ok());
  auto loaded = LoadModule(dir / "m.octet");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->desc().metadata.at("version"), "2");
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) files += e.exists();
  EXPECT_EQ(files, 1);
}

TEST(ModuleRoundTrip, LoadedModuleSurvivesReplacementOfItsFile) {
  ScratchDir dir;
  auto m = MakeSampleModule();
  ASSERT_TRUE(WriteModule(m.desc, m.weights, dir / "m.octet").ok());
  auto old = LoadModule(dir / "m.octet");
  ASSERT_TRUE(old.ok());
  auto replaced = m.weights;
  for (auto& w : replaced)
    for (auto& b : w.bytes) b = static_cast<uint8_t>(~b);
  ASSERT_TRUE(WriteModule(m.desc, replaced, dir / "m.octet").ok());
  // The rename left the old inode (and so the old mapping) untouched.
  const WeightView& w = old->weights()[2];
  EXPECT_TRUE(std::equal(w.data, w.data + w.size, m.weights[2].bytes.begin()));
  auto fresh = LoadModule(dir / "m.octet");
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->weights()[2].data[0], replaced[2].bytes[0]);
}

TEST(ModuleRoundTrip, WriteErrorsNameTheFile) {
  ScratchDir dir;
  const auto m = MakeSampleModule();
  const std::string path = dir / "no/such/folder/m.octet";
  Status st = WriteModule(m.desc, m.weights, path);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.code(), StatusCode::kIoError);
  EXPECT_NE(st.message().find("no/such/folder"), std::string::npos) << st.message();
}

// Each broken description is refused before anything is written.
TEST(ModuleRoundTrip, WriterRefusesInvalidDescriptions) {
  struct Case {
    const char* what;
    std::function<void(module_testing::SampleModule&)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"target", [](auto& m) { m.desc.target = "X86"; }, "target 'X86'"},
      {"slot index", [](auto& m) { m.desc.ops[1].inputs = {42}; }, "reads slot 42"},
      {"read before write", [](auto& m) { m.desc.ops[0].inputs[0] = 4; },
       "reads slot 4 'relu' before any op writes it"},
      {"written twice", [](auto& m) { m.desc.ops[3].outputs = {5}; }, "already wrote"},
      {"never written", [](auto& m) { m.desc.ops.pop_back(); }, "'y' (output) is never written"},
      {"constant size", [](auto& m) { m.weights[1].bytes.push_back(0); },
       "needs 16 bytes, but weight section 1 has 17"},
      {"weight index", [](auto& m) { m.desc.ops[0].weight_sections = {9}; },
       "uses weight section 9"},
      {"weight name", [](auto& m) { m.weights[3].name = "w"; }, "repeated name 'w'"},
      {"duplicate slot", [](auto& m) { m.desc.slots[4].name = "conv"; }, "repeated name 'conv'"},
      {"activation too small", [](auto& m) { m.desc.slots[3].byte_size = 255; }, "needs 256 bytes"},
      {"outside arena", [](auto& m) { m.desc.slots[3].arena_offset = 1 << 20; },
       "not inside the arena"},
      {"overlap", [](auto& m) { m.desc.ops[1].inplace.clear(); },
       "overlap in the arena while both are live"},
      {"unknown dim",
       [](auto& m) {
         m.desc.slots[5].dynamic = false;
         m.desc.slots[5].byte_size = 0;
         m.desc.slots[5].arena_offset = 0;
       },
       "must be dynamic"},
      {"symbol without reference", [](auto& m) { m.desc.memory_plan.reference_dims.clear(); },
       "no reference value"},
      {"not UTF-8", [](auto& m) { m.desc.metadata["k"] = "\xff\xfe"; }, "not valid UTF-8"},
      {"in-place pair",
       [](auto& m) {
         m.desc.ops[1].inplace = {{0, 3}};
       },
       "invalid in-place pair"},
      {"attribute name", [](auto& m) { m.desc.ops[0].attrs[1].name = "strides"; },
       "repeated attribute name 'strides'"},
      {"alignment", [](auto& m) { m.desc.memory_plan.alignment = 48; }, "not a power of two"},
  };
  ScratchDir dir;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto m = MakeSampleModule();
    c.edit(m);
    const std::string path = dir / "bad.octet";
    Status st = WriteModule(m.desc, m.weights, path);
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.message().find(c.message), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("bad.octet"), std::string::npos) << st.message();
    EXPECT_FALSE(std::filesystem::exists(path));
  }
}

}  // namespace
}  // namespace octet
