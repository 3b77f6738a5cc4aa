// Chains of layout ops that move whole rows of a tensor and leave its last
// axis (the channels) alone: a ViT's window partition (Pad, Reshape,
// Transpose, Reshape) and its reverse (Reshape, Transpose, Reshape, Slice,
// Slice). Such a chain is a row gather, `out[r, :] = src[map[r], :]` with
// rows of zeros where map[r] < 0 (padding), and the map follows from the
// static shapes at compile time. The cuda lowering folds it into the
// per-token quantization that reads the rows, so the copies never run.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "octet/ir.h"

namespace octet::compile_internal {

struct RowGather {
  const Value* source = nullptr;   // the chain's input
  std::vector<const Node*> nodes;  // source's reader first, the producer of `end` last
  std::vector<int32_t> map;        // per output row: its source row, or -1 (zeros)
};

// The longest usable chain of row-moving layout nodes (Reshape, Flatten,
// Squeeze, Unsqueeze, Identity, Transpose keeping the last axis, Slice and
// zero Pad off the last axis) that ends in `end`, walking producers back
// while each node's output feeds only the next one; nullopt when there is
// none, when shapes are not static, or when the rows stay where they are.
// Nodes in `absorbed` are not taken. The caller checks who reads `end`.
std::optional<RowGather> MatchRowGather(const Value* end, const std::set<const Node*>& absorbed);

}  // namespace octet::compile_internal
