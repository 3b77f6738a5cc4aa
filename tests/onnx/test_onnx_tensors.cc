// Initializer storage forms: raw_data, each typed field, and external data
// (with the checks that keep it inside the model's folder).
#include <gtest/gtest.h>
#include <unistd.h>

#include "onnx_test_util.h"

namespace octet {
namespace {

using namespace onnx_test;  // NOLINT: test builders

// Imports a model whose only content is initializer `t`, returned as graph output.
Expected<Tensor> ImportInitializer(const onnx::TensorProto& t, const std::string& dir = "") {
  onnx::ModelProto m = MakeModel();
  AddInitializer(m, t);
  m.mutable_graph()->add_output()->set_name(t.name());
  OCTET_ASSIGN_OR_RETURN(Model model, Import(m, dir));
  const Value* v = model.graph->FindValue(t.name());
  if (v == nullptr || !v->is_constant()) return Internal("no constant '", t.name(), "'");
  return v->constant();
}

TEST(OnnxTensors, FloatData) {
  onnx::TensorProto t = MakeTensor("f", kFloat, {2, 2});
  for (float v : {1.5f, -2.0f, 0.0f, 3.25f}) t.add_float_data(v);
  auto r = ImportInitializer(t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<float>({1.5f, -2.0f, 0.0f, 3.25f}, {2, 2})));
}

TEST(OnnxTensors, Int32DataForNarrowTypes) {
  struct Case {
    int32_t onnx_type;
    std::vector<int32_t> stored;
    Tensor expected;
  };
  std::vector<Case> cases;
  cases.push_back(
      {onnx::TensorProto::INT8, {-128, 5, 127}, Tensor::FromVector<int8_t>({-128, 5, 127}, {3})});
  cases.push_back(
      {onnx::TensorProto::UINT8, {0, 200, 255}, Tensor::FromVector<uint8_t>({0, 200, 255}, {3})});
  cases.push_back(
      {onnx::TensorProto::INT16, {-30000, 1, 2}, Tensor::FromVector<int16_t>({-30000, 1, 2}, {3})});
  cases.push_back(
      {onnx::TensorProto::UINT16, {65535, 1, 2}, Tensor::FromVector<uint16_t>({65535, 1, 2}, {3})});
  cases.push_back({onnx::TensorProto::INT32,
                   {-7, 1 << 30, 2},
                   Tensor::FromVector<int32_t>({-7, 1 << 30, 2}, {3})});
  cases.push_back(
      {onnx::TensorProto::BOOL, {1, 0, 1}, Tensor::FromVector<bool>({true, false, true}, {3})});
  // f16/bf16 are stored as their bit patterns.
  Tensor f16(DType::kF16, {3});
  Tensor bf16(DType::kBF16, {3});
  for (int i = 0; i < 3; ++i) {
    f16.data<uint16_t>()[i] = FloatToHalf(0.5f * i);
    bf16.data<uint16_t>()[i] = FloatToBFloat16(static_cast<float>(-i));
  }
  cases.push_back(
      {onnx::TensorProto::FLOAT16, {FloatToHalf(0.0f), FloatToHalf(0.5f), FloatToHalf(1.0f)}, f16});
  cases.push_back({onnx::TensorProto::BFLOAT16,
                   {FloatToBFloat16(0.0f), FloatToBFloat16(-1.0f), FloatToBFloat16(-2.0f)},
                   bf16});
  for (const Case& c : cases) {
    onnx::TensorProto t = MakeTensor("t", c.onnx_type, {3});
    for (int32_t v : c.stored) t.add_int32_data(v);
    auto r = ImportInitializer(t);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_TRUE(r->BitwiseEquals(c.expected)) << "type " << c.onnx_type;
  }
}

TEST(OnnxTensors, Int64DoubleUint64Data) {
  onnx::TensorProto i64 = MakeTensor("i", kInt64, {2});
  i64.add_int64_data(-(int64_t{1} << 40));
  i64.add_int64_data(7);
  auto r = ImportInitializer(i64);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<int64_t>({-(int64_t{1} << 40), 7}, {2})));

  onnx::TensorProto f64 = MakeTensor("d", onnx::TensorProto::DOUBLE, {2});
  f64.add_double_data(0.1);
  f64.add_double_data(-1e300);
  r = ImportInitializer(f64);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<double>({0.1, -1e300}, {2})));

  onnx::TensorProto u32 = MakeTensor("u", onnx::TensorProto::UINT32, {2});
  u32.add_uint64_data(4000000000u);
  u32.add_uint64_data(1);
  r = ImportInitializer(u32);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<uint32_t>({4000000000u, 1}, {2})));

  onnx::TensorProto u64 = MakeTensor("u", onnx::TensorProto::UINT64, {1});
  u64.add_uint64_data(~uint64_t{0});
  r = ImportInitializer(u64);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<uint64_t>({~uint64_t{0}}, {1})));
}

