// Shape rules, one or more cases per op family, symbolic dims, errors, and the
// coverage of the op catalog.
#include "octet/passes/shape_inference.h"

#include <gtest/gtest.h>

#include "octet/op_catalog.h"
#include "pass_test_util.h"

namespace octet {
namespace {

using testing::Canonical;
using testing::Parse;
using testing::RunPass;

// Infers a graph made of `decls` (inputs and constants) and one node whose
// right-hand side is `node` ("Add(%a, %b) {..}"), and returns the types of its
// `outputs` outputs, comma-separated, or "error: <message>".
std::string Infer(const std::string& decls, const std::string& node, int outputs = 1) {
  std::string text = "graph g {\n" + decls + "\n  ";
  for (int i = 0; i < outputs; ++i) text += (i ? ", %o" : "%o") + std::to_string(i) + " : undef[*]";
  text += " = " + node + " name=\"n\"\n  output %o0\n}\n";
  Model m = Parse(text);
  Status s = InferShapes(*m.graph);
  if (!s.ok()) return "error: " + s.message();
  EXPECT_TRUE(VerifyGraph(*m.graph).ok());
  std::string out;
  for (int i = 0; i < outputs; ++i)
    out += (i ? ", " : "") + m.graph->FindValue("o" + std::to_string(i))->type().ToString();
  return out;
}

TEST(ShapeInferenceTest, EveryCatalogOpHasARule) {
  for (const OpInfo& op : SupportedOps())
    EXPECT_TRUE(HasShapeInference(op.op_type)) << op.op_type << " has no shape rule";
  EXPECT_FALSE(HasShapeInference("NoSuchOp"));
}

TEST(ShapeInferenceTest, BroadcastingWithSymbols) {
  EXPECT_EQ(Infer("input %a : f32[N,3,1]\n input %b : f32[1,4]", "Add(%a, %b)"), "f32[N,3,4]");
  EXPECT_EQ(Infer("input %a : f32[N,3]\n input %b : f32[N,1]", "Mul(%a, %b)"), "f32[N,3]");
  // N against a static 5 is assumed to be 5; N against M could be either.
  EXPECT_EQ(Infer("input %a : f32[N,3]\n input %b : f32[5,1]", "Sub(%a, %b)"), "f32[5,3]");
  EXPECT_EQ(Infer("input %a : f32[N]\n input %b : f32[M]", "Div(%a, %b)"), "f32[?]");
  EXPECT_EQ(Infer("input %a : f32[?,2]\n input %b : f32[1,2]", "Add(%a, %b)"), "f32[?,2]");
  EXPECT_EQ(Infer("input %a : f32[*]\n input %b : f32[2]", "Add(%a, %b)"), "f32[*]");
  EXPECT_EQ(
      Infer("input %a : f32[2,1]\n input %b : f32[3]\n input %c : f32[N,1,1]", "Sum(%a, %b, %c)"),
      "f32[N,2,3]");
  EXPECT_EQ(Infer("input %a : f32[2,3]\n input %b : i64[]", "Pow(%a, %b)"), "f32[2,3]");
}

TEST(ShapeInferenceTest, BroadcastErrorsNameNodeAndShapes) {
  std::string e = Infer("input %a : f32[2,3]\n input %b : f32[4]", "Add(%a, %b)");
  EXPECT_CONTAINS(e, "Add 'n'");
  EXPECT_CONTAINS(e, "'a' f32[2,3]");
  EXPECT_CONTAINS(e, "'b' f32[4]");
  EXPECT_CONTAINS(e, "3 vs 4");
  EXPECT_CONTAINS(Infer("input %a : f32[2]\n input %b : f16[2]", "Add(%a, %b)"),
                  "same element type");
}

TEST(ShapeInferenceTest, ElementwiseOps) {
  EXPECT_EQ(Infer("input %x : f32[N,3]", "Relu(%x)"), "f32[N,3]");
  EXPECT_EQ(Infer("input %x : f16[*]", "Gelu(%x)"), "f16[*]");
  EXPECT_EQ(Infer("input %a : f32[N,3]\n input %b : f32[3]", "Less(%a, %b)"), "bool[N,3]");
  EXPECT_EQ(Infer("input %a : bool[2]\n input %b : bool[2]", "Xor(%a, %b)"), "bool[2]");
  EXPECT_CONTAINS(Infer("input %a : f32[2]", "Not(%a)"), "must be bool");
  EXPECT_EQ(
      Infer("input %c : bool[N,1]\n input %a : f32[1,4]\n input %b : f32[]", "Where(%c, %a, %b)"),
      "f32[N,4]");
  EXPECT_EQ(Infer("input %x : f32[N,3]", "Cast(%x) {to = 7}"), "i64[N,3]");
  EXPECT_EQ(Infer("input %x : f32[N,3]\n input %y : f16[1]", "CastLike(%x, %y)"), "f16[N,3]");
  EXPECT_EQ(Infer("input %x : f32[N,3]\n const %lo : f32[] = [0]\n const %hi : f32[] = [6]",
                  "Clip(%x, %lo, %hi)"),
            "f32[N,3]");
  EXPECT_CONTAINS(Infer("input %x : f32[N,3]\n const %lo : f32[2] = [0, 1]", "Clip(%x, %lo)"),
                  "min must be a scalar");
  EXPECT_EQ(Infer("input %x : f32[N,3]", "Dropout(%x)", 2), "f32[N,3], bool[N,3]");
}

TEST(ShapeInferenceTest, QuantizationOps) {
  EXPECT_EQ(Infer("input %x : f32[N,8]\n const %s : f32[] = [0.5]\n const %z : i8[] = [0]",
                  "QuantizeLinear(%x, %s, %z)"),
            "i8[N,8]");
  EXPECT_EQ(Infer("input %x : f32[N,8]\n const %s : f32[] = [0.5]", "QuantizeLinear(%x, %s)"),
            "u8[N,8]");
  EXPECT_EQ(Infer("input %x : f32[4,8]\n input %s : f32[8]\n input %z : i8[8]",
                  "QuantizeLinear(%x, %s, %z) {axis = 1}"),
            "i8[4,8]");
  EXPECT_CONTAINS(
      Infer("input %x : f32[4,8]\n input %s : f32[7]", "QuantizeLinear(%x, %s) {axis = 1}"),
      "must be a scalar or have 8 elements");
  EXPECT_EQ(Infer("input %x : i4[16,64]\n input %s : f16[16,2]",
                  "DequantizeLinear(%x, %s) {axis = 1, block_size = 32}"),
            "f16[16,64]");
  EXPECT_EQ(Infer("input %x : f32[N,8]", "DynamicQuantizeLinear(%x)", 3), "u8[N,8], f32[], u8[]");
}

TEST(ShapeInferenceTest, Reshape) {
  EXPECT_EQ(Infer("input %x : f32[N,3,4]\n const %s : i64[2] = [0, -1]", "Reshape(%x, %s)"),
            "f32[N,12]");
  EXPECT_EQ(Infer("input %x : f32[N,12]\n const %s : i64[3] = [-1, 3, 4]", "Reshape(%x, %s)"),
            "f32[N,3,4]");
  EXPECT_EQ(Infer("input %x : f32[2,3,4]\n const %s : i64[2] = [4, -1]", "Reshape(%x, %s)"),
            "f32[4,6]");
  EXPECT_EQ(Infer("input %x : f32[N,12]\n const %s : i64[2] = [-1, 5]", "Reshape(%x, %s)"),
            "f32[?,5]");
  EXPECT_EQ(Infer("input %x : f32[N,12]\n input %s : i64[3]", "Reshape(%x, %s)"), "f32[?,?,?]");
  const std::string e =
      Infer("input %x : f32[3,4]\n const %s : i64[2] = [5, -1]", "Reshape(%x, %s)");
  EXPECT_CONTAINS(e, "Reshape 'n'");
  EXPECT_CONTAINS(e, "'x' f32[3,4] (12 elements)");
  EXPECT_CONTAINS(e, "[5,-1]");
  EXPECT_CONTAINS(Infer("input %x : f32[3,4]\n const %s : i64[2] = [5, 2]", "Reshape(%x, %s)"),
                  "element counts differ");
  EXPECT_CONTAINS(Infer("input %x : f32[3,4]\n const %s : i64[2] = [-1, -1]", "Reshape(%x, %s)"),
                  "more than one -1");
}

TEST(ShapeInferenceTest, DataMovement) {
  EXPECT_EQ(Infer("input %x : f32[N,3,4]", "Flatten(%x)"), "f32[N,12]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4,5]", "Flatten(%x) {axis = 2}"), "f32[?,20]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4]", "Transpose(%x) {perm = ints[0, 2, 1]}"), "f32[N,4,3]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4]", "Transpose(%x)"), "f32[4,3,N]");
  EXPECT_CONTAINS(Infer("input %x : f32[N,3,4]", "Transpose(%x) {perm = ints[0, 0, 1]}"),
                  "not a permutation");
  EXPECT_EQ(Infer("input %x : f32[N,1,4]\n const %a : i64[1] = [1]", "Squeeze(%x, %a)"),
            "f32[N,4]");
  EXPECT_EQ(Infer("input %x : f32[1,3,1]", "Squeeze(%x)"), "f32[3]");
  EXPECT_CONTAINS(Infer("input %x : f32[N,2,4]\n const %a : i64[1] = [1]", "Squeeze(%x, %a)"),
                  "extent is 2, not 1");
  EXPECT_EQ(Infer("input %x : f32[3,4]\n const %a : i64[2] = [0, -1]", "Unsqueeze(%x, %a)"),
            "f32[1,3,4,1]");
  EXPECT_EQ(Infer("input %a : f32[N,2]\n input %b : f32[N,3]", "Concat(%a, %b) {axis = 1}"),
            "f32[N,5]");
  EXPECT_EQ(Infer("input %a : f32[N,2]\n input %b : f32[?,3]", "Concat(%a, %b) {axis = -1}"),
            "f32[N,5]");
  EXPECT_CONTAINS(Infer("input %a : f32[2,3]\n input %b : f32[4,3]", "Concat(%a, %b) {axis = 1}"),
                  "differ in dimension 0");
  EXPECT_EQ(Infer("input %x : f32[N,5,6]\n input %i : i64[2,3]", "Gather(%x, %i) {axis = 1}"),
            "f32[N,2,3,6]");
  EXPECT_EQ(Infer("input %x : f32[N,5,6]\n const %i : i64[] = [-1]", "Gather(%x, %i) {axis = 1}"),
            "f32[N,6]");
  EXPECT_CONTAINS(
      Infer("input %x : f32[N,5]\n const %i : i64[] = [5]", "Gather(%x, %i) {axis = 1}"),
      "index 5 is out of range");
  EXPECT_EQ(Infer("input %x : f32[3,1]\n const %s : i64[3] = [2, 1, 4]", "Expand(%x, %s)"),
            "f32[2,3,4]");
  EXPECT_EQ(Infer("input %x : f32[3,1]\n input %s : i64[3]", "Expand(%x, %s)"), "f32[?,3,?]");
  EXPECT_EQ(Infer("input %x : f32[N,3]\n const %r : i64[2] = [1, 2]", "Tile(%x, %r)"), "f32[N,6]");
}

