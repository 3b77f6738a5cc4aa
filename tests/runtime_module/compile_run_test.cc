// Compile -> write -> load -> Session::Run equals the reference interpreter
// bit for bit: small graphs (static and symbolic batch, outputs that are also
// read later or are views of other tensors), a QDQ model from Octet's
// quantizer, and the Fashion-MNIST ResNet.
#include <gtest/gtest.h>

#include <random>

#include "memory_source.h"
#include "octet/ir_text.h"
#include "octet/onnx.h"
#include "octet/runtime/quantize.h"
#include "quant/quant_test_util.h"
#include "runtime_module/runtime_module_test_util.h"
#include "test_paths.h"

namespace octet {
namespace {

using testing::ExpectSameAsReference;
using testing::MustLoad;

// Symbolic batch; %r is an output that later ops read, %f an output that is a
// Flatten (a view) of an activation, Mul reads one slot twice.
constexpr const char kBranchy[] = R"(opset "" 17
graph g {
  input %x : f32[N,3,4,4]
  const %w : f32[2,3,1,1] = [0.5, -1.0, 0.25, 1.5, 0.75, -0.5]
  const %b : f32[2] = [0.1, -0.2]
  %c : f32[N,2,4,4] = Conv(%x, %w, %b) name="conv"
  %r : f32[N,2,4,4] = Relu(%c) name="relu"
  %m : f32[N,2,4,4] = Mul(%r, %r) name="square"
  %s : f32[N,2,4,4] = Add(%m, %c) name="add"
  %p : f32[N,2,1,1] = GlobalAveragePool(%s) name="pool"
  %f : f32[N,2] = Flatten(%p) name="flatten"
  const %fw : f32[3,2] = [1.0, -1.0, 0.5, 2.0, -0.5, 0.25]
  const %fb : f32[3] = [0.0, 0.1, -0.1]
  %y : f32[N,3] = Gemm(%f, %fw, %fb) {transB = 1} name="fc"
  output %y
  output %r
  output %f
})";

Model Parse(const char* text) {
  auto m = ParseModel(text);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return std::move(m).value();
}

class CompileRunTest : public testing::ModuleDirTest {
 protected:
  // Compiles `model`, checks `batches` runs (each batch value for the
  // symbolic dims) against the interpreter on one Session.
  void Check(const Model& model, const std::vector<int64_t>& batches, int threads = 2) {
    auto ref = ReferenceSession::FromModel(model.Clone());
    ASSERT_TRUE(ref.ok()) << ref.status().ToString();
    auto module = MustLoad(CompileToFile(model));
    ASSERT_NE(module, nullptr);
    EXPECT_EQ(module->target(), "reference");
    auto session = runtime::Session::Create(module, {threads});
    ASSERT_TRUE(session.ok()) << session.status().ToString();
    uint64_t seed = 1;
    for (int64_t batch : batches) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      auto inputs = module->MakeRandomInputs(seed++, batch);
      ASSERT_TRUE(inputs.ok()) << inputs.status().ToString();
      ExpectSameAsReference(*ref, **session, *inputs);
      if (expect_arena_at_batch_ > 0) {
        EXPECT_EQ((*session)->last_run_used_arena(), batch == expect_arena_at_batch_);
      }
    }
  }
  int64_t expect_arena_at_batch_ = 0;  // when set, only that batch runs in the arena
};

TEST_F(CompileRunTest, SmallCnnAndMlp) {
  Check(testing::SmallCnn(3), {1, 1});
  Check(testing::SmallMlp(4), {1});
}

TEST_F(CompileRunTest, SymbolicBatchUsesArenaAtReferenceDimsAndAllocatesOtherwise) {
  const Model model = Parse(kBranchy);
  auto compiled = CompileForReference(model.Clone());
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  const ModuleDesc& d = compiled->desc;
  EXPECT_EQ(d.memory_plan.reference_dims, (std::map<std::string, int64_t>{{"N", 1}}));
  EXPECT_GT(d.memory_plan.arena_size, 0);
  EXPECT_EQ(d.requirements.at("target"), "reference");
  for (const TensorSlot& s : d.slots)
    if (s.kind == SlotKind::kActivation) {
      EXPECT_FALSE(s.dynamic) << s.name;
    }
  EXPECT_EQ(d.ops.front().kernel, "ref.ai.onnx::Conv");
  // Batch 1 runs in the arena, 3 and 5 allocate per run; alternating checks
  // that neither leaves state behind for the other.
  expect_arena_at_batch_ = 1;
  Check(model, {1, 3, 1, 5, 3, 1});
}

