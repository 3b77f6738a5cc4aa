// Helpers for the x86 kernel tests: seeded random integer data in the range
// that is exact on this CPU, tiny QDQ graphs run through the reference
// interpreter (the ground truth), layout transposes, and comparisons.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/reference/interpreter.h"
#include "octet/x86/cpu_info.h"

namespace octet::x86::testing {

// Base seed; OCTET_X86_TEST_SEED=<n> reruns the suite on other data.
inline uint32_t Seed(uint32_t offset) {
  const char* env = std::getenv("OCTET_X86_TEST_SEED");
  return (env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : 20240601u) + offset;
}

// Largest u8 activation that is exact here: 127 without VNNI (reduced range).
inline int U8ActivationMax() { return Int8NeedsReducedRange() ? 127 : 255; }

// Weights that are exact with s8 activations here. Without VNNI oneDNN adds
// 128 to s8 activations (to use u8 x s8 instructions): the matmul then
// saturates int16 pairs unless |w| <= 64, and the convolution halves the
// weights (rounding odd ones). Even weights in [-64, 64] avoid both
// (saturation_test.cc shows what happens otherwise).
inline bool S8SrcNeedsEvenSmallWeights() { return Int8NeedsReducedRange(); }

template <typename T>
Tensor RandomInts(std::vector<int64_t> dims, std::mt19937& rng, int lo, int hi, bool even = false) {
  Tensor t(DTypeOf<T>::value, std::move(dims));
  std::uniform_int_distribution<int> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int v = dist(rng);
    if (even) v = std::clamp(v - v % 2, lo, hi);  // towards 0: stays in range
    t.data<T>()[i] = static_cast<T>(v);
  }
  return t;
}

inline std::vector<float> RandomFloats(size_t n, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// A tiny graph under construction: constants and inputs by name.
class QdqGraph {
 public:
  Value* Input(const Tensor& t, const std::string& name) {
    feeds_[name] = t;
    return graph_.AddInput(name, TensorType(t.dtype(), Shape::FromStatic(t.dims())));
  }
  Value* Const(Tensor t, const std::string& name) { return graph_.AddConstant(name, std::move(t)); }
  Value* Node(const std::string& op, std::vector<Value*> ins, const std::string& out,
              const std::map<std::string, Attribute>& attrs = {}) {
    octet::Node* n = graph_.AddNode(op, std::move(ins), {out}, out + "_node");
    for (const auto& [k, v] : attrs) n->SetAttr(k, v);
    return n->output(0);
  }
  // DequantizeLinear(q, scale, zero_point) per tensor.
  Value* Dq(Value* q, DType t, float scale, int32_t zp, const std::string& out) {
    return Node("DequantizeLinear",
                {q, Const(Tensor::Scalar<float>(scale), out + "_scale"),
                 Const(ZeroPoint(t, zp, {}), out + "_zp")},
                out);
  }
  Value* Q(Value* x, DType t, float scale, int32_t zp, const std::string& out) {
    return Node("QuantizeLinear",
                {x, Const(Tensor::Scalar<float>(scale), out + "_scale"),
                 Const(ZeroPoint(t, zp, {}), out + "_zp")},
                out);
  }
  static Tensor ZeroPoint(DType t, int32_t zp, std::vector<int64_t> dims) {
    Tensor z(t, std::move(dims));
    for (int64_t i = 0; i < z.numel(); ++i) z.SetFromDouble(i, zp);
    return z;
  }
  // Runs the graph with `outputs` as its outputs and returns them in order.
  std::vector<Tensor> Run(const std::vector<Value*>& outputs) {
    for (Value* v : outputs) graph_.AddOutput(v);
    reference::Interpreter interp(graph_);
    auto result = interp.Run(feeds_);
    EXPECT_TRUE(result.ok()) << result.status().ToString();
    std::vector<Tensor> out;
    for (Value* v : outputs) out.push_back(result.ok() ? result->at(v->name()) : Tensor());
    return out;
  }

 private:
  Graph graph_;
  std::map<std::string, Tensor> feeds_;
};

// NCHW <-> NHWC copies of a 4-D tensor (dims stay N, C, H, W in both).
inline Tensor ToNhwc(const Tensor& t) {
  Tensor out(t.dtype(), t.dims());
  const int64_t n = t.dim(0), c = t.dim(1), hw = t.dim(2) * t.dim(3);
  const int64_t es = DTypeStorageBytes(t.dtype(), 1);
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        std::copy_n(src + ((b * c + ch) * hw + p) * es, es, dst + ((b * hw + p) * c + ch) * es);
  return out;
}
inline Tensor FromNhwc(const Tensor& t) {
  Tensor out(t.dtype(), t.dims());
  const int64_t n = t.dim(0), c = t.dim(1), hw = t.dim(2) * t.dim(3);
  const int64_t es = DTypeStorageBytes(t.dtype(), 1);
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t p = 0; p < hw; ++p)
        std::copy_n(src + ((b * hw + p) * c + ch) * es, es, dst + ((b * c + ch) * hw + p) * es);
  return out;
}

// An f32 result against its exact value and the reference interpreter's.
//  - exact: the value in double from int64 accumulation. oneDNN's int32 sum is
//    exact; converting it and applying scale, bias and post-ops in f32 costs a
//    few roundings of the operands' magnitude `mag` (sum of |terms|), so
//    |got - exact| <= 8 eps32 mag (~1e-6 relative).
//  - reference: its f32 GEMM rounds each of the K additions, so the classic
//    bound (K + 8) eps32 mag applies.
inline void ExpectF32Matches(const Tensor& got, const std::vector<double>& exact,
                             const std::vector<double>& mag, const Tensor& reference, int64_t k,
                             const std::string& what) {
  ASSERT_EQ(got.numel(), static_cast<int64_t>(exact.size())) << what;
  ASSERT_EQ(reference.numel(), got.numel()) << what;
  const double eps = std::numeric_limits<float>::epsilon();
  int bad = 0;
  for (int64_t i = 0; i < got.numel() && bad < 5; ++i) {
    const double g = got.data<float>()[i], r = reference.data<float>()[i];
    const double tol_exact = 8 * eps * mag[i] + 1e-30, tol_ref = (k + 8) * eps * mag[i] + 1e-30;
    if (std::fabs(g - exact[i]) > tol_exact || std::fabs(g - r) > tol_ref) {
      ++bad;
      ADD_FAILURE() << what << " element " << i << ": got " << g << ", exact " << exact[i]
                    << ", reference " << r << " (magnitude " << mag[i] << ")";
    }
  }
}

// Requantized results: at most one code from the reference interpreter (the
// two round different f32 values near .5), and rarely even that.
inline void ExpectInt8Matches(const Tensor& got, const Tensor& reference, const std::string& what) {
  ASSERT_EQ(got.numel(), reference.numel()) << what;
  ASSERT_EQ(got.dtype(), reference.dtype()) << what;
  int64_t off_by_one = 0, bad = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const int64_t d = std::llabs(got.GetAsInt64(i) - reference.GetAsInt64(i));
    off_by_one += d == 1;
    if (d > 1 && ++bad <= 5)
      ADD_FAILURE() << what << " element " << i << ": got " << got.GetAsInt64(i) << ", reference "
                    << reference.GetAsInt64(i);
  }
  EXPECT_LE(off_by_one, std::max<int64_t>(2, got.numel() / 100))
      << what << ": too many results one code off (" << off_by_one << " of " << got.numel() << ")";
}

}  // namespace octet::x86::testing
