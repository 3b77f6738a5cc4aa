// Constant folding with the reference evaluator: all-constant nodes, Shape of
// static shapes, the PyTorch Shape/Gather/Unsqueeze/Concat/Reshape chain, and
// what must not fold.
#include "octet/passes/constant_folding.h"

#include <gtest/gtest.h>

#include "octet/passes/dead_code_elimination.h"
#include "pass_test_util.h"

namespace octet {
namespace {

using testing::Canonical;
using testing::Parse;
using testing::ReferenceEvaluator;
using testing::RunPass;

std::string Fold(const std::string& input, ConstantFoldingOptions options = {}) {
  return RunPass(
      input, [&](Model& m) { return ConstantFoldingPass(ReferenceEvaluator(), options).Run(m); });
}

std::string FoldThenDce(const std::string& input) {
  return RunPass(input, [](Model& m) -> Expected<bool> {
    OCTET_ASSIGN_OR_RETURN(bool folded, ConstantFoldingPass(ReferenceEvaluator()).Run(m));
    OCTET_ASSIGN_OR_RETURN(bool removed, EliminateDeadCode(*m.graph));
    return folded || removed;
  });
}

// x.view(x.size(0), -1) as PyTorch exports it.
std::string TorchFlatten(const std::string& x_type) {
  return R"(
    graph g {
      input %x : )" +
         x_type + R"(
      const %zero : i64[] = [0]
      const %axes : i64[1] = [0]
      const %minus1 : i64[1] = [-1]
      %shape : undef[*] = Shape(%x)
      %batch : undef[*] = Gather(%shape, %zero) {axis = 0}
      %batch1 : undef[*] = Unsqueeze(%batch, %axes)
      %target : undef[*] = Concat(%batch1, %minus1) {axis = 0}
      %y : undef[*] = Reshape(%x, %target)
      output %y
    })";
}

