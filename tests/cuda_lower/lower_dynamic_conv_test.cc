// The int8-dynamic convolution on cuda (cuda_dynamic_conv.h): which ops a
// resnet-shaped graph becomes and which values stay NHWC (CI, no GPU), what
// is refused and why, and on the GPU the module against the reference
// execution of the same QDQ graph and against the float graph.
//
// Bounds on the GPU. Against the QDQ graph: the codes of each convolution's
// input are bit-identical (the gather divides and rounds as QuantizeLinear
// does, from the same f32 input) and the int32 sums are exact, so the only
// differences are f32 rounding (dequantization fma vs the reference's
// DequantizeLinear then an f32 convolution: about K x 2^-24 relative) and
// what they cause downstream: a value within that distance of a rounding
// boundary (x / scale = n + 1/2) gets the neighbouring code, one step of
// absmax / 127 in one input of the next layer. A few such codes in thousands
// move an output by a fraction of a percent: cosine >= 0.9999 and max |err|
// <= 2^-5 max |ref| allow that and still catch a wrong tap, pad, scale, bias
// or layout (each gives cosine < 0.9). Against the float graph the error is
// the quantization itself (8 bits per image and per channel, about 40 dB per
// layer on these random weights): cosine >= 0.99, the bound.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "cuda_lower/conv_graph.h"
#include "cuda_lower/cuda_module_test.h"
#include "cuda_lower/presets.h"
#include "module_test_util.h"
#include "octet/compile/compile.h"
#include "octet/passes/shape_inference.h"
#include "octet/runtime/module.h"
#include "octet/runtime/tune.h"
#include "quant/quant_test_util.h"

namespace octet {
namespace {

using testing::Add;
using testing::RandomTensor;

using testing::ConvNode;

Value* Relu(Graph& g, Value* x, const std::string& name) {
  return Add(g, "Relu", {x}, name, name)->output(0);
}

// A resnet in small, at odd sizes: stem conv 3 -> 16 (7x7 s2 p3, NCHW graph
// input, 3 channels) and max pool (3x3 s2 p1), a basic block whose residual
// is the pool's output, a downsampling block (3x3 s2 to 24 channels, not a
// multiple of 16, 3x3 to 32, and a 1x1 s2 shortcut), max pool, global average
// pool and the classifier.
Model SmallResnet(uint32_t seed) {
  std::mt19937 rng(seed);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 3, 29, 23})));
  Value* stem_conv =
      Relu(g, ConvNode(g, x, 16, 3, 7, 2, 3, true, "stem", rng)->output(0), "stem_relu");
  Node* stem_pool = Add(g, "MaxPool", {stem_conv}, "stem_pooled", "stem_pool");
  stem_pool->SetAttr("kernel_shape", std::vector<int64_t>{3, 3});
  stem_pool->SetAttr("strides", std::vector<int64_t>{2, 2});
  stem_pool->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  Value* stem = stem_pool->output(0);
  Value* a1 = Relu(g, ConvNode(g, stem, 16, 16, 3, 1, 1, true, "b1c1", rng)->output(0), "b1r1");
  Value* a2 = ConvNode(g, a1, 16, 16, 3, 1, 1, true, "b1c2", rng)->output(0);
  Value* b1 = Relu(g, Add(g, "Add", {a2, stem}, "b1_sum", "b1_add")->output(0), "b1_out");
  Value* c1 = Relu(g, ConvNode(g, b1, 24, 16, 3, 2, 1, true, "b2c1", rng)->output(0), "b2r1");
  Value* c2 = ConvNode(g, c1, 32, 24, 3, 1, 1, true, "b2c2", rng)->output(0);
  Value* sc = ConvNode(g, b1, 32, 16, 1, 2, 0, true, "b2sc", rng)->output(0);
  Value* b2 = Relu(g, Add(g, "Add", {c2, sc}, "b2_sum", "b2_add")->output(0), "b2_out");
  testing::AddClassifierHead(g, b2, 32, 10, rng);
  EXPECT_TRUE(InferShapes(g).ok());
  return m;
}

