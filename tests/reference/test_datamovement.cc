// Reference data-movement and shape kernels, run through the Interpreter on
// one-node graphs. Expected values are written out by hand or computed with
// naive index arithmetic independent of the kernels' table machinery.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "kernel_test_util.h"
#include "octet/ir.h"
#include "octet/reference/interpreter.h"

namespace octet::reference {
namespace {

constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();

using testing::Attrs;
using testing::Inputs;
using testing::Run1;
using testing::RunOp;

Status RunError(const std::string& op, const Inputs& inputs, const Attrs& attrs = {},
                int num_outputs = 1) {
  auto r = RunOp(op, inputs, attrs, num_outputs);
  EXPECT_FALSE(r.ok()) << op << " unexpectedly succeeded";
  return r.ok() ? Status() : r.status();
}

template <typename T>
Tensor Make(const std::vector<T>& v, std::vector<int64_t> dims) {
  return Tensor::FromVector<T>(v, std::move(dims));
}
Tensor I64(const std::vector<int64_t>& v) {
  return Make<int64_t>(v, {static_cast<int64_t>(v.size())});
}
// 0, 1, 2, ... as T in the given shape.
template <typename T>
Tensor Iota(std::vector<int64_t> dims) {
  Tensor t(DTypeOf<T>::value, std::move(dims));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(i);
  return t;
}
template <typename T>
std::vector<T> Values(const Tensor& t) {
  EXPECT_EQ(t.dtype(), DTypeOf<T>::value);
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

void ExpectErrorMentions(const Status& s, std::vector<std::string> parts) {
  EXPECT_NE(s.message().find("node_under_test"), std::string::npos) << s.ToString();
  for (const auto& p : parts) EXPECT_NE(s.message().find(p), std::string::npos) << s.ToString();
}

// ---------------------------------------------------------------- Reshape etc.

TEST(ReshapeTest, InfersMinusOneAndKeepsData) {
  Tensor out = Run1("Reshape", {Iota<float>({2, 3, 4}), I64({4, -1})});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{4, 6}));
  EXPECT_EQ(Values<float>(out), Values<float>(Iota<float>({24})));
}

TEST(ReshapeTest, ZeroCopiesInputDimUnlessAllowZero) {
  EXPECT_EQ(Run1("Reshape", {Iota<int32_t>({2, 3, 4}), I64({0, -1})}).dims(),
            (std::vector<int64_t>{2, 12}));
  Tensor empty(DType::kF32, {0, 3});
  EXPECT_EQ(Run1("Reshape", {empty, I64({3, 0})}, {{"allowzero", int64_t{1}}}).dims(),
            (std::vector<int64_t>{3, 0}));
}

TEST(ReshapeTest, KeepsPackedInt4Bytes) {
  Tensor t(DType::kI4, {2, 3});
  for (int64_t i = 0; i < 6; ++i) t.SetFromDouble(i, static_cast<double>(i - 3));
  Tensor out = Run1("Reshape", {t, I64({3, 2})});
  ASSERT_EQ(out.dtype(), DType::kI4);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(out.GetAsInt64(i), i - 3);
}

TEST(ReshapeTest, Errors) {
  ExpectErrorMentions(RunError("Reshape", {Iota<float>({2, 3, 4}), I64({5, 5})}),
                      {"f32[2,3,4]", "[5,5]"});
  ExpectErrorMentions(RunError("Reshape", {Iota<float>({2, 3}), I64({-1, -1})}), {"-1"});
  ExpectErrorMentions(RunError("Reshape", {Iota<float>({2, 3}), I64({-2, 3})}), {"-2"});
  ExpectErrorMentions(RunError("Reshape", {Iota<float>({6}), I64({4, -1})}), {"multiple"});
  ExpectErrorMentions(
      RunError("Reshape", {Iota<float>({6}), I64({0, -1})}, {{"allowzero", int64_t{1}}}),
      {"inferred"});
}

TEST(FlattenTest, Axes) {
  const Tensor x = Iota<uint8_t>({2, 3, 4});
  EXPECT_EQ(Run1("Flatten", {x}).dims(), (std::vector<int64_t>{2, 12}));
  EXPECT_EQ(Run1("Flatten", {x}, {{"axis", int64_t{0}}}).dims(), (std::vector<int64_t>{1, 24}));
  EXPECT_EQ(Run1("Flatten", {x}, {{"axis", int64_t{3}}}).dims(), (std::vector<int64_t>{24, 1}));
  Tensor out = Run1("Flatten", {x}, {{"axis", int64_t{-1}}});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(Values<uint8_t>(out), Values<uint8_t>(x));
  ExpectErrorMentions(RunError("Flatten", {x}, {{"axis", int64_t{4}}}), {"axis 4"});
}

TEST(SqueezeTest, AxesOrAllOnes) {
  const Tensor x = Iota<float>({2, 1, 3, 1});
  EXPECT_EQ(Run1("Squeeze", {x, I64({-1})}).dims(), (std::vector<int64_t>{2, 1, 3}));
  EXPECT_EQ(Run1("Squeeze", {x}).dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Run1("Squeeze", {x, I64({1, 3})}).dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Run1("Squeeze", {x, I64({})}).dims(), (std::vector<int64_t>{2, 1, 3, 1}));
  ExpectErrorMentions(RunError("Squeeze", {x, I64({0})}), {"extent 1", "got 2"});
  ExpectErrorMentions(RunError("Squeeze", {x, I64({4})}), {"out of range"});
}

TEST(UnsqueezeTest, AxesIndexTheOutput) {
  EXPECT_EQ(Run1("Unsqueeze", {Iota<float>({3, 4}), I64({0, -1})}).dims(),
            (std::vector<int64_t>{1, 3, 4, 1}));
  EXPECT_EQ(Run1("Unsqueeze", {Iota<float>({2, 3}), I64({3, 0})}).dims(),
            (std::vector<int64_t>{1, 2, 3, 1}));
  EXPECT_EQ(Run1("Unsqueeze", {Tensor::Scalar<int64_t>(5), I64({0})}).dims(),
            (std::vector<int64_t>{1}));
  ExpectErrorMentions(RunError("Unsqueeze", {Iota<float>({3}), I64({1, -2})}), {"repeats"});
  ExpectErrorMentions(RunError("Unsqueeze", {Iota<float>({3}), I64({2})}), {"out of range"});
}

TEST(ShapeTest, StartEnd) {
  const Tensor x(DType::kF32, {2, 3, 4});
  EXPECT_EQ(Values<int64_t>(Run1("Shape", {x})), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(Values<int64_t>(Run1("Shape", {x}, {{"start", int64_t{1}}})),
            (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(Values<int64_t>(Run1("Shape", {x}, {{"start", int64_t{-1}}})),
            (std::vector<int64_t>{4}));
  EXPECT_EQ(Values<int64_t>(Run1("Shape", {x}, {{"end", int64_t{-1}}})),
            (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Run1("Shape", {x}, {{"start", int64_t{-10}}, {"end", int64_t{10}}}).numel(), 3);
  EXPECT_EQ(Run1("Shape", {x}, {{"start", int64_t{2}}, {"end", int64_t{1}}}).numel(), 0);
}

TEST(SizeTest, CountsElements) {
  Tensor out = Run1("Size", {Tensor(DType::kI8, {2, 3})});
  EXPECT_EQ(out.rank(), 0);
  EXPECT_EQ(Values<int64_t>(out), (std::vector<int64_t>{6}));
  EXPECT_EQ(Values<int64_t>(Run1("Size", {Tensor(DType::kF32, {2, 0})})),
            (std::vector<int64_t>{0}));
}

TEST(ConstantOfShapeTest, ValueAndDefaults) {
  Tensor zeros = Run1("ConstantOfShape", {I64({2, 3})});
  EXPECT_EQ(zeros.dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Values<float>(zeros), std::vector<float>(6, 0.0f));
  Tensor sevens = Run1("ConstantOfShape", {I64({2, 2})}, {{"value", Make<int32_t>({7}, {1})}});
  EXPECT_EQ(Values<int32_t>(sevens), std::vector<int32_t>(4, 7));
  Tensor scalar = Run1("ConstantOfShape", {I64({})}, {{"value", Tensor::Scalar<double>(2.5)}});
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(Values<double>(scalar), std::vector<double>{2.5});
  EXPECT_EQ(Run1("ConstantOfShape", {I64({3, 0})}).numel(), 0);
  ExpectErrorMentions(RunError("ConstantOfShape", {I64({2, -1})}), {"negative"});
  ExpectErrorMentions(
      RunError("ConstantOfShape", {I64({2})}, {{"value", Make<float>({1, 2}, {2})}}),
      {"one element"});
}

TEST(RangeTest, FloatAndIntegerTypes) {
  EXPECT_EQ(Values<float>(
                Run1("Range", {Tensor::Scalar(1.0f), Tensor::Scalar(5.0f), Tensor::Scalar(2.0f)})),
            (std::vector<float>{1, 3}));
  EXPECT_EQ(Values<double>(
                Run1("Range", {Tensor::Scalar(0.0), Tensor::Scalar(1.0), Tensor::Scalar(0.3)})),
            (std::vector<double>{0.0, 0.3, 0.6, 0.3 * 3}));
  EXPECT_EQ(Values<int32_t>(Run1("Range", {Tensor::Scalar<int32_t>(10), Tensor::Scalar<int32_t>(4),
                                           Tensor::Scalar<int32_t>(-3)})),
            (std::vector<int32_t>{10, 7}));
  EXPECT_EQ(
      Values<uint8_t>(Run1("Range", {Tensor::Scalar<uint8_t>(250), Tensor::Scalar<uint8_t>(255),
                                     Tensor::Scalar<uint8_t>(2)})),
      (std::vector<uint8_t>{250, 252, 254}));
  EXPECT_EQ(Run1("Range", {Tensor::Scalar<int16_t>(5), Tensor::Scalar<int16_t>(1),
                           Tensor::Scalar<int16_t>(1)})
                .numel(),
            0);
  // The count of an int64 range spanning the whole type must not overflow.
  EXPECT_EQ(Values<int64_t>(Run1("Range", {Tensor::Scalar(kI64Min), Tensor::Scalar(kI64Max),
                                           Tensor::Scalar(kI64Max)})),
            (std::vector<int64_t>{kI64Min, -1, kI64Max - 1}));
}

TEST(RangeTest, Errors) {
  ExpectErrorMentions(RunError("Range", {Tensor::Scalar<int32_t>(0), Tensor::Scalar<int32_t>(4),
                                         Tensor::Scalar<int32_t>(0)}),
                      {"zero"});
  ExpectErrorMentions(RunError("Range", {Tensor::Scalar<int32_t>(0), Tensor::Scalar<int64_t>(4),
                                         Tensor::Scalar<int32_t>(1)}),
                      {"i64", "i32"});
  Status s = RunError("Range", {Tensor::Scalar(true), Tensor::Scalar(true), Tensor::Scalar(true)});
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented) << s.ToString();
}

// ------------------------------------------------------------ Transpose etc.

TEST(TransposeTest, DefaultReversesDims) {
  const Tensor x = Iota<float>({2, 3, 4});
  Tensor out = Run1("Transpose", {x});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{4, 3, 2}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(out.data<float>()[(k * 3 + j) * 2 + i], x.data<float>()[(i * 3 + j) * 4 + k]);
}

TEST(TransposeTest, PermInt64Data) {
  const Tensor x = Iota<int64_t>({2, 3, 4});
  Tensor out = Run1("Transpose", {x}, {{"perm", std::vector<int64_t>{1, 2, 0}}});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{3, 4, 2}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k)
        EXPECT_EQ(out.data<int64_t>()[(j * 4 + k) * 2 + i], x.data<int64_t>()[(i * 3 + j) * 4 + k]);
  EXPECT_EQ(Run1("Transpose", {Tensor(DType::kF16, {0, 5})}).dims(), (std::vector<int64_t>{5, 0}));
  EXPECT_EQ(Values<float>(Run1("Transpose", {Tensor::Scalar(3.0f)})), std::vector<float>{3.0f});
}

TEST(TransposeTest, Errors) {
  ExpectErrorMentions(
      RunError("Transpose", {Iota<float>({2, 3})}, {{"perm", std::vector<int64_t>{0, 0}}}),
      {"permutation"});
  ExpectErrorMentions(
      RunError("Transpose", {Iota<float>({2, 3})}, {{"perm", std::vector<int64_t>{0}}}),
      {"rank 2"});
  Status s = RunError("Transpose", {Tensor(DType::kU4, {2, 2})});
  EXPECT_EQ(s.code(), StatusCode::kUnimplemented);
  ExpectErrorMentions(s, {"u4"});
}

TEST(ConcatTest, NegativeAxisAndEmptyInputs) {
  const Tensor a = Make<int16_t>({1, 2}, {2, 1});
  const Tensor b = Make<int16_t>({3, 4, 5, 6, 7, 8}, {2, 3});
  const Tensor empty(DType::kI16, {2, 0});
  Tensor out = Run1("Concat", {a, empty, b}, {{"axis", int64_t{-1}}});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(Values<int16_t>(out), (std::vector<int16_t>{1, 3, 4, 5, 2, 6, 7, 8}));
  Tensor rows = Run1("Concat", {Iota<float>({1, 2}), Iota<float>({2, 2})}, {{"axis", int64_t{0}}});
  EXPECT_EQ(Values<float>(rows), (std::vector<float>{0, 1, 0, 1, 2, 3}));
}

TEST(ConcatTest, Errors) {
  ExpectErrorMentions(
      RunError("Concat", {Iota<float>({2, 1}), Iota<float>({3, 1})}, {{"axis", int64_t{1}}}),
      {"f32[3,1]", "f32[2,1]"});
  ExpectErrorMentions(
      RunError("Concat", {Iota<float>({2}), Iota<int32_t>({2})}, {{"axis", int64_t{0}}}),
      {"i32", "f32"});
  ExpectErrorMentions(RunError("Concat", {Iota<float>({2})}, {{"axis", int64_t{1}}}), {"axis 1"});
}

TEST(SplitTest, EqualByOutputs) {
  auto r = RunOp("Split", {Iota<int32_t>({2, 6})}, {{"axis", int64_t{-1}}}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<int32_t>((*r)[0]), (std::vector<int32_t>{0, 1, 6, 7}));
  EXPECT_EQ(Values<int32_t>((*r)[2]), (std::vector<int32_t>{4, 5, 10, 11}));
  EXPECT_EQ((*r)[1].dims(), (std::vector<int64_t>{2, 2}));
}

TEST(SplitTest, SplitInputWithZeroSizes) {
  auto r = RunOp("Split", {Iota<float>({5}), I64({2, 0, 3})}, {}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<float>((*r)[0]), (std::vector<float>{0, 1}));
  EXPECT_EQ((*r)[1].dims(), (std::vector<int64_t>{0}));
  EXPECT_EQ(Values<float>((*r)[2]), (std::vector<float>{2, 3, 4}));
}

TEST(SplitTest, NumOutputsUnevenLastChunk) {
  auto r = RunOp("Split", {Iota<uint8_t>({7})}, {{"num_outputs", int64_t{3}}}, 3);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Values<uint8_t>((*r)[0]), (std::vector<uint8_t>{0, 1, 2}));
  EXPECT_EQ(Values<uint8_t>((*r)[1]), (std::vector<uint8_t>{3, 4, 5}));
  EXPECT_EQ(Values<uint8_t>((*r)[2]), (std::vector<uint8_t>{6}));
}

TEST(SplitTest, Errors) {
  ExpectErrorMentions(RunError("Split", {Iota<float>({5}), I64({2, 2})}, {}, 2), {"sums to 4"});
  ExpectErrorMentions(RunError("Split", {Iota<float>({5})}, {}, 2), {"equal parts"});
  ExpectErrorMentions(RunError("Split", {Iota<float>({4})}, {{"num_outputs", int64_t{3}}}, 2),
                      {"num_outputs is 3"});
  ExpectErrorMentions(RunError("Split", {Iota<float>({5})}, {{"num_outputs", int64_t{4}}}, 4),
                      {"last chunk"});
}

TEST(SliceTest, NegativeAndClampedBounds) {
  const Tensor x = Iota<float>({10});
  EXPECT_EQ(Values<float>(Run1("Slice", {x, I64({-3}), I64({kI64Max})})),
            (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(Values<float>(Run1("Slice", {x, I64({-100}), I64({2})})), (std::vector<float>{0, 1}));
  EXPECT_EQ(Run1("Slice", {x, I64({20}), I64({30})}).numel(), 0);
  EXPECT_EQ(Values<float>(Run1("Slice", {x, I64({-1}), I64({kI64Min}), I64({0}), I64({-3})})),
            (std::vector<float>{9, 6, 3, 0}));
  EXPECT_EQ(Values<float>(Run1("Slice", {x, I64({8}), I64({2}), std::nullopt, I64({-2})})),
            (std::vector<float>{8, 6, 4}));
  EXPECT_EQ(Values<float>(Run1("Slice", {x, I64({1}), I64({9}), std::nullopt, I64({kI64Max})})),
            (std::vector<float>{1}));
  EXPECT_EQ(Values<float>(Run1("Slice", {x, I64({9}), I64({0}), std::nullopt, I64({kI64Min})})),
            (std::vector<float>{9}));
}

TEST(SliceTest, AxesAndSteps2D) {
  const Tensor x = Iota<int32_t>({3, 5});
  Tensor out = Run1("Slice", {x, Make<int32_t>({4, 0}, {2}), Make<int32_t>({0, 3}, {2}),
                              Make<int32_t>({-1, 0}, {2}), Make<int32_t>({-2, 2}, {2})});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{2, 2}));
  // Rows 0 and 2, columns 4 and 2.
  std::vector<int32_t> expected;
  for (int r : {0, 2})
    for (int c : {4, 2}) expected.push_back(r * 5 + c);
  EXPECT_EQ(Values<int32_t>(out), expected);
}

TEST(SliceTest, Errors) {
  const Tensor x = Iota<float>({4, 4});
  ExpectErrorMentions(RunError("Slice", {x, I64({0}), I64({2}), I64({0}), I64({0})}), {"zero"});
  ExpectErrorMentions(RunError("Slice", {x, I64({0, 0}), I64({2})}), {"different lengths"});
  ExpectErrorMentions(RunError("Slice", {x, I64({0, 0}), I64({2, 2}), I64({0, -2})}), {"repeats"});
  ExpectErrorMentions(RunError("Slice", {x, I64({0}), I64({2}), I64({2})}), {"out of range"});
}

TEST(GatherTest, Axis0WithNegativeInt32Indices) {
  const Tensor data = Make<float>({1, 2, 3, 4, 5, 6}, {3, 2});
  Tensor out = Run1("Gather", {data, Make<int32_t>({0, 2, -1, 1}, {2, 2})});
  EXPECT_EQ(out.dims(), (std::vector<int64_t>{2, 2, 2}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{1, 2, 5, 6, 5, 6, 3, 4}));
}

TEST(GatherTest, InnerAxisAndScalarIndex) {
  const Tensor data = Iota<int64_t>({2, 3, 4});
  Tensor out = Run1("Gather", {data, I64({3, 0})}, {{"axis", int64_t{-1}}});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{2, 3, 2}));
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(out.data<int64_t>()[i * 2], i * 4 + 3);
    EXPECT_EQ(out.data<int64_t>()[i * 2 + 1], i * 4);
  }
  Tensor row = Run1("Gather", {data, Tensor::Scalar<int64_t>(1)}, {{"axis", int64_t{1}}});
  ASSERT_EQ(row.dims(), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(Values<int64_t>(row), (std::vector<int64_t>{4, 5, 6, 7, 16, 17, 18, 19}));
  EXPECT_EQ(Run1("Gather", {data, I64({})}).dims(), (std::vector<int64_t>{0, 3, 4}));
}

