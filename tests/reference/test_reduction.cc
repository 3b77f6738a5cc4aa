// Reference reductions and ArgMax/ArgMin. Expected values come from a naive
// loop that, for every output position, scans the whole input and keeps the
// elements whose kept coordinates match, accumulating in double.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "kernel_test_util.h"

namespace octet::reference {
namespace {

using namespace testing;  // NOLINT: test helpers

// Naive reduction of a float tensor over `axes` (normalised, any order).
std::vector<double> NaiveReduce(const Tensor& x, const std::string& op, const std::set<int>& axes,
                                std::vector<int64_t>* keep_dims) {
  const auto& dims = x.dims();
  keep_dims->clear();
  for (int d = 0; d < x.rank(); ++d) keep_dims->push_back(axes.count(d) ? 1 : dims[d]);
  int64_t n_out = 1;
  for (int64_t d : *keep_dims) n_out *= d;
  std::vector<double> out(n_out);
  for (int64_t o = 0; o < n_out; ++o) {
    const auto oidx = Unravel(o, *keep_dims);
    std::vector<double> vals;
    for (int64_t i = 0; i < x.numel(); ++i) {
      const auto idx = Unravel(i, dims);
      bool match = true;
      for (int d = 0; d < x.rank(); ++d) match &= axes.count(d) || idx[d] == oidx[d];
      if (match) vals.push_back(x.data<float>()[i]);
    }
    double r = 0;
    if (op == "ReduceSum" || op == "ReduceMean") {
      for (double v : vals) r += v;
      if (op == "ReduceMean") r /= static_cast<double>(vals.size());
    } else if (op == "ReduceSumSquare" || op == "ReduceL2") {
      for (double v : vals) r += v * v;
      if (op == "ReduceL2") r = std::sqrt(r);
    } else if (op == "ReduceProd") {
      r = 1;
      for (double v : vals) r *= v;
    } else if (op == "ReduceMax") {
      r = *std::max_element(vals.begin(), vals.end());
    } else if (op == "ReduceMin") {
      r = *std::min_element(vals.begin(), vals.end());
    }
    out[o] = r;
  }
  return out;
}

// Both sides accumulate in double, in different orders: the double results
// differ by a few 1e-16 relative, so after the kernel's single rounding to
// float they agree to 1 float ulp (1.2e-7); 2.4e-7 leaves margin. Sums of
// mixed-sign values can cancel, hence the small absolute term.
constexpr double kRtol = 2.4e-7, kAtol = 1e-7;

TEST(ReductionTest, AllOpsAllAxisSets) {
  const Tensor x = RandomF32({3, 4, 5}, 101, 0.5f, 1.5f);
  const std::vector<std::vector<int64_t>> axis_sets = {{0},    {1},    {2},     {-1},
                                                       {0, 2}, {2, 0}, {-3, 1}, {0, 1, 2}};
  for (const char* op : {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                         "ReduceSumSquare", "ReduceL2"}) {
    for (const auto& axes : axis_sets) {
      std::set<int> norm;
      for (int64_t a : axes) norm.insert(static_cast<int>(a < 0 ? a + 3 : a));
      std::vector<int64_t> keep;
      const std::vector<double> e = NaiveReduce(x, op, norm, &keep);
      for (int64_t keepdims : {0, 1}) {
        std::vector<int64_t> dims;
        for (int d = 0; d < 3; ++d)
          if (!norm.count(d) || keepdims) dims.push_back(keep[d]);
        const std::string what = std::string(op) + " axes " + std::to_string(axes[0]) +
                                 "... keepdims " + std::to_string(keepdims);
        ExpectClose(Run1(op, {x, I64(axes)}, {{"keepdims", keepdims}}), e, dims, kRtol, kAtol,
                    what);
      }
    }
    // No axes: reduce everything, keepdims defaults to 1.
    std::vector<int64_t> keep;
    ExpectClose(Run1(op, {x}), NaiveReduce(x, op, {0, 1, 2}, &keep), {1, 1, 1}, kRtol, kAtol, op);
    // The older attribute form is accepted when the input is absent.
    ExpectClose(Run1(op, {x}, {{"axes", std::vector<int64_t>{1}}, {"keepdims", int64_t{0}}}),
                NaiveReduce(x, op, {1}, &keep), {3, 5}, kRtol, kAtol, op);
  }
}

TEST(ReductionTest, EmptyAxesAndNoop) {
  const Tensor x = RandomF32({2, 3}, 102);
  std::vector<int64_t> keep;
  // An empty axes input reduces everything unless noop_with_empty_axes is set.
  ExpectClose(Run1("ReduceSum", {x, I64({})}), NaiveReduce(x, "ReduceSum", {0, 1}, &keep), {1, 1},
              kRtol, kAtol);
  EXPECT_TRUE(
      Run1("ReduceSum", {x, I64({})}, {{"noop_with_empty_axes", int64_t{1}}}).BitwiseEquals(x));
  std::vector<double> sq;
  for (int i = 0; i < 6; ++i)
    sq.push_back(static_cast<double>(x.data<float>()[i]) * x.data<float>()[i]);
  ExpectClose(Run1("ReduceSumSquare", {x}, {{"noop_with_empty_axes", int64_t{1}}}), sq, {2, 3},
              kRtol, 0);
}

TEST(ReductionTest, EmptySetsFollowTheSpec) {
  const Tensor x(DType::kF32, {2, 0, 3});
  const std::vector<int64_t> axes = {1};
  const double inf = std::numeric_limits<double>::infinity();
  const std::vector<std::pair<std::string, double>> cases = {
      {"ReduceSum", 0},    {"ReduceProd", 1},      {"ReduceMax", -inf}, {"ReduceMin", inf},
      {"ReduceMean", NAN}, {"ReduceSumSquare", 0}, {"ReduceL2", 0},
  };
  for (const auto& [op, v] : cases)
    ExpectClose(Run1(op, {x, I64(axes)}), std::vector<double>(6, v), {2, 1, 3}, 0, 0, op);
  const Tensor xi(DType::kI32, {0, 2});
  ExpectInts(Run1("ReduceMax", {xi, I64({0})}, {{"keepdims", int64_t{0}}}),
             {std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::min()}, {2});
}

TEST(ReductionTest, IntegerSumsAreExactBeyondDoublePrecision) {
  const int64_t big = int64_t{1} << 60;
  // In double, 2^60 + 1 would round to 2^60 and the columns would sum to 0.
  ExpectInts(Run1("ReduceSum", {Make<int64_t>({big, 1, 1, big, -big, -big}, {3, 2}), I64({0})}),
             {1, 1}, {1, 2});
  ExpectInts(Run1("ReduceMean", {Make<int32_t>({7, -7, 2, 3}, {2, 2}), I64({1})}), {0, 2}, {2, 1});
  ExpectInts(Run1("ReduceProd", {Make<uint8_t>({16, 16, 3}, {3})}), {0}, {1});  // wraps
  ExpectInts(Run1("ReduceMax", {Bool({false, true, false, false}, {2, 2}), I64({1})}), {1, 0},
             {2, 1});
}

// A million elements: float accumulation would drift by ~1e-3 relative; the
// kernel's double accumulation must stay within float rounding of the exact
// sum (computed here in long double).
TEST(ReductionTest, LongSumsStayAccurate) {
  const Tensor x = RandomF32({1000, 1000}, 103, 0, 1);
  long double exact = 0;
  for (int64_t i = 0; i < x.numel(); ++i) exact += x.data<float>()[i];
  ExpectClose(Run1("ReduceSum", {x}), {static_cast<double>(exact)}, {1, 1}, 1.2e-7, 0);
  ExpectClose(Run1("ReduceMean", {x}), {static_cast<double>(exact / 1e6L)}, {1, 1}, 1.2e-7, 0);
}

TEST(ReductionTest, ArgMaxArgMin) {
  // Few distinct values so ties are common and select_last_index matters.
  const Tensor x = RandomInt<int32_t>({3, 4, 5}, 104, 0, 3);
  for (bool is_max : {true, false}) {
    for (int axis = -3; axis < 3; ++axis) {
      const int a = axis < 0 ? axis + 3 : axis;
      for (int64_t last : {0, 1}) {
        std::vector<int64_t> keep = x.dims();
        keep[a] = 1;
        std::vector<int64_t> e;
        for (int64_t o = 0; o < 12 * 5 / x.dim(a); ++o) {
          auto idx = Unravel(o, keep);
          int64_t best_k = 0;
          for (int64_t k = 0; k < x.dim(a); ++k) {
            idx[a] = k;
            int64_t flat = BroadcastFlat(idx, x.dims());
            idx[a] = best_k;
            const int32_t v = x.data<int32_t>()[flat];
            const int32_t b = x.data<int32_t>()[BroadcastFlat(idx, x.dims())];
            if ((is_max ? v > b : v < b) || (last && v == b)) best_k = k;
          }
          e.push_back(best_k);
        }
        const Attrs attrs = {{"axis", int64_t{axis}}, {"select_last_index", last}};
        const char* op = is_max ? "ArgMax" : "ArgMin";
        const Tensor r = Run1(op, {x}, attrs);
        EXPECT_EQ(r.dtype(), DType::kI64);
        ExpectInts(r, e, keep, std::string(op) + " axis " + std::to_string(axis));
        std::vector<int64_t> squeezed = x.dims();
        squeezed.erase(squeezed.begin() + a);
        Attrs no_keep = attrs;
        no_keep["keepdims"] = int64_t{0};
        ExpectInts(Run1(op, {x}, no_keep), e, squeezed, op);
      }
    }
  }
  // NaN is the extreme for both, first occurrence unless select_last_index.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const Tensor f = F32({1, nan, 5, nan}, {4});
  ExpectInts(Run1("ArgMax", {f}), {1}, {1});
  ExpectInts(Run1("ArgMin", {f}), {1}, {1});
  ExpectInts(Run1("ArgMax", {f}, {{"select_last_index", int64_t{1}}}), {3}, {1});
}

TEST(ReductionTest, Errors) {
  const Tensor x = RandomF32({2, 3}, 105);
  Status s = RunError("ReduceSum", {x, I64({2})});
  EXPECT_TRUE(Contains(s, "axis 2") && Contains(s, "f32[2,3]") && Contains(s, "node_under_test"))
      << s.ToString();
  s = RunError("ReduceMean", {x, I64({1, -1})});
  EXPECT_TRUE(Contains(s, "more than once")) << s.ToString();
  s = RunError("ReduceSum", {x, F32({1}, {1})});
  EXPECT_TRUE(Contains(s, "axes") && Contains(s, "f32")) << s.ToString();
  s = RunError("ReduceSum", {Bool({true}, {1})});
  EXPECT_TRUE(Contains(s, "bool")) << s.ToString();
  s = RunError("ArgMax", {x}, {{"axis", int64_t{-3}}});
  EXPECT_TRUE(Contains(s, "-3")) << s.ToString();
  s = RunError("ArgMin", {Tensor(DType::kF32, {2, 0})}, {{"axis", int64_t{1}}});
  EXPECT_TRUE(Contains(s, "length 0")) << s.ToString();
}

}  // namespace
}  // namespace octet::reference
