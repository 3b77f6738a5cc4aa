// Helpers shared by the fidelity report renderers (fidelity_report.cc: table
// and JSON; fidelity_report_html.cc: HTML). Not part of the public API.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "octet/runtime/fidelity_report.h"

namespace octet::fidelity_internal {

// printf into a std::string.
std::string Printf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// Layers worst first: ascending sqnr_in_model_db, NaN counted as the worst;
// ties keep the report's order. The report is documented as already ranked;
// sorting again keeps every rendering consistent if a producer forgets.
std::vector<const LayerFidelity*> RankedLayers(const FidelityReport& r);
// Layers in graph order (ascending graph_index, ties keep the report's order).
std::vector<const LayerFidelity*> GraphOrderLayers(const FidelityReport& r);

// "31.2", "inf", "-inf", "nan".
std::string FormatDb(double db);
// "%.6f" or "nan"/"inf".
std::string FormatFixed(double v, int decimals);
// "%.3e" or "nan"/"inf".
std::string FormatSci(double v);
// "46.80 MB (46,797,224 bytes)"-style, decimal units.
std::string FormatBytes(int64_t bytes);
// num / den, nullopt when den is 0.
std::optional<double> Ratio(double num, double den);

// Number of quantized layers to show: r.quantized_layers when the producer set
// it, else the number of layer rows.
int64_t QuantizedLayerCount(const FidelityReport& r);
// "entropy, 324 samples in 162 batches, 18 tensors observed, 35.0 s" (plain
// text; HTML escapes it).
std::string CalibrationLine(const CalibrationSummary& c);

}  // namespace octet::fidelity_internal
