// Helpers for the element-wise, reduction and normalisation kernel tests: run
// one op through the Interpreter on a one-node graph, build tensors, and make
// seeded random data.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/reference/interpreter.h"

namespace octet::reference::testing {

using Attrs = std::map<std::string, Attribute>;
using Inputs = std::vector<std::optional<Tensor>>;

// Builds a graph with one `op` node whose present inputs are graph inputs (an
// absent optional input is std::nullopt), runs it and returns its outputs.
inline Expected<std::vector<Tensor>> RunOp(const std::string& op, const Inputs& inputs,
                                           const Attrs& attrs = {}, int num_outputs = 1,
                                           int num_threads = 1) {
  Graph g;
  std::vector<Value*> values;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      values.push_back(nullptr);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    values.push_back(
        g.AddInput(name, TensorType(inputs[i]->dtype(), Shape::FromStatic(inputs[i]->dims()))));
    feeds[name] = *inputs[i];
  }
  std::vector<std::string> names;
  for (int i = 0; i < num_outputs; ++i) names.push_back("out" + std::to_string(i));
  Node* n = g.AddNode(op, values, names, "node_under_test");
  for (const auto& [k, v] : attrs) n->SetAttr(k, v);
  for (int i = 0; i < num_outputs; ++i) g.AddOutput(n->output(i));
  InterpreterOptions options;
  options.num_threads = num_threads;
  Interpreter interp(g, options);
  auto result = interp.Run(feeds);
  if (!result.ok()) return result.status();
  std::vector<Tensor> out;
  for (int i = 0; i < num_outputs; ++i) out.push_back(result->at(n->output(i)->name()));
  return out;
}

// Runs an op with one output; a failure fails the test and returns an empty tensor.
inline Tensor Run1(const std::string& op, const Inputs& inputs, const Attrs& attrs = {},
                   int num_threads = 1) {
  auto r = RunOp(op, inputs, attrs, 1, num_threads);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().ToString();
  return r.ok() ? (*r)[0] : Tensor();
}

// Runs an op that must fail and returns its error.
inline Status RunError(const std::string& op, const Inputs& inputs, const Attrs& attrs = {},
                       int num_outputs = 1) {
  auto r = RunOp(op, inputs, attrs, num_outputs);
  EXPECT_FALSE(r.ok()) << op << " unexpectedly succeeded";
  return r.ok() ? Status() : r.status();
}

template <typename T>
Tensor Make(const std::vector<T>& v, std::vector<int64_t> dims) {
  return Tensor::FromVector<T>(v, std::move(dims));
}
inline Tensor F32(const std::vector<float>& v, std::vector<int64_t> dims) {
  return Make<float>(v, std::move(dims));
}
inline Tensor I64(const std::vector<int64_t>& v) {
  return Make<int64_t>(v, {static_cast<int64_t>(v.size())});
}
inline Tensor Bool(const std::vector<bool>& v, std::vector<int64_t> dims) {
  Tensor t(DType::kBool, std::move(dims));
  for (size_t i = 0; i < v.size(); ++i) t.data<uint8_t>()[i] = v[i];
  return t;
}

// Uniform random values in [lo, hi) from a fixed-seed generator.
inline Tensor RandomF32(std::vector<int64_t> dims, uint32_t seed, float lo = -1, float hi = 1) {
  Tensor t(DType::kF32, std::move(dims));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}
template <typename T>
Tensor RandomInt(std::vector<int64_t> dims, uint32_t seed, int64_t lo, int64_t hi) {
  Tensor t(DTypeOf<T>::value, std::move(dims));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<T>()[i] = static_cast<T>(dist(rng));
  return t;
}

// Row-major multi-index of flat index i in `dims`.
inline std::vector<int64_t> Unravel(int64_t i, const std::vector<int64_t>& dims) {
  std::vector<int64_t> idx(dims.size());
  for (int d = static_cast<int>(dims.size()) - 1; d >= 0; --d) {
    idx[d] = i % dims[d];
    i /= dims[d];
  }
  return idx;
}
// Numpy broadcast of two shapes (the inputs must be compatible).
inline std::vector<int64_t> NaiveBroadcast(std::vector<int64_t> a, std::vector<int64_t> b) {
  while (a.size() < b.size()) a.insert(a.begin(), 1);
  while (b.size() < a.size()) b.insert(b.begin(), 1);
  for (size_t k = 0; k < a.size(); ++k) a[k] = a[k] == 1 ? b[k] : a[k];
  return a;
}
// Flat index in `dims` of the (right-aligned) numpy-broadcast position `idx`.
inline int64_t BroadcastFlat(const std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  const size_t off = idx.size() - dims.size();
  int64_t flat = 0;
  for (size_t d = 0; d < dims.size(); ++d)
    flat = flat * dims[d] + (dims[d] == 1 ? 0 : idx[off + d]);
  return flat;
}

// Element-wise comparison of float tensors: |a - e| <= atol + rtol * |e|,
// NaN only equal to NaN.
inline void ExpectClose(const Tensor& actual, const std::vector<double>& expected,
                        const std::vector<int64_t>& dims, double rtol, double atol,
                        const std::string& what = "") {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.dims(), dims) << what;
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  int bad = 0;
  for (int64_t i = 0; i < actual.numel() && bad < 5; ++i) {
    const double a = actual.GetAsDouble(i), e = expected[i];
    const bool ok =
        std::isnan(e) ? std::isnan(a) : (a == e || std::fabs(a - e) <= atol + rtol * std::fabs(e));
    if (!ok) {
      ++bad;
      ADD_FAILURE() << what << " element " << i << ": got " << a << ", expected " << e;
    }
  }
}

// Exact comparison through int64 (integer and bool tensors).
inline void ExpectInts(const Tensor& actual, const std::vector<int64_t>& expected,
                       const std::vector<int64_t>& dims, const std::string& what = "") {
  ASSERT_TRUE(actual.defined()) << what;
  ASSERT_EQ(actual.dims(), dims) << what;
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size())) << what;
  for (int64_t i = 0; i < actual.numel(); ++i)
    EXPECT_EQ(actual.GetAsInt64(i), expected[i]) << what << " element " << i;
}

inline bool Contains(const Status& s, const std::string& part) {
  return s.message().find(part) != std::string::npos;
}

}  // namespace octet::reference::testing
