// fold-batchnorm: the folded text for each producer kind, the BNs that must
// stay, numeric agreement with the unfolded graph on random data, and
// resnet18 end to end.
#include "octet/passes/fold_batchnorm.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "octet/metrics.h"
#include "octet/npy.h"
#include "octet/onnx.h"
#include "octet/passes/dead_code_elimination.h"
#include "octet/passes/pipelines.h"
#include "octet/passes/shape_inference.h"
#include "pass_test_util.h"

namespace octet {
namespace {

using testing::Canonical;
using testing::ReferenceEvaluator;
using testing::RunPass;

// fold-batchnorm then dce (which drops the BN parameters the fold left unused).
std::string Fold(const std::string& input) {
  return RunPass(input, [](Model& m) -> Expected<bool> {
    OCTET_ASSIGN_OR_RETURN(bool changed, FoldBatchNormPass().Run(m));
    EXPECT_TRUE(changed);
    OCTET_ASSIGN_OR_RETURN(bool removed, EliminateDeadCode(*m.graph));
    (void)removed;
    return changed;
  });
}

// The text after fold-batchnorm alone; expects it to report no change.
std::string FoldNothing(const std::string& input) {
  return RunPass(input, [](Model& m) -> Expected<bool> {
    OCTET_ASSIGN_OR_RETURN(bool changed, FoldBatchNormPass().Run(m));
    EXPECT_FALSE(changed);
    return changed;
  });
}

int CountOps(const Graph& g, const std::string& op) {
  int count = 0;
  for (const Node* n : g.nodes()) count += n->op_type() == op;
  return count;
}

// ---- Text tests -------------------------------------------------------------
// The BN parameters are chosen so that s = scale / sqrt(var + eps) and the
// folded values are exact in f32: the expectations are worked out by hand.

TEST(FoldBatchNormTest, ConvWithBiasKeepsTheGraphOutputName) {
  // s = [2/1, 3/0.5] = [2, 6]; w' = [1*2, 2*2, 3*6, 4*6];
  // b' = [(1 - 1) * 2 + 0.5, (-1 - 2) * 6 + 1] = [0.5, -17].
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[1,2,3,3]
      const %w : f32[2,2,1,1] = [1, 2, 3, 4]
      const %b : f32[2] = [1, -1]
      const %scale : f32[2] = [2, 3]
      const %shift : f32[2] = [0.5, 1]
      const %mean : f32[2] = [1, 2]
      const %var : f32[2] = [1, 0.25]
      %c : f32[1,2,3,3] = Conv(%x, %w, %b) name="conv"
      %y : f32[1,2,3,3] = BatchNormalization(%c, %scale, %shift, %mean, %var) {epsilon = 0.0} name="bn"
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[1,2,3,3]
      const %w : f32[2,2,1,1] = [2, 4, 18, 24]
      const %b : f32[2] = [0.5, -17]
      %y : f32[1,2,3,3] = Conv(%x, %w, %b) name="conv"
      output %y
    })"));
}

TEST(FoldBatchNormTest, GroupedConvWithoutBiasGetsOne) {
  // group = 2, W [2, 1, 1, 1]: axis 0 is still the output channel.
  // s = [1/sqrt(3+1), -1/sqrt(0+1)] = [0.5, -1]; w' = [4*0.5, 5*-1];
  // b' = [(0 - 2) * 0.5 + 0, (0 - 1) * -1 + 3] = [-1, 4].
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[1,2,2,2]
      const %conv1.weight : f32[2,1,1,1] = [4, 5]
      const %scale : f32[2] = [1, -1]
      const %shift : f32[2] = [0, 3]
      const %mean : f32[2] = [2, 1]
      const %var : f32[2] = [3, 0]
      %c : f32[1,2,2,2] = Conv(%x, %conv1.weight) {group = 2}
      %y : f32[1,2,2,2] = BatchNormalization(%c, %scale, %shift, %mean, %var) {epsilon = 1.0}
      %r : f32[1,2,2,2] = Relu(%y)
      output %r
    })"),
            Canonical(R"(graph g {
      input %x : f32[1,2,2,2]
      const %conv1.weight : f32[2,1,1,1] = [2, -5]
      const %conv1.bias : f32[2] = [-1, 4]
      %c : f32[1,2,2,2] = Conv(%x, %conv1.weight, %conv1.bias) {group = 2}
      %r : f32[1,2,2,2] = Relu(%c)
      output %r
    })"));
}