TEST(ConstantFoldingTest, ResolvesTorchShapeChain) {
  EXPECT_EQ(Fold(TorchFlatten("f32[2,3,4,4]")), Canonical(R"(
    graph g {
      input %x : f32[2,3,4,4]
      const %zero : i64[] = [0]
      const %axes : i64[1] = [0]
      const %minus1 : i64[1] = [-1]
      const %shape : i64[4] = [2, 3, 4, 4]
      const %batch : i64[] = [2]
      const %batch1 : i64[1] = [2]
      const %target : i64[2] = [2, -1]
      %y : f32[2,48] = Reshape(%x, %target)
      output %y
    })"));
  EXPECT_EQ(FoldThenDce(TorchFlatten("f32[2,3,4,4]")), Canonical(R"(
    graph g {
      input %x : f32[2,3,4,4]
      const %target : i64[2] = [2, -1]
      %y : f32[2,48] = Reshape(%x, %target)
      output %y
    })"));
}

TEST(ConstantFoldingTest, SymbolicBatchIsNotFoldedButStillInferred) {
  Model m = Parse(TorchFlatten("f32[N,3,4,4]"));
  Expected<bool> changed = FoldConstants(*m.graph, ReferenceEvaluator());
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_FALSE(*changed);
  EXPECT_EQ(m.graph->num_nodes(), 5);
  EXPECT_EQ(m.graph->FindValue("y")->type().ToString(), "f32[N,48]");
}

TEST(ConstantFoldingTest, FoldsAllConstantNodes) {
  EXPECT_EQ(FoldThenDce(R"(graph g {
      input %x : f32[2]
      const %a : f32[2] = [1, 2]
      const %b : f32[2] = [3, 4]
      %c : undef[*] = Add(%a, %b)
      %d : undef[*] = Neg(%c)
      %y : undef[*] = Mul(%x, %d)
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[2]
      const %d : f32[2] = [-4, -6]
      %y : f32[2] = Mul(%x, %d)
      output %y
    })"));
}

TEST(ConstantFoldingTest, ShapeRespectsStartAndEndAndSizeFolds) {
  EXPECT_EQ(FoldThenDce(R"(graph g {
      input %x : f32[2,3,4]
      const %zero : i64[1] = [0]
      %s : undef[*] = Shape(%x) {start = 1, end = -1}
      %n : undef[*] = Size(%x)
      %n1 : undef[*] = Unsqueeze(%n, %zero)
      %q : undef[*] = Div(%n1, %s)
      %t : undef[*] = Concat(%s, %q) {axis = 0}
      %y : undef[*] = Reshape(%x, %t)
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[2,3,4]
      const %t : i64[2] = [3, 8]
      %y : f32[3,8] = Reshape(%x, %t)
      output %y
    })"));
}

// The Reshape's target goes through float Cast, which value propagation does
// not follow: its output only becomes static once the target is folded, and the
// Shape behind it folds in the next round.
TEST(ConstantFoldingTest, IteratesToAFixedPoint) {
  EXPECT_EQ(FoldThenDce(R"(graph g {
      input %x : f32[2,12]
      const %t : f32[3] = [1, 1.5, 2]
      const %two : f32[] = [2]
      const %i : i64[1] = [2]
      const %m1 : i64[1] = [-1]
      %tf : undef[*] = Mul(%t, %two)
      %target : undef[*] = Cast(%tf) {to = 7}
      %y : undef[*] = Reshape(%x, %target)
      %s : undef[*] = Shape(%y)
      %last : undef[*] = Gather(%s, %i)
      %t2 : undef[*] = Concat(%m1, %last) {axis = 0}
      %z : undef[*] = Reshape(%y, %t2)
      output %z
    })"),
            Canonical(R"(graph g {
      input %x : f32[2,12]
      const %target : i64[3] = [2, 3, 4]
      const %t2 : i64[2] = [-1, 4]
      %y : f32[2,3,4] = Reshape(%x, %target)
      %z : f32[6,4] = Reshape(%y, %t2)
      output %z
    })"));
}

TEST(ConstantFoldingTest, KeepsWhatMustNotFold) {
  // A graph output stays a node output; DequantizeLinear keeps the QDQ form
  // while the QuantizeLinear of a constant weight folds; Dropout in training
  // mode is random.
  const std::string input = R"(graph g {
      input %x : f32[4]
      const %a : f32[4] = [1, 2, 3, 4]
      const %s : f32[] = [0.5]
      const %z : i8[] = [0]
      const %r : f32[] = [0.5]
      const %t : bool[] = [1]
      %q : undef[*] = QuantizeLinear(%a, %s, %z)
      %dq : undef[*] = DequantizeLinear(%q, %s, %z)
      %drop : undef[*] = Dropout(%a, %r, %t)
      %sum : undef[*] = Add(%dq, %drop)
      %y : undef[*] = Add(%x, %sum)
      %c : undef[*] = Neg(%a)
      output %y, %c
    })";
  EXPECT_EQ(FoldThenDce(input), Canonical(R"(graph g {
      input %x : f32[4]
      const %a : f32[4] = [1, 2, 3, 4]
      const %s : f32[] = [0.5]
      const %z : i8[] = [0]
      const %r : f32[] = [0.5]
      const %t : bool[] = [1]
      const %q : i8[4] = [2, 4, 6, 8]
      %dq : f32[4] = DequantizeLinear(%q, %s, %z)
      %drop : f32[4] = Dropout(%a, %r, %t)
      %sum : f32[4] = Add(%dq, %drop)
      %y : f32[4] = Add(%x, %sum)
      %c : f32[4] = Neg(%a)
      output %y, %c
    })"));
}

TEST(ConstantFoldingTest, RespectsTheSizeLimit) {
  const std::string input = R"(graph g {
      input %x : f32[1000]
      const %shape : i64[1] = [1000]
      %big : undef[*] = ConstantOfShape(%shape)
      %y : undef[*] = Add(%x, %big)
      output %y
    })";
  ConstantFoldingOptions small;
  small.max_output_bytes = 1000;
  EXPECT_CONTAINS(Fold(input, small), "%big : f32[1000] = ConstantOfShape(%shape)");
  EXPECT_CONTAINS(Fold(input), "const %big : f32[1000] = [0.0, 0.0, 0.0");
}

TEST(ConstantFoldingTest, SkipsUnimplementedAndReportsOtherErrors) {
  const std::string input = R"(graph g {
      input %x : f32[2]
      const %a : f32[2] = [1, 2]
      %c : undef[*] = Neg(%a) name="neg"
      %y : undef[*] = Add(%x, %c)
      output %y
    })";
  auto unimplemented = [](const Node&,
                          const std::vector<const Tensor*>&) -> Expected<std::vector<Tensor>> {
    return Unimplemented("no kernel");
  };
  Model m = Parse(input);
  Expected<bool> changed = FoldConstants(*m.graph, unimplemented);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
  auto failing = [](const Node&,
                    const std::vector<const Tensor*>&) -> Expected<std::vector<Tensor>> {
    return InvalidArgument("Neg 'neg': bad input");
  };
  Model m2 = Parse(input);
  Expected<bool> failed = FoldConstants(*m2.graph, failing);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "while folding constants: Neg 'neg': bad input");
}

}  // namespace
}  // namespace octet