TEST(ShapeInferenceTest, ShapeOpsAndGenerators) {
  EXPECT_EQ(Infer("input %x : f32[N,3,4]", "Shape(%x)"), "i64[3]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4]", "Shape(%x) {start = 1}"), "i64[2]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4]", "Shape(%x) {start = -1, end = 10}"), "i64[1]");
  EXPECT_EQ(Infer("input %x : f32[*]", "Shape(%x)"), "i64[?]");
  EXPECT_EQ(Infer("input %x : f32[N,3]", "Size(%x)"), "i64[]");
  EXPECT_EQ(Infer("const %s : i64[2] = [2, 3]", "ConstantOfShape(%s) {value = tensor<i32[1]>[7]}"),
            "i32[2,3]");
  EXPECT_EQ(Infer("input %s : i64[2]", "ConstantOfShape(%s)"), "f32[?,?]");
  EXPECT_EQ(Infer("const %a : f32[] = [0]\n const %b : f32[] = [10]\n const %c : f32[] = [3]",
                  "Range(%a, %b, %c)"),
            "f32[4]");
  EXPECT_EQ(Infer("const %a : i64[] = [5]\n const %b : i64[] = [1]\n const %c : i64[] = [-2]",
                  "Range(%a, %b, %c)"),
            "i64[2]");
  EXPECT_EQ(Infer("input %a : i64[]\n const %b : i64[] = [1]\n const %c : i64[] = [1]",
                  "Range(%a, %b, %c)"),
            "i64[?]");
}