TEST(GatherTest, OutOfRangeIndex) {
  Status s = RunError("Gather", {Iota<float>({3, 2}), I64({0, 3})});
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  ExpectErrorMentions(s, {"index 3", "[-3, 2]"});
  s = RunError("Gather", {Iota<float>({3, 2}), I64({-4})});
  ExpectErrorMentions(s, {"index -4"});
  ExpectErrorMentions(RunError("Gather", {Iota<float>({3}), Make<float>({0}, {1})}), {"f32"});
}

TEST(ExpandTest, BidirectionalBroadcast) {
  const Tensor x = Make<int8_t>({1, 2, 3}, {3, 1});
  Tensor out = Run1("Expand", {x, I64({2, 1, 4})});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{2, 3, 4}));
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) EXPECT_EQ(out.data<int8_t>()[(b * 3 + i) * 4 + j], i + 1);
  // A smaller target shape keeps the input's larger dims.
  EXPECT_EQ(Values<float>(Run1("Expand", {Iota<float>({3}), I64({1})})),
            (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(Run1("Expand", {Iota<float>({1}), I64({0})}).dims(), (std::vector<int64_t>{0}));
  ExpectErrorMentions(RunError("Expand", {Iota<float>({3}), I64({2})}), {"f32[3]", "[2]"});
}

TEST(TileTest, Repeats) {
  const Tensor x = Make<double>({1, 2, 3, 4}, {2, 2});
  Tensor out = Run1("Tile", {x, I64({2, 3})});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{4, 6}));
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 6; ++j)
      EXPECT_EQ(out.data<double>()[i * 6 + j], x.data<double>()[(i % 2) * 2 + j % 2]);
  EXPECT_EQ(Run1("Tile", {x, I64({0, 1})}).dims(), (std::vector<int64_t>{0, 2}));
  ExpectErrorMentions(RunError("Tile", {x, I64({2})}), {"rank 2"});
  ExpectErrorMentions(RunError("Tile", {x, I64({-1, 1})}), {"negative"});
}

