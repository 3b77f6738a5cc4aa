// Pieces shared by the IR printer and parser.
#pragma once

#include <string>
#include <string_view>

#include "octet/dtype.h"

namespace octet::ir_text {

// Characters allowed in an unquoted %name.
inline bool IsBareNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == ':' || c == '/' || c == '-';
}

// Constant data of these types is written as decimal numbers; others as hex bytes.
inline bool HasDecimalForm(DType t) {
  return t == DType::kF32 || t == DType::kF64 || (IsInteger(t) && DTypeBits(t) >= 8) ||
         t == DType::kBool;
}

}  // namespace octet::ir_text
