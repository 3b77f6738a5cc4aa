// remove-identity: each kind of no-op, the ones that are not, and graph
// output names.
#include "octet/passes/remove_identity.h"

#include <gtest/gtest.h>

#include "pass_test_util.h"

namespace octet {
namespace {

using testing::Canonical;
using testing::RunPass;

std::string Remove(const std::string& input) {
  return RunPass(input, [](Model& m) { return RemoveIdentityPass().Run(m); });
}

// `decls` plus "%y : <type> = <node>" whose input is %x, followed by a Neg so
// that %y is not a graph output. Returns whether the node was removed.
bool Removed(const std::string& decls, const std::string& type, const std::string& node) {
  const std::string input = "graph g {\n" + decls + "\n %y : " + type + " = " + node +
                            "\n %out : " + type + " = Neg(%y)\n output %out\n}";
  const std::string out = Remove(input);
  EXPECT_EQ(out.find("error"), std::string::npos) << out;
  return out.find("Neg(%x)") != std::string::npos;
}

TEST(RemoveIdentityTest, RemovesIdentityInsideTheGraph) {
  EXPECT_EQ(Remove(R"(graph g {
      input %x : f32[N,4]
      %a : f32[N,4] = Relu(%x)
      %b : f32[N,4] = Identity(%a)
      %c : f32[N,4] = Identity(%b)
      %y : f32[N,4] = Add(%b, %c)
      output %y
    })"),
            Canonical(R"(graph g {
      input %x : f32[N,4]
      %a : f32[N,4] = Relu(%x)
      %y : f32[N,4] = Add(%a, %a)
      output %y
    })"));
}

TEST(RemoveIdentityTest, KeepsTheGraphOutputName) {
  // The producer is rebuilt to produce %y directly; its node name stays.
  EXPECT_EQ(Remove(R"(graph g {
      input %x : f32[N,4]
      %a : f32[N,4] = Relu(%x) name="relu"
      %s : f32[N,4] = Sigmoid(%a)
      %y : f32[N,4] = Identity(%a) name="id"
      output %y, %s
    })"),
            Canonical(R"(graph g {
      input %x : f32[N,4]
      %y : f32[N,4] = Relu(%x) name="relu"
      %s : f32[N,4] = Sigmoid(%y)
      output %y, %s
    })"));
}

TEST(RemoveIdentityTest, KeepsNodesThatWouldRenameAGraphOutput) {
  const std::string from_input = R"(graph g {
      input %x : f32[4]
      %y : f32[4] = Identity(%x)
      output %y
    })";
  EXPECT_EQ(Remove(from_input), Canonical(from_input));
  const std::string from_constant = R"(graph g {
      const %c : f32[2] = [1, 2]
      %y : f32[2] = Identity(%c)
      output %y
    })";
  EXPECT_EQ(Remove(from_constant), Canonical(from_constant));
  const std::string from_output = R"(graph g {
      input %x : f32[4]
      %a : f32[4] = Relu(%x)
      %y : f32[4] = Identity(%a)
      output %a, %y
    })";
  EXPECT_EQ(Remove(from_output), Canonical(from_output));
}

// The producer's output takes over the graph output's name, so the graph's
// interface is unchanged; this works for producers with several outputs too.
TEST(RemoveIdentityTest, ProducerTakesOverGraphOutputName) {
  EXPECT_EQ(Remove(R"(graph g {
      input %x : f32[4]
      const %s : i64[2] = [2, 2]
      %a : f32[2], %b : f32[2] = Split(%x, %s)
      %y : f32[2] = Identity(%a)
      output %y, %b
    })"),
            Canonical(R"(graph g {
      input %x : f32[4]
      const %s : i64[2] = [2, 2]
      %y : f32[2], %b : f32[2] = Split(%x, %s)
      output %y, %b
    })"));
}

TEST(RemoveIdentityTest, CastReshapeTransposeExpandTile) {
  const std::string x = "input %x : f32[N,4]";
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Cast(%x) {to = 1}"));
  EXPECT_FALSE(Removed(x, "f16[N,4]", "Cast(%x) {to = 10}"));
  EXPECT_TRUE(Removed(x + "\n input %like : f32[1]", "f32[N,4]", "CastLike(%x, %like)"));
  EXPECT_TRUE(Removed(x + "\n const %s : i64[2] = [0, 4]", "f32[N,4]", "Reshape(%x, %s)"));
  EXPECT_FALSE(Removed(x + "\n const %s : i64[2] = [-1, 2]", "f32[?,2]", "Reshape(%x, %s)"));
  EXPECT_FALSE(
      Removed("input %x : f32[?,4]\n const %s : i64[2] = [0, 4]", "f32[?,4]", "Reshape(%x, %s)"));
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Transpose(%x) {perm = ints[0, 1]}"));
  EXPECT_FALSE(Removed("input %x : f32[4,4]", "f32[4,4]", "Transpose(%x) {perm = ints[1, 0]}"));
  EXPECT_FALSE(Removed("input %x : f32[4,4]", "f32[4,4]", "Transpose(%x)"));
  EXPECT_TRUE(Removed(x + "\n const %s : i64[2] = [1, 4]", "f32[N,4]", "Expand(%x, %s)"));
  EXPECT_FALSE(
      Removed("input %x : f32[1,4]\n const %s : i64[2] = [3, 4]", "f32[3,4]", "Expand(%x, %s)"));
  EXPECT_TRUE(Removed(x + "\n const %r : i64[2] = [1, 1]", "f32[N,4]", "Tile(%x, %r)"));
  EXPECT_FALSE(Removed(x + "\n const %r : i64[2] = [1, 2]", "f32[N,8]", "Tile(%x, %r)"));
}

