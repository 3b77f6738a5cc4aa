// Post-training quantization of a float model, step by step:
//
//   PrepareForQuantization  simplification pipeline, BatchNorm folding and
//                           annotation (what is quantized, how)
//   Calibrate               streams a data source through the prepared graph
//                           with observers and collects statistics (bounded
//                           memory: histograms, never activations)
//   SaveCalibrationStats /  statistics in a JSON file keyed to the prepared
//   LoadCalibrationStats    graph, so another method needs no new run
//   ConvertToQuantized      ranges by the configured method -> QDQ model
//   MeasureFidelity         float vs quantized on evaluation data: per-layer
//                           and whole-model numbers (a FidelityReport)
//
// Models run on the reference interpreter. Everything is deterministic: the
// same model, data and configuration give the same bits.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "octet/data/batcher.h"
#include "octet/data/data_source.h"
#include "octet/ir.h"
#include "octet/quant/annotate.h"
#include "octet/quant/bias_correction.h"
#include "octet/quant/quantizer_config.h"
#include "octet/quant/statistics.h"
#include "octet/runtime/fidelity_report.h"
#include "octet/status.h"

namespace octet {

struct PreparedModel {
  Model model;  // simplified, BatchNorm folded; float
  quant::QuantPlan plan;
  quant::QuantizerConfig config;
  // Hash of the prepared graph (structure, types, weights) and of the observed
  // values: calibration statistics are only valid for the same fingerprint.
  std::string fingerprint;
  int folded_batchnorms = 0;
};

Expected<PreparedModel> PrepareForQuantization(Model float_model,
                                               const quant::QuantizerConfig& config,
                                               int num_threads = 0);

struct CalibrationRun {
  int64_t batch_size = 8;
  int64_t max_samples = -1;  // -1: the whole source
  data::BadFilePolicy on_bad_file = data::BadFilePolicy::kFail;
  int num_threads = 0;
  // Called after each batch with samples done and samples planned.
  std::function<void(int64_t done, int64_t total)> progress;
};

struct CalibrationStats {
  std::string fingerprint;
  int histogram_bins = 0;
  std::map<std::string, quant::TensorStatistics> tensors;  // by observed value name
  // With bias correction: the input of each corrected node, summed per channel
  // (by node name; quant::BiasCorrectionInput says which input and axis).
  std::map<std::string, quant::ChannelSums> input_sums;
  CalibrationSummary summary;
};

// Fails (naming the file) when a sample does not fit the model input, when
// the source is empty or every sample was skipped, and on any run error.
Expected<CalibrationStats> Calibrate(const PreparedModel& prepared, const data::DataSource& source,
                                     const CalibrationRun& run);

// Written atomically (temporary file, then rename).
Status SaveCalibrationStats(const CalibrationStats& stats, const std::string& path);
// Fails when the file was made for another graph (fingerprint differs) or
// lacks statistics for an observed value.
Expected<CalibrationStats> LoadCalibrationStats(const std::string& path,
                                                const PreparedModel& prepared);

// Chooses every static group's range with the configuration's calibration
// method and rewrites a copy of the prepared model into QDQ form. With
// `config.bias_correction` and input sums in `stats`, the biases are corrected
// first (quant::CorrectBiasForWeightRounding); the model's metadata
// "octet.quantization.bias_correction" says what was done ("12 of 12 nodes",
// "off: no calibration data", ...).
Expected<Model> ConvertToQuantized(const PreparedModel& prepared, const CalibrationStats& stats);

struct FidelityRun {
  int64_t batch_size = 8;
  int64_t max_samples = -1;
  data::BadFilePolicy on_bad_file = data::BadFilePolicy::kFail;
  int num_threads = 0;
  std::function<void(int64_t done, int64_t total)> progress;
};

// Runs both models over the source and fills the report's outputs, layers,
// classification (for [N, classes] outputs; accuracy when labelled),
// eval_samples and weight sizes. Memory: one batch of the float layers'
// outputs at a time.
Expected<FidelityReport> MeasureFidelity(const PreparedModel& prepared, const Model& quantized,
                                         const data::DataSource& source, const FidelityRun& run);

// The static batch size of a model input, or -1 when its batch dim is
// symbolic or unknown.
int64_t StaticBatch(const Value& input);
// Batches of `source` for `input`: the model's static batch size when it has
// one, else `batch_size`.
Expected<data::Batcher> BatcherFor(const Value& input, const data::DataSource& source,
                                   int64_t batch_size, int64_t max_samples,
                                   data::BadFilePolicy on_bad_file);

// Fills `batch` up to `size` rows by repeating its last row (models with a
// static batch dimension).
Tensor PadBatch(const Tensor& batch, int64_t size);

// Checks a batch against the model input's declared type (dtype, rank and the
// static non-batch dims), naming both in the error.
Status CheckBatchFitsInput(const Value& input, const Tensor& batch, const std::string& where);

}  // namespace octet
