// `octet quantize`: float ONNX model + calibration data -> QDQ ONNX model and a
// fidelity report (the steps: quantize_flow.h).
#include <cstdio>

#include "commands.h"
#include "octet/onnx.h"
#include "quantize_flow.h"

namespace octet::cli {

Action AddQuantizeCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "quantize", "Post-training quantization: float ONNX + calibration data -> QDQ ONNX + report");
  auto f = std::make_shared<QuantizeFlags>();
  auto output = std::make_shared<std::string>();
  cmd->add_option("model", f->model, "float ONNX model")->required();
  cmd->add_option("--output,-o", *output, "QDQ ONNX model to write")->required();
  AddQuantizeFlags(cmd, f.get(), "--batch,-b");
  cmd->add_flag("--reduce-range", f->reduce_range,
                "7-bit activations (CPUs without VNNI: avoids int16 saturation)");
  cmd->add_option("--threads", f->threads, "worker threads (0: all cores)")->capture_default_str();
  return [f, output]() {
    auto q = RunQuantization(*f, *output);
    if (!q.ok()) return Fail(q.status());
    // Outputs only after every step succeeded; each written atomically.
    Status s = ExportOnnxFile(q->qdq, *output);
    if (s.ok()) s = WriteQuantizeReports(*f, *q);
    if (!s.ok()) return Fail(s);
    std::printf("wrote %s\n", output->c_str());
    return 0;
  };
}

}  // namespace octet::cli