const ModuleOp* OpNamed(const ModuleDesc& d, const std::string& name) {
  for (const ModuleOp& op : d.ops)
    if (op.name == name) return &op;
  return nullptr;
}

class LowerDynamicConvTest : public testing::CudaModuleTest {};

// How close a module's output y is to the reference's r.
struct Agreement {
  double cosine = 0, max_err = 0, max_ref = 0;
};
Agreement Compare(const Tensor& y, const Tensor& r) {
  Agreement a;
  for (int64_t i = 0; i < y.numel(); ++i) {
    a.max_err = std::max(a.max_err, double{std::fabs(y.data<float>()[i] - r.data<float>()[i])});
    a.max_ref = std::max(a.max_ref, double{std::fabs(r.data<float>()[i])});
  }
  a.cosine = testing::Cosine(y, r);
  return a;
}

TEST_F(LowerDynamicConvTest, ResnetBlocksBecomeInt8ConvsWithNhwcBetween) {
  auto cuda = CompileForCuda(testing::QuantizeDynamic(SmallResnet(1)));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  EXPECT_EQ(d.metadata.at("cuda.dynamic_int8_conv"), "6");
  EXPECT_EQ(d.metadata.at("cuda.dynamic_int8_matmul"), "1");  // the classifier
  EXPECT_EQ(d.metadata.count("cuda.conv2d_bf16"), 0u);
  struct Want {
    const char* name;
    const char *x, *residual, *y;
    int64_t relu;
    int64_t x_absmax, y_absmax;  // the per-image maximum from x's producer / for y's readers
    int64_t x_codes;             // scratch for x quantized once (NHWC, C % 16 == 0, 3x3)
  };
  // The stem reads the graph input (NCHW) and feeds the stem pool, which
  // only int8 convolutions read (b1c1 and b1c2's residual): both NHWC. b2's
  // convolutions end at the head's max pool, which the global average pool
  // reads: NCHW. Which of b2c2 and the shortcut takes the Add is the graph
  // order's (b2c2 comes first).
  // The input codes (x_codes): 16 channels in 3x3 stride-1 windows (b1c1,
  // b1c2); not the stem's 3 channels, b2c2's 24, b2c1's stride 2 (a value
  // in 2.25 windows on average, where the direct gather is the faster) nor
  // the 1x1 shortcut.
  for (const Want& w : {Want{"stem", "nchw", "nchw", "nhwc", 1, 0, 0, 0},
                        Want{"b1c1", "nhwc", "nchw", "nhwc", 1, 1, 1, 1},
                        Want{"b1c2", "nhwc", "nhwc", "nhwc", 1, 1, 1, 1},
                        Want{"b2c1", "nhwc", "nchw", "nhwc", 1, 1, 1, 0},
                        Want{"b2c2", "nhwc", "nhwc", "nchw", 1, 1, 0, 0},
                        Want{"b2sc", "nhwc", "nchw", "nhwc", 0, 1, 0, 0}}) {
    SCOPED_TRACE(w.name);
    const ModuleOp* op = OpNamed(d, w.name);
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(op->kernel, "cuda.dynamic_int8_conv");
    EXPECT_EQ(*op->Get<std::string>("x_layout"), w.x);
    EXPECT_EQ(*op->Get<std::string>("y_layout"), w.y);
    EXPECT_EQ(*op->Get<int64_t>("relu"), w.relu);
    if (std::string(w.name) == "b1c2" || std::string(w.name) == "b2c2") {
      ASSERT_GE(op->inputs[4], 0) << "the residual sum is fused";
      EXPECT_EQ(*op->Get<std::string>("residual_layout"), w.residual);
    } else {
      EXPECT_EQ(op->inputs[4], -1);
    }
    // Weights i8 [O, Kp]: taps padded to a multiple of 16; the bias f32 [O].
    const TensorSlot& wt = d.slots[op->inputs[1]];
    EXPECT_EQ(wt.dtype, DType::kI8);
    ASSERT_EQ(wt.shape.rank(), 2);
    EXPECT_EQ(wt.shape[1].value() % 16, 0);
    EXPECT_GE(op->inputs[3], 0);
    // An NHWC output is a slot of its own, [N, OH, OW, O]; an NCHW one needs
    // the NHWC scratch (output 4). The stem's 3 channels are quantized into
    // a word per pixel first (pixel_codes); an output whose maximum the
    // epilogue takes (y_absmax) has it as the last output.
    const bool stem = std::string(w.name) == "stem";
    EXPECT_EQ(op->outputs.size(), (std::string(w.y) == "nchw" ? 5u : 4u) + (stem ? 1u : 0u) +
                                      static_cast<size_t>(w.x_codes + w.y_absmax));
    EXPECT_EQ(*op->Get<int64_t>("pixel_codes"), stem ? 1 : 0);
    EXPECT_EQ(*op->Get<int64_t>("x_codes"), w.x_codes);
    if (w.x_codes) {  // i8 [N, H, W, C] of x (both read [N, 8, 6, 16]), before y's maximum
      const TensorSlot& xc = d.slots[op->outputs[op->outputs.size() - 1 - w.y_absmax]];
      EXPECT_EQ(xc.dtype, DType::kI8);
      EXPECT_EQ(xc.shape, Shape({Dim::Symbol("N"), 8, 6, 16}));
    }
    EXPECT_EQ(*op->Get<int64_t>("y_absmax"), w.y_absmax);
    EXPECT_EQ(*op->Get<int64_t>("x_absmax"), w.x_absmax);
    EXPECT_EQ(op->inputs.size(), w.x_absmax ? 6u : 5u);
    if (w.y_absmax) {
      const TensorSlot& m = d.slots[op->outputs.back()];
      EXPECT_EQ(m.dtype, DType::kF32);
      EXPECT_EQ(m.shape, Shape({Dim::Symbol("N")}));
    }
  }
  // The per-image maximum is taken in the producer's epilogue where only
  // int8 convolutions quantize the output: b1c1's for b1c2, b1c2's for both
  // b2c1 and the shortcut (one buffer, two readers), b2c1's for b2c2. The
  // stem's output is quantized only behind the stem pool (b1c1 reads the
  // pool's output, not the stem's: the pool kernel takes that maximum);
  // b2sc's is only a residual; b2c2's is NCHW for the head's pool.
  EXPECT_EQ(OpNamed(d, "b1c2")->inputs[5], OpNamed(d, "b1c1")->outputs.back());
  EXPECT_EQ(OpNamed(d, "b2c1")->inputs[5], OpNamed(d, "b1c2")->outputs.back());
  EXPECT_EQ(OpNamed(d, "b2sc")->inputs[5], OpNamed(d, "b1c2")->outputs.back());
  EXPECT_EQ(OpNamed(d, "b2c2")->inputs[5], OpNamed(d, "b2c1")->outputs.back());
  // The stem: 3 x 7 x 7 = 147 taps -> 160; its NHWC output [N, 15, 12, 16].
  const ModuleOp* stem = OpNamed(d, "stem");
  EXPECT_EQ(d.slots[stem->inputs[1]].shape, Shape({16, 160}));
  EXPECT_EQ(d.slots[stem->outputs[0]].shape, Shape({Dim::Symbol("N"), 15, 12, 16}));
  EXPECT_EQ(d.slots[stem->outputs.back()].shape, Shape({Dim::Symbol("N"), 29, 23}));
  EXPECT_EQ(stem->inputs.size(), 5u);
  EXPECT_EQ(d.slots[stem->outputs.back()].dtype, DType::kI32);
  // The stem pool reads it NHWC and writes NHWC [N, 8, 6, 16], b1c1's input
  // and b1c2's residual; the head's pool stays NCHW.
  const ModuleOp* pool = OpNamed(d, "stem_pool");
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->kernel, "cuda.max_pool");
  EXPECT_EQ(*pool->Get<std::string>("layout"), "nhwc");
  EXPECT_EQ(pool->inputs[0], stem->outputs[0]);
  EXPECT_EQ(d.slots[pool->outputs[0]].shape, Shape({Dim::Symbol("N"), 8, 6, 16}));
  // The pool takes its output's per-image maximum for b1c1 (output 1).
  EXPECT_EQ(*pool->Get<int64_t>("y_absmax"), 1);
  ASSERT_EQ(pool->outputs.size(), 2u);
  EXPECT_EQ(d.slots[pool->outputs[1]].shape, Shape({Dim::Symbol("N")}));
  EXPECT_EQ(OpNamed(d, "b1c1")->inputs[5], pool->outputs[1]);
  EXPECT_EQ(OpNamed(d, "b1c1")->inputs[0], pool->outputs[0]);
  EXPECT_EQ(OpNamed(d, "b1c2")->inputs[4], pool->outputs[0]);
  const ModuleOp* head_pool = OpNamed(d, "pool");
  ASSERT_NE(head_pool, nullptr);
  EXPECT_EQ(head_pool->FindAttr("layout"), nullptr);
  EXPECT_EQ(head_pool->inputs[0], OpNamed(d, "b2c2")->outputs[0]);
  // b2sc's output is b2c2's residual, read NHWC.
  EXPECT_EQ(OpNamed(d, "b2c2")->inputs[4], OpNamed(d, "b2sc")->outputs[0]);
}

