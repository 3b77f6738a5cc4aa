// How faithful a quantized model is to its float original: per quantized
// layer and for the whole model. Produced by the quantization driver
// (octet/runtime/quantize.h); rendered here as a terminal table, JSON (for CI)
// and a self-contained HTML page with a per-layer SQNR plot.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "octet/metrics.h"

namespace octet {

struct LayerFidelity {
  std::string node;         // node name in the float graph
  int64_t graph_index = 0;  // position among the quantized layers in graph order
  std::string op_type;      // "Conv", "MatMul", ...
  std::string output;       // the value compared (the node's first output)
  std::string scheme;  // one line: "act u8 affine per-tensor static, w i8 symmetric per-channel"
  // SQNR (dB) of this layer's output against fp32 when only this layer is
  // quantized (its inputs are the fp32 values, quantized as the model does)...
  double sqnr_alone_db = 0;
  // ...and in the fully quantized model (errors of every earlier layer included).
  double sqnr_in_model_db = 0;
  double cosine_in_model = 1;
};

struct ClassificationFidelity {
  int64_t samples = 0;
  int64_t top1_agreement = 0;  // samples where both models predict the same class
  int64_t labelled = 0;        // samples with a label (accuracies are over these)
  int64_t float_correct = 0;
  int64_t quantized_correct = 0;
};

struct CalibrationSummary {
  std::string data;     // the data source's one-line description
  std::string method;   // "entropy", ...
  int64_t samples = 0;  // samples streamed through the model
  int64_t batches = 0;
  int64_t observed_tensors = 0;
  std::string bias_correction;       // "12 of 12 nodes", "off: ...", "" (not configured)
  std::vector<std::string> skipped;  // "file: reason" for each bad sample skipped
  // Tensors that held NaN/Inf during calibration (excluded from the statistics).
  std::vector<std::string> nonfinite;  // "value: 3 NaN, 0 Inf"
  double seconds = 0;
};

struct FidelityReport {
  std::string model;         // input model path
  std::string preset;        // "x86-int8", ...
  std::string output_model;  // written QDQ model ("" if none)
  std::string eval_data;     // where evaluation samples came from
  int64_t eval_samples = 0;
  CalibrationSummary calibration;
  // Whole-model agreement of each graph output, quantized vs float.
  std::vector<std::pair<std::string, Agreement>> outputs;
  std::optional<ClassificationFidelity> classification;
  std::vector<LayerFidelity> layers;  // ranked worst first by sqnr_in_model_db
  int64_t quantized_layers = 0;
  int64_t float_bytes = 0, quantized_bytes = 0;  // weight storage before and after
};

// Fixed-width table for a terminal: summary lines, then the worst `max_layers`
// layers (all when <= 0).
std::string RenderFidelityTable(const FidelityReport& r, int max_layers = 20);
// Stable JSON object with every field (CI parses it). Infinite SQNR (an exact
// layer) is written as a large finite number, 999.
std::string FidelityReportToJson(const FidelityReport& r);
// One self-contained HTML page (inline CSS and SVG, no scripts or network):
// summary, whole-model table, a per-layer SQNR plot (both SQNR kinds, in
// graph order) and the ranked layer table.
std::string RenderFidelityHtml(const FidelityReport& r);

}  // namespace octet