TEST(ShapeInferenceTest, SplitSlicePad) {
  EXPECT_EQ(
      Infer("input %x : f32[N,10]\n const %s : i64[2] = [3, 7]", "Split(%x, %s) {axis = 1}", 2),
      "f32[N,3], f32[N,7]");
  EXPECT_EQ(Infer("input %x : f32[N,10]", "Split(%x) {axis = 1, num_outputs = 3}", 3),
            "f32[N,4], f32[N,4], f32[N,2]");
  EXPECT_EQ(Infer("input %x : f32[N,10]", "Split(%x)", 2), "f32[?,10], f32[?,10]");
  EXPECT_CONTAINS(
      Infer("input %x : f32[N,10]\n const %s : i64[2] = [3, 6]", "Split(%x, %s) {axis = 1}", 2),
      "adds up to 9 but axis 1 of input 'x' f32[N,10] is 10");
  EXPECT_EQ(Infer("input %x : f32[N,10,8]\n const %s : i64[1] = [1]\n const %e : i64[1] = [-1]\n"
                  " const %a : i64[1] = [1]",
                  "Slice(%x, %s, %e, %a)"),
            "f32[N,8,8]");
  EXPECT_EQ(Infer("input %x : f32[N,10]\n const %s : i64[2] = [0, 1]\n"
                  " const %e : i64[2] = [9223372036854775807, 10]\n const %p : i64[2] = [1, 2]",
                  "Slice(%x, %s, %e, _, %p)"),
            "f32[N,5]");
  EXPECT_EQ(Infer("input %x : f32[N,10]\n const %s : i64[1] = [-1]\n"
                  " const %e : i64[1] = [-9223372036854775807]\n const %a : i64[1] = [1]\n"
                  " const %p : i64[1] = [-1]",
                  "Slice(%x, %s, %e, %a, %p)"),
            "f32[N,10]");
  EXPECT_EQ(Infer("input %x : f32[N,10]\n input %s : i64[1]\n const %e : i64[1] = [5]\n"
                  " const %a : i64[1] = [1]",
                  "Slice(%x, %s, %e, %a)"),
            "f32[N,?]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4,4]\n const %p : i64[8] = [0, 0, 1, 1, 0, 0, 1, 2]",
                  "Pad(%x, %p)"),
            "f32[N,3,6,7]");
  EXPECT_EQ(Infer("input %x : f32[N,3,4,4]\n const %p : i64[4] = [1, 1, 1, 1]\n"
                  " const %a : i64[2] = [-2, -1]",
                  "Pad(%x, %p, _, %a)"),
            "f32[N,3,6,6]");
  EXPECT_CONTAINS(Infer("input %x : f32[2,3]\n const %p : i64[2] = [1, 1]", "Pad(%x, %p)"),
                  "must have 2 x 2 elements");
}