// Naive padding of a 1-D row, for the pad-mode tests.
std::vector<float> PadRow(const std::vector<float>& v, int before, int after,
                          const std::string& mode) {
  const int n = static_cast<int>(v.size());
  std::vector<float> out;
  for (int o = -before; o < n + after; ++o) {
    int i = o;
    if (mode == "edge") i = o < 0 ? 0 : (o >= n ? n - 1 : o);
    if (mode == "wrap") i = ((o % n) + n) % n;
    if (mode == "reflect")
      while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
    out.push_back(i >= 0 && i < n ? v[i] : -1.0f);
  }
  return out;
}

TEST(PadTest, ConstantWithValueAndNegativeAxes) {
  const Tensor x = Make<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor out = Run1("Pad", {x, I64({1, 0, 0, 2}), Tensor::Scalar<int32_t>(9)});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(Values<int32_t>(out),
            (std::vector<int32_t>{9, 9, 9, 9, 9, 1, 2, 3, 9, 9, 4, 5, 6, 9, 9}));
  Tensor cols = Run1("Pad", {x, I64({1, 1}), std::nullopt, I64({-1})});
  EXPECT_EQ(Values<int32_t>(cols), (std::vector<int32_t>{0, 1, 2, 3, 0, 0, 4, 5, 6, 0}));
}

