// The quantization steps shared by `octet quantize` (float model -> QDQ ONNX)
// and `octet compile --calib` (float model -> QDQ -> compiled module in one
// command): flags, configuration, calibration, conversion and the fidelity
// report. The steps themselves live in octet/runtime/quantize.h.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "data_flags.h"
#include "octet/ir.h"
#include "octet/runtime/fidelity_report.h"
#include "octet/runtime/quantize.h"

namespace octet::cli {

struct QuantizeFlags {
  std::string model, calib, eval, config, preset = "x86-int8", method;
  std::string report_json, report_html, stats_in, stats_out;
  std::string on_bad_file = "fail";
  std::vector<std::string> include, exclude;
  DataFlags data_flags;
  int64_t samples = -1, eval_samples = 64, batch = 8, group_size = 0;
  double percentile = 0;
  int threads = 0, table_rows = 20;
  bool reduce_range = false, no_fold_batchnorm = false, quiet = false;
  bool bias_correction = false, no_bias_correction = false;
};

// Registers every quantization flag except the model, the output and the
// thread count. `batch_flag` names the calibration batch size ("--batch" for
// quantize; compile's --batch is the arena's). Flags whose help depends on the
// command (--reduce-range) are left to it.
void AddQuantizeFlags(CLI::App* cmd, QuantizeFlags* f, const std::string& batch_flag);

struct QuantizeOutcome {
  Model qdq;
  FidelityReport report;
  CalibrationStats stats;
  bool calibrated = false;  // stats hold statistics (save them with --stats-out)
};

// Configuration, calibration (or --stats-in), conversion and, when there is
// evaluation data, the fidelity report; prints progress and a summary unless
// quiet. Writes nothing: see WriteQuantizeReports.
Expected<QuantizeOutcome> RunQuantization(const QuantizeFlags& f, const std::string& output_name);

// --stats-out, --report and --html, each written atomically; then the table.
Status WriteQuantizeReports(const QuantizeFlags& f, const QuantizeOutcome& q);

}  // namespace octet::cli
