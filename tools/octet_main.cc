// The `octet` command line: thin wrappers over the libraries.
#include <cstdio>
#include <vector>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Octet: a post-training quantization compiler for ONNX models"};
  app.require_subcommand(1);
  std::vector<std::pair<CLI::App*, octet::cli::Action>> commands;
  auto add = [&](octet::cli::Action (*fn)(CLI::App&)) {
    const size_t before = app.get_subcommands({}).size();
    octet::cli::Action action = fn(app);
    commands.emplace_back(app.get_subcommands({}).at(before), std::move(action));
  };
  add(octet::cli::AddInspectCommand);
  add(octet::cli::AddRunCommand);
  add(octet::cli::AddCompareCommand);
  add(octet::cli::AddEvalCommand);
  add(octet::cli::AddQuantizeCommand);
  add(octet::cli::AddCompileCommand);
  add(octet::cli::AddBenchCommand);
  CLI11_PARSE(app, argc, argv);
  for (auto& [sub, action] : commands)
    if (sub->parsed()) return action();
  return 1;
}
