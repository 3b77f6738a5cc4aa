// Helpers shared by the module tests: a small but complete module (every slot
// kind, every attribute type, in-place reuse, packed and empty weight
// sections), scratch folders, and fresh random seeds.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "octet/module/module.h"

namespace octet::module_testing {

namespace fs = std::filesystem;

// A fresh seed per run (so repeated runs explore new cases), or OCTET_TEST_SEED
// to replay one; tests print the seed in failures with SCOPED_TRACE.
inline uint64_t FreshSeed() {
  if (const char* s = std::getenv("OCTET_TEST_SEED")) return std::strtoull(s, nullptr, 10);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// A fresh empty folder for the running test, removed by the destructor.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("octet_module_" + std::string(info->test_suite_name()) +
                                         "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

inline void WriteRaw(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline TensorSlot Slot(std::string name, DType dtype, Shape shape, SlotKind kind) {
  TensorSlot s;
  s.name = std::move(name);
  s.dtype = dtype;
  s.shape = std::move(shape);
  s.kind = kind;
  return s;
}

struct SampleModule {
  ModuleDesc desc;
  std::vector<WeightSection> weights;
};

// conv (packed weights) -> relu (in place) -> pool (dynamic output) -> dequant.
inline SampleModule MakeSampleModule() {
  SampleModule m;
  ModuleDesc& d = m.desc;
  d.target = "x86";
  d.requirements = {{"isa", "avx2"}, {"reduce_range", "1"}};
  d.metadata = {{"producer", "octet tests"}, {"source", "tiny \"conv\" model.onnx"}};
  const Dim n = Dim::Symbol("N");
  d.slots.push_back(Slot("x", DType::kU8, Shape({n, 3, 8, 8}), SlotKind::kInput));
  d.slots.push_back(Slot("w", DType::kI8, Shape({4, 3, 3, 3}), SlotKind::kConstant));
  d.slots[1].weight_section = 0;
  d.slots.push_back(Slot("b", DType::kI32, Shape({4}), SlotKind::kConstant));
  d.slots[2].weight_section = 1;
  d.slots.push_back(Slot("conv", DType::kU8, Shape({n, 4, 8, 8}), SlotKind::kActivation));
  d.slots[3].byte_size = 256;
  d.slots.push_back(Slot("relu", DType::kU8, Shape({n, 4, 8, 8}), SlotKind::kActivation));
  d.slots[4].byte_size = 256;
  d.slots.push_back(Slot("pool", DType::kF32, Shape({Dim::Unknown(), 4}), SlotKind::kActivation));
  d.slots[5].dynamic = true;
  d.slots.push_back(Slot("y", DType::kF32, Shape({n, 4}), SlotKind::kOutput));

  ModuleOp conv;
  conv.kernel = "x86.int8_conv";
  conv.name = "conv1";
  conv.attrs = {{"strides", std::vector<int64_t>{1, 1}},
                {"group", int64_t{-3}},
                {"scale", 0.0125f},
                {"nan", std::numeric_limits<float>::quiet_NaN()},
                {"layout", std::string("nChw16c")},
                {"floats", std::vector<float>{1.5f, -0.0f, std::numeric_limits<float>::infinity(),
                                              std::numeric_limits<float>::denorm_min()}},
                {"empty_ints", std::vector<int64_t>{}},
                {"big", std::numeric_limits<int64_t>::min()}};
  conv.inputs = {0, 1, 2};
  conv.outputs = {3};
  conv.weight_sections = {2};
  ModuleOp relu;
  relu.kernel = "x86.relu";
  relu.name = "relu1";
  relu.inputs = {3};
  relu.outputs = {4};
  relu.inplace = {{0, 0}};
  ModuleOp pool;
  pool.kernel = "x86.global_pool";
  pool.name = "pool";
  pool.inputs = {4, -1};
  pool.outputs = {5};
  ModuleOp deq;
  deq.kernel = "x86.dequantize";
  deq.name = "deq";
  deq.inputs = {5};
  deq.outputs = {6};
  d.ops = {conv, relu, pool, deq};
  d.memory_plan.reference_dims = {{"N", 1}};
  EXPECT_TRUE(PlanModuleMemory(&d).ok());

  m.weights = {{"w", RandomBytes(108, 1)},
               {"b", RandomBytes(16, 2)},
               {"conv1.packed", RandomBytes(1000, 3)},
               {"empty", {}}};
  return m;
}

// Bitwise float comparison: NaN payloads and -0 must survive too.
inline bool SameBits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

}  // namespace octet::module_testing