TEST(FoldBatchNormTest, GroupedConvTranspose) {
  // W [C=4, M/G=1, 1, 1] with group 2: M = 2 output channels; input channels
  // 0 and 1 (group 0) feed output channel 0, input channels 2 and 3 feed 1.
  // s = [2, 3]; w' = [1*2, 2*2, 3*3, 4*3]; b' = [1*2 + 1, 2*3 + 1] = [3, 7].
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[1,4,2,2]
      const %w : f32[4,1,1,1] = [1, 2, 3, 4]
      const %b : f32[2] = [1, 2]
      const %scale : f32[2] = [2, 3]
      const %shift : f32[2] = [1, 1]
      const %mean : f32[2] = [0, 0]
      const %var : f32[2] = [0, 0]
      %c : f32[1,2,2,2] = ConvTranspose(%x, %w, %b) {group = 2}
      %y : f32[1,2,2,2] = BatchNormalization(%c, %scale, %shift, %mean, %var) {epsilon = 1.0}
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[1,4,2,2]
      const %w : f32[4,1,1,1] = [2, 4, 9, 12]
      const %b : f32[2] = [3, 7]
      %y : f32[1,2,2,2] = ConvTranspose(%x, %w, %b) {group = 2}
      output %y
    })"));
}

TEST(FoldBatchNormTest, GemmTransBWithBiasAndBeta) {
  // transB = 1: B [M, K], row m is channel m. s = [2/1, 1/2] = [2, 0.5].
  // B' = [[1, 2] * 2, [3, 4] * 0.5]; alpha stays; beta folds into C:
  // C' = [(2*1 - 1) * 2 + 0, (2*-1 - 1) * 0.5 + 0] = [2, -1.5], beta = 1.
  EXPECT_EQ(Fold(R"(graph g {
      input %a : f32[N,2]
      const %fc : f32[2,2] = [1, 2, 3, 4]
      const %c : f32[2] = [1, -1]
      const %scale : f32[2] = [2, 1]
      const %shift : f32[2] = [0, 0]
      const %mean : f32[2] = [1, 1]
      const %var : f32[2] = [0, 3]
      %g : f32[N,2] = Gemm(%a, %fc, %c) {alpha = 0.5, beta = 2.0, transB = 1}
      %y : f32[N,2] = BatchNormalization(%g, %scale, %shift, %mean, %var) {epsilon = 1.0}
      output %y
    })"),
            Canonical(R"(graph g {
      input %a : f32[N,2]
      const %fc : f32[2,2] = [2, 4, 1.5, 2]
      const %c : f32[2] = [2, -1.5]
      %y : f32[N,2] = Gemm(%a, %fc, %c) {alpha = 0.5, transB = 1}
      output %y
    })"));
}

TEST(FoldBatchNormTest, GemmWithoutBias) {
  // transB = 0: B [K, M], column m is channel m. s = [1, 2, 3];
  // C' = [(0 - 1) * 1, 0, (0 + 1) * 3] (a new constant named after the weight).
  EXPECT_EQ(Fold(R"(graph g {
      input %a : f32[4,2]
      const %fc.weight : f32[2,3] = [1, 2, 3, 4, 5, 6]
      const %scale : f32[3] = [1, 2, 3]
      const %shift : f32[3] = [0, 0, 0]
      const %mean : f32[3] = [1, 0, -1]
      const %var : f32[3] = [0, 0, 0]
      %g : f32[4,3] = Gemm(%a, %fc.weight)
      %y : f32[4,3] = BatchNormalization(%g, %scale, %shift, %mean, %var) {epsilon = 1.0}
      output %y
    })"),
            Canonical(R"(graph g {
      input %a : f32[4,2]
      const %fc.weight : f32[2,3] = [1, 4, 9, 4, 10, 18]
      const %fc.bias : f32[3] = [-1, 0, 3]
      %y : f32[4,3] = Gemm(%a, %fc.weight, %fc.bias)
      output %y
    })"));
}

TEST(FoldBatchNormTest, GemmWithScalarBiasInF64) {
  // A scalar C becomes one value per column. s = [2, 0.5];
  // C' = [(3*1 - 0) * 2 + 1, (3*1 - 1) * 0.5 + 1] = [7, 2].
  EXPECT_EQ(Fold(R"(graph g {
      input %a : f64[4,2]
      const %fc : f64[2,2] = [1, 2, 3, 4]
      const %c : f64[] = [1]
      const %scale : f32[2] = [2, 1]
      const %shift : f32[2] = [1, 1]
      const %mean : f32[2] = [0, 1]
      const %var : f32[2] = [0, 3]
      %g : f64[4,2] = Gemm(%a, %fc, %c) {beta = 3.0}
      %y : f64[4,2] = BatchNormalization(%g, %scale, %shift, %mean, %var) {epsilon = 1.0}
      output %y
    })"),
            Canonical(R"(graph g {
      input %a : f64[4,2]
      const %fc : f64[2,2] = [2, 1, 6, 2]
      const %c : f64[2] = [7, 2]
      %y : f64[4,2] = Gemm(%a, %fc, %c)
      output %y
    })"));
}

