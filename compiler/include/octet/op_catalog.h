// The ONNX operators Octet supports (ai.onnx domain unless noted). The importer
// rejects models that use anything else, listing every unsupported op at once;
// tests check that every op here has shape inference and a reference kernel.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace octet {

struct OpInfo {
  std::string_view domain;  // "" for ai.onnx
  std::string_view op_type;
};

const std::vector<OpInfo>& SupportedOps();
bool IsSupportedOp(std::string_view domain, std::string_view op_type);

}  // namespace octet