TEST(ShapeInferenceTest, ConvAndPool) {
  const std::string x = "input %x : f32[N,3,224,224]\n input %w : f32[64,3,7,7]\n";
  EXPECT_EQ(Infer(x + " input %b : f32[64]",
                  "Conv(%x, %w, %b) {pads = ints[3, 3, 3, 3], strides = ints[2, 2]}"),
            "f32[N,64,112,112]");
  EXPECT_EQ(Infer("input %x : f32[N,3,H,W]\n input %w : f32[8,3,3,3]",
                  "Conv(%x, %w) {auto_pad = \"SAME_UPPER\"}"),
            "f32[N,8,H,W]");
  EXPECT_EQ(Infer("input %x : f32[N,8,H,W]\n input %w : f32[8,1,3,3]",
                  "Conv(%x, %w) {group = 8, pads = ints[1, 1, 1, 1]}"),
            "f32[N,8,H,W]");
  EXPECT_EQ(Infer("input %x : f32[N,3,H,W]\n input %w : f32[8,3,3,3]",
                  "Conv(%x, %w) {strides = ints[2, 2]}"),
            "f32[N,8,?,?]");
  const std::string e = Infer("input %x : f32[N,4,8,8]\n input %w : f32[8,3,3,3]", "Conv(%x, %w)");
  EXPECT_CONTAINS(e, "Conv 'n'");
  EXPECT_CONTAINS(e, "'x' f32[N,4,8,8] has 4 channels");
  EXPECT_CONTAINS(e, "'w' f32[8,3,3,3] expects 3 x group 1");
  EXPECT_EQ(Infer("input %x : f32[N,64,112,112]",
                  "MaxPool(%x) {kernel_shape = ints[3, 3], pads = ints[1, 1, 1, 1], "
                  "strides = ints[2, 2]}"),
            "f32[N,64,56,56]");
  EXPECT_EQ(
      Infer("input %x : f32[1,1,6,6]",
            "MaxPool(%x) {ceil_mode = 1, kernel_shape = ints[3, 3], strides = ints[2, 2]}", 2),
      "f32[1,1,3,3], i64[1,1,3,3]");
  EXPECT_EQ(Infer("input %x : f32[1,1,6,6]",
                  "AveragePool(%x) {kernel_shape = ints[3, 3], strides = ints[2, 2]}"),
            "f32[1,1,2,2]");
  EXPECT_EQ(Infer("input %x : f32[N,512,7,7]", "GlobalAveragePool(%x)"), "f32[N,512,1,1]");
  EXPECT_EQ(Infer("input %x : f32[N,8,4,4]\n input %w : f32[8,3,2,2]",
                  "ConvTranspose(%x, %w) {strides = ints[2, 2]}"),
            "f32[N,3,8,8]");
  EXPECT_EQ(Infer("input %x : u8[N,3,8,8]\n input %w : i8[4,3,3,3]", "ConvInteger(%x, %w)"),
            "i32[N,4,6,6]");
  EXPECT_EQ(Infer("input %x : u8[N,3,8,8]\n input %xs : f32[]\n input %xz : u8[]\n"
                  " input %w : i8[4,3,3,3]\n input %ws : f32[4]\n input %wz : i8[4]\n"
                  " input %ys : f32[]\n input %yz : i8[]",
                  "QLinearConv(%x, %xs, %xz, %w, %ws, %wz, %ys, %yz)"),
            "i8[N,4,6,6]");
}