TEST(FoldBatchNormTest, MatMulAddWithTheBiasFirst) {
  // W [K, N]: column n is channel n. s = [2, 0.5]; W' = [1*2, 2*0.5, 3*2, 4*0.5];
  // bias' = [(1 - 0) * 2 + 1, (2 - 1) * 0.5 + 1] = [3, 1.5], shape [1, 2] kept.
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[N,2]
      const %w : f32[2,2] = [1, 2, 3, 4]
      const %b : f32[1,2] = [1, 2]
      const %scale : f32[2] = [2, 1]
      const %shift : f32[2] = [1, 1]
      const %mean : f32[2] = [0, 1]
      const %var : f32[2] = [0, 3]
      %mm : f32[N,2] = MatMul(%x, %w)
      %add : f32[N,2] = Add(%b, %mm)
      %y : f32[N,2] = BatchNormalization(%add, %scale, %shift, %mean, %var) {epsilon = 1.0}
      %out : f32[N,2] = Relu(%y)
      output %out
    })"),
            Canonical(R"(graph g {
      input %x : f32[N,2]
      const %w : f32[2,2] = [2, 1, 6, 2]
      const %b : f32[1,2] = [3, 1.5]
      %mm : f32[N,2] = MatMul(%x, %w)
      %add : f32[N,2] = Add(%b, %mm)
      %out : f32[N,2] = Relu(%add)
      output %out
    })"));
}

TEST(FoldBatchNormTest, MatMulWithoutAddGetsOne) {
  // The created Add takes the BN's output name and node name.
  // bias' = [(0 - 0) * 2 + 1, (0 - 1) * 0.5 + 1] = [1, 0.5].
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[N,2]
      const %W : f32[2,2] = [1, 2, 3, 4]
      const %scale : f32[2] = [2, 1]
      const %shift : f32[2] = [1, 1]
      const %mean : f32[2] = [0, 1]
      const %var : f32[2] = [0, 3]
      %mm : f32[N,2] = MatMul(%x, %W)
      %y : f32[N,2] = BatchNormalization(%mm, %scale, %shift, %mean, %var) {epsilon = 1.0} name="bn"
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[N,2]
      const %W : f32[2,2] = [2, 1, 6, 2]
      const %W.bias : f32[2] = [1, 0.5]
      %mm : f32[N,2] = MatMul(%x, %W)
      %y : f32[N,2] = Add(%mm, %W.bias) name="bn"
      output %y
    })"));
}

TEST(FoldBatchNormTest, SharedWeightsAreCopied) {
  // %w and %b also feed conv2, which must keep the original values.
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[1,2,3,3]
      const %w : f32[2,2,1,1] = [1, 2, 3, 4]
      const %b : f32[2] = [1, -1]
      const %scale : f32[2] = [2, 3]
      const %shift : f32[2] = [0.5, 1]
      const %mean : f32[2] = [1, 2]
      const %var : f32[2] = [1, 0.25]
      %c : f32[1,2,3,3] = Conv(%x, %w, %b) name="conv"
      %y : f32[1,2,3,3] = BatchNormalization(%c, %scale, %shift, %mean, %var) {epsilon = 0.0}
      %c2 : f32[1,2,3,3] = Conv(%y, %w, %b) name="conv2"
      output %c2
    })"),
            Canonical(R"(graph g {
      input %x : f32[1,2,3,3]
      const %w : f32[2,2,1,1] = [1, 2, 3, 4]
      const %b : f32[2] = [1, -1]
      const %w.folded : f32[2,2,1,1] = [2, 4, 18, 24]
      const %b.folded : f32[2] = [0.5, -17]
      %c : f32[1,2,3,3] = Conv(%x, %w.folded, %b.folded) name="conv"
      %c2 : f32[1,2,3,3] = Conv(%c, %w, %b) name="conv2"
      output %c2
    })"));
}

