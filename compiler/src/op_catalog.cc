#include "octet/op_catalog.h"

namespace octet {

const std::vector<OpInfo>& SupportedOps() {
  // One family per line reads better than one op per line.
  // clang-format off
  static const std::vector<OpInfo> kOps = {
      // Element-wise math.
      {"", "Add"}, {"", "Sub"}, {"", "Mul"}, {"", "Div"}, {"", "Pow"}, {"", "Mod"},
      {"", "Min"}, {"", "Max"}, {"", "Sum"}, {"", "Mean"},
      {"", "Neg"}, {"", "Abs"}, {"", "Sqrt"}, {"", "Reciprocal"}, {"", "Exp"}, {"", "Log"},
      {"", "Floor"}, {"", "Ceil"}, {"", "Round"}, {"", "Sign"}, {"", "Erf"},
      {"", "Sin"}, {"", "Cos"},
      {"", "Relu"}, {"", "LeakyRelu"}, {"", "Sigmoid"}, {"", "Tanh"}, {"", "Clip"},
      {"", "HardSigmoid"}, {"", "HardSwish"}, {"", "Gelu"}, {"", "Elu"}, {"", "Softplus"},
      {"", "Equal"}, {"", "Less"}, {"", "LessOrEqual"}, {"", "Greater"}, {"", "GreaterOrEqual"},
      {"", "Not"}, {"", "And"}, {"", "Or"}, {"", "Xor"}, {"", "Where"},
      {"", "Cast"}, {"", "CastLike"}, {"", "Identity"}, {"", "Dropout"},
      // Reductions and normalisation.
      {"", "ReduceMean"}, {"", "ReduceSum"}, {"", "ReduceMax"}, {"", "ReduceMin"},
      {"", "ReduceProd"}, {"", "ReduceSumSquare"}, {"", "ReduceL2"},
      {"", "ArgMax"}, {"", "ArgMin"},
      {"", "Softmax"}, {"", "LogSoftmax"},
      {"", "BatchNormalization"}, {"", "LayerNormalization"}, {"", "InstanceNormalization"},
      // Linear algebra, convolution and pooling.
      {"", "MatMul"}, {"", "Gemm"}, {"", "Einsum"},
      {"", "Conv"}, {"", "ConvTranspose"},
      {"", "MaxPool"}, {"", "AveragePool"}, {"", "GlobalAveragePool"}, {"", "GlobalMaxPool"},
      // Data movement and shapes.
      {"", "Reshape"}, {"", "Flatten"}, {"", "Transpose"}, {"", "Squeeze"}, {"", "Unsqueeze"},
      {"", "Concat"}, {"", "Split"}, {"", "Slice"}, {"", "Gather"}, {"", "Expand"},
      {"", "Tile"}, {"", "Pad"}, {"", "Shape"}, {"", "Size"}, {"", "ConstantOfShape"},
      {"", "Range"},
      // Quantization.
      {"", "QuantizeLinear"}, {"", "DequantizeLinear"}, {"", "DynamicQuantizeLinear"},
      {"", "MatMulInteger"}, {"", "ConvInteger"}, {"", "QLinearConv"}, {"", "QLinearMatMul"},
  };
  // clang-format on
  return kOps;
}

bool IsSupportedOp(std::string_view domain, std::string_view op_type) {
  if (domain == "ai.onnx") domain = "";
  for (const OpInfo& op : SupportedOps())
    if (op.domain == domain && op.op_type == op_type) return true;
  return false;
}

}  // namespace octet
