// RenderFidelityHtml: one self-contained page (inline CSS and SVG; no scripts,
// no external resources). Every string from the report is HTML-escaped.
#include <algorithm>
#include <cmath>

#include "fidelity_report_internal.h"
#include "octet/runtime/fidelity_report.h"

namespace octet {
namespace {

using namespace fidelity_internal;

std::string Esc(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        // Control characters other than tab/newline are not allowed in HTML text.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n')
          out += "&#xFFFD;";
        else
          out += c;
    }
  }
  return out;
}

std::string Pct(int64_t num, int64_t den) {
  if (den <= 0) return "n/a";
  return Printf("%.2f %%", 100.0 * static_cast<double>(num) / static_cast<double>(den));
}

void Row(std::string& out, const std::string& label, const std::string& value_html) {
  out += "<tr><th>" + Esc(label) + "</th><td>" + value_html + "</td></tr>\n";
}

void ListRow(std::string& out, const std::string& label, const std::vector<std::string>& items) {
  if (items.empty()) {
    Row(out, label, "none");
    return;
  }
  std::string v = Printf("%zu<ul>", items.size());
  for (const std::string& s : items) v += "<li>" + Esc(s) + "</li>";
  Row(out, label, v + "</ul>");
}

constexpr const char* kAloneColor = "#1f77b4";
constexpr const char* kInModelColor = "#d62728";

// A tick step from {1, 2, 5} x 10^k giving at most ~8 ticks over `span`.
double NiceStep(double span) {
  const double raw = span / 8;
  const double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * p >= raw) return m * p;
  return 10 * p;
}

std::string Plot(const FidelityReport& r) {
  const std::vector<const LayerFidelity*> layers = GraphOrderLayers(r);
  if (layers.empty()) return "<p class=\"note\">No per-layer results to plot.</p>\n";

  // Range over the finite values; +inf (an exact layer) is drawn as a triangle
  // just above the frame, -inf on its bottom edge; lines are broken at
  // non-finite values and NaN is left out.
  double lo = 0, hi = 10;
  bool any = false;
  for (const LayerFidelity* l : layers)
    for (double v : {l->sqnr_alone_db, l->sqnr_in_model_db})
      if (std::isfinite(v)) {
        lo = any ? std::min(lo, v) : std::min(0.0, v);
        hi = any ? std::max(hi, v) : std::max(10.0, v);
        any = true;
      }
  const double step = NiceStep(hi - lo);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  if (hi <= lo) hi = lo + step;

  const double W = 960, H = 380, left = 64, right = 16, top = 40, bottom = 56;
  const double pw = W - left - right, ph = H - top - bottom;
  const size_t n = layers.size();
  auto X = [&](size_t i) { return n == 1 ? left + pw / 2 : left + pw * i / double(n - 1); };
  auto Y = [&](double v) {
    if (v == INFINITY) return top - 10;  // above the frame: no finite value is drawn there
    if (v == -INFINITY) return top + ph;
    return top + ph * (hi - v) / (hi - lo);
  };

  std::string s = Printf(
      "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" "
      "role=\"img\" aria-label=\"per-layer SQNR in graph order\">\n",
      W, H);
  // Grid and y axis.
  for (double t = lo; t <= hi + step / 2; t += step) {
    const double y = Y(t);
    s += Printf("<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", left, y,
                left + pw, y);
    s += Printf("<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                left - 6, y + 4, t);
  }
  s += Printf("<rect class=\"frame\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
              left, top, pw, ph);
  // X ticks: graph positions of at most ~12 layers.
  const size_t xstep = std::max<size_t>(1, (n + 11) / 12);
  for (size_t i = 0; i < n; i += xstep)
    s += Printf("<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%lld</text>",
                X(i), top + ph + 16, static_cast<long long>(layers[i]->graph_index));
  s += Printf(
      "\n<text class=\"label\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">quantized layer "
      "(graph order)</text>\n",
      left + pw / 2, H - 12);
  s += Printf(
      "<text class=\"label\" transform=\"translate(16 %.1f) rotate(-90)\" "
      "text-anchor=\"middle\">SQNR (dB)</text>\n",
      top + ph / 2);

  // Hover bands: one per layer across the full height, titled with all values.
  const double band = n == 1 ? pw : pw / double(n - 1);
  for (size_t i = 0; i < n; ++i) {
    const LayerFidelity& l = *layers[i];
    s += Printf("<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\">",
                X(i) - band / 2, top, band, ph);
    s += "<title>" + Esc(l.node) + " (" + Esc(l.op_type) +
         Printf(", #%lld", (long long)l.graph_index) + ")&#10;alone " + FormatDb(l.sqnr_alone_db) +
         " dB, in model " + FormatDb(l.sqnr_in_model_db) + " dB</title></rect>\n";
  }

  // Series: polylines (broken at NaN) and points.
  auto series = [&](double LayerFidelity::*field, const char* color, const char* name) {
    std::string pts;
    auto flush = [&] {
      if (!pts.empty())
        s += Printf("<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"%s\"/>\n",
                    color, pts.c_str());
      pts.clear();
    };
    for (size_t i = 0; i < n; ++i) {
      const double v = layers[i]->*field;
      if (!std::isfinite(v)) {  // gap: NaN has no position, +-inf only a marker
        flush();
        continue;
      }
      pts += Printf("%s%.1f,%.1f", pts.empty() ? "" : " ", X(i), Y(v));
    }
    flush();
    for (size_t i = 0; i < n; ++i) {
      const LayerFidelity& l = *layers[i];
      const double v = l.*field;
      if (std::isnan(v)) continue;
      const std::string title = "<title>" + Esc(l.node) + " (" + Esc(l.op_type) + "): " + name +
                                " " + FormatDb(v) + " dB</title>";
      if (std::isinf(v)) {  // triangle pointing off the chart
        const double x = X(i), y = Y(v), d = v > 0 ? -1 : 1;
        s += Printf("<polygon fill=\"%s\" points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\">", color, x - 4,
                    y, x + 4, y, x, y + 6 * d) +
             title + "</polygon>\n";
      } else {
        s += Printf("<circle fill=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"3\">", color, X(i), Y(v)) +
             title + "</circle>\n";
      }
    }
  };
  series(&LayerFidelity::sqnr_alone_db, kAloneColor, "alone");
  series(&LayerFidelity::sqnr_in_model_db, kInModelColor, "in model");

  // Legend.
  const double lx = left + pw - 390, ly = 10;
  s += Printf("<circle fill=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>", kAloneColor, lx, ly);
  s += Printf("<text class=\"label\" x=\"%.1f\" y=\"%.1f\">alone</text>", lx + 8, ly + 4);
  s += Printf("<circle fill=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4\"/>", kInModelColor, lx + 70, ly);
  s += Printf("<text class=\"label\" x=\"%.1f\" y=\"%.1f\">in model</text>", lx + 78, ly + 4);
  s += Printf(
      "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\">&#9650; above the frame = inf (exact)</text>\n",
      lx + 160, ly + 4);
  s += "</svg>\n";
  return s;
}

constexpr const char* kStyle = R"(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto;
       max-width: 1100px; padding: 0 16px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; }