TEST(FoldBatchNormTest, TwoBatchNormsInARowBothFold) {
  // s1 = [2], then s2 = [3]: w' = 1 * 2 * 3; b' = ((0 - 1) * 2 + 0 - 1) * 3 + 1 = -8.
  EXPECT_EQ(Fold(R"(graph g {
      input %x : f32[1,1,2,2]
      const %w : f32[1,1,1,1] = [1]
      const %s1 : f32[1] = [2]
      const %s2 : f32[1] = [3]
      const %zero : f32[1] = [0]
      const %one : f32[1] = [1]
      %c : f32[1,1,2,2] = Conv(%x, %w)
      %y1 : f32[1,1,2,2] = BatchNormalization(%c, %s1, %zero, %one, %zero) {epsilon = 1.0}
      %y2 : f32[1,1,2,2] = BatchNormalization(%y1, %s2, %one, %one, %zero) {epsilon = 1.0}
      output %y2
    })"),
            Canonical(R"(graph g {
      input %x : f32[1,1,2,2]
      const %w : f32[1,1,1,1] = [6]
      const %w.bias : f32[1] = [-8]
      %y2 : f32[1,1,2,2] = Conv(%x, %w, %w.bias)
      output %y2
    })"));
}

TEST(FoldBatchNormTest, LeavesTheUnusedParametersForDce) {
  const std::string out = RunPass(R"(graph g {
      input %x : f32[1,1,2,2]
      const %w : f32[1,1,1,1] = [1]
      const %s : f32[1] = [2]
      const %zero : f32[1] = [0]
      %c : f32[1,1,2,2] = Conv(%x, %w)
      %y : f32[1,1,2,2] = BatchNormalization(%c, %s, %zero, %zero, %zero) {epsilon = 1.0}
      output %y
    })",
                                  [](Model& m) { return FoldBatchNormPass().Run(m); });
  EXPECT_CONTAINS(out, "const %s : f32[1] = [2.0]");
  EXPECT_CONTAINS(out, "%y : f32[1,1,2,2] = Conv(%x, %w, %w.bias)");
  EXPECT_EQ(out.find("BatchNormalization"), std::string::npos) << out;
}

// ---- BNs that stay ----------------------------------------------------------

// Conv -> BN: `decls` after the constants, the BN line `bn` (%c -> %y), the
// lines `tail`, then `output <outputs>`.
constexpr char kBn[] = "%y : f32[1,2,3,3] = BatchNormalization(%c, %scale, %shift, %mean, %var)";
std::string ConvBn(const std::string& decls, const std::string& bn, const std::string& tail = "",
                   const std::string& outputs = "%y") {
  return "graph g {\n"
         "  input %x : f32[1,2,3,3]\n"
         "  const %w : f32[2,2,1,1] = [1, 2, 3, 4]\n"
         "  const %scale : f32[2] = [2, 3]\n"
         "  const %shift : f32[2] = [0.5, 1]\n"
         "  const %mean : f32[2] = [1, 2]\n"
         "  const %var : f32[2] = [1, 0.25]\n  " +
         decls +
         "\n"
         "  %c : f32[1,2,3,3] = Conv(%x, %w)\n  " +
         bn + "\n  " + tail + "\n  output " + outputs + "\n}";
}

TEST(FoldBatchNormTest, TheBaseCaseFolds) {
  // The negative cases below are this graph with one thing changed.
  const std::string out = Fold(ConvBn("", kBn));
  EXPECT_EQ(out.find("BatchNormalization"), std::string::npos) << out;
}

TEST(FoldBatchNormTest, KeepsNonConstantParameters) {
  const std::string input = ConvBn(
      "input %s : f32[2]", "%y : f32[1,2,3,3] = BatchNormalization(%c, %s, %shift, %mean, %var)");
  EXPECT_EQ(FoldNothing(input), Canonical(input));
}

TEST(FoldBatchNormTest, KeepsTrainingMode) {
  const std::string input = ConvBn("", std::string(kBn) + " {training_mode = 1}");
  EXPECT_EQ(FoldNothing(input), Canonical(input));
}

TEST(FoldBatchNormTest, KeepsAProducerWithAnotherUser) {
  const std::string input = ConvBn("", kBn, "%r : f32[1,2,3,3] = Relu(%c)", "%y, %r");
  EXPECT_EQ(FoldNothing(input), Canonical(input));
  // A producer output that is itself a graph output counts as another user.
  const std::string as_output = ConvBn("", kBn, "", "%y, %c");
  EXPECT_EQ(FoldNothing(as_output), Canonical(as_output));
}

TEST(FoldBatchNormTest, KeepsANonPositiveVariance) {
  // var + eps = 0 for channel 0: s is infinite.
  const std::string input = R"(graph g {
      input %x : f32[1,2,3,3]
      const %w : f32[2,2,1,1] = [1, 2, 3, 4]
      const %p : f32[2] = [1, 2]
      const %var : f32[2] = [0, 1]
      %c : f32[1,2,3,3] = Conv(%x, %w)
      %y : f32[1,2,3,3] = BatchNormalization(%c, %p, %p, %p, %var) {epsilon = 0.0}
      output %y
    })";
  EXPECT_EQ(FoldNothing(input), Canonical(input));
}

