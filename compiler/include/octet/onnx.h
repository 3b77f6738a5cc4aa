// ONNX import and export: ModelProto <-> octet::Model.
//
// Supported input: ai.onnx opsets 13..21 (domain "" or "ai.onnx"; 7..12 under
// the condition in LEGACY OPSETS), tensor values only (no sequences, maps,
// optionals or sparse tensors), initializers
// in every storage form (raw_data, typed fields, external data next to the
// model). Anything else is rejected with an error that names the file and the
// tensor, node or opset at fault.
//
// LEGACY OPSETS. A model at ai.onnx opset 7..12 (kMinLegacyOnnxOpset up to
// kMinOnnxOpset - 1) is accepted when every ai.onnx node's op has the same
// schema at the declared opset as at opset 13, i.e. the op did not change in
// between (e.g. And, Conv, MaxPool at opset 12), so that the IR, the kernels
// and the passes see opset-13 semantics. ONNX's own schema registry (libonnx)
// decides. Otherwise the import fails with one error that lists every op that
// changed, with the version the declared opset selects and the version at 13
// ("Softmax (v11 -> v13)"); ops the registry does not know at the declared
// opset count as changed. Ops that changed at 13 only by gaining types (many
// did, adding bfloat16) count as changed too: the rule is the schema version.
// The model keeps its declared opset (Model::opset_imports) and is exported
// at it. Opsets below 7 predate ONNX's current broadcasting rules and are not
// accepted.
//
// CANONICAL FORM. Several ops moved attributes to inputs across opsets. The IR
// always holds the newest form so that kernels and passes handle one form only;
// the importer rewrites older forms and the exporter rewrites them back when
// the model's opset needs it (the input must then be a constant).
//
//   op                          attr -> input            input since opset
//   Split                       split      -> input 1    13
//   Squeeze, Unsqueeze          axes       -> input 1    13
//   ReduceSum                   axes       -> input 1    13
//   ReduceMean, ReduceMax, ReduceMin, ReduceProd,
//   ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp,
//   ReduceSumSquare             axes       -> input 1    18
//   Clip (min, max), Pad (pads, value), Slice          already inputs (10/11)
//
// Split also gets its opset-18 'num_outputs' attribute when it has no 'split'
// input (at opsets 13..17 the output count implies an even split); the
// exporter drops it again below opset 18.
//
// Names are kept: values keep their ONNX names and nodes their node names.
// Constant nodes become graph constants; graph inputs that are also
// initializers are constants, not inputs. Empty optional inputs ("") become
// nullptr node inputs.
//
// Export writes constants as raw_data initializers and value_info for every
// intermediate value with a known type. Quantization parameters carried in
// IR types (TensorType::quant) have no ONNX equivalent and are dropped: in an
// exported QDQ model the QuantizeLinear/DequantizeLinear nodes carry them.
// Models whose serialized size exceeds protobuf's 2 GB limit are rejected
// (external-data export is not implemented).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "octet/ir.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

// The ai.onnx opsets the importer accepts.
inline constexpr int64_t kMinOnnxOpset = 13;
inline constexpr int64_t kMaxOnnxOpset = 21;
// The oldest ai.onnx opset accepted when none of the model's ops changed
// between it and kMinOnnxOpset (see LEGACY OPSETS above).
inline constexpr int64_t kMinLegacyOnnxOpset = 7;

struct ImportOptions {
  // Import graphs whose ops are not in octet::SupportedOps() (for `octet
  // inspect`); such a model cannot be run or compiled.
  bool allow_unsupported_ops = false;
};

// Reads and imports an .onnx file; external data is resolved relative to the
// file's folder. Errors name `path`.
Expected<Model> ImportOnnxFile(const std::string& path, const ImportOptions& options = {});

// Imports a serialized ModelProto. External data is resolved relative to
// `model_dir_for_external_data`; when it is empty, external data is an error.
// `display_name` names the model in errors.
Expected<Model> ImportOnnxBytes(std::string_view bytes,
                                const std::string& model_dir_for_external_data,
                                const ImportOptions& options = {},
                                const std::string& display_name = "<onnx bytes>");

// Writes `model` as an .onnx file. The bytes go to a temporary file in the
// same folder that is renamed over `path` at the end, so a failure never
// leaves a partial output.
Status ExportOnnxFile(const Model& model, const std::string& path);

// Serializes `model` as a ModelProto.
Expected<std::string> ExportOnnxBytes(const Model& model);

// Parses a serialized TensorProto (for example an ONNX test's input_0.pb).
// `what` names it in errors. External data is rejected (there is no folder).
Expected<Tensor> TensorFromProtoBytes(std::string_view serialized_tensor_proto,
                                      const std::string& what);

// Reads a TensorProto file; external data is resolved relative to its folder.
Expected<Tensor> ReadTensorProtoFile(const std::string& path);

}  // namespace octet
