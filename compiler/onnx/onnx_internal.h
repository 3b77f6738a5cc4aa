// Helpers shared by the ONNX importer and exporter (not a public header).
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "octet/dtype.h"
#include "octet/ir.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::onnx_internal {

// ONNX TensorProto.DataType ids. The 1.12 proto enum stops at BFLOAT16, so the
// newer types are named here by their numeric ids.
enum OnnxTypeId : int32_t {
  kOnnxUndefined = 0,
  kOnnxFloat = 1,
  kOnnxUint8 = 2,
  kOnnxInt8 = 3,
  kOnnxUint16 = 4,
  kOnnxInt16 = 5,
  kOnnxInt32 = 6,
  kOnnxInt64 = 7,
  kOnnxString = 8,
  kOnnxBool = 9,
  kOnnxFloat16 = 10,
  kOnnxDouble = 11,
  kOnnxUint32 = 12,
  kOnnxUint64 = 13,
  kOnnxComplex64 = 14,
  kOnnxComplex128 = 15,
  kOnnxBFloat16 = 16,
  kOnnxFloat8E4M3FN = 17,
  kOnnxFloat8E4M3FNUZ = 18,
  kOnnxFloat8E5M2 = 19,
  kOnnxFloat8E5M2FNUZ = 20,
  kOnnxUint4 = 21,
  kOnnxInt4 = 22,
};

// Parses `bytes` into `message` allowing messages up to 2 GB (protobuf's
// default limit is 64 MB). Rejects bytes that are not a complete message;
// errors name `what`.
Status ParseMessage(std::string_view bytes, google::protobuf::Message* message,
                    const std::string& what);

// Whole-file read of a protobuf file (at most 2 GB); errors name the path.
Expected<std::string> ReadFile(const std::string& path);

// The folder part of `path` ("." for a bare file name).
std::string FolderOf(const std::string& path);

// Maps an ONNX element type. `allow_undefined` permits 0 (value_info of an
// intermediate whose type is unknown). Errors name `what`.
Expected<DType> DTypeFromOnnx(int32_t onnx_type, const std::string& what,
                              bool allow_undefined = false);
Expected<int32_t> DTypeToOnnx(DType dtype, const std::string& what);

// Decodes a TensorProto in any storage form. External data is resolved
// relative to `model_dir` (empty: external data is an error).
Expected<Tensor> TensorFromProto(const onnx::TensorProto& proto, const std::string& what,
                                 const std::string& model_dir);

// Encodes `tensor` as raw_data.
Status TensorToProto(const Tensor& tensor, const std::string& name, onnx::TensorProto* proto);

// Canonical form (see onnx.h): rewrites `node` from the attribute form used at
// `opset` to the input form. New constants are added to `graph`.
Status CanonicalizeNode(Graph& graph, Node& node, int64_t opset);

// The inverse, applied while exporting one node at `opset`: for each input
// that must be an attribute at that opset, adds the attribute to `proto` and
// reports the input index in `inputs_as_attrs` so the caller skips it.
Status DecanonicalizeNode(const Node& node, int64_t opset, onnx::NodeProto* proto,
                          std::vector<int>* inputs_as_attrs);

}  // namespace octet::onnx_internal