TEST(ShapeInferenceTest, Normalization) {
  EXPECT_EQ(Infer("input %x : f32[N,3,8,8]\n input %s : f32[3]\n input %b : f32[3]\n"
                  " input %m : f32[3]\n input %v : f32[3]",
                  "BatchNormalization(%x, %s, %b, %m, %v)"),
            "f32[N,3,8,8]");
  EXPECT_CONTAINS(Infer("input %x : f32[N,3,8,8]\n input %s : f32[4]\n input %b : f32[3]\n"
                        " input %m : f32[3]\n input %v : f32[3]",
                        "BatchNormalization(%x, %s, %b, %m, %v)"),
                  "expected a 1-D tensor of 3 channels");
  EXPECT_EQ(Infer("input %x : f32[N,S,64]\n input %s : f32[64]\n input %b : f32[64]",
                  "LayerNormalization(%x, %s, %b)", 3),
            "f32[N,S,64], f32[N,S,1], f32[N,S,1]");
  EXPECT_EQ(Infer("input %x : f32[N,3,8,8]\n input %s : f32[3]\n input %b : f32[3]",
                  "InstanceNormalization(%x, %s, %b)"),
            "f32[N,3,8,8]");
}

TEST(ShapeInferenceTest, MatrixProducts) {
  EXPECT_EQ(Infer("input %a : f32[N,S,64]\n input %b : f32[64,32]", "MatMul(%a, %b)"),
            "f32[N,S,32]");
  EXPECT_EQ(Infer("input %a : f32[3]\n input %b : f32[3,4]", "MatMul(%a, %b)"), "f32[4]");
  EXPECT_EQ(Infer("input %a : f32[B,1,3,4]\n input %b : f32[5,4,2]", "MatMul(%a, %b)"),
            "f32[B,5,3,2]");
  const std::string e = Infer("input %a : f32[N,64]\n input %b : f32[32,10]", "MatMul(%a, %b)");
  EXPECT_CONTAINS(e, "MatMul 'n'");
  EXPECT_CONTAINS(e, "'a' f32[N,64] vs input 'b' f32[32,10] (64 vs 32)");
  EXPECT_EQ(Infer("input %a : f32[N,64]\n input %b : f32[10,64]\n input %c : f32[10]",
                  "Gemm(%a, %b, %c) {transB = 1}"),
            "f32[N,10]");
  EXPECT_CONTAINS(Infer("input %a : f32[N,64]\n input %b : f32[10,64]", "Gemm(%a, %b)"),
                  "(64 vs 10)");
  EXPECT_EQ(Infer("input %a : u8[N,64]\n input %b : i8[64,8]", "MatMulInteger(%a, %b)"),
            "i32[N,8]");
  EXPECT_EQ(Infer("input %a : u8[N,64]\n input %as : f32[]\n input %az : u8[]\n"
                  " input %b : u8[64,8]\n input %bs : f32[]\n input %bz : u8[]\n"
                  " input %ys : f32[]\n input %yz : u8[]",
                  "QLinearMatMul(%a, %as, %az, %b, %bs, %bz, %ys, %yz)"),
            "u8[N,8]");
  EXPECT_EQ(Infer("input %a : f32[N,2,3]\n input %b : f32[N,3,4]",
                  "Einsum(%a, %b) {equation = \"bij,bjk->bik\"}"),
            "f32[N,2,4]");
  EXPECT_EQ(
      Infer("input %a : f32[2,3]\n input %b : f32[3,4]", "Einsum(%a, %b) {equation = \"ij,jk\"}"),
      "f32[2,4]");
  EXPECT_EQ(Infer("input %a : f32[N,H,2,3]\n input %b : f32[3,4]",
                  "Einsum(%a, %b) {equation = \"...ij,jk->...ik\"}"),
            "f32[N,H,2,4]");
  EXPECT_CONTAINS(Infer("input %a : f32[2,3]\n input %b : f32[4,5]",
                        "Einsum(%a, %b) {equation = \"ij,jk->ik\"}"),
                  "letter 'j'");
}

