// The graph rewrites of post-training quantization, in the order they run:
//
//   InsertObservers  one Observer node (domain ai.octet, no outputs, attribute
//                    `group`) on the observed value of every static activation
//                    group; calibration collects statistics where they run.
//   RemoveObservers  takes them out again.
//   ConvertToQdq     rewrites the float graph into QDQ form: each activation
//                    group member gets QuantizeLinear -> DequantizeLinear read
//                    by the planned consumers; weights become quantized
//                    constants behind a DequantizeLinear (per-channel: 1-D
//                    scales on the channel axis; per-group: opset-21 blocked
//                    scales); biases become int32 constants with scale =
//                    input scale x weight scale; dynamic per-token groups get
//                    the run-time scale computation
//                        s = max(ReduceMax(Abs(x), axis -1) / qmax, tiny)
//                    and blocked Q/DQ with block_size = the last dimension;
//                    a Conv's input [N, C, H, W] is quantized per image
//                    instead: Reshape [N, C*H*W] -> that form -> Reshape
//                    back, so every im2col row of an image shares one scale
//                    and the scale factors out of the convolution's GEMM.
// Float ops keep their names and output names, so float and quantized runs of
// the two graphs can be compared value by value.
#pragma once

#include <vector>

#include "octet/ir.h"
#include "octet/quant/annotate.h"
#include "octet/quant/scheme.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::quant {

inline constexpr const char* kOctetDomain = "ai.octet";
inline constexpr const char* kObserverOp = "Observer";

Status InsertObservers(Graph& graph, const QuantPlan& plan);
// Returns how many were removed.
int RemoveObservers(Graph& graph);

// A weight quantized for DequantizeLinear: q has the weight's shape; scale
// (and zero_point when the scheme is affine) are f32 / the q dtype with shape
// [] (per-tensor), [C] (per-channel) or the weight's shape with
// ceil(dim / group) on the axis (per-group). Ranges come from the weight's own
// min/max per channel or group (weights need no calibration).
struct QuantizedWeight {
  Tensor q, scale, zero_point;  // zero_point undefined when symmetric with 0 zero point
};
Expected<QuantizedWeight> QuantizeWeight(const Tensor& w, const QuantScheme& scheme);
// The float values DequantizeLinear gives back for `qw` (f32, the weight's
// shape): what a backend multiplies by.
Expected<Tensor> DequantizeWeight(const QuantizedWeight& qw, const QuantScheme& scheme);

// `params[g]` holds the scale and zero point of static group g (entries of
// dynamic groups are ignored). Raises the model's ai.onnx opset to 21 (and
// IR version to 10) when the result needs blocked quantization or 4-bit
// types. Runs shape inference on the result.
Status ConvertToQdq(Model& model, const QuantPlan& plan, const std::vector<ScaleZeroPoint>& params);

}  // namespace octet::quant