TEST(FoldBatchNormTest, KeepsMatMulOfRankThree) {
  // [2, 3, 4] x [4, 3]: BN's channel axis 1 is the 3 of the sequence, not W's
  // columns (which happen to be 3 too).
  const std::string input = R"(graph g {
      input %x : f32[2,3,4]
      const %w : f32[4,3] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
      const %p : f32[3] = [1, 2, 3]
      %mm : f32[2,3,3] = MatMul(%x, %w)
      %y : f32[2,3,3] = BatchNormalization(%mm, %p, %p, %p, %p)
      output %y
    })";
  EXPECT_EQ(FoldNothing(input), Canonical(input));
}

TEST(FoldBatchNormTest, KeepsGemmWithAPerRowBias) {
  // C [N, M] differs per row, so it is not a per-channel bias.
  const std::string input = R"(graph g {
      input %a : f32[2,2]
      const %fc : f32[2,2] = [1, 2, 3, 4]
      const %c : f32[2,2] = [1, 2, 3, 4]
      const %p : f32[2] = [1, 2]
      %g : f32[2,2] = Gemm(%a, %fc, %c)
      %y : f32[2,2] = BatchNormalization(%g, %p, %p, %p, %p)
      output %y
    })";
  EXPECT_EQ(FoldNothing(input), Canonical(input));
}

TEST(FoldBatchNormTest, KeepsOtherProducersAndRuntimeWeights) {
  const std::string runtime_weight = R"(graph g {
      input %x : f32[1,2,3,3]
      input %w : f32[2,2,1,1]
      const %p : f32[2] = [1, 2]
      %c : f32[1,2,3,3] = Conv(%x, %w)
      %y : f32[1,2,3,3] = BatchNormalization(%c, %p, %p, %p, %p)
      output %y
    })";
  EXPECT_EQ(FoldNothing(runtime_weight), Canonical(runtime_weight));
  const std::string after_relu = R"(graph g {
      input %x : f32[1,2,3,3]
      const %p : f32[2] = [1, 2]
      %r : f32[1,2,3,3] = Relu(%x)
      %y : f32[1,2,3,3] = BatchNormalization(%r, %p, %p, %p, %p)
      output %y
    })";
  EXPECT_EQ(FoldNothing(after_relu), Canonical(after_relu));
  const std::string from_input = R"(graph g {
      input %x : f32[1,2,3,3]
      const %p : f32[2] = [1, 2]
      %y : f32[1,2,3,3] = BatchNormalization(%x, %p, %p, %p, %p)
      output %y
    })";
  EXPECT_EQ(FoldNothing(from_input), Canonical(from_input));
}

// ---- Numeric agreement on random data ---------------------------------------
//
// Tolerance. The unfolded graph computes y = sum_k w[k] x[k] in f32 and BN
// maps it (in double) to (y - mean) s + B, rounded once to f32. The folded one
// computes sum_k (s w[k]) x[k] + b' in f32 with s w[k] rounded to f32. The two
// sums take the same K terms in the same order; each differs from the exact
// value by at most about K * 2^-24 relative to sum |terms| (and in practice by
// about sqrt(K) * 2^-24 for terms of random sign), plus one rounding of s w
// and of b' each. With K <= 60 here that is ~5e-7 per element, and the
// relative L2 over a whole tensor is of that order. 1e-5 leaves a margin of
// ~20 while any algebra mistake (a wrong channel, sign, group or bias term)
// shows up as an O(1) error. f16 weights round s w to 11 bits instead of 24:
// their bound is scaled by 2^13 accordingly (see the f16 test).
constexpr double kF32RelL2 = 1e-5;

struct Builder {
  explicit Builder(uint32_t seed) : rng(seed) {}
  Model model;
  Graph& g() { return *model.graph; }
  std::mt19937 rng;