// Unknown dims (no simplification to fill them in) make activations dynamic:
// allocated per run even at the reference batch.
TEST_F(CompileRunTest, UnknownDimsAreDynamicAndAllocatedPerRun) {
  const Model model = Parse(R"(opset "" 17
graph g {
  input %x : f32[N,3]
  %a : f32[?,3] = Relu(%x) name="relu"
  %b : f32[N,3] = Neg(%a) name="neg"
  %y : f32[N,3] = Add(%b, %x) name="add"
  output %y
})");
  CompileOptions options;
  options.simplify = false;
  auto compiled = CompileForReference(model.Clone(), options);
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  for (const TensorSlot& s : compiled->desc.slots) {
    if (s.name == "a" || s.name == "b") {
      EXPECT_EQ(s.dynamic, s.name == "a") << s.name;
    }
  }
  const std::string path = Path("dyn.octet");
  ASSERT_TRUE(WriteModule(compiled->desc, compiled->weights, path).ok());
  auto module = MustLoad(path);
  ASSERT_NE(module, nullptr);
  ReferenceSessionOptions ref_options;
  ref_options.simplify = false;
  auto ref = ReferenceSession::FromModel(model.Clone(), ref_options);
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  auto session = runtime::Session::Create(module, {1});
  ASSERT_TRUE(session.ok());
  for (int64_t batch : {1, 4}) {
    auto inputs = module->MakeRandomInputs(2, batch);
    ASSERT_TRUE(inputs.ok());
    ExpectSameAsReference(*ref, **session, *inputs);
  }
}

TEST_F(CompileRunTest, QdqModelFromOctetsQuantizer) {
  auto prepared = PrepareForQuantization(testing::SmallCnn(7), *quant::MakePreset("x86-int8"));
  ASSERT_TRUE(prepared.ok()) << prepared.status().ToString();
  std::mt19937 rng(5);
  std::vector<Tensor> samples;
  for (int i = 0; i < 16; ++i) samples.push_back(testing::RandomTensor({3, 8, 8}, rng));
  testing::MemorySource source(samples);
  auto stats = Calibrate(*prepared, source, CalibrationRun{});
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  auto qdq = ConvertToQuantized(*prepared, *stats);
  ASSERT_TRUE(qdq.ok()) << qdq.status().ToString();
  bool has_qdq = false;
  for (const Node* n : qdq->graph->nodes()) has_qdq |= n->op_type() == "QuantizeLinear";
  ASSERT_TRUE(has_qdq);
  Check(*qdq, {1, 1});
}

TEST_F(CompileRunTest, FashionResnet) {
  const auto path = testing::ModelsDir() / "fashion_resnet/model.onnx";
  OCTET_REQUIRE_PATH(path, "fashion_resnet");
  auto model = ImportOnnxFile(path.string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Check(*model, {1, 2});
}

TEST_F(CompileRunTest, TensorAttributesAreRefusedWithTheNodeNamed) {
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x =
      g.AddInput("x", TensorType(DType::kF32, Shape(std::vector<Dim>{Dim::Symbol("N"), Dim(3)})));
  Value* shape = g.AddNode("Shape", {x}, {"shape"}, "shape")->output(0);
  Node* fill = g.AddNode("ConstantOfShape", {shape}, {"y"}, "fill");
  fill->SetAttr("value", Tensor::FromVector<float>({2.0f}, {1}));
  g.AddOutput(fill->output(0));
  auto compiled = CompileForReference(std::move(m));
  ASSERT_FALSE(compiled.ok());
  EXPECT_NE(compiled.status().message().find("'fill'"), std::string::npos)
      << compiled.status().ToString();
  EXPECT_NE(compiled.status().message().find("'value'"), std::string::npos)
      << compiled.status().ToString();
}

TEST(ReferenceKernelIdTest, RoundTrips) {
  std::string domain, op;
  EXPECT_EQ(ReferenceKernelId("", "Conv"), "ref.ai.onnx::Conv");
  ASSERT_TRUE(ParseReferenceKernelId("ref.ai.onnx::Conv", &domain, &op));
  EXPECT_EQ(domain, "");
  EXPECT_EQ(op, "Conv");
  ASSERT_TRUE(ParseReferenceKernelId(ReferenceKernelId("ai.octet", "Observer"), &domain, &op));
  EXPECT_EQ(domain, "ai.octet");
  EXPECT_FALSE(ParseReferenceKernelId("x86.int8_conv", &domain, &op));
  EXPECT_FALSE(ParseReferenceKernelId("ref.Conv", &domain, &op));
}

}  // namespace
}  // namespace octet
