// Rendering of FidelityReport: the terminal table and JSON (the HTML page is in
// fidelity_report_html.cc).
#include "octet/runtime/fidelity_report.h"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "fidelity_report_internal.h"

namespace octet {
namespace fidelity_internal {

std::string Printf(const char* fmt, ...) {
  va_list args;
  va_start(args, fmt);
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  std::string out;
  if (n > 0) {
    out.resize(static_cast<size_t>(n) + 1);
    std::vsnprintf(out.data(), out.size(), fmt, args);
    out.resize(static_cast<size_t>(n));
  }
  va_end(args);
  return out;
}

std::vector<const LayerFidelity*> RankedLayers(const FidelityReport& r) {
  std::vector<const LayerFidelity*> out;
  out.reserve(r.layers.size());
  for (const LayerFidelity& l : r.layers) out.push_back(&l);
  std::stable_sort(out.begin(), out.end(), [](const LayerFidelity* a, const LayerFidelity* b) {
    const bool an = std::isnan(a->sqnr_in_model_db), bn = std::isnan(b->sqnr_in_model_db);
    if (an || bn) return an && !bn;  // NaN first (worst), NaNs keep their order
    return a->sqnr_in_model_db < b->sqnr_in_model_db;
  });
  return out;
}

std::vector<const LayerFidelity*> GraphOrderLayers(const FidelityReport& r) {
  std::vector<const LayerFidelity*> out;
  out.reserve(r.layers.size());
  for (const LayerFidelity& l : r.layers) out.push_back(&l);
  std::stable_sort(out.begin(), out.end(), [](const LayerFidelity* a, const LayerFidelity* b) {
    return a->graph_index < b->graph_index;
  });
  return out;
}

namespace {
const char* NonFiniteName(double v) {
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}
}  // namespace

std::string FormatDb(double db) {
  if (!std::isfinite(db)) return NonFiniteName(db);
  return Printf("%.1f", db);
}

std::string FormatFixed(double v, int decimals) {
  if (!std::isfinite(v)) return NonFiniteName(v);
  return Printf("%.*f", decimals, v);
}

std::string FormatSci(double v) {
  if (!std::isfinite(v)) return NonFiniteName(v);
  return Printf("%.3e", v);
}

std::string FormatBytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  std::string human;
  if (std::abs(b) >= 1e9) {
    human = Printf("%.2f GB", b / 1e9);
  } else if (std::abs(b) >= 1e6) {
    human = Printf("%.2f MB", b / 1e6);
  } else if (std::abs(b) >= 1e3) {
    human = Printf("%.2f kB", b / 1e3);
  } else {
    return Printf("%lld bytes", static_cast<long long>(bytes));
  }
  // Thousands separators for the exact count.
  std::string digits = std::to_string(bytes < 0 ? -bytes : bytes), grouped;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) grouped += ',';
    grouped += digits[i];
  }
  return human + " (" + (bytes < 0 ? "-" : "") + grouped + " bytes)";
}

std::optional<double> Ratio(double num, double den) {
  if (den == 0) return std::nullopt;
  return num / den;
}

int64_t QuantizedLayerCount(const FidelityReport& r) {
  return r.quantized_layers > 0 ? r.quantized_layers : static_cast<int64_t>(r.layers.size());
}

std::string CalibrationLine(const CalibrationSummary& c) {
  std::string s = c.method.empty() ? std::string("(method not set)") : c.method;
  if (c.samples > 0)
    s += Printf(", %lld samples in %lld batches", static_cast<long long>(c.samples),
                static_cast<long long>(c.batches));
  if (c.observed_tensors > 0)
    s += Printf(", %lld tensors observed", static_cast<long long>(c.observed_tensors));
  if (!c.bias_correction.empty()) s += "; bias correction: " + c.bias_correction;
  if (c.seconds > 0) s += Printf(", %.1f s", c.seconds);
  return s;
}

}  // namespace fidelity_internal

