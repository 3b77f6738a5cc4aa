// Subcommands of the `octet` CLI. Each registers its flags on the app and
// returns the action to run when it is chosen.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

#include "octet/status.h"

namespace octet::cli {

using Action = std::function<int()>;

// "error: <message>" on stderr; returns the exit status 1.
int Fail(const Status& s);
// `s` as a JSON string literal, quotes included.
std::string JsonString(const std::string& s);

Action AddInspectCommand(CLI::App& app);
Action AddRunCommand(CLI::App& app);
Action AddCompareCommand(CLI::App& app);
Action AddEvalCommand(CLI::App& app);
Action AddQuantizeCommand(CLI::App& app);
Action AddCompileCommand(CLI::App& app);
Action AddBenchCommand(CLI::App& app);

}  // namespace octet::cli
