// Rendering of the fidelity report: terminal table, JSON and HTML.
#include "octet/runtime/fidelity_report.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

namespace octet {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

LayerFidelity Layer(const std::string& node, int64_t index, double alone, double in_model,
                    double cosine = 0.999) {
  LayerFidelity l;
  l.node = node;
  l.graph_index = index;
  l.op_type = "Conv";
  l.output = node + "_out";
  l.scheme = "act u8 affine per-tensor static, w i8 symmetric per-channel";
  l.sqnr_alone_db = alone;
  l.sqnr_in_model_db = in_model;
  l.cosine_in_model = cosine;
  return l;
}

FidelityReport SampleReport() {
  FidelityReport r;
  r.model = "build/models/resnet18/model.onnx";
  r.preset = "x86-int8";
  r.output_model = "out/resnet18.qdq.onnx";
  r.eval_data = "images:build/data/eval100_images";
  r.eval_samples = 105;
  r.calibration.data = "images:build/data/calib300_images";
  r.calibration.method = "entropy";
  r.calibration.samples = 324;
  r.calibration.batches = 41;
  r.calibration.observed_tensors = 42;
  r.calibration.skipped = {"bad.png: not an image"};
  r.calibration.nonfinite = {"/relu_3: 3 NaN, 0 Inf"};
  r.calibration.seconds = 12.5;
  Agreement a;
  a.count = 2000;
  a.relative_l2 = 0.0275;
  a.cosine = 0.99962;
  a.sqnr_db = 31.2;
  a.max_abs_error = 0.0123;
  r.outputs.push_back({"output", a});
  ClassificationFidelity c;
  c.samples = 105;
  c.top1_agreement = 101;
  c.labelled = 100;
  c.float_correct = 90;
  c.quantized_correct = 89;
  r.classification = c;
  // Deliberately not in ranked order: the renderers rank them.
  r.layers = {Layer("/conv1/Conv", 0, 40.5, 40.5), Layer("/layer1/conv2/Conv", 3, 30.0, 22.25),
              Layer("/fc/Gemm", 20, 35.0, 28.0), Layer("/layer4/conv1/Conv", 17, kInf, kInf, 1.0)};
  r.layers[2].op_type = "Gemm";
  r.quantized_layers = 4;
  r.float_bytes = 46800000;
  r.quantized_bytes = 11700000;
  return r;
}

TEST(FidelityReportJson, ParsesBackWithTheValues) {
  const FidelityReport r = SampleReport();
  const std::string text = FidelityReportToJson(r);
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(text)) << text;
  EXPECT_EQ(j["model"], r.model);
  EXPECT_EQ(j["preset"], "x86-int8");
  EXPECT_EQ(j["output_model"], r.output_model);
  EXPECT_EQ(j["eval_data"], r.eval_data);
  EXPECT_EQ(j["eval_samples"], 105);
  EXPECT_EQ(j["calibration"]["method"], "entropy");
  EXPECT_EQ(j["calibration"]["samples"], 324);
  EXPECT_EQ(j["calibration"]["batches"], 41);
  EXPECT_EQ(j["calibration"]["observed_tensors"], 42);
  EXPECT_EQ(j["calibration"]["skipped"], nlohmann::json::array({"bad.png: not an image"}));
  EXPECT_EQ(j["calibration"]["nonfinite"], nlohmann::json::array({"/relu_3: 3 NaN, 0 Inf"}));
  EXPECT_DOUBLE_EQ(j["calibration"]["seconds"].get<double>(), 12.5);

  ASSERT_EQ(j["outputs"].size(), 1u);
  const auto& o = j["outputs"][0];
  EXPECT_EQ(o["name"], "output");
  EXPECT_EQ(o["count"], 2000);
  EXPECT_DOUBLE_EQ(o["sqnr_db"].get<double>(), 31.2);
  EXPECT_DOUBLE_EQ(o["cosine"].get<double>(), 0.99962);
  EXPECT_DOUBLE_EQ(o["max_abs_error"].get<double>(), 0.0123);
  EXPECT_DOUBLE_EQ(o["relative_l2"].get<double>(), 0.0275);
  EXPECT_EQ(o["nonfinite"], 0);

  const auto& c = j["classification"];
  EXPECT_EQ(c["samples"], 105);
  EXPECT_EQ(c["top1_agreement"], 101);
  EXPECT_EQ(c["labelled"], 100);
  EXPECT_EQ(c["float_correct"], 90);
  EXPECT_EQ(c["quantized_correct"], 89);
  EXPECT_DOUBLE_EQ(c["float_accuracy"].get<double>(), 0.90);
  EXPECT_DOUBLE_EQ(c["quantized_accuracy"].get<double>(), 0.89);