TEST(ShapeInferenceTest, Reductions) {
  const std::string x = "input %x : f32[N,3,8,8]\n const %a : i64[2] = [2, 3]\n";
  EXPECT_EQ(Infer(x, "ReduceMean(%x, %a)"), "f32[N,3,1,1]");
  EXPECT_EQ(Infer(x, "ReduceSum(%x, %a) {keepdims = 0}"), "f32[N,3]");
  EXPECT_EQ(Infer(x, "ReduceMax(%x)"), "f32[1,1,1,1]");
  EXPECT_EQ(Infer(x, "ReduceL2(%x) {keepdims = 0, noop_with_empty_axes = 1}"), "f32[N,3,8,8]");
  EXPECT_EQ(Infer("input %x : f32[N,3]\n input %a : i64[1]", "ReduceMin(%x, %a)"), "f32[?,?]");
  EXPECT_CONTAINS(Infer("input %x : f32[N,3]\n const %a : i64[1] = [2]", "ReduceProd(%x, %a)"),
                  "axis 2 is out of range for rank 2");
  EXPECT_EQ(Infer(x, "ArgMax(%x) {axis = 1, keepdims = 0}"), "i64[N,8,8]");
  EXPECT_EQ(Infer(x, "ArgMin(%x) {axis = -1}"), "i64[N,3,8,1]");
  EXPECT_EQ(Infer(x, "Softmax(%x) {axis = 1}"), "f32[N,3,8,8]");
  EXPECT_CONTAINS(Infer(x, "LogSoftmax(%x) {axis = 4}"), "out of range");
}

