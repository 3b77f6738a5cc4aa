// What a caller gets wrong, and damaged or foreign modules: every case is an
// error that names the input, op, file or target involved.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "quant/quant_test_util.h"
#include "runtime_module/runtime_module_test_util.h"

namespace octet {
namespace {

using testing::MustLoad;

void ExpectError(const Status& s, const std::string& fragment) {
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.ToString().find(fragment), std::string::npos)
      << "'" << fragment << "' not in: " << s.ToString();
}

class RuntimeErrorsTest : public testing::ModuleDirTest {
 protected:
  // SmallCnn compiled, with `edit` applied to its description before writing.
  std::string Write(const std::function<void(ModuleDesc&)>& edit) {
    auto compiled = CompileForReference(testing::SmallCnn(1));
    EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
    edit(compiled->desc);
    const std::string path = Path("edited.octet");
    Status s = WriteModule(compiled->desc, compiled->weights, path);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return path;
  }
};

TEST_F(RuntimeErrorsTest, BadInputsNameTheInput) {
  auto module = MustLoad(CompileToFile(testing::SmallCnn(1)));
  ASSERT_NE(module, nullptr);
  ASSERT_EQ(module->inputs().size(), 1u);
  EXPECT_EQ(module->inputs()[0].name, "x");
  EXPECT_EQ(module->inputs()[0].dtype, DType::kF32);
  EXPECT_EQ(module->outputs()[0].name, "logits");
  auto session = runtime::Session::Create(module, {1});
  ASSERT_TRUE(session.ok());
  runtime::Session& s = **session;
  const Tensor good(DType::kF32, {1, 3, 8, 8});
  ExpectError(s.Run({{"x", Tensor(DType::kF32, {1, 3, 8, 9})}}).status(), "input 'x'");
  ExpectError(s.Run({{"x", Tensor(DType::kF32, {3, 8, 8})}}).status(), "rank");
  ExpectError(s.Run({{"x", Tensor(DType::kI32, {1, 3, 8, 8})}}).status(), "dtype f32");
  ExpectError(s.Run({}).status(), "missing input 'x'");
  ExpectError(s.Run({{"x", good}, {"y", good}}).status(), "'y' is not an input");
  // The session still works after errors.
  auto ok = s.Run({{"x", good}});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_EQ(ok->at("logits").dims(), (std::vector<int64_t>{1, 10}));
}

TEST_F(RuntimeErrorsTest, WrongTargetIsRefusedAtLoad) {
  const std::string path = CompileToFile(testing::SmallCnn(1));
  LoadOptions want_x86;
  want_x86.expected_target = "x86";
  ExpectError(runtime::Module::Load(path, want_x86).status(), "x86");
  // A cuda module this runtime cannot run: refused for want of CUDA or of a
  // GPU, or (on a GPU) for its reference ops (cuda modules: tests/cuda_lower).
  const std::string cuda = Write([](ModuleDesc& d) {
    d.target = "cuda";
    d.requirements = {{"target", "cuda"}};
  });
  const std::string msg = runtime::Module::Load(cuda).status().ToString();
  EXPECT_TRUE(msg.find("built without CUDA") != std::string::npos ||
              msg.find("no usable CUDA device") != std::string::npos ||
              msg.find("unknown kernel id 'ref.") != std::string::npos)
      << msg;
  // Requirements it cannot meet.
  const std::string avx = Write([](ModuleDesc& d) { d.requirements["isa"] = "avx512"; });
  ExpectError(runtime::Module::Load(avx).status(), "requires isa=avx512");
}

TEST_F(RuntimeErrorsTest, UnknownKernelIdNamesOpAndId) {
  const std::string a = Write([](ModuleDesc& d) { d.ops[1].kernel = "ref.ai.onnx::NoSuchOp"; });
  ExpectError(runtime::Module::Load(a).status(), "unknown kernel id 'ref.ai.onnx::NoSuchOp'");
  const std::string b = Write([](ModuleDesc& d) { d.ops[0].kernel = "cuda.conv"; });
  ExpectError(runtime::Module::Load(b).status(), "op 'conv1': unknown kernel id 'cuda.conv'");
}

TEST_F(RuntimeErrorsTest, CorruptedAndTruncatedFilesAreErrors) {
  const std::string path = CompileToFile(testing::SmallCnn(1));
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(bytes.size(), 200u);
  std::string flipped = bytes;
  flipped[bytes.size() - 10] ^= 0x40;  // inside the last weight section
  std::ofstream(Path("flipped.octet"), std::ios::binary) << flipped;
  ExpectError(runtime::Module::Load(Path("flipped.octet")).status(), "checksum");
  std::ofstream(Path("cut.octet"), std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  ExpectError(runtime::Module::Load(Path("cut.octet")).status(), "truncated");
  std::ofstream(Path("onnx.octet"), std::ios::binary) << "not a module at all";
  ExpectError(runtime::Module::Load(Path("onnx.octet")).status(), "not an Octet compiled module");
  ExpectError(runtime::Module::Load(Path("missing.octet")).status(), "missing.octet");
}

}  // namespace
}  // namespace octet
