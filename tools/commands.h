// Subcommands of the `octet` CLI. Each registers its flags on the app and
// returns the action to run when it is chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace octet::cli {

using Action = std::function<int()>;

Action AddInspectCommand(CLI::App& app);
Action AddRunCommand(CLI::App& app);
Action AddCompareCommand(CLI::App& app);
Action AddEvalCommand(CLI::App& app);
Action AddQuantizeCommand(CLI::App& app);
Action AddCompileCommand(CLI::App& app);
Action AddBenchCommand(CLI::App& app);

}  // namespace octet::cli
