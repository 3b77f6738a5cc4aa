// Listing the files of a dataset folder (private to octet_data).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "octet/status.h"

namespace octet::data {

// Regular files under `dir` (in subfolders too when `recursive`) whose file
// name satisfies `keep`, sorted by path (byte order). Errors name the folder.
Expected<std::vector<std::string>> ListFiles(const std::string& dir, bool recursive,
                                             const std::function<bool(const std::string&)>& keep);

// Lower-case ASCII copy.
std::string ToLower(std::string s);

}  // namespace octet::data