// The preset quantizes 2-D group-1 convolutions only; a depthwise one stays
// float (cuda.grouped_conv2d) and the annotation says why.
TEST_F(LowerDynamicConvTest, GroupedConvolutionsStayFloat) {
  std::mt19937 rng(2);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 16, 9, 9})));
  Value* c = ConvNode(g, x, 16, 16, 3, 1, 1, true, "full", rng)->output(0);
  Node* dw = Add(g, "Conv", {c, g.AddConstant("dw.w", RandomTensor({16, 1, 3, 3}, rng, 0.5f))}, "y",
                 "depthwise");
  dw->SetAttr("group", int64_t{16});
  dw->SetAttr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.AddOutput(dw->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(testing::QuantizeDynamic(std::move(m)));
  ASSERT_TRUE(cuda.ok()) << cuda.status().ToString();
  const ModuleDesc& d = cuda->desc;
  ASSERT_EQ(d.ops.size(), 2u);
  EXPECT_EQ(d.ops[0].kernel, "cuda.dynamic_int8_conv");
  EXPECT_EQ(*d.ops[0].Get<std::string>("y_layout"), "nchw");  // the depthwise reads it
  EXPECT_EQ(d.ops[1].kernel, "cuda.grouped_conv2d");
}

// A static QDQ convolution (x86-int8's form) is refused with the reason.
TEST_F(LowerDynamicConvTest, StaticQdqConvolutionsAreRefusedWithTheReason) {
  std::mt19937 rng(3);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape::FromStatic({1, 4, 6, 6})));
  Value* s = g.AddConstant("s", Tensor::Scalar<float>(0.05f));
  Value* zp = g.AddConstant("zp", Tensor::Scalar<int8_t>(0));
  Value* q = Add(g, "QuantizeLinear", {x, s, zp}, "xq", "q")->output(0);
  Value* dq = Add(g, "DequantizeLinear", {q, s, zp}, "xdq", "dq")->output(0);
  g.AddOutput(ConvNode(g, dq, 4, 4, 3, 1, 1, false, "static_conv", rng)->output(0));
  ASSERT_TRUE(InferShapes(g).ok());
  auto cuda = CompileForCuda(std::move(m));
  ASSERT_FALSE(cuda.ok());
  EXPECT_NE(cuda.status().message().find("static_conv (Conv): a Conv on dequantized activations "
                                         "runs on cuda only as the int8-dynamic per-image form"),
            std::string::npos)
      << cuda.status().ToString();
}

