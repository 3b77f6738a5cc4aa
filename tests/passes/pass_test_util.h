// Helpers for pass tests written as "input text, run pass, expected text".
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "octet/ir.h"
#include "octet/ir_text.h"
#include "octet/passes/constant_folding.h"
#include "octet/reference/interpreter.h"
#include "octet/verifier.h"

namespace octet::testing {

inline ::testing::AssertionResult AssertContains(const char* haystack_expr, const char*,
                                                 const std::string& haystack,
                                                 const std::string& needle) {
  if (haystack.find(needle) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << haystack_expr << " is\n  " << haystack << "\nwhich does not contain\n  " << needle;
}

inline Model Parse(std::string_view text) {
  Expected<Model> m = ParseModel(text);
  if (!m.ok()) {
    ADD_FAILURE() << "cannot parse test IR: " << m.status().ToString() << "\n" << text;
    return Model();
  }
  return std::move(m).value();
}

// The text form of `text` as the printer writes it, so expectations can be
// written with any spacing.
inline std::string Canonical(std::string_view text) { return PrintModel(Parse(text)); }

using PassFn = std::function<Expected<bool>(Model&)>;

// Parses `input`, runs `pass`, verifies the graph and returns its text, or
// "error: <message>" when the pass fails.
inline std::string RunPass(std::string_view input, const PassFn& pass) {
  Model m = Parse(input);
  Status before = VerifyGraph(*m.graph);
  if (!before.ok()) return "invalid input: " + before.ToString();
  Expected<bool> changed = pass(m);
  if (!changed.ok()) return "error: " + changed.status().message();
  Status after = VerifyGraph(*m.graph);
  if (!after.ok()) return "invalid after the pass: " + after.ToString();
  return PrintModel(m);
}

// The reference interpreter as the folding evaluator, as the tools wire it.
inline NodeEvaluator ReferenceEvaluator() {
  return [](const Node& n, const std::vector<const Tensor*>& inputs) {
    return reference::EvaluateNode(n, inputs, 1);
  };
}

}  // namespace octet::testing

// EXPECT_CONTAINS(text, "part"): the text contains the part.
#define EXPECT_CONTAINS(haystack, needle) \
  EXPECT_PRED_FORMAT2(::octet::testing::AssertContains, haystack, needle)
