// The textual form of the IR, for tests and debugging. Printing then parsing
// gives back the same graph (names, types, attributes, constants bit for bit).
//
//   opset "" 17
//   graph main {
//     input %x : f32[N,4]
//     const %w : f32[4,2] = [0.5, 1, -2, 3, 0, 0, 1, 1]
//     %y : f32[N,2] = MatMul(%x, %w) name="mm"
//     %a : f32[N,1], %b : f32[N,1] = Split(%y) {axis = 1, num_outputs = 2}
//     output %a, %b
//   }
//
// Types: dtype then shape; dims are numbers, symbols or '?'; "[*]" means unknown
// rank. Quantized types add {per_tensor scale=[..] zp=[..]},
// {per_axis axis=0 scale=[..] zp=[..]} or {per_block axis=1 block=32 scale=.. zp=..}.
// Attributes: 3 (int), 0.5 (float: always has '.', 'e', "inf" or "nan"), "s" (string),
// ints[1,2], floats[1.0], strings["a"], or a tensor literal tensor<f32[2]>[1, 2].
// Constant data is decimal for f32/f64/integers/bool and hex bytes (0x...) for
// other types. Absent optional inputs are written '_'. Names with characters
// outside [A-Za-z0-9_.:/-] are quoted: %"a b".
#pragma once

#include <string>
#include <string_view>

#include "octet/ir.h"
#include "octet/status.h"

namespace octet {

struct PrintOptions {
  // Constants with more elements than this print as "<N elements>", which the
  // parser rejects: for humans reading big models, not for round trips.
  int64_t max_constant_elements = -1;  // -1: print everything
};

std::string PrintModel(const Model& model, const PrintOptions& options = {});
std::string PrintGraph(const Graph& graph, const PrintOptions& options = {});

// Errors name the line and column.
Expected<Model> ParseModel(std::string_view text);

}  // namespace octet