namespace {

using namespace fidelity_internal;

// Terminal cells: control characters (a newline in a node name) would break
// the layout, so they become '?'.
std::string CellText(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

// Width in terminal columns, counting UTF-8 code points (not bytes).
size_t Width(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Keeps the tail of names longer than `width` (the end of an ONNX node name,
// "/layer4/layer4.1/conv2/Conv", says more than its start), prefixed "...".
std::string Fit(const std::string& s, size_t width) {
  if (Width(s) <= width) return s;
  if (width <= 3) return std::string(width, '.');
  size_t keep = width - 3, start = s.size();
  while (start > 0 && keep > 0) {
    --start;
    if ((static_cast<unsigned char>(s[start]) & 0xC0) != 0x80) --keep;
  }
  // Never start inside a multi-byte sequence.
  while (start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
  return "..." + s.substr(start);
}

std::string PadRight(const std::string& s, size_t width) {
  const size_t w = Width(s);
  return w >= width ? s : s + std::string(width - w, ' ');
}
std::string PadLeft(const std::string& s, size_t width) {
  const size_t w = Width(s);
  return w >= width ? s : std::string(width - w, ' ') + s;
}

std::string Percent(int64_t num, int64_t den) {
  if (den <= 0) return "n/a";
  return Printf("%.2f %%", 100.0 * static_cast<double>(num) / static_cast<double>(den));
}

constexpr size_t kLabelWidth = 18;
constexpr size_t kMaxListed = 10;  // skipped / non-finite entries listed in the table

void Line(std::string& out, const std::string& label, const std::string& value) {
  out += "  " + PadRight(label, kLabelWidth) + CellText(value) + "\n";
}

// A list under a summary line: "skipped   3 samples" then the entries indented.
void List(std::string& out, const std::string& label, const std::vector<std::string>& items,
          const char* noun) {
  if (items.empty()) return;
  Line(out, label, Printf("%zu %s", items.size(), noun));
  const std::string indent(2 + kLabelWidth + 2, ' ');
  for (size_t i = 0; i < items.size() && i < kMaxListed; ++i)
    out += indent + CellText(items[i]) + "\n";
  if (items.size() > kMaxListed)
    out += indent + Printf("... %zu more\n", items.size() - kMaxListed);
}

}  // namespace

std::string RenderFidelityTable(const FidelityReport& r, int max_layers) {
  std::string out = "Octet fidelity report\n";
  Line(out, "model", r.model.empty() ? "-" : r.model);
  Line(out, "preset", r.preset.empty() ? "-" : r.preset);
  if (!r.output_model.empty()) Line(out, "quantized model", r.output_model);
  Line(out, "calibration", CalibrationLine(r.calibration));
  if (!r.calibration.data.empty()) Line(out, "calibration data", r.calibration.data);
  if (r.calibration.skipped.empty())
    Line(out, "skipped samples", "none");
  else
    List(out, "skipped samples", r.calibration.skipped, "skipped");
  if (r.calibration.nonfinite.empty())
    Line(out, "non-finite", "none");
  else
    List(out, "non-finite", r.calibration.nonfinite, "tensors (excluded from statistics)");
  if (r.eval_samples > 0 || !r.eval_data.empty())
    Line(out, "evaluation",
         Printf("%lld samples", static_cast<long long>(r.eval_samples)) +
             (r.eval_data.empty() ? "" : " from " + r.eval_data));
  if (r.float_bytes > 0 || r.quantized_bytes > 0) {
    std::string w = FormatBytes(r.float_bytes) + " -> " + FormatBytes(r.quantized_bytes);
    if (auto ratio =
            Ratio(static_cast<double>(r.float_bytes), static_cast<double>(r.quantized_bytes)))
      w += Printf(", %.2fx smaller", *ratio);
    Line(out, "weights", w);
  }
  if (r.classification) {
    const ClassificationFidelity& c = *r.classification;
    Line(out, "top-1 agreement",
         Printf("%lld / %lld (", static_cast<long long>(c.top1_agreement),
                static_cast<long long>(c.samples)) +
             Percent(c.top1_agreement, c.samples) + ")");
    if (c.labelled > 0)
      Line(out, "top-1 accuracy",
           "float " + Percent(c.float_correct, c.labelled) + ", quantized " +
               Percent(c.quantized_correct, c.labelled) +
               Printf(" (%lld labelled samples)", static_cast<long long>(c.labelled)));
  }

  // Whole-model agreement of each output.
  out += "\nWhole-model output agreement (quantized vs float)\n";
  if (r.outputs.empty()) {
    out += "  (no outputs compared)\n";
  } else {
    size_t name_w = Width("output");
    for (const auto& [name, a] : r.outputs) name_w = std::max(name_w, Width(CellText(name)));
    name_w = std::min<size_t>(name_w, 40);
    out += "  " + PadRight("output", name_w) + "  " + PadLeft("SQNR dB", 9) + "  " +
           PadLeft("cosine", 10) + "  " + PadLeft("max abs err", 11) + "  " +
           PadLeft("rel L2", 10) + "\n";
    for (const auto& [name, a] : r.outputs) {
      out += "  " + PadRight(Fit(CellText(name), name_w), name_w) + "  " +
             PadLeft(FormatFixed(a.sqnr_db, 2), 9) + "  " + PadLeft(FormatFixed(a.cosine, 6), 10) +
             "  " + PadLeft(FormatSci(a.max_abs_error), 11) + "  " +
             PadLeft(FormatSci(a.relative_l2), 10);
      if (a.nonfinite > 0)
        out += Printf("  (%lld non-finite values)", static_cast<long long>(a.nonfinite));
      out += "\n";
    }
  }

  // Ranked layers.
  const std::vector<const LayerFidelity*> ranked = RankedLayers(r);
  out += Printf("\nLayers, worst first by SQNR in model (%lld quantized)\n",
                static_cast<long long>(QuantizedLayerCount(r)));
  if (ranked.empty()) {
    out += "  (no per-layer results)\n";
    return out;
  }
  const size_t shown =
      max_layers <= 0 ? ranked.size() : std::min(ranked.size(), static_cast<size_t>(max_layers));
  size_t node_w = Width("node"), op_w = Width("op");
  for (size_t i = 0; i < shown; ++i) {
    node_w = std::max(node_w, Width(CellText(ranked[i]->node)));
    op_w = std::max(op_w, Width(CellText(ranked[i]->op_type)));
  }
  node_w = std::min<size_t>(node_w, 48);
  op_w = std::min<size_t>(op_w, 20);
  const size_t rank_w = std::max<size_t>(4, std::to_string(shown).size());
  out += "  " + PadLeft("rank", rank_w) + "  " + PadRight("node", node_w) + "  " +
         PadRight("op", op_w) + "  " + PadLeft("SQNR alone", 10) + "  " +
         PadLeft("SQNR in model", 13) + "  " + PadLeft("cosine", 9) + "\n";
  for (size_t i = 0; i < shown; ++i) {
    const LayerFidelity& l = *ranked[i];
    out += "  " + PadLeft(std::to_string(i + 1), rank_w) + "  " +
           PadRight(Fit(CellText(l.node), node_w), node_w) + "  " +
           PadRight(Fit(CellText(l.op_type), op_w), op_w) + "  " +
           PadLeft(FormatDb(l.sqnr_alone_db), 10) + "  " +
           PadLeft(FormatDb(l.sqnr_in_model_db), 13) + "  " +
           PadLeft(FormatFixed(l.cosine_in_model, 6), 9) + "\n";
  }
  if (shown < ranked.size())
    out += Printf("  ... %zu more layers (all are in the JSON and HTML reports)\n",
                  ranked.size() - shown);
  return out;
}

namespace {

using Json = nlohmann::ordered_json;

// Infinite values (an exact layer: SQNR +inf) become +-999 so that the JSON
// stays standard; NaN becomes null.
Json Num(double v) {
  if (std::isnan(v)) return nullptr;
  if (std::isinf(v)) return v > 0 ? 999.0 : -999.0;
  return v;
}

Json OptNum(std::optional<double> v) { return v ? Num(*v) : Json(nullptr); }

Json StringArray(const std::vector<std::string>& v) {
  Json a = Json::array();
  for (const std::string& s : v) a.push_back(s);
  return a;
}

}  // namespace

std::string FidelityReportToJson(const FidelityReport& r) {
  Json j;
  j["format"] = "octet-fidelity-report";
  j["version"] = 1;
  j["model"] = r.model;
  j["preset"] = r.preset;
  j["output_model"] = r.output_model;
  j["eval_data"] = r.eval_data;
  j["eval_samples"] = r.eval_samples;

  const CalibrationSummary& c = r.calibration;
  Json cal;
  cal["data"] = c.data;
  cal["method"] = c.method;
  cal["samples"] = c.samples;
  cal["batches"] = c.batches;
  cal["observed_tensors"] = c.observed_tensors;
  cal["bias_correction"] = c.bias_correction;
  cal["skipped"] = StringArray(c.skipped);
  cal["nonfinite"] = StringArray(c.nonfinite);
  cal["seconds"] = Num(c.seconds);
  j["calibration"] = std::move(cal);

  Json outs = Json::array();
  for (const auto& [name, a] : r.outputs) {
    Json o;
    o["name"] = name;
    o["count"] = a.count;
    o["sqnr_db"] = Num(a.sqnr_db);
    o["cosine"] = Num(a.cosine);
    o["max_abs_error"] = Num(a.max_abs_error);
    o["relative_l2"] = Num(a.relative_l2);
    o["nonfinite"] = a.nonfinite;
    outs.push_back(std::move(o));
  }
  j["outputs"] = std::move(outs);

  if (r.classification) {
    const ClassificationFidelity& cf = *r.classification;
    Json cj;
    cj["samples"] = cf.samples;
    cj["top1_agreement"] = cf.top1_agreement;
    cj["top1_agreement_rate"] = OptNum(Ratio(cf.top1_agreement, cf.samples));
    cj["labelled"] = cf.labelled;
    cj["float_correct"] = cf.float_correct;
    cj["quantized_correct"] = cf.quantized_correct;
    cj["float_accuracy"] = OptNum(Ratio(cf.float_correct, cf.labelled));
    cj["quantized_accuracy"] = OptNum(Ratio(cf.quantized_correct, cf.labelled));
    j["classification"] = std::move(cj);
  } else {
    j["classification"] = nullptr;
  }

  j["float_bytes"] = r.float_bytes;
  j["quantized_bytes"] = r.quantized_bytes;
  j["compression_ratio"] = OptNum(Ratio(r.float_bytes, r.quantized_bytes));
  j["quantized_layers"] = QuantizedLayerCount(r);

  Json layers = Json::array();
  int64_t rank = 0;
  for (const LayerFidelity* l : RankedLayers(r)) {
    Json lj;
    lj["rank"] = ++rank;
    lj["node"] = l->node;
    lj["graph_index"] = l->graph_index;
    lj["op_type"] = l->op_type;
    lj["output"] = l->output;
    lj["scheme"] = l->scheme;
    lj["sqnr_alone_db"] = Num(l->sqnr_alone_db);
    lj["sqnr_in_model_db"] = Num(l->sqnr_in_model_db);
    lj["cosine_in_model"] = Num(l->cosine_in_model);
    layers.push_back(std::move(lj));
  }
  j["layers"] = std::move(layers);
  // Invalid UTF-8 in a name (ONNX does not enforce it) is replaced by U+FFFD
  // instead of throwing.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

}  // namespace octet
