// Structural checks on a graph, run between passes in tests and debug builds:
// SSA (one definition per value), use-lists agree with node inputs, every input
// is defined before use (acyclic, topologically ordered), constants match their
// types, and graph outputs are defined.
#pragma once

#include "octet/ir.h"
#include "octet/status.h"

namespace octet {

Status VerifyGraph(const Graph& graph);

}  // namespace octet