// Extreme values from a hostile model are errors (or unknown dims), never
// overflow.
TEST(ShapeInferenceTest, ExtremeValuesDoNotOverflow) {
  EXPECT_CONTAINS(
      Infer("input %x : f32[4]\n const %p : i64[2] = [9223372036854775807, 1]", "Pad(%x, %p)"),
      "overflow");
  EXPECT_EQ(Infer("input %x : f32[10]\n const %s : i64[1] = [9]\n const %e : i64[1] = [0]\n"
                  " const %a : i64[1] = [0]\n const %p : i64[1] = [-9223372036854775808]",
                  "Slice(%x, %s, %e, %a, %p)"),
            "f32[1]");
  EXPECT_EQ(Infer("input %x : f32[10]\n const %s : i64[1] = [0]\n"
                  " const %e : i64[1] = [9223372036854775807]\n const %a : i64[1] = [0]\n"
                  " const %p : i64[1] = [9223372036854775807]",
                  "Slice(%x, %s, %e, %a, %p)"),
            "f32[1]");
  EXPECT_CONTAINS(Infer("input %x : f32[1,1,8]\n input %w : f32[1,1,3]",
                        "Conv(%x, %w) {strides = ints[9223372036854775807]}"),
                  "must be in [1, 2^31]");
  EXPECT_CONTAINS(Infer("const %s : i64[] = [-9223372036854775807]\n"
                        " const %l : i64[] = [9223372036854775807]\n const %d : i64[] = [1]",
                        "Range(%s, %l, %d)"),
                  "overflows");
  EXPECT_CONTAINS(Infer("const %s : i64[2] = [2, -3]", "ConstantOfShape(%s)"), "negative element");
}

// The shape computation PyTorch exports for x.view(x.size(0), -1) with a
// dynamic batch: value propagation carries N to the Reshape.
TEST(ShapeInferenceTest, SymbolicShapeChainReachesReshape) {
  const std::string input = R"(
    graph g {
      input %x : f32[N,3,8,8]
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
  const std::string expected = R"(
    graph g {
      input %x : f32[N,3,8,8]
      const %zero : i64[] = [0]
      const %axes : i64[1] = [0]
      const %minus1 : i64[1] = [-1]
      %shape : i64[4] = Shape(%x)
      %batch : i64[] = Gather(%shape, %zero) {axis = 0}
      %batch1 : i64[1] = Unsqueeze(%batch, %axes)
      %target : i64[2] = Concat(%batch1, %minus1) {axis = 0}
      %y : f32[N,192] = Reshape(%x, %target)
      output %y
    })";
  EXPECT_EQ(RunPass(input, [](Model& m) { return InferShapesPass().Run(m); }), Canonical(expected));
}

