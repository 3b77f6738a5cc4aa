// A quantizer configuration says which nodes of a float graph are quantized
// and how: the role PyTorch's X86InductorQuantizer plays in the PT2E flow.
// Presets cover the common targets; a JSON file (or CLI flags) can override
// any field. Annotation (annotate.h) applies a configuration to a graph.
//
// Presets:
//   x86-int8          Conv/Gemm/MatMul(constant weight): u8 affine per-tensor
//                     static activations, i8 symmetric per-channel weights,
//                     int32 bias. Pooling/reshape-like ops share their input's
//                     parameters. `reduce_range` gives 7-bit activations for
//                     CPUs without VNNI.
//   int8-dynamic      Gemm/MatMul(constant weight): i8 symmetric per-token
//                     activations computed at run time, i8 symmetric
//                     per-channel weights (torchao's
//                     int8_dynamic_activation_int8_weight). No calibration.
//                     Conv (2-D, group 1) too: its input is quantized with
//                     one scale per image (C x H x W), since an im2col row
//                     mixes several input pixels and a per-pixel scale would
//                     not factor out of the GEMM (convert.h).
//   int8-weight-only  Gemm/MatMul(constant weight): i8 symmetric per-channel
//                     weights; activations stay float.
//   int4-weight-only  Gemm/MatMul(constant weight): u4 affine per-group weights
//                     (group_size 32/64/128 along the reduction axis).
//                     With calibration data, bias correction.
//
// Room is left for SmoothQuant, GPTQ and per-layer automatic choice: they are
// further fields here and further passes between annotation and conversion.
#pragma once

#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "octet/ir.h"
#include "octet/quant/scheme.h"
#include "octet/quant/statistics.h"
#include "octet/status.h"

namespace octet::quant {

// Selects nodes by exact name, by op type, or by a regular expression over the
// name (ECMAScript, whole-name match). Spec forms: "name:conv1", "op:Conv",
// "re:layer4\..*"; a bare string is a name.
class NodeFilter {
 public:
  enum class Kind { kName, kOpType, kRegex };
  static Expected<NodeFilter> Parse(const std::string& spec);
  bool Matches(const Node& node) const;
  Kind kind() const { return kind_; }
  const std::string& pattern() const { return pattern_; }
  std::string ToString() const;  // the spec form

 private:
  Kind kind_ = Kind::kName;
  std::string pattern_;
  std::regex regex_;
};

struct QuantizerConfig {
  std::string preset;  // the preset this started from
  // Op types whose constant-weight form is quantized (weights and, unless
  // weight-only, activation inputs): any of Conv, ConvTranspose, Gemm, MatMul, and Add
  // (only the residual of a Conv + Add, see annotate.h).
  std::vector<std::string> ops;
  // Also quantize MatMul whose operands are both activations (attention's
  // Q.K^T and P.V); both inputs then get the activation scheme.
  bool quantize_activation_matmul = false;
  std::optional<QuantScheme> activation;  // nullopt: weight-only
  QuantScheme weight;
  // Store bias as int32 with scale = input scale x weight scale (static
  // per-tensor activations only; otherwise bias stays float).
  bool int32_bias = true;
  // Ops whose output needs no parameters of its own: the value is quantized
  // with the parameters of the op's (first) input, so a backend can run the op
  // on integers (int8 max pooling, reshapes). Concat shares one set over all
  // its inputs and its output.
  std::vector<std::string> shared_ops;
  std::vector<NodeFilter> include;  // empty: every node; else only matching nodes
  std::vector<NodeFilter> exclude;  // never these (wins over include)
  CalibrationOptions calibration;
  bool fold_batchnorm = true;
  // Move the bias of each quantized MatMul/Gemm by the mean output error of
  // its rounded weight, from the calibration data's input means
  // (bias_correction.h). Needs calibration data; on by default for
  // int4-weight-only, where 4-bit rounding shifts the outputs most.
  bool bias_correction = false;

  bool weight_only() const { return !activation.has_value(); }
};

std::vector<std::string> PresetNames();
// Fails, listing the presets, for an unknown name.
Expected<QuantizerConfig> MakePreset(const std::string& name);

// Applies the fields present in a JSON object on top of `config`. Unknown
// keys, wrong types and invalid values are errors naming `what` (the file) and
// the key. Schema (every key optional):
//   {"preset": "x86-int8",            // starts from this preset first
//    "ops": ["Conv", "MatMul"], "quantize_activation_matmul": false,
//    "activation": null | {"dtype": "u8", "symmetric": false,
//                          "granularity": "per-tensor", "dynamic": false,
//                          "reduce_range": false},
//    "weight": {"dtype": "i8", "symmetric": true, "granularity": "per-channel",
//               "group_size": 128, "narrow_range": true},
//    "int32_bias": true, "shared_ops": ["MaxPool", ...],
//    "include": ["op:Conv"], "exclude": ["name:fc", "re:.*head.*"],
//    "calibration": {"method": "entropy", "percentile": 99.99,
//                    "histogram_bins": 2048, "moving_average_constant": 0.01},
//    "fold_batchnorm": true, "bias_correction": false}
Status ApplyConfigJson(const std::string& json_text, const std::string& what,
                       QuantizerConfig* config);
Status ApplyConfigFile(const std::string& path, QuantizerConfig* config);
// The whole configuration as JSON (ApplyConfigJson reads it back).
std::string ConfigToJson(const QuantizerConfig& config);
// Checks schemes and op names; `what` names the configuration in errors.
Status ValidateConfig(const QuantizerConfig& config, const std::string& what);

}  // namespace octet::quant
