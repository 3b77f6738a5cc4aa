// Annotation: applies a QuantizerConfig to a float graph and decides, without
// changing the graph, what will be quantized and how. The result (a
// QuantPlan) drives observer insertion, calibration and conversion.
//
// Activations are grouped: every value in a group is quantized with one set of
// parameters. A quantized op's activation input starts a group; walking up
// through ops in `shared_ops` (MaxPool, Reshape, ...) adds their inputs to the
// same group, and a Concat joins the groups of all its inputs, so a backend can
// run those ops on integers. Each static group is observed at one value whose
// range covers every member: the top of a pass-through chain (max pooling and
// reshapes never widen the range), or a Concat's output.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/quant/quantizer_config.h"
#include "octet/quant/scheme.h"
#include "octet/status.h"

namespace octet::quant {

// One value of an activation group and the nodes that will read its
// quantized form (the other users keep reading the float value).
struct GroupMember {
  std::string value;
  std::vector<std::string> consumers;  // node names
};

struct ActivationGroup {
  int id = 0;
  QuantScheme scheme;
  std::string observed_value;  // static groups: where the observer goes
  std::vector<GroupMember> members;
};

struct WeightQuant {
  std::string node;
  int input = 1;       // input index of the constant weight
  QuantScheme scheme;  // axis resolved for this op and weight rank
};

struct BiasQuant {
  std::string node;
  int input = 2;             // input index of the constant bias
  int activation_group = 0;  // the input's group (its scale times the weight scale)
};

struct QuantizedNode {
  std::string node;
  std::string op_type;
  std::vector<int> activation_groups;  // group of each quantized activation input
};

struct QuantPlan {
  std::vector<ActivationGroup> groups;  // index == id
  std::vector<WeightQuant> weights;
  std::vector<BiasQuant> biases;
  std::vector<QuantizedNode> nodes;  // in graph order
  // Nodes of a quantizable op type that stay float, with the reason
  // ("excluded by name:fc", "weight is not a constant", ...).
  std::vector<std::pair<std::string, std::string>> skipped;

  int num_static_groups() const;
  // One line per quantized node: "conv1 Conv: act u8 ... ; w i8 ...".
  std::string Describe() const;
};

// An Add in `ops` is quantized only as the second half of Conv + Add: when
// one addend is the sole output of a quantized Conv, the other (the residual)
// gets the activation scheme and the Conv's output stays float, the pattern a
// backend fuses into one convolution with a sum post-op. Other Adds stay float.
//
// Fails when a filter of the configuration names a node (name:) or op type
// (op:) that the graph does not have, or matches nothing (re:), so a typo in a
// config is an error rather than a silently different model.
Expected<QuantPlan> AnnotateForQuantization(const Graph& graph, const QuantizerConfig& config);

}  // namespace octet::quant
