#include <cstdio>

#include "commands.h"
#include "octet/model_summary.h"
#include "octet/onnx.h"

namespace octet::cli {

Action AddInspectCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "inspect", "Print a model's opsets, inputs/outputs, op histogram and parameter count");
  auto path = std::make_shared<std::string>();
  cmd->add_option("model", *path, "ONNX model file")->required();
  return [path]() {
    ImportOptions options;
    options.allow_unsupported_ops = true;  // inspect whatever the model contains
    auto model = ImportOnnxFile(*path, options);
    if (!model.ok()) {
      std::fprintf(stderr, "error: %s\n", model.status().ToString().c_str());
      return 1;
    }
    std::fputs(FormatSummary(*model, *path).c_str(), stdout);
    return 0;
  };
}

}  // namespace octet::cli
