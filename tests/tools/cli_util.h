// Runs the built `octet` binary for CLI tests.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace octet::testing {

struct CommandResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// `octet ARGS` through the shell; -1 when it could not be started.
inline CommandResult RunOctet(const std::string& args) {
  const std::string cmd = std::string(OCTET_BINARY_DIR) + "/tools/octet " + args + " 2>&1";
  CommandResult r{-1, ""};
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

}  // namespace octet::testing
