// NumPy .npy files: the exchange format for inputs, outputs and golden data.
#pragma once

#include <string>

#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

// Reads a C-ordered .npy file (format versions 1-3). Errors name the file.
Expected<Tensor> ReadNpy(const std::string& path);
Expected<Tensor> ParseNpy(std::string_view bytes, const std::string& what);
// Writes atomically: a temporary file in the same folder renamed into place, so
// a failure never leaves a partial file.
Status WriteNpy(const std::string& path, const Tensor& t);

// Reads a whole file; errors name it.
Expected<std::string> ReadFileBytes(const std::string& path);
// Writes a whole file atomically (temp + rename).
Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace octet
