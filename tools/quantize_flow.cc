#include "quantize_flow.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "octet/npy.h"
#include "octet/onnx.h"

namespace octet::cli {
namespace {

// Preset, then config file, then flags: later ones win.
Expected<quant::QuantizerConfig> BuildConfig(const QuantizeFlags& f) {
  OCTET_ASSIGN_OR_RETURN(quant::QuantizerConfig c, quant::MakePreset(f.preset));
  if (!f.config.empty()) OCTET_RETURN_IF_ERROR(quant::ApplyConfigFile(f.config, &c));
  if (!f.method.empty()) {
    auto m = quant::ParseCalibrationMethod(f.method);
    if (!m.ok()) return m.status().WithContext("--method");
    c.calibration.method = *m;
  }
  if (f.percentile > 0) c.calibration.percentile = f.percentile;
  for (const std::string& spec : f.include) {
    auto nf = quant::NodeFilter::Parse(spec);
    if (!nf.ok()) return nf.status().WithContext("--include");
    c.include.push_back(std::move(*nf));
  }
  for (const std::string& spec : f.exclude) {
    auto nf = quant::NodeFilter::Parse(spec);
    if (!nf.ok()) return nf.status().WithContext("--exclude");
    c.exclude.push_back(std::move(*nf));
  }
  if (f.reduce_range) {
    if (!c.activation)
      return InvalidArgument("--reduce-range: preset '", c.preset,
                             "' has no activation quantization");
    c.activation->reduce_range = true;
  }
  if (f.group_size > 0) {
    if (c.weight.granularity != quant::Granularity::kPerGroup)
      return InvalidArgument("--group-size: the weight scheme of '", c.preset,
                             "' is not per-group (", c.weight.ToString(), ")");
    c.weight.group_size = f.group_size;
  }
  if (f.no_fold_batchnorm) c.fold_batchnorm = false;
  if (f.bias_correction) c.bias_correction = true;
  if (f.no_bias_correction) c.bias_correction = false;
  OCTET_RETURN_IF_ERROR(quant::ValidateConfig(c, "configuration"));
  return c;
}

// A progress line on a terminal; nothing when stderr is redirected.
std::function<void(int64_t, int64_t)> ProgressBar(const char* what, bool quiet) {
  if (quiet || ::isatty(2) == 0) return nullptr;
  auto start =
      std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
  return [what, start](int64_t done, int64_t total) {
    const int width = 30;
    const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - *start).count();
    std::fprintf(stderr, "\r%-11s [%s%s] %lld/%lld  %.1f s", what, std::string(filled, '#').c_str(),
                 std::string(width - filled, ' ').c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), s);
    if (done >= total) std::fprintf(stderr, "\n");
  };
}

Expected<std::unique_ptr<data::DataSource>> Open(const QuantizeFlags& f, const std::string& spec,
                                                 const char* flag) {
  auto options = MakeSourceOptions(f.data_flags, spec);
  if (!options.ok()) return options.status();
  auto source = data::OpenDataSource(spec, *options);
  if (!source.ok()) return source.status().WithContext(flag);
  return source;
}

}  // namespace

void AddQuantizeFlags(CLI::App* cmd, QuantizeFlags* f, const std::string& batch_flag) {
  cmd->add_option("--calib,-c", f->calib,
                  "calibration data: images:DIR, npy:DIR, idx:IMAGES[:LABELS] or DIR");
  std::string presets;
  for (const std::string& p : quant::PresetNames()) presets += (presets.empty() ? "" : ", ") + p;
  cmd->add_option("--preset", f->preset,
                  "quantization preset: " + presets +
                      "; compile --target cuda also takes bf16 (nothing quantized, float layers "
                      "in bf16)")
      ->capture_default_str();
  cmd->add_option("--method,-m", f->method,
                  "calibration method: minmax, moving-average, percentile, entropy, mse "
                  "(default: the preset's)");
  cmd->add_option("--percentile", f->percentile, "percentile for --method percentile (e.g. 99.99)");
  cmd->add_option("--samples,-n", f->samples, "calibrate on at most N samples (-1: all)")
      ->capture_default_str();
  cmd->add_option(batch_flag, f->batch, "batch size for calibration and evaluation")
      ->capture_default_str();
  cmd->add_option("--include", f->include,
                  "quantize only matching nodes: name:NAME, op:OPTYPE, re:REGEX (repeatable)");
  cmd->add_option("--exclude", f->exclude,
                  "keep matching nodes float: name:NAME, op:OPTYPE, re:REGEX (repeatable)");
  cmd->add_option("--config", f->config, "JSON quantizer configuration (docs/quantization.md)");
  cmd->add_option("--group-size", f->group_size, "int4-weight-only group size (32, 64, 128)");
  cmd->add_flag("--no-fold-batchnorm", f->no_fold_batchnorm, "keep BatchNormalization nodes");
  auto* bc = cmd->add_flag("--bias-correction", f->bias_correction,
                           "correct MatMul/Gemm biases for the weights' rounding error from the "
                           "calibration data's input means (default: int4-weight-only)");
  cmd->add_flag("--no-bias-correction", f->no_bias_correction, "leave the biases as they are")
      ->excludes(bc);
  cmd->add_option("--eval,-e", f->eval,
                  "held-out data for the fidelity report (default: the calibration data)");
  cmd->add_option("--eval-samples", f->eval_samples, "evaluate on at most N samples (-1: all)")
      ->capture_default_str();
  cmd->add_option("--report", f->report_json, "write the fidelity report as JSON");
  cmd->add_option("--html", f->report_html, "write the fidelity report as an HTML page");
  cmd->add_option("--table-rows", f->table_rows, "layers listed on the terminal (0: all)")
      ->capture_default_str();
  cmd->add_option("--stats-in", f->stats_in, "reuse calibration statistics from this file");
  cmd->add_option("--stats-out", f->stats_out, "save calibration statistics to this file");
  cmd->add_option("--on-bad-file", f->on_bad_file,
                  "fail: stop at the first unreadable sample; skip: skip and report it")
      ->check(CLI::IsMember({"fail", "skip"}))
      ->capture_default_str();
  cmd->add_flag("--quiet,-q", f->quiet, "print only the output path");
  AddDataFlags(cmd, &f->data_flags);
}