TEST_F(LowerDynamicConvTest, OnGpuMatchesTheQdqGraphAndTheFloatGraph) {
  const Model float_model = SmallResnet(5);
  const Model qdq = testing::QuantizeDynamic(float_model.Clone());
  auto module = LoadOrSkip(Write(CompileForCuda(qdq.Clone()), "cuda.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto ref_qdq = runtime::Module::Load(Write(CompileForReference(qdq.Clone()), "qdq.octet"));
  auto ref_float =
      runtime::Module::Load(Write(CompileForReference(float_model.Clone()), "float.octet"));
  ASSERT_TRUE(ref_qdq.ok()) << ref_qdq.status().ToString();
  ASSERT_TRUE(ref_float.ok()) << ref_float.status().ToString();
  auto session = runtime::Session::Create(module);
  auto qdq_session = runtime::Session::Create(*ref_qdq, {1});
  auto float_session = runtime::Session::Create(*ref_float, {1});
  ASSERT_TRUE(session.ok() && qdq_session.ok() && float_session.ok());
  for (int64_t batch : {1, 3, 5, 3}) {
    const uint32_t seed = std::random_device{}();
    auto inputs = (*ref_qdq)->MakeRandomInputs(seed, batch);
    ASSERT_TRUE(inputs.ok());
    auto got = (*session)->Run(*inputs);
    auto want = (*qdq_session)->Run(*inputs);
    auto fp32 = (*float_session)->Run(*inputs);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(want.ok() && fp32.ok());
    const Tensor &y = got->at("logits"), &r = want->at("logits"), &f = fp32->at("logits");
    ASSERT_EQ(y.dims(), r.dims());
    const Agreement qdq_agreement = Compare(y, r);
    const double cos_float = testing::Cosine(y, f);
    EXPECT_GE(qdq_agreement.cosine, 0.9999) << "batch " << batch << " seed " << seed;
    EXPECT_LE(qdq_agreement.max_err, std::ldexp(qdq_agreement.max_ref, -5))
        << "batch " << batch << " seed " << seed;
    EXPECT_GE(cos_float, 0.99) << "batch " << batch << " seed " << seed;
    std::printf("batch %lld: cosine %.7f vs QDQ (max |err| %.3g of %.3g), %.6f vs fp32%s\n",
                static_cast<long long>(batch), qdq_agreement.cosine, qdq_agreement.max_err,
                qdq_agreement.max_ref, cos_float,
                (*session)->last_device_run()->graph_replayed ? " (graph)" : "");
  }
}

// Three 3x3 convolutions at 32 x 32: c1 (64 -> 128) reads the NCHW graph
// input (the rows path); c2 (128 -> 64) reads c1's NHWC output with the
// x_codes scratch and takes the implicit GEMM through TMA's im2col mode at
// any batch; c3 (64 -> 64) takes the implicit GEMM with the cp.async gather
// at batch 16 (16,384 output pixels, 2^20 input values) and the rows path
// at batch 2 (ImplicitGemmFirst). Against the QDQ graph, with the bounds of
// the file's header.
TEST_F(LowerDynamicConvTest, ImplicitGemmOnGpuMatchesTheQdqGraph) {
  std::mt19937 rng(9);
  Model m;
  m.opset_imports[""] = 17;
  Graph& g = *m.graph;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape({Dim::Symbol("N"), 64, 32, 32})));
  Value* a = Relu(g, ConvNode(g, x, 128, 64, 3, 1, 1, true, "c1", rng)->output(0), "r1");
  Value* b = Relu(g, ConvNode(g, a, 64, 128, 3, 1, 1, true, "c2", rng)->output(0), "r2");
  Value* y = Relu(g, ConvNode(g, b, 64, 64, 3, 1, 1, true, "c3", rng)->output(0), "r3");
  g.AddOutput(y);
  ASSERT_TRUE(InferShapes(g).ok());
  const Model qdq = testing::QuantizeDynamic(std::move(m));
  auto compiled = CompileForCuda(qdq.Clone());
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  for (const char* name : {"c2", "c3"}) {
    const ModuleOp* op = OpNamed(compiled->desc, name);
    ASSERT_NE(op, nullptr);
    EXPECT_EQ(*op->Get<std::string>("x_layout"), "nhwc") << name;
    EXPECT_EQ(*op->Get<int64_t>("x_codes"), 1) << name;
  }
  auto module = LoadOrSkip(Write(compiled, "implicit.octet"));
  if (module == nullptr) GTEST_SKIP() << "no cuda runtime or sm_90a GPU here";
  auto ref = runtime::Module::Load(Write(CompileForReference(qdq.Clone()), "qdq.octet"));
  ASSERT_TRUE(ref.ok()) << ref.status().ToString();
  auto session = runtime::Session::Create(module);
  auto ref_session = runtime::Session::Create(*ref, {1});
  ASSERT_TRUE(session.ok() && ref_session.ok());
  for (int64_t batch : {16, 2}) {
    const uint32_t seed = std::random_device{}();
    auto inputs = (*ref)->MakeRandomInputs(seed, batch);
    ASSERT_TRUE(inputs.ok());
    auto got = (*session)->Run(*inputs);
    auto want = (*ref_session)->Run(*inputs);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_TRUE(want.ok()) << want.status().ToString();
    const Tensor &y = got->at("r3"), &r = want->at("r3");
    ASSERT_EQ(y.dims(), r.dims());
    const Agreement a = Compare(y, r);
    EXPECT_GE(a.cosine, 0.9999) << "batch " << batch << " seed " << seed;
    EXPECT_LE(a.max_err, std::ldexp(a.max_ref, -5)) << "batch " << batch << " seed " << seed;
    std::printf("batch %lld: cosine %.7f vs QDQ (max |err| %.3g of %.3g)\n",
                static_cast<long long>(batch), a.cosine, a.max_err, a.max_ref);
  }
}