h2 { font-size: 17px; margin-top: 28px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
table { border-collapse: collapse; }
th, td { padding: 3px 10px; text-align: left; vertical-align: top; }
table.summary th { font-weight: 600; color: #555; white-space: nowrap; }
table.data th { background: #f3f3f3; border-bottom: 1px solid #ccc; }
table.data td { border-bottom: 1px solid #eee; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.name { font-family: ui-monospace, Menlo, Consolas, monospace; word-break: break-all; }
ul { margin: 2px 0; padding-left: 18px; }
.note { color: #666; }
svg.plot { width: 100%; height: auto; max-width: 960px; }
svg .grid { stroke: #e4e4e4; stroke-width: 1; }
svg .frame { fill: none; stroke: #999; }
svg .tick { font-size: 11px; fill: #555; }
svg .label { font-size: 12px; fill: #333; }
svg .band { fill: transparent; }
svg .band:hover { fill: rgba(0, 0, 0, 0.06); }
)";

}  // namespace

std::string RenderFidelityHtml(const FidelityReport& r) {
  std::string h =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>";
  h += "Octet fidelity report" + (r.model.empty() ? std::string() : ": " + Esc(r.model));
  h += "</title>\n<style>" + std::string(kStyle) + "</style>\n</head>\n<body>\n";
  h += "<h1>Octet fidelity report</h1>\n";

  // Summary.
  h += "<h2>Summary</h2>\n<table class=\"summary\">\n";
  Row(h, "model", Esc(r.model.empty() ? "-" : r.model));
  Row(h, "preset", Esc(r.preset.empty() ? "-" : r.preset));
  if (!r.output_model.empty()) Row(h, "quantized model", Esc(r.output_model));
  const CalibrationSummary& c = r.calibration;
  Row(h, "calibration", Esc(CalibrationLine(c)));
  if (!c.data.empty()) Row(h, "calibration data", Esc(c.data));
  ListRow(h, "skipped samples", c.skipped);
  ListRow(h, "non-finite tensors", c.nonfinite);
  if (r.eval_samples > 0 || !r.eval_data.empty())
    Row(h, "evaluation",
        Printf("%lld samples", (long long)r.eval_samples) +
            (r.eval_data.empty() ? "" : " from " + Esc(r.eval_data)));
  if (r.float_bytes > 0 || r.quantized_bytes > 0) {
    std::string w =
        Esc(FormatBytes(r.float_bytes)) + " &rarr; " + Esc(FormatBytes(r.quantized_bytes));
    if (auto ratio =
            Ratio(static_cast<double>(r.float_bytes), static_cast<double>(r.quantized_bytes)))
      w += Printf(" (%.2fx smaller)", *ratio);
    Row(h, "weights", w);
  }
  if (r.classification) {
    const ClassificationFidelity& cf = *r.classification;
    Row(h, "top-1 agreement",
        Printf("%lld / %lld (", (long long)cf.top1_agreement, (long long)cf.samples) +
            Esc(Pct(cf.top1_agreement, cf.samples)) + ")");
    if (cf.labelled > 0)
      Row(h, "top-1 accuracy",
          "float " + Esc(Pct(cf.float_correct, cf.labelled)) + ", quantized " +
              Esc(Pct(cf.quantized_correct, cf.labelled)) +
              Printf(" (%lld labelled samples)", (long long)cf.labelled));
  }
  h += "</table>\n";

  // Whole model.
  h += "<h2>Whole-model output agreement (quantized vs float)</h2>\n";
  if (r.outputs.empty()) {
    h += "<p class=\"note\">No outputs compared.</p>\n";
  } else {
    h += "<table class=\"data\">\n<tr><th>output</th><th class=\"num\">SQNR (dB)</th>"
         "<th class=\"num\">cosine</th><th class=\"num\">max abs error</th>"
         "<th class=\"num\">rel L2</th><th class=\"num\">values</th>"
         "<th class=\"num\">non-finite</th></tr>\n";
    for (const auto& [name, a] : r.outputs)
      h += "<tr><td class=\"name\">" + Esc(name) + "</td><td class=\"num\">" +
           FormatFixed(a.sqnr_db, 2) + "</td><td class=\"num\">" + FormatFixed(a.cosine, 6) +
           "</td><td class=\"num\">" + FormatSci(a.max_abs_error) + "</td><td class=\"num\">" +
           FormatSci(a.relative_l2) + "</td><td class=\"num\">" +
           Printf("%lld", (long long)a.count) + "</td><td class=\"num\">" +
           Printf("%lld", (long long)a.nonfinite) + "</td></tr>\n";
    h += "</table>\n";
  }

  // Plot.
  h += Printf("<h2>Per-layer SQNR in graph order (%lld quantized layers)</h2>\n",
              (long long)QuantizedLayerCount(r));
  h += "<p class=\"note\">Alone: only that layer quantized (fp32 inputs). In model: the fully "
       "quantized model, errors of earlier layers included. Hover for layer names.</p>\n";
  h += Plot(r);

  // Ranked table.
  h += "<h2>Layers, worst first by SQNR in model</h2>\n";
  const std::vector<const LayerFidelity*> ranked = RankedLayers(r);
  if (ranked.empty()) {
    h += "<p class=\"note\">No per-layer results.</p>\n";
  } else {
    h += "<table class=\"data\">\n<tr><th class=\"num\">rank</th><th>node</th><th>op</th>"
         "<th class=\"num\">graph #</th><th class=\"num\">SQNR alone (dB)</th>"
         "<th class=\"num\">SQNR in model (dB)</th><th class=\"num\">cosine</th>"
         "<th>output</th><th>scheme</th></tr>\n";
    for (size_t i = 0; i < ranked.size(); ++i) {
      const LayerFidelity& l = *ranked[i];
      h += Printf("<tr><td class=\"num\">%zu</td>", i + 1) + "<td class=\"name\">" + Esc(l.node) +
           "</td><td>" + Esc(l.op_type) + "</td><td class=\"num\">" +
           Printf("%lld", (long long)l.graph_index) + "</td><td class=\"num\">" +
           FormatDb(l.sqnr_alone_db) + "</td><td class=\"num\">" + FormatDb(l.sqnr_in_model_db) +
           "</td><td class=\"num\">" + FormatFixed(l.cosine_in_model, 6) +
           "</td><td class=\"name\">" + Esc(l.output) + "</td><td>" + Esc(l.scheme) +
           "</td></tr>\n";
    }
    h += "</table>\n";
  }
  h += "</body>\n</html>\n";
  return h;
}

}  // namespace octet