Expected<QuantizeOutcome> RunQuantization(const QuantizeFlags& f, const std::string& output_name) {
  OCTET_ASSIGN_OR_RETURN(quant::QuantizerConfig config, BuildConfig(f));
  auto policy = data::ParseBadFilePolicy(f.on_bad_file);
  if (!policy.ok()) return policy.status().WithContext("--on-bad-file");
  OCTET_ASSIGN_OR_RETURN(Model model, ImportOnnxFile(f.model));
  auto prepared = PrepareForQuantization(std::move(model), config, f.threads);
  if (!prepared.ok()) return prepared.status().WithContext(f.model);
  const quant::QuantPlan& plan = prepared->plan;
  if (!f.quiet)
    std::printf(
        "model:      %s (%d BatchNormalization folded)\nquantizing: %zu layers, %zu "
        "left float; %d calibrated activation groups\n",
        f.model.c_str(), prepared->folded_batchnorms, plan.nodes.size(), plan.skipped.size(),
        plan.num_static_groups());

  // Calibration: statistics from a file or from the data.
  QuantizeOutcome out;
  CalibrationStats& stats = out.stats;
  std::unique_ptr<data::DataSource> calib;
  if (!f.calib.empty()) {
    OCTET_ASSIGN_OR_RETURN(calib, Open(f, f.calib, "--calib"));
  }
  // Static activations need calibration; bias correction uses it when there
  // is data and is left off (and said so) when there is none.
  const bool needs_calibration = plan.num_static_groups() > 0;
  if (config.bias_correction && !needs_calibration && !calib && f.stats_in.empty() && !f.quiet)
    std::printf(
        "bias correction: off (no --calib data); give calibration data to correct the "
        "biases for weight rounding, or --no-bias-correction\n");
  if (needs_calibration || (config.bias_correction && (calib || !f.stats_in.empty()))) {
    if (!f.stats_in.empty()) {
      OCTET_ASSIGN_OR_RETURN(stats, LoadCalibrationStats(f.stats_in, *prepared));
    } else {
      if (!calib)
        return InvalidArgument("preset '", config.preset,
                               "' has calibrated activations: give --calib DATA (or "
                               "--stats-in FILE)");
      CalibrationRun run;
      run.batch_size = f.batch;
      run.max_samples = f.samples;
      run.on_bad_file = *policy;
      run.num_threads = f.threads;
      run.progress = ProgressBar("calibrating", f.quiet);
      OCTET_ASSIGN_OR_RETURN(stats, Calibrate(*prepared, *calib, run));
    }
    out.calibrated = true;
  }
  OCTET_ASSIGN_OR_RETURN(out.qdq, ConvertToQuantized(*prepared, stats));

  // Fidelity on the evaluation data (or on the calibration data when none).
  std::unique_ptr<data::DataSource> eval_owned;
  const data::DataSource* eval = calib.get();
  if (!f.eval.empty()) {
    OCTET_ASSIGN_OR_RETURN(eval_owned, Open(f, f.eval, "--eval"));
    eval = eval_owned.get();
  }
  FidelityReport& report = out.report;
  if (eval != nullptr && f.eval_samples != 0) {
    FidelityRun run;
    run.batch_size = f.batch;
    run.max_samples = f.eval_samples;
    run.on_bad_file = *policy;
    run.num_threads = f.threads;
    run.progress = ProgressBar("evaluating", f.quiet);
    OCTET_ASSIGN_OR_RETURN(report, MeasureFidelity(*prepared, out.qdq, *eval, run));
    if (f.eval.empty())
      report.eval_data += " (the calibration data: pass --eval for held-out data)";
  } else if (!f.quiet) {
    std::printf("no evaluation data (--eval or --calib): fidelity not measured\n");
  }
  report.model = f.model;
  report.preset = config.preset;
  report.output_model = output_name;
  report.calibration = stats.summary;
  report.calibration.method = plan.num_static_groups() > 0
                                  ? quant::CalibrationMethodName(config.calibration.method)
                              : out.calibrated ? "input means only (no calibrated activations)"
                                               : "none (no calibrated activations)";
  if (auto it = out.qdq.metadata.find("octet.quantization.bias_correction");
      it != out.qdq.metadata.end())
    report.calibration.bias_correction = it->second;
  return out;
}

Status WriteQuantizeReports(const QuantizeFlags& f, const QuantizeOutcome& q) {
  if (!f.stats_out.empty() && q.calibrated)
    OCTET_RETURN_IF_ERROR(SaveCalibrationStats(q.stats, f.stats_out));
  if (!f.report_json.empty())
    OCTET_RETURN_IF_ERROR(WriteFileAtomically(f.report_json, FidelityReportToJson(q.report)));
  if (!f.report_html.empty())
    OCTET_RETURN_IF_ERROR(WriteFileAtomically(f.report_html, RenderFidelityHtml(q.report)));
  if (!f.quiet) std::printf("%s", RenderFidelityTable(q.report, f.table_rows).c_str());
  return Status::Ok();
}

}  // namespace octet::cli
