#include "file_list.h"

#include <algorithm>
#include <filesystem>

namespace octet::data {

namespace fs = std::filesystem;

std::string ToLower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

Expected<std::vector<std::string>> ListFiles(const std::string& dir, bool recursive,
                                             const std::function<bool(const std::string&)>& keep) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return NotFound("'", dir, "' is not a folder");
  std::vector<std::string> files;
  auto visit = [&](const fs::directory_entry& e) {
    std::error_code type_ec;
    if (e.is_regular_file(type_ec) && keep(e.path().filename().string()))
      files.push_back(e.path().string());
  };
  if (recursive) {
    fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) visit(*it);
  } else {
    fs::directory_iterator it(dir, ec);
    for (; !ec && it != fs::directory_iterator(); it.increment(ec)) visit(*it);
  }
  if (ec) return IoError("cannot list '", dir, "': ", ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace octet::data