TEST(OnnxTensors, RawDataForEveryType) {
  const std::pair<int32_t, DType> types[] = {{onnx::TensorProto::FLOAT, DType::kF32},
                                             {onnx::TensorProto::UINT8, DType::kU8},
                                             {onnx::TensorProto::INT8, DType::kI8},
                                             {onnx::TensorProto::UINT16, DType::kU16},
                                             {onnx::TensorProto::INT16, DType::kI16},
                                             {onnx::TensorProto::INT32, DType::kI32},
                                             {onnx::TensorProto::INT64, DType::kI64},
                                             {onnx::TensorProto::BOOL, DType::kBool},
                                             {onnx::TensorProto::FLOAT16, DType::kF16},
                                             {onnx::TensorProto::DOUBLE, DType::kF64},
                                             {onnx::TensorProto::UINT32, DType::kU32},
                                             {onnx::TensorProto::UINT64, DType::kU64},
                                             {onnx::TensorProto::BFLOAT16, DType::kBF16},
                                             {17, DType::kF8E4M3},
                                             {19, DType::kF8E5M2},
                                             {21, DType::kU4},
                                             {22, DType::kI4}};
  for (const auto& [id, dtype] : types) {
    const int64_t n = 5;
    const int64_t nbytes = DTypeStorageBytes(dtype, n);
    std::string raw;
    for (int64_t i = 0; i < nbytes; ++i)
      raw += static_cast<char>(dtype == DType::kBool ? (i % 2) : (i * 37 + 1));
    onnx::TensorProto t = MakeTensor("r", id, {n});
    t.set_raw_data(raw);
    auto r = ImportInitializer(t);
    ASSERT_TRUE(r.ok()) << "type " << id << ": " << r.status().ToString();
    EXPECT_EQ(r->dtype(), dtype);
    EXPECT_EQ(r->nbytes(), nbytes);
    EXPECT_EQ(std::memcmp(r->raw(), raw.data(), raw.size()), 0) << "type " << id;
  }
}

TEST(OnnxTensors, Int4InInt32Data) {
  // Packed: one byte (two values, low nibble first) per int32_data entry.
  onnx::TensorProto t = MakeTensor("q", 22, {3});
  t.add_int32_data(0xF1);  // 1, -1
  t.add_int32_data(0x07);  // 7
  auto r = ImportInitializer(t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->GetAsInt64(0), 1);
  EXPECT_EQ(r->GetAsInt64(1), -1);
  EXPECT_EQ(r->GetAsInt64(2), 7);
  // One value per entry is accepted as well.
  onnx::TensorProto u = MakeTensor("q", 21, {3});
  for (int v : {3, 15, 0}) u.add_int32_data(v);
  r = ImportInitializer(u);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->GetAsInt64(0), 3);
  EXPECT_EQ(r->GetAsInt64(1), 15);
  EXPECT_EQ(r->GetAsInt64(2), 0);
}

TEST(OnnxTensors, EmptyTensorNeedsNoData) {
  onnx::TensorProto t = MakeTensor("e", kFloat, {0, 3});
  auto r = ImportInitializer(t);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->numel(), 0);
}

TEST(OnnxTensors, FnuzFloat8IsRejected) {
  onnx::TensorProto t = MakeTensor("f8", 18, {1});
  t.set_raw_data("\x01");
  auto r = ImportInitializer(t);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnimplemented);
  EXPECT_NE(r.status().message().find("FLOAT8E4M3FNUZ"), std::string::npos);
}

onnx::TensorProto ExternalTensor(const std::string& location, int64_t offset, int64_t length,
                                 int64_t count) {
  onnx::TensorProto t = MakeTensor("ext", kFloat, {count});
  t.set_data_location(onnx::TensorProto::EXTERNAL);
  auto add = [&](const char* k, const std::string& v) {
    auto* e = t.add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  if (offset >= 0) add("offset", std::to_string(offset));
  if (length >= 0) add("length", std::to_string(length));
  return t;
}

class OnnxExternalData : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    std::filesystem::create_directories(dir_.File("model"));
    std::filesystem::create_directories(dir_.File("model/sub"));
    // 4 floats after 8 bytes of padding.
    dir_.Write("model/weights.bin", std::string(8, 'x') + RawBytes<float>({1, 2, 3, 4}));
    dir_.Write("model/sub/w.bin", RawBytes<float>({5, 6}));
    dir_.Write("outside.bin", RawBytes<float>({9, 9, 9, 9}));
  }
  std::string ModelDir() const { return dir_.File("model"); }
  TempDir dir_;
};

TEST_F(OnnxExternalData, OffsetAndLength) {
  auto r = ImportInitializer(ExternalTensor("weights.bin", 8, 16, 4), ModelDir());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<float>({1, 2, 3, 4}, {4})));
  // No length: the shape says how much to read. A sub-folder is fine.
  r = ImportInitializer(ExternalTensor("sub/w.bin", -1, -1, 2), ModelDir());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<float>({5, 6}, {2})));
  // '..' that stays inside is fine too.
  r = ImportInitializer(ExternalTensor("sub/../sub/w.bin", 0, -1, 2), ModelDir());
  EXPECT_TRUE(r.ok()) << r.status().ToString();
}