  Tensor Random(DType dtype, std::vector<int64_t> dims, double lo, double hi) {
    Tensor t(dtype, std::move(dims));
    std::uniform_real_distribution<double> dist(lo, hi);
    for (int64_t i = 0; i < t.numel(); ++i) t.SetFromDouble(i, dist(rng));
    return t;
  }
  Value* Const(const std::string& name, std::vector<int64_t> dims, DType dtype = DType::kF32) {
    return g().AddConstant(name, Random(dtype, std::move(dims), -1, 1));
  }
  Value* Input(const std::string& name, std::vector<int64_t> dims, DType dtype = DType::kF32) {
    Value* v = g().AddInput(name, TensorType(dtype, Shape::FromStatic(dims)));
    inputs[name] = Random(dtype, std::move(dims), -1, 1);
    return v;
  }
  Value* Op(const std::string& op, std::vector<Value*> in,
            std::map<std::string, Attribute> attrs = {}) {
    Node* n = g().AddNode(op, std::move(in), {"v"}, g().UniqueNodeName(op));
    for (auto& [k, a] : attrs) n->SetAttr(k, a);
    return n->output(0);
  }
  // A BN over `channels` with random parameters: |scale| in [0.5, 2] of either
  // sign, var in [0.1, 2], so that s is moderate and the test well conditioned.
  Value* BatchNorm(Value* x, int64_t channels) {
    Tensor scale = Random(DType::kF32, {channels}, 0.5, 2);
    for (int64_t c = 0; c < channels; ++c)
      if (rng() % 2) scale.SetFromDouble(c, -scale.GetAsDouble(c));
    Value* s = g().AddConstant("scale", scale);
    Value* b = Const("shift", {channels});
    Value* mean = Const("mean", {channels});
    Value* var = g().AddConstant("var", Random(DType::kF32, {channels}, 0.1, 2));
    return Op("BatchNormalization", {x, s, b, mean, var}, {{"epsilon", 1e-3f}});
  }
  std::map<std::string, Tensor> inputs;
};

// Runs the built graph before and after fold-batchnorm and compares every
// output. Expects `folds` BatchNormalization nodes to go.
void ExpectFoldKeepsOutputs(Builder& b, int folds, double max_rel_l2 = kF32RelL2) {
  Graph& g = b.g();
  ASSERT_TRUE(InferShapes(g).ok());
  ASSERT_TRUE(VerifyGraph(g).ok());
  const int bns = CountOps(g, "BatchNormalization");
  reference::InterpreterOptions options;
  options.num_threads = 2;
  auto before = reference::Interpreter(g, options).Run(b.inputs);
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  Expected<bool> changed = FoldBatchNorm(g);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_EQ(*changed, folds > 0);
  Status verified = VerifyGraph(g);
  ASSERT_TRUE(verified.ok()) << verified.ToString() << "\n" << PrintModel(b.model);
  EXPECT_EQ(CountOps(g, "BatchNormalization"), bns - folds) << PrintModel(b.model);
  auto after = reference::Interpreter(g, options).Run(b.inputs);
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  ASSERT_EQ(before->size(), after->size());
  for (const auto& [name, expected] : *before) {
    ASSERT_TRUE(after->count(name)) << "output " << name << " is gone";
    auto agreement = Compare(expected, after->at(name), name);
    ASSERT_TRUE(agreement.ok()) << agreement.status().ToString();
    std::printf("[ %s / %s ] %s\n", ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                name.c_str(), FormatAgreement(*agreement).c_str());
    EXPECT_LE(agreement->relative_l2, max_rel_l2) << name;
    EXPECT_EQ(agreement->nonfinite, 0) << name;
  }
}

// Each numeric test runs on a few seeds of its own.
const std::vector<uint32_t> kSeeds = {0x5eed0001u, 0x0ba7c4f0u, 0x13572468u};

TEST(FoldBatchNormNumericTest, GroupedConvWithBias) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed);
    // 6 -> 6 channels in 3 groups of 2, 3x3 kernel: K = 2 * 9 = 18.
    Value* y =
        b.Op("Conv", {b.Input("x", {2, 6, 7, 7}), b.Const("w", {6, 2, 3, 3}), b.Const("b", {6})},
             {{"group", int64_t{3}}, {"pads", std::vector<int64_t>{1, 1, 1, 1}}});
    b.g().AddOutput(b.BatchNorm(y, 6));
    ExpectFoldKeepsOutputs(b, 1);
  }
}

TEST(FoldBatchNormNumericTest, DepthwiseConvWithoutBiasThenRelu) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 1);
    Value* c = b.Op("Conv", {b.Input("x", {1, 4, 8, 8}), b.Const("w", {4, 1, 3, 3})},
                    {{"group", int64_t{4}}, {"strides", std::vector<int64_t>{2, 2}}});
    b.g().AddOutput(b.Op("Relu", {b.BatchNorm(c, 4)}));
    ExpectFoldKeepsOutputs(b, 1);
  }
}

TEST(FoldBatchNormNumericTest, ConvWithoutBias) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 2);
    // K = 3 * 9 = 27.
    Value* c = b.Op("Conv", {b.Input("x", {2, 3, 9, 9}), b.Const("w", {5, 3, 3, 3})},
                    {{"strides", std::vector<int64_t>{2, 2}}});
    b.g().AddOutput(b.BatchNorm(c, 5));
    ExpectFoldKeepsOutputs(b, 1);
  }
}

