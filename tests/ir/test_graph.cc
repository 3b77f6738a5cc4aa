#include <gtest/gtest.h>

#include <cmath>

#include "octet/ir.h"
#include "octet/ir_text.h"
#include "octet/verifier.h"

namespace octet {
namespace {

TEST(Graph, UseListsFollowRewrites) {
  Graph g;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{2}));
  Node* a = g.AddNode("Relu", {x}, {"a"});
  Node* b = g.AddNode("Neg", {a->output(0)}, {"b"});
  Node* c = g.AddNode("Add", {a->output(0), b->output(0)}, {"c"});
  g.AddOutput(c->output(0));
  EXPECT_EQ(a->output(0)->uses().size(), 2u);
  ASSERT_TRUE(VerifyGraph(g).ok());

  // Bypass the Relu: every use of a becomes x.
  g.ReplaceAllUsesWith(a->output(0), x);
  EXPECT_TRUE(a->output(0)->uses().empty());
  EXPECT_EQ(x->uses().size(), 3u);
  ASSERT_TRUE(g.RemoveNode(a).ok());
  g.RemoveDeadValues();
  EXPECT_EQ(g.num_nodes(), 2);
  EXPECT_EQ(g.FindValue("a"), nullptr);
  EXPECT_TRUE(VerifyGraph(g).ok()) << VerifyGraph(g).ToString();
}

TEST(Graph, RemoveNodeRefusesWhileUsed) {
  Graph g;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{2}));
  Node* a = g.AddNode("Relu", {x}, {"a"});
  Node* b = g.AddNode("Neg", {a->output(0)}, {"b"});
  g.AddOutput(b->output(0));
  Status s = g.RemoveNode(a);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("still has 1 use"), std::string::npos);
  EXPECT_FALSE(g.RemoveNode(b).ok());  // graph output
}

TEST(Graph, UniqueNamesAndInsertBefore) {
  Graph g;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{2}));
  Node* b = g.AddNode("Neg", {x}, {"y"});
  Node* a = g.AddNode("Relu", {x}, {"y"}, "", "", b);  // name clash, inserted first
  EXPECT_EQ(a->output(0)->name(), "y.1");
  EXPECT_EQ(g.nodes()[0], a);
}

TEST(Graph, TopologicalSortRestoresOrderAndFindsCycles) {
  Graph g;
  Value* x = g.AddInput("x", TensorType(DType::kF32, Shape{2}));
  Node* first = g.AddNode("Relu", {x}, {"a"});
  Node* second = g.AddNode("Neg", {first->output(0)}, {"b"}, "", "", first);  // out of order
  g.AddOutput(second->output(0));
  EXPECT_FALSE(VerifyGraph(g).ok());
  ASSERT_TRUE(g.TopologicalSort().ok());
  EXPECT_TRUE(VerifyGraph(g).ok());
  EXPECT_EQ(g.nodes()[0], first);

  // a = Relu(b), b = Neg(a): a cycle.
  first->SetInput(0, second->output(0));
  Status s = g.TopologicalSort();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("cycle"), std::string::npos);
  EXPECT_EQ(g.num_nodes(), 2);  // nothing lost
}

TEST(Graph, MakeConstantDetachesProducer) {
  auto model = ParseModel(R"(graph g {
  const %s : i64[1] = [4]
  %y : i64[1] = Identity(%s)
  output %y
})");
  ASSERT_TRUE(model.ok());
  Graph& g = *model->graph;
  Node* n = g.nodes()[0];
  Value* y = g.FindValue("y");
  g.MakeConstant(y, Tensor::FromVector<int64_t>({4}, {1}));
  ASSERT_TRUE(g.RemoveNode(n).ok());
  g.RemoveDeadValues();
  EXPECT_TRUE(VerifyGraph(g).ok());
  EXPECT_EQ(PrintGraph(g), "graph g {\n  const %y : i64[1] = [4]\n  output %y\n}\n");
}

TEST(Shape, OverflowIsAnError) {
  Shape s = Shape::FromStatic({int64_t{1} << 40, int64_t{1} << 40});
  auto n = s.NumElements();
  ASSERT_FALSE(n.ok());
  EXPECT_NE(n.status().message().find("overflows int64"), std::string::npos);
}

TEST(DType, HalfAndBFloat16RoundTrip) {
  for (float f : {0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f, 5.9604645e-08f}) {
    EXPECT_EQ(HalfToFloat(FloatToHalf(f)), f) << f;
  }
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.5f)), 1.5f);
  // Ties round to even: 1 + 2^-8 lies halfway between two bf16 values.
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.00390625f)), 1.0f);
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(1e6f))));
}

}  // namespace
}  // namespace octet

namespace octet {
namespace {

// Large blocks come back from a process-wide cache once freed (tensor.cc):
// a recycled block must still read as zeros through Tensor(dtype, dims), and
// Uninitialized must give a writable block of the right size either way.
TEST(TensorAllocationTest, RecycledLargeBlocksAreZeroedAgain) {
  const std::vector<int64_t> dims = {3, 1024, 1024};  // 12 MiB: over the cache's 4 MiB floor
  for (int round = 0; round < 3; ++round) {
    Tensor dirty = Tensor::Uninitialized(DType::kF32, dims);
    ASSERT_EQ(dirty.numel(), 3 * 1024 * 1024);
    for (int64_t i = 0; i < dirty.numel(); ++i) dirty.data<float>()[i] = 1.5f;
    dirty = Tensor();  // back to the cache
    Tensor zeroed(DType::kF32, dims);
    int64_t nonzero = 0;
    for (int64_t i = 0; i < zeroed.numel(); ++i) nonzero += zeroed.data<float>()[i] != 0.0f;
    EXPECT_EQ(nonzero, 0) << "round " << round;
    // A neighbouring size rounds to the same MiB and shares the block.
    Tensor near(DType::kU8, {12 * 1024 * 1024 - 100});
    EXPECT_EQ(near.data<uint8_t>()[near.numel() - 1], 0);
  }
  Tensor small = Tensor::Uninitialized(DType::kI32, {5});
  small.data<int32_t>()[4] = 7;
  EXPECT_EQ(small.data<int32_t>()[4], 7);
}

}  // namespace
}  // namespace octet