TEST(ShapeInferenceTest, TracksSliceAndArithmeticOnShapes) {
  // x.reshape(x.shape[0] * x.shape[1], *x.shape[2:]) written with Gather, Mul and Slice.
  auto reshaped = [](const std::string& x_type) {
    Model m = Parse(R"(graph g {
        input %x : )" +
                    x_type + R"(
        const %start : i64[1] = [2]
        const %end : i64[1] = [3]
        const %i0 : i64[1] = [0]
        const %i1 : i64[1] = [1]
        %shape : undef[*] = Shape(%x)
        %d0 : undef[*] = Gather(%shape, %i0)
        %d1 : undef[*] = Gather(%shape, %i1)
        %rows : undef[*] = Mul(%d0, %d1)
        %rest : undef[*] = Slice(%shape, %start, %end)
        %target : undef[*] = Concat(%rows, %rest) {axis = 0}
        %y : undef[*] = Reshape(%x, %target)
        output %y
      })");
    Status s = InferShapes(*m.graph);
    return s.ok() ? m.graph->FindValue("y")->type().ToString() : s.ToString();
  };
  EXPECT_EQ(reshaped("f32[2,3,4]"), "f32[6,4]");
  EXPECT_EQ(reshaped("f32[1,S,4]"), "f32[S,4]");
  EXPECT_EQ(reshaped("f32[2,S,4]"), "f32[?,4]");  // 2*S has no name
}

TEST(ShapeInferenceTest, RangeOverSymbolicLengthKeepsSymbol) {
  Model m = Parse(R"(
    graph g {
      input %x : i64[B,S]
      const %i1 : i64[] = [1]
      const %zero : i64[] = [0]
      const %one : i64[] = [1]
      %shape : i64[2] = Shape(%x)
      %seq : undef[*] = Gather(%shape, %i1)
      %pos : undef[*] = Range(%zero, %seq, %one)
      output %pos
    })");
  ASSERT_TRUE(InferShapes(*m.graph).ok());
  EXPECT_EQ(m.graph->FindValue("pos")->type().ToString(), "i64[S]");
}

TEST(ShapeInferenceTest, DeclaredTypesAreMergedAndChecked) {
  // Unknown declared dims are refined; a declared static dim beats a symbol.
  EXPECT_EQ(RunPass(R"(graph g {
                      input %x : f32[N,4]
                      %y : f32[N,?] = Relu(%x)
                      %z : f32[8,4] = Relu(%y)
                      output %z
                    })",
                    [](Model& m) { return InferShapesPass().Run(m); }),
            Canonical(R"(graph g {
                      input %x : f32[N,4]
                      %y : f32[N,4] = Relu(%x)
                      %z : f32[8,4] = Relu(%y)
                      output %z
                    })"));
  const std::string e = RunPass(R"(graph g {
                                  input %x : f32[2,4]
                                  %y : f32[2,5] = Relu(%x) name="r"
                                  output %y
                                })",
                                [](Model& m) { return InferShapesPass().Run(m); });
  EXPECT_CONTAINS(e, "Relu 'r'");
  EXPECT_CONTAINS(e, "output 'y' is declared f32[2,5] but inferred f32[2,4]");
  EXPECT_CONTAINS(RunPass(R"(graph g {
                        input %x : f32[2,4]
                        %y : i8[2,4] = Relu(%x)
                        output %y
                      })",
                          [](Model& m) { return InferShapesPass().Run(m); }),
                  "element types differ");
}

TEST(ShapeInferenceTest, OpsWithoutRuleNeedDeclaredTypes) {
  EXPECT_EQ(Infer("input %x : f32[2]", "Custom(%x) domain=\"acme\""),
            "error: node Custom 'n': no shape inference for op 'acme::Custom' and output 'o0' "
            "has no declared type");
  Model m = Parse(R"(graph g {
                      input %x : f32[2]
                      %y : f32[2] = Custom(%x) domain="acme"
                      %z : undef[*] = Relu(%y)
                      output %z
                    })");
  ASSERT_TRUE(InferShapes(*m.graph).ok());
  EXPECT_EQ(m.graph->FindValue("z")->type().ToString(), "f32[2]");
}

TEST(ShapeInferenceTest, PassReportsChangeOnlyOnce) {
  Model m = Parse(R"(graph g {
                      input %x : f32[N,4]
                      %y : undef[*] = Relu(%x)
                      output %y
                    })");
  InferShapesPass pass;
  EXPECT_EQ(pass.name(), "infer-shapes");
  Expected<bool> first = pass.Run(m);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(*first);
  Expected<bool> second = pass.Run(m);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(*second);
}

}  // namespace
}  // namespace octet
