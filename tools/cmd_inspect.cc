#include <cstdio>

#include "commands.h"
#include "octet/model_summary.h"
#include "octet/module/module_summary.h"
#include "octet/onnx.h"

namespace octet::cli {

Action AddInspectCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "inspect",
      "Print a model's opsets, inputs/outputs, op histogram and parameter count, or a compiled "
      "module's target, inputs/outputs, arena, weights and kernels");
  auto path = std::make_shared<std::string>();
  auto list_ops = std::make_shared<bool>(false);
  cmd->add_option("model", *path, "ONNX model file or compiled module (.octet)")->required();
  cmd->add_flag("--ops", *list_ops,
                "module: also list every op (kernel, source node, slots, attributes)");
  return [path, list_ops]() {
    if (LooksLikeModuleFile(*path)) {
      auto module = LoadModule(*path);
      if (!module.ok()) {
        std::fprintf(stderr, "error: %s\n", module.status().ToString().c_str());
        return 1;
      }
      ModuleSummaryOptions options;
      options.list_ops = *list_ops;
      std::fputs(FormatModuleSummary(*module, options).c_str(), stdout);
      return 0;
    }
    if (*list_ops) {
      std::fprintf(stderr, "error: --ops lists a compiled module's ops; %s is not a module\n",
                   path->c_str());
      return 2;
    }
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