  EXPECT_EQ(j["float_bytes"], 46800000);
  EXPECT_EQ(j["quantized_bytes"], 11700000);
  EXPECT_DOUBLE_EQ(j["compression_ratio"].get<double>(), 4.0);
  EXPECT_EQ(j["quantized_layers"], 4);

  // Layers ranked worst first (by SQNR in model), with every field.
  ASSERT_EQ(j["layers"].size(), 4u);
  EXPECT_EQ(j["layers"][0]["rank"], 1);
  EXPECT_EQ(j["layers"][0]["node"], "/layer1/conv2/Conv");
  EXPECT_EQ(j["layers"][0]["graph_index"], 3);
  EXPECT_EQ(j["layers"][0]["op_type"], "Conv");
  EXPECT_EQ(j["layers"][0]["output"], "/layer1/conv2/Conv_out");
  EXPECT_EQ(j["layers"][0]["scheme"], r.layers[1].scheme);
  EXPECT_DOUBLE_EQ(j["layers"][0]["sqnr_alone_db"].get<double>(), 30.0);
  EXPECT_DOUBLE_EQ(j["layers"][0]["sqnr_in_model_db"].get<double>(), 22.25);
  EXPECT_DOUBLE_EQ(j["layers"][0]["cosine_in_model"].get<double>(), 0.999);
  EXPECT_EQ(j["layers"][1]["node"], "/fc/Gemm");
  EXPECT_EQ(j["layers"][1]["op_type"], "Gemm");
  EXPECT_EQ(j["layers"][2]["node"], "/conv1/Conv");
  EXPECT_EQ(j["layers"][3]["node"], "/layer4/conv1/Conv");

  // Stable: the same report gives the same text.
  EXPECT_EQ(text, FidelityReportToJson(r));
}

TEST(FidelityReportJson, InfiniteIs999AndNaNIsNull) {
  FidelityReport r;
  r.layers = {Layer("exact", 0, kInf, kInf, 1.0), Layer("broken", 1, kNaN, -kInf, kNaN)};
  Agreement a;
  a.sqnr_db = kInf;
  a.relative_l2 = 0;
  r.outputs.push_back({"y", a});
  const std::string text = FidelityReportToJson(r);
  EXPECT_EQ(text.find("inf"), std::string::npos) << text;
  EXPECT_EQ(text.find("nan"), std::string::npos) << text;
  EXPECT_EQ(text.find("NaN"), std::string::npos) << text;
  const auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["outputs"][0]["sqnr_db"], 999.0);
  // "broken" (-inf) ranks before "exact" (+inf).
  EXPECT_EQ(j["layers"][0]["node"], "broken");
  EXPECT_TRUE(j["layers"][0]["sqnr_alone_db"].is_null());
  EXPECT_EQ(j["layers"][0]["sqnr_in_model_db"], -999.0);
  EXPECT_TRUE(j["layers"][0]["cosine_in_model"].is_null());
  EXPECT_EQ(j["layers"][1]["node"], "exact");
  EXPECT_EQ(j["layers"][1]["sqnr_alone_db"], 999.0);
  EXPECT_EQ(j["layers"][1]["sqnr_in_model_db"], 999.0);
  EXPECT_TRUE(j["classification"].is_null());
  EXPECT_TRUE(j["compression_ratio"].is_null());
}

TEST(FidelityReportJson, InvalidUtf8NameDoesNotThrow) {
  FidelityReport r;
  r.layers = {Layer(std::string("bad\xff name"), 0, 10, 10)};
  std::string text;
  ASSERT_NO_THROW(text = FidelityReportToJson(r));
  EXPECT_NO_THROW(nlohmann::json::parse(text));
}

TEST(FidelityReportHtml, EscapesNames) {
  FidelityReport r = SampleReport();
  const std::string evil = "<script>&\"x\"";
  r.layers.push_back(Layer(evil, 5, 12.0, 9.0));
  r.layers.back().op_type = "<b>Op</b>";
  r.model = "models/<m>&.onnx";
  r.outputs[0].first = "out\"<1>";
  r.calibration.skipped.push_back("<img src=x>: bad");
  const std::string html = RenderFidelityHtml(r);
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find(evil), std::string::npos);
  EXPECT_EQ(html.find("<b>Op"), std::string::npos);
  EXPECT_EQ(html.find("<img"), std::string::npos);
  EXPECT_EQ(html.find("<m>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;&amp;&quot;x&quot;"), std::string::npos);
  EXPECT_NE(html.find("models/&lt;m&gt;&amp;.onnx"), std::string::npos);
  EXPECT_NE(html.find("out&quot;&lt;1&gt;"), std::string::npos);
}