TEST(FoldBatchNormNumericTest, GroupedConvTranspose) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 3);
    // C = 4 input channels in 2 groups, M/G = 3: M = 6 output channels.
    Value* c = b.Op("ConvTranspose",
                    {b.Input("x", {1, 4, 5, 5}), b.Const("w", {4, 3, 3, 3}), b.Const("b", {6})},
                    {{"group", int64_t{2}}, {"strides", std::vector<int64_t>{2, 2}}});
    b.g().AddOutput(b.BatchNorm(c, 6));
    ExpectFoldKeepsOutputs(b, 1);
  }
}

TEST(FoldBatchNormNumericTest, ConvTransposeWithoutBias) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 4);
    Value* c = b.Op("ConvTranspose", {b.Input("x", {2, 3, 4, 4}), b.Const("w", {3, 5, 2, 2})},
                    {{"pads", std::vector<int64_t>{0, 1, 1, 0}}});
    b.g().AddOutput(b.BatchNorm(c, 5));
    ExpectFoldKeepsOutputs(b, 1);
  }
}

TEST(FoldBatchNormNumericTest, GemmTransBWithBiasAlphaBeta) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 5);
    Value* g = b.Op("Gemm", {b.Input("a", {4, 10}), b.Const("fc", {6, 10}), b.Const("c", {6})},
                    {{"transB", int64_t{1}}, {"alpha", 0.7f}, {"beta", 1.3f}});
    b.g().AddOutput(b.BatchNorm(g, 6));
    ExpectFoldKeepsOutputs(b, 1);
  }
}

TEST(FoldBatchNormNumericTest, GemmTransAWithRowBiasAndScalarBias) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 6);
    // C [1, M], transA: A is [K, N].
    Value* g1 = b.Op("Gemm", {b.Input("a", {10, 3}), b.Const("fc", {10, 5}), b.Const("c", {1, 5})},
                     {{"transA", int64_t{1}}, {"beta", 0.5f}});
    b.g().AddOutput(b.BatchNorm(g1, 5));
    // A scalar C and no beta.
    Value* g2 = b.Op("Gemm", {b.Input("a2", {3, 8}), b.Const("fc2", {8, 4}), b.Const("c2", {})});
    b.g().AddOutput(b.BatchNorm(g2, 4));
    // No C.
    Value* g3 = b.Op("Gemm", {b.Input("a3", {3, 8}), b.Const("fc3", {4, 8})},
                     {{"transB", int64_t{1}}, {"alpha", 2.0f}});
    b.g().AddOutput(b.BatchNorm(g3, 4));
    ExpectFoldKeepsOutputs(b, 3);
  }
}

TEST(FoldBatchNormNumericTest, MatMulAddAndMatMul) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 7);
    Value* mm = b.Op("MatMul", {b.Input("x", {3, 12}), b.Const("w", {12, 5})});
    Value* add = b.Op("Add", {b.Const("bias", {5}), mm});
    b.g().AddOutput(b.BatchNorm(add, 5));
    Value* mm2 = b.Op("MatMul", {b.Input("x2", {4, 7}), b.Const("w2", {7, 3})});
    b.g().AddOutput(b.Op("Tanh", {b.BatchNorm(mm2, 3)}));
    ExpectFoldKeepsOutputs(b, 2);
  }
}

TEST(FoldBatchNormNumericTest, SharedWeightAndChainedBatchNorms) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    Builder b(seed + 8);
    Value* w = b.Const("w", {4, 4, 1, 1});
    Value* c1 = b.Op("Conv", {b.Input("x", {1, 4, 5, 5}), w});
    Value* y1 = b.BatchNorm(b.BatchNorm(c1, 4), 4);
    Value* c2 = b.Op("Conv", {b.Op("Relu", {y1}), w});  // same weight, not followed by BN
    b.g().AddOutput(c2);
    b.g().AddOutput(b.Op("Sigmoid", {c2}));
    ExpectFoldKeepsOutputs(b, 2);
  }
}

TEST(FoldBatchNormNumericTest, NonFoldableBatchNormsAreLeftAndStillCorrect) {
  Builder b(0xfeedbeefu);
  // MatMul of rank 3: kept. Conv whose output is also a graph output: kept.
  Value* mm = b.Op("MatMul", {b.Input("x", {2, 3, 4}), b.Const("w", {4, 3})});
  b.g().AddOutput(b.BatchNorm(mm, 3));
  Value* c = b.Op("Conv", {b.Input("x2", {1, 2, 3, 3}), b.Const("w2", {2, 2, 1, 1})});
  b.g().AddOutput(c);
  b.g().AddOutput(b.BatchNorm(c, 2));
  ExpectFoldKeepsOutputs(b, 0);
}

