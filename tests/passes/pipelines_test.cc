// The standard pipeline on a small PyTorch-style classifier head, with a
// static and a symbolic batch.
#include "octet/passes/pipelines.h"

#include <gtest/gtest.h>

#include "pass_test_util.h"

namespace octet {
namespace {

using testing::Canonical;
using testing::ReferenceEvaluator;
using testing::RunPass;

// A [3,32] Gemm weight of 0.5s.
std::string FcWeight() {
  std::string w = "const %fc : f32[3,32] = [";
  for (int i = 0; i < 96; ++i) w += i ? ", 0.5" : "0.5";
  return w + "]";
}

std::string Head(const std::string& batch) {
  return R"(opset "" 17
    graph g {
      input %x : f32[)" +
         batch + R"(,2,4,4]
      const %w : f32[2,2,1,1] = [1, 0, 0, 1]
      )" +
         FcWeight() + R"(
      const %zero : i64[] = [0]
      const %axes : i64[1] = [0]
      const %minus1 : i64[1] = [-1]
      const %ratio : f32[] = [0.1]
      %conv : undef[*] = Conv(%x, %w)
      %relu : undef[*] = Relu(%conv)
      %shape : undef[*] = Shape(%relu)
      %n : undef[*] = Gather(%shape, %zero)
      %n1 : undef[*] = Unsqueeze(%n, %axes)
      %target : undef[*] = Concat(%n1, %minus1) {axis = 0}
      %flat : undef[*] = Reshape(%relu, %target)
      %drop : undef[*] = Dropout(%flat, %ratio)
      %logits : undef[*] = Gemm(%drop, %fc) {transB = 1}
      %out : undef[*] = Identity(%logits)
      output %out
    })";
}

std::string Pipeline(const std::string& input) {
  return RunPass(input, [](Model& m) -> Expected<bool> {
    PassManagerOptions options;
    options.verify_after_each_pass = true;
    OCTET_RETURN_IF_ERROR(RunStandardPipeline(m, ReferenceEvaluator(), options));
    return true;
  });
}

TEST(PipelinesTest, StaticBatchFoldsTheShapeChain) {
  std::string expected = R"(opset "" 17
    graph g {
      input %x : f32[1,2,4,4]
      const %w : f32[2,2,1,1] = [1, 0, 0, 1]
      )" + FcWeight() + R"(
      const %target : i64[2] = [1, -1]
      %conv : f32[1,2,4,4] = Conv(%x, %w)
      %relu : f32[1,2,4,4] = Relu(%conv)
      %flat : f32[1,32] = Reshape(%relu, %target)
      %out : f32[1,3] = Gemm(%flat, %fc) {transB = 1}
      output %out
    })";
  EXPECT_EQ(Pipeline(Head("1")), Canonical(expected));
}

TEST(PipelinesTest, SymbolicBatchKeepsTheChainButKnowsTheShapes) {
  const std::string out = Pipeline(Head("N"));
  EXPECT_CONTAINS(out, "%flat : f32[N,32] = Reshape(%relu, %target)");
  EXPECT_CONTAINS(out, "%out : f32[N,3] = Gemm(%flat, %fc) {transB = 1}");
  EXPECT_CONTAINS(out, "%shape : i64[4] = Shape(%relu)");
  EXPECT_EQ(out.find("Dropout"), std::string::npos);
  EXPECT_EQ(out.find("%ratio"), std::string::npos);
}

TEST(PipelinesTest, ErrorsNameThePass) {
  const std::string out = Pipeline(R"(graph g {
      input %a : f32[N,64]
      input %b : f32[32,10]
      %y : undef[*] = MatMul(%a, %b) name="mm"
      output %y
    })");
  EXPECT_CONTAINS(out, "pass infer-shapes: node MatMul 'mm': inner dimensions do not match");
}

}  // namespace
}  // namespace octet
