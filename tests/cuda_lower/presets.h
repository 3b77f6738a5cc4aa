// The calibration-free presets (int8-dynamic, int8-weight-only,
// int4-weight-only) applied to a float model, as `octet compile --preset`
// does before lowering; bf16 leaves the model float. Shared by the cuda
// lowering tests.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "octet/runtime/quantize.h"
#include "quant/quant_test_util.h"

namespace octet::testing {

inline Expected<Model> ApplyPreset(Model float_model, const std::string& preset) {
  if (preset == "bf16") return float_model;
  OCTET_ASSIGN_OR_RETURN(quant::QuantizerConfig config, quant::MakePreset(preset));
  OCTET_ASSIGN_OR_RETURN(PreparedModel prepared,
                         PrepareForQuantization(std::move(float_model), config));
  return ConvertToQuantized(prepared, CalibrationStats{});  // no statistics needed
}

// The int8-dynamic QDQ graph of `float_model` (a test failure if it cannot be made).
inline Model QuantizeDynamic(Model float_model) {
  auto qdq = ApplyPreset(std::move(float_model), "int8-dynamic");
  EXPECT_TRUE(qdq.ok()) << qdq.status().ToString();
  return qdq.ok() ? std::move(*qdq) : Model{};
}

}  // namespace octet::testing
