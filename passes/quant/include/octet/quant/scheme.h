// How one tensor is quantized: integer type, symmetric or affine, granularity
// (per-tensor, per-channel, per-token, per-group) and whether its parameters
// come from calibration (static) or are computed from each input at run time
// (dynamic). A QuantizerConfig assigns schemes to the tensors of a graph.
#pragma once

#include <cstdint>
#include <string>

#include "octet/dtype.h"
#include "octet/status.h"

namespace octet::quant {

enum class Granularity : uint8_t {
  kPerTensor,   // one scale (and zero point) for the whole tensor
  kPerChannel,  // one per index of `axis` (weights: the output channel)
  kPerToken,    // one per row: every index of all axes but the last (dynamic activations)
  kPerGroup,    // one per `group_size` consecutive elements along `axis` (int4 weights)
};

struct QuantScheme {
  DType dtype = DType::kU8;  // kU8, kI8, kU4 or kI4
  bool symmetric = false;    // zero point fixed at 0 (signed) / 128 (u8) / 8 (u4)
  Granularity granularity = Granularity::kPerTensor;
  int axis = 0;            // kPerChannel, kPerGroup (may be negative: from the end)
  int64_t group_size = 0;  // kPerGroup
  bool dynamic = false;    // parameters computed at run time from the tensor itself
  // Use one bit less of range (u8: 0..127, i8: -64..63): CPUs without VNNI
  // multiply u8 x s8 pairs into saturating int16, which 7-bit activations avoid.
  bool reduce_range = false;
  // Symmetric signed schemes use [-127, 127] rather than [-128, 127] so that
  // negation is exact and the range is centred (PyTorch's qint8 weights do the same).
  bool narrow_range = false;

  int64_t qmin() const;
  int64_t qmax() const;
  bool operator==(const QuantScheme& o) const;
  bool operator!=(const QuantScheme& o) const { return !(*this == o); }
  // "u8 affine per-tensor static", "i4 affine per-group(128) axis=0 static",
  // "i8 symmetric per-channel axis=0 static narrow-range", ...
  std::string ToString() const;
};

// Checks the combination is meaningful: dtype is u8, i8, u4 or i4; group_size
// > 0 for per-group and 0 otherwise; per-token only dynamic; narrow_range only
// for signed types; reduce_range only for 8-bit types. Rules that depend on the
// tensor's role (dynamic only for activations) are the caller's. `what` names
// the scheme in errors ("activation scheme of preset x86-int8").
Status ValidateScheme(const QuantScheme& s, const std::string& what);

const char* GranularityName(Granularity g);  // "per-tensor", "per-channel", ...
Expected<Granularity> ParseGranularity(const std::string& name);

// Scale and zero point for a real range [lo, hi] under a per-tensor scheme.
// The range is first widened to contain 0 (so that 0 is exactly representable,
// which padding and ReLU rely on). Symmetric: scale = max(|lo|, |hi|) /
// ((qmax - qmin) / 2); affine: scale = (hi - lo) / (qmax - qmin) and zero point
// = round(qmin - lo / scale), clamped into [qmin, qmax]. A zero-width range
// (a constant-zero tensor) gets scale 1 so the parameters stay valid; scales
// below the smallest normal float are raised to it.
struct ScaleZeroPoint {
  float scale = 1.0f;
  int32_t zero_point = 0;
};
ScaleZeroPoint ChooseScaleZeroPoint(double lo, double hi, const QuantScheme& s);

}  // namespace octet::quant