TEST(FidelityReportHtml, SelfContainedPageWithPlot) {
  const std::string html = RenderFidelityHtml(SampleReport());
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("</svg>"), std::string::npos);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("SQNR (dB)"), std::string::npos);
  // Hover titles name the layers; two series -> polylines in both colours.
  EXPECT_NE(html.find("<title>/layer1/conv2/Conv (Conv)"), std::string::npos);
  EXPECT_NE(html.find("polyline"), std::string::npos);
  // No scripts and nothing fetched from elsewhere (the SVG namespace is not a fetch).
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  // The infinite layer is drawn (a triangle) and labelled "inf".
  EXPECT_NE(html.find("<polygon"), std::string::npos);
  EXPECT_NE(html.find("in model inf dB"), std::string::npos);
}

TEST(FidelityReportTable, WorstFirstAndTruncated) {
  const std::string t = RenderFidelityTable(SampleReport(), 2);
  const size_t worst = t.find("/layer1/conv2/Conv"), second = t.find("/fc/Gemm");
  ASSERT_NE(worst, std::string::npos) << t;
  ASSERT_NE(second, std::string::npos) << t;
  EXPECT_LT(worst, second) << t;
  // Only two rows; the other two are summarised.
  EXPECT_EQ(t.find("/conv1/Conv"), std::string::npos) << t;
  EXPECT_EQ(t.find("/layer4/conv1/Conv"), std::string::npos) << t;
  EXPECT_NE(t.find("... 2 more layers"), std::string::npos) << t;
  // Summary lines.
  EXPECT_NE(t.find("x86-int8"), std::string::npos) << t;
  EXPECT_NE(t.find("entropy, 324 samples in 41 batches"), std::string::npos) << t;
  EXPECT_NE(t.find("bad.png: not an image"), std::string::npos) << t;
  EXPECT_NE(t.find("/relu_3: 3 NaN, 0 Inf"), std::string::npos) << t;
  EXPECT_NE(t.find("31.20"), std::string::npos) << t;
  EXPECT_NE(t.find("0.999620"), std::string::npos) << t;
  EXPECT_NE(t.find("101 / 105"), std::string::npos) << t;
  EXPECT_NE(t.find("float 90.00 %, quantized 89.00 %"), std::string::npos) << t;
  EXPECT_NE(t.find("4.00x smaller"), std::string::npos) << t;
  // All rows when max_layers <= 0; the exact layer shows "inf".
  const std::string all = RenderFidelityTable(SampleReport(), 0);
  EXPECT_EQ(all.find("more layers"), std::string::npos) << all;
  const size_t exact = all.find("/layer4/conv1/Conv");
  ASSERT_NE(exact, std::string::npos) << all;
  const std::string row = all.substr(exact, all.find('\n', exact) - exact);
  EXPECT_NE(row.find("inf            inf"), std::string::npos) << row;  // alone, in model
  EXPECT_LT(all.find("/conv1/Conv"), all.find("/layer4/conv1/Conv")) << all;
}

TEST(FidelityReportTable, RowsAreFixedWidth) {
  FidelityReport r = SampleReport();
  r.layers.push_back(Layer(std::string(100, 'n') + "/tail", 9, 1, 2));
  const std::string t = RenderFidelityTable(r, 0);
  // The long name is cut from the front and keeps its tail.
  EXPECT_NE(t.find("...nnnn"), std::string::npos) << t;
  EXPECT_NE(t.find("/tail"), std::string::npos) << t;
  // Every layer row (after the header) has the same length.
  const size_t header = t.find("  rank");
  ASSERT_NE(header, std::string::npos) << t;
  size_t pos = header, len = std::string::npos;
  while (pos < t.size()) {
    const size_t end = t.find('\n', pos);
    const size_t n = end - pos;
    if (len == std::string::npos) len = n;
    EXPECT_EQ(n, len) << t.substr(pos, n);
    pos = end + 1;
  }
}

TEST(FidelityReport, EmptyReportRenders) {
  const FidelityReport r;
  const std::string table = RenderFidelityTable(r);
  EXPECT_NE(table.find("no per-layer results"), std::string::npos) << table;
  EXPECT_NE(table.find("no outputs compared"), std::string::npos) << table;
  const auto j = nlohmann::json::parse(FidelityReportToJson(r));
  EXPECT_TRUE(j["layers"].empty());
  EXPECT_TRUE(j["outputs"].empty());
  EXPECT_EQ(j["quantized_layers"], 0);
  const std::string html = RenderFidelityHtml(r);
  EXPECT_NE(html.find("</html>"), std::string::npos);
  EXPECT_NE(html.find("No per-layer results"), std::string::npos);
}

TEST(FidelityReportHtml, SingleLayerAndNaNPlot) {
  FidelityReport r;
  r.layers = {Layer("only", 0, kNaN, 12.0)};
  const std::string html = RenderFidelityHtml(r);
  EXPECT_NE(html.find("<circle"), std::string::npos);
  EXPECT_EQ(html.find("nan,"), std::string::npos);  // no NaN coordinates
  EXPECT_EQ(html.find("inf,"), std::string::npos);
}

}  // namespace
}  // namespace octet