TEST(FoldBatchNormNumericTest, HalfAndDoubleWeights) {
  for (uint32_t seed : kSeeds) {
    SCOPED_TRACE(seed);
    {
      // f16 weights: s w is rounded to 11 significant bits, and the unfolded
      // graph rounds y to f16 before BN. Both are within a few f16 ulps
      // (2^-11 = 4.9e-4) of the exact result: 4e-3 is ~8 ulps.
      Builder b(seed + 9);
      Value* c =
          b.Op("Conv", {b.Input("x", {1, 3, 6, 6}, DType::kF16),
                        b.Const("w", {4, 3, 3, 3}, DType::kF16), b.Const("b", {4}, DType::kF16)});
      b.g().AddOutput(b.BatchNorm(c, 4));
      ExpectFoldKeepsOutputs(b, 1, 4e-3);
    }
    {
      // f64: only double rounding in the weights and sums, ~1e-16 each.
      Builder b(seed + 10);
      Value* g =
          b.Op("Gemm", {b.Input("a", {3, 9}, DType::kF64), b.Const("fc", {5, 9}, DType::kF64)},
               {{"transB", int64_t{1}}});
      b.g().AddOutput(b.BatchNorm(g, 5));
      ExpectFoldKeepsOutputs(b, 1, 1e-12);
    }
  }
}

// ---- resnet18 end to end ----------------------------------------------------

namespace fs = std::filesystem;

// build/models/NAME as the model regression tests find it: $OCTET_BUILD_DIR,
// else this build's folder, else the source tree's build/.
fs::path ModelDir(const std::string& name) {
  std::vector<fs::path> builds;
  if (const char* env = std::getenv("OCTET_BUILD_DIR")) builds.push_back(env);
  builds.push_back(OCTET_BINARY_DIR);
  builds.push_back(fs::path(OCTET_SOURCE_DIR) / "build");
  for (fs::path build : builds) {
    if (build.is_relative()) build = fs::path(OCTET_SOURCE_DIR) / build;
    if (fs::exists(build / "models" / name / "model.onnx")) return build / "models" / name;
  }
  return fs::path(OCTET_SOURCE_DIR) / "build" / "models" / name;
}

TEST(FoldBatchNormModelTest, Resnet18FoldsEveryBatchNormAndMatchesPyTorch) {
  const fs::path dir = ModelDir("resnet18");
  if (!fs::exists(dir / "model.onnx")) {
    const char* required = std::getenv("OCTET_REQUIRE_MODELS");
    if (required != nullptr && std::string(required) == "1")
      FAIL() << dir << " is missing: run models/build.sh resnet18";
    GTEST_SKIP() << dir << " is missing: run models/build.sh resnet18";
  }
  Expected<Model> model = ImportOnnxFile((dir / "model.onnx").string());
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  Graph& g = *model->graph;
  ASSERT_TRUE(RunStandardPipeline(*model, ReferenceEvaluator()).ok());
  const int bns = CountOps(g, "BatchNormalization");
  const int nodes = g.num_nodes();
  EXPECT_EQ(bns, 20);
  Expected<bool> changed = FoldBatchNorm(g);
  ASSERT_TRUE(changed.ok()) << changed.status().ToString();
  EXPECT_TRUE(*changed);
  Status verified = VerifyGraph(g);
  ASSERT_TRUE(verified.ok()) << verified.ToString();
  EXPECT_EQ(CountOps(g, "BatchNormalization"), 0);
  EXPECT_EQ(g.num_nodes(), nodes - bns);

  Expected<Tensor> input = ReadNpy((dir / "inputs" / "input.npy").string());
  ASSERT_TRUE(input.ok()) << input.status().ToString();
  Expected<Tensor> golden = ReadNpy((dir / "golden" / "output.npy").string());
  ASSERT_TRUE(golden.ok()) << golden.status().ToString();
  reference::InterpreterOptions options;
  options.num_threads = 2;
  auto outputs = reference::Interpreter(g, options).Run({{"input", *input}});
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  ASSERT_TRUE(outputs->count("output"));
  auto agreement = Compare(*golden, outputs->at("output"), "output");
  ASSERT_TRUE(agreement.ok()) << agreement.status().ToString();
  std::printf("[ resnet18 folded / output ] %s\n", FormatAgreement(*agreement).c_str());
  // PyTorch (BN unfolded, float32) against the folded graph: the same math in
  // a different order, ~1e-6 relative, as the unfolded graph agrees too.
  EXPECT_GE(agreement->cosine, 0.99999);
  EXPECT_LE(agreement->relative_l2, 1e-5);
  EXPECT_EQ(agreement->nonfinite, 0);
}

}  // namespace
}  // namespace octet
