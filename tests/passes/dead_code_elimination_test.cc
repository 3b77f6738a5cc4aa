// DCE: dead nodes and chains, unused constants, what stays.
#include "octet/passes/dead_code_elimination.h"

#include <gtest/gtest.h>

#include "pass_test_util.h"

namespace octet {
namespace {

using testing::Canonical;
using testing::RunPass;

std::string Dce(const std::string& input) {
  return RunPass(input, [](Model& m) { return DeadCodeEliminationPass().Run(m); });
}

TEST(DeadCodeEliminationTest, RemovesDeadChainsAndUnusedConstants) {
  EXPECT_EQ(Dce(R"(graph g {
      input %x : f32[N,4]
      input %unused : f32[2]
      const %c : f32[4] = [1, 2, 3, 4]
      const %d : f32[4] = [1, 2, 3, 4]
      %a : f32[N,4] = Add(%x, %c)
      %b : f32[N,4] = Neg(%a)
      %y : f32[N,4] = Mul(%x, %d)
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[N,4]
      input %unused : f32[2]
      const %d : f32[4] = [1, 2, 3, 4]
      %y : f32[N,4] = Mul(%x, %d)
      output %y
    })"));
}

TEST(DeadCodeEliminationTest, KeepsPartlyUsedNodesAndGraphOutputs) {
  const std::string input = R"(graph g {
      input %x : f32[4,6]
      const %s : i64[2] = [2, 4]
      %a : f32[4,2], %b : f32[4,4] = Split(%x, %s) {axis = 1}
      %y : f32[4,2] = Relu(%a)
      %z : f32[4,6] = Neg(%x)
      output %y, %z
    })";
  EXPECT_EQ(Dce(input), Canonical(input));
  Model m = testing::Parse(input);
  DeadCodeEliminationPass pass;
  EXPECT_EQ(pass.name(), "dce");
  Expected<bool> changed = pass.Run(m);
  ASSERT_TRUE(changed.ok());
  EXPECT_FALSE(*changed);
}

TEST(DeadCodeEliminationTest, RemovesEverythingBehindAnUnusedBranch) {
  EXPECT_EQ(Dce(R"(graph g {
      input %x : f32[4]
      %a : f32[4] = Relu(%x)
      %b : f32[4] = Sigmoid(%a)
      %c : f32[4] = Mul(%a, %b)
      %d : f32[4] = Tanh(%c)
      output %a
    })"),
            Canonical(R"(graph g {
      input %x : f32[4]
      %a : f32[4] = Relu(%x)
      output %a
    })"));
}

}  // namespace
}  // namespace octet