TEST_F(OnnxExternalData, ImportOnnxFileResolvesNextToTheModel) {
  onnx::ModelProto m = MakeModel();
  AddInitializer(m, ExternalTensor("weights.bin", 8, 16, 4));
  m.mutable_graph()->add_output()->set_name("ext");
  dir_.Write("model/m.onnx", Serialize(m));
  auto r = ImportOnnxFile(dir_.File("model/m.onnx"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->graph->FindValue("ext")->constant().data<float>()[3], 4.0f);
}

void ExpectError(const Expected<Tensor>& r, StatusCode code, const std::string& fragment) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("'ext'"), std::string::npos) << r.status().ToString();
}

TEST_F(OnnxExternalData, Rejections) {
  ExpectError(ImportInitializer(ExternalTensor(dir_.File("outside.bin"), 0, -1, 4), ModelDir()),
              StatusCode::kInvalidArgument, "absolute path");
  ExpectError(ImportInitializer(ExternalTensor("../outside.bin", 0, -1, 4), ModelDir()),
              StatusCode::kInvalidArgument, "outside the model's folder");
  ExpectError(ImportInitializer(ExternalTensor("sub/../../outside.bin", 0, -1, 4), ModelDir()),
              StatusCode::kInvalidArgument, "outside the model's folder");
  ASSERT_EQ(symlink(dir_.File("outside.bin").c_str(), dir_.File("model/link.bin").c_str()), 0);
  ExpectError(ImportInitializer(ExternalTensor("link.bin", 0, -1, 4), ModelDir()),
              StatusCode::kInvalidArgument, "outside the model's folder");
  ExpectError(ImportInitializer(ExternalTensor("weights.bin", 16, -1, 4), ModelDir()),
              StatusCode::kOutOfRange, "past the end");
  ExpectError(ImportInitializer(ExternalTensor("weights.bin", 1000, -1, 1), ModelDir()),
              StatusCode::kOutOfRange, "past the end");
  ExpectError(ImportInitializer(ExternalTensor("weights.bin", 0, 12, 4), ModelDir()),
              StatusCode::kInvalidArgument, "length");
  ExpectError(ImportInitializer(ExternalTensor("missing.bin", 0, -1, 4), ModelDir()),
              StatusCode::kNotFound, "does not exist");
  ExpectError(ImportInitializer(ExternalTensor("weights.bin", 0, -1, 4), ""),
              StatusCode::kInvalidArgument, "not loaded from a folder");
  onnx::TensorProto bad_offset = ExternalTensor("weights.bin", -1, -1, 4);
  auto* e = bad_offset.add_external_data();
  e->set_key("offset");
  e->set_value("-8");
  ExpectError(ImportInitializer(bad_offset, ModelDir()), StatusCode::kInvalidArgument, "offset");
}

TEST(OnnxTensorFiles, TensorProtoBytesAndFiles) {
  onnx::TensorProto t = MakeTensor("in", kFloat, {2});
  t.set_raw_data(RawBytes<float>({7, 8}));
  std::string bytes;
  t.SerializeToString(&bytes);
  auto r = TensorFromProtoBytes(bytes, "input_0.pb");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<float>({7, 8}, {2})));

  TempDir dir;
  dir.Write("input_0.pb", bytes);
  r = ReadTensorProtoFile(dir.File("input_0.pb"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->BitwiseEquals(Tensor::FromVector<float>({7, 8}, {2})));

  dir.Write("bad.pb", bytes.substr(0, bytes.size() - 2));
  r = ReadTensorProtoFile(dir.File("bad.pb"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad.pb"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// Protobuf's default limit is 64 MB; the importer raises it to 2 GB.
TEST(OnnxTensorFiles, ModelsOver64MegabytesImport) {
  using namespace onnx_test;           // NOLINT: test builders
  const int64_t n = 17 * 1000 * 1000;  // 68 MB of f32
  onnx::ModelProto m = MakeModel();
  onnx::TensorProto t = MakeTensor("big", kFloat, {n});
  std::string raw(static_cast<size_t>(4 * n), '\0');
  const float last = 3.5f;
  std::memcpy(&raw[raw.size() - 4], &last, 4);
  t.set_raw_data(std::move(raw));
  AddInitializer(m, t);
  m.mutable_graph()->add_output()->set_name("big");
  TempDir dir;
  dir.Write("big.onnx", Serialize(m));
  m.Clear();
  auto r = ImportOnnxFile(dir.File("big.onnx"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->graph->FindValue("big")->constant().data<float>()[n - 1], last);
}

}  // namespace
}  // namespace octet