// `octet compile --tune` times the int8 convolutions' GEMMs too: each gets
// the fastest tile at its planned rows (output pixels), and the module's
// results do not change (int32 sums are exact; the epilogue is per element).
TEST_F(LowerDynamicConvTest, TuneStoresATileForEveryInt8ConvolutionAndKeepsTheResults) {
  const Model qdq = testing::QuantizeDynamic(SmallResnet(6));
  auto compiled = CompileForCuda(qdq.Clone());
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  const std::string plain_path = Write(compiled, "plain.octet");
  auto tuned = TuneOrSkip(&*compiled);
  if (!tuned.has_value()) GTEST_SKIP() << "no GPU (or no CUDA build) to tune on";
  int convs = 0;
  for (const ModuleOp& op : compiled->desc.ops) {
    if (op.kernel != "cuda.dynamic_int8_conv") continue;
    ++convs;
    ASSERT_TRUE(op.Get<std::string>("tuned_tile").ok()) << op.name;
    // The output pixels at the planned batch: y's values (NCHW or NHWC) over
    // the O channels of the weights [O, Kp].
    int64_t values = 1;
    for (const Dim& d : compiled->desc.slots[op.outputs[0]].shape.dims())
      values *=
          d.is_static() ? d.value() : compiled->desc.memory_plan.reference_dims.at(d.symbol());
    const int64_t channels = compiled->desc.slots[op.inputs[1]].shape.dims()[0].value();
    EXPECT_EQ(*op.Get<int64_t>("tuned_rows"), values / channels) << op.name;
  }
  EXPECT_GE(convs, 4);
  auto plain = LoadOrSkip(plain_path);
  auto tuned_module = LoadOrSkip(Write(compiled, "tuned.octet"));
  ASSERT_TRUE(plain != nullptr && tuned_module != nullptr);
  auto a = runtime::Session::Create(plain);
  auto b = runtime::Session::Create(tuned_module);
  ASSERT_TRUE(a.ok() && b.ok());
  auto inputs = plain->MakeRandomInputs(std::random_device{}(), 2);
  ASSERT_TRUE(inputs.ok());
  auto ya = (*a)->Run(*inputs);
  auto yb = (*b)->Run(*inputs);
  ASSERT_TRUE(ya.ok() && yb.ok());
  const Tensor &p = ya->at("logits"), &t = yb->at("logits");
  ASSERT_EQ(p.dims(), t.dims());
  for (int64_t i = 0; i < p.numel(); ++i)
    ASSERT_EQ(p.data<float>()[i], t.data<float>()[i]) << "logit " << i;
}

}  // namespace
}  // namespace octet