TEST(RemoveIdentityTest, SliceConcatPad) {
  const std::string x =
      "input %x : f32[N,4]\n const %zero : i64[1] = [0]\n"
      " const %one : i64[1] = [1]\n";
  EXPECT_TRUE(Removed(x + " const %end : i64[1] = [9223372036854775807]", "f32[N,4]",
                      "Slice(%x, %zero, %end)"));
  EXPECT_TRUE(
      Removed(x + " const %end : i64[1] = [4]", "f32[N,4]", "Slice(%x, %zero, %end, %one, %one)"));
  EXPECT_TRUE(Removed(x + " const %s : i64[1] = [-4]\n const %end : i64[1] = [4]", "f32[N,4]",
                      "Slice(%x, %s, %end, %one)"));
  EXPECT_FALSE(
      Removed(x + " const %end : i64[1] = [3]", "f32[N,3]", "Slice(%x, %zero, %end, %one)"));
  EXPECT_FALSE(Removed(x + " const %end : i64[1] = [100]", "f32[?,4]",
                       "Slice(%x, %zero, %end)"));  // N might be larger than 100
  EXPECT_FALSE(Removed(x + " const %end : i64[1] = [-9223372036854775807]\n"
                           " const %m1 : i64[1] = [-1]",
                       "f32[N,4]", "Slice(%x, %m1, %end, %one, %m1)"));  // reverses
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Concat(%x) {axis = 0}"));
  EXPECT_TRUE(Removed(x + " const %p : i64[4] = [0, 0, 0, 0]", "f32[N,4]", "Pad(%x, %p)"));
  EXPECT_FALSE(Removed(x + " const %p : i64[4] = [0, 1, 0, 0]", "f32[N,5]", "Pad(%x, %p)"));
}

TEST(RemoveIdentityTest, NeutralArithmetic) {
  const std::string x =
      "input %x : f32[N,4]\n const %ones : f32[4] = [1, 1, 1, 1]\n"
      " const %zeros : f32[1,1] = [-0.0]\n"
      " const %wide : f32[2,4] = [1, 1, 1, 1, 1, 1, 1, 1]\n"
      " const %half : f32[4] = [1, 1, 0.5, 1]\n";
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Mul(%x, %ones)"));
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Mul(%ones, %x)"));
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Div(%x, %ones)"));
  EXPECT_FALSE(Removed(x, "f32[N,4]", "Div(%ones, %x)"));
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Add(%zeros, %x)"));
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Sub(%x, %zeros)"));
  EXPECT_FALSE(Removed(x, "f32[N,4]", "Mul(%x, %half)"));
  // Broadcasting against [2,4] changes a [1,4] input's shape, so the Mul stays.
  EXPECT_FALSE(Removed("input %x : f32[1,4]\n const %wide : f32[2,4] = [1, 1, 1, 1, 1, 1, 1, 1]",
                       "f32[2,4]", "Mul(%x, %wide)"));
  EXPECT_TRUE(Removed("input %x : i32[3]\n const %one : i32[] = [1]", "i32[3]", "Mul(%x, %one)"));
}

TEST(RemoveIdentityTest, Dropout) {
  const std::string x =
      "input %x : f32[N,4]\n const %r : f32[] = [0.5]\n"
      " const %off : bool[] = [0]\n const %on : bool[] = [1]\n";
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Dropout(%x, %r)"));
  EXPECT_TRUE(Removed(x, "f32[N,4]", "Dropout(%x, %r, %off)"));
  EXPECT_FALSE(Removed(x, "f32[N,4]", "Dropout(%x, %r, %on)"));
  // A used mask keeps the node.
  const std::string with_mask = R"(graph g {
      input %x : f32[4]
      %y : f32[4], %mask : bool[4] = Dropout(%x)
      %n : f32[4] = Neg(%y)
      output %n, %mask
    })";
  EXPECT_EQ(Remove(with_mask), Canonical(with_mask));
}

}  // namespace
}  // namespace octet
