// Helpers for the linalg / conv-pool / quant kernel tests: run one node through
// the reference interpreter, make seeded random tensors, compare with bounds.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/reference/interpreter.h"

namespace octet::testing_linalg {

using Attrs = std::map<std::string, Attribute>;

// Builds a graph with one `op` node whose defined inputs are graph inputs
// (an undefined Tensor is an absent optional input) and runs it with the
// interpreter on `threads` threads.
inline Expected<std::vector<Tensor>> RunOp(const std::string& op, const std::vector<Tensor>& inputs,
                                           const Attrs& attrs = {}, int num_outputs = 1,
                                           int threads = 2) {
  Graph g;
  std::vector<Value*> values;
  std::map<std::string, Tensor> feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) {
      values.push_back(nullptr);
      continue;
    }
    const std::string name = "in" + std::to_string(i);
    values.push_back(
        g.AddInput(name, TensorType(inputs[i].dtype(), Shape::FromStatic(inputs[i].dims()))));
    feeds[name] = inputs[i];
  }
  std::vector<std::string> out_names;
  for (int i = 0; i < num_outputs; ++i) out_names.push_back("out" + std::to_string(i));
  Node* node = g.AddNode(op, values, out_names, "node_" + op);
  for (const auto& [name, attr] : attrs) node->SetAttr(name, attr);
  for (int i = 0; i < num_outputs; ++i) g.AddOutput(node->output(i));
  reference::InterpreterOptions options;
  options.num_threads = threads;
  reference::Interpreter interp(g, options);
  auto result = interp.Run(feeds);
  if (!result.ok()) return result.status();
  std::vector<Tensor> outs;
  for (int i = 0; i < num_outputs; ++i) outs.push_back(result->at(node->output(i)->name()));
  return outs;
}

inline int64_t NumElements(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Uniform values in [lo, hi] (floats) from a fixed-seed generator.
inline Tensor RandomTensor(std::mt19937& rng, DType dtype, std::vector<int64_t> dims,
                           double lo = -1.0, double hi = 1.0) {
  Tensor t(dtype, std::move(dims));
  std::uniform_real_distribution<double> real(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) {
    double v = real(rng);
    if (IsInteger(t.dtype())) v = std::floor(v);
    t.SetFromDouble(i, v);
  }
  return t;
}

inline std::vector<double> AsDoubles(const Tensor& t) {
  std::vector<double> out(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = t.GetAsDouble(i);
  return out;
}

// Expects got[i] within tol[i] of want[i] for every element.
inline void ExpectNear(const Tensor& got, const std::vector<int64_t>& want_dims,
                       const std::vector<double>& want, const std::vector<double>& tol,
                       const std::string& what) {
  ASSERT_EQ(got.dims(), want_dims) << what;
  ASSERT_EQ(static_cast<size_t>(got.numel()), want.size()) << what;
  int failures = 0;
  for (int64_t i = 0; i < got.numel() && failures < 5; ++i) {
    const double g = got.GetAsDouble(i);
    if (!(std::fabs(g - want[i]) <= tol[i])) {
      ADD_FAILURE() << what << ": element " << i << " is " << g << ", want " << want[i]
                    << " (tolerance " << tol[i] << ")";
      ++failures;
    }
  }
}

// Tolerance for an fp32 dot product of k terms whose absolute products sum to
// `abs_sum`: each rounding step contributes at most 2^-24 relative to the
// running magnitude, so the error is bounded by about k * 2^-24 * abs_sum (a
// blocked summation order only lowers the effective k). Factor 2 of slack for
// the final rounding and the input conversion.
inline double Fp32DotTolerance(int64_t k, double abs_sum) {
  return 2.0 * static_cast<double>(k + 1) * std::ldexp(1.0, -24) * abs_sum + 1e-30;
}

}  // namespace octet::testing_linalg