TEST(PadTest, NegativePadsCrop) {
  const Tensor x = Iota<float>({2, 4});
  Tensor out = Run1("Pad", {x, I64({0, -1, -1, 1})}, {{"mode", "constant"}});
  ASSERT_EQ(out.dims(), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(Values<float>(out), (std::vector<float>{1, 2, 3, 0}));
}

TEST(PadTest, Modes) {
  const std::vector<float> row = {1, 2, 3};
  for (const std::string mode : {"reflect", "edge", "wrap"}) {
    for (int before : {0, 2, 5}) {
      Tensor out = Run1("Pad", {Make<float>(row, {1, 3}), I64({0, before, 0, 2})},
                        {{"mode", Attribute(mode)}});
      EXPECT_EQ(Values<float>(out), PadRow(row, before, 2, mode)) << mode << " " << before;
    }
  }
  // A single element reflects onto itself.
  EXPECT_EQ(Values<float>(Run1("Pad", {Make<float>({7}, {1}), I64({2, 1})}, {{"mode", "reflect"}})),
            (std::vector<float>{7, 7, 7, 7}));
}

TEST(PadTest, Errors) {
  const Tensor x = Iota<float>({2, 3});
  ExpectErrorMentions(RunError("Pad", {x, I64({1, 1})}), {"expected 4"});
  ExpectErrorMentions(RunError("Pad", {x, I64({1, 1, 1, 1})}, {{"mode", "mirror"}}), {"mirror"});
  ExpectErrorMentions(RunError("Pad", {x, I64({-3, 0, 0, 0})}), {"remove more"});
  ExpectErrorMentions(RunError("Pad", {x, I64({0, 0, 1, 1}), Tensor::Scalar<double>(1.0)}),
                      {"f64", "f32"});
  ExpectErrorMentions(
      RunError("Pad", {Tensor(DType::kF32, {0, 2}), I64({1, 0, 0, 0})}, {{"mode", "edge"}}),
      {"no elements"});
  EXPECT_EQ(RunError("Pad", {Tensor(DType::kI4, {2}), I64({1, 1})}).code(),
            StatusCode::kUnimplemented);
}

}  // namespace
}  // namespace octet::reference
