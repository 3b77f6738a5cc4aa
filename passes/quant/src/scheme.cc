// QuantScheme helpers: integer ranges, names, validation and the scale / zero
// point of a real range.
#include "octet/quant/scheme.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <sstream>

namespace octet::quant {
namespace {

bool IsQuantizedType(DType t) {
  return t == DType::kU8 || t == DType::kI8 || t == DType::kU4 || t == DType::kI4;
}

// Bits of the integer grid actually used: reduce_range drops the top one.
int UsedBits(const QuantScheme& s) { return DTypeBits(s.dtype) - (s.reduce_range ? 1 : 0); }

}  // namespace

int64_t QuantScheme::qmin() const {
  if (!IsSigned(dtype)) return 0;
  const int64_t q = -(int64_t{1} << (UsedBits(*this) - 1));
  return narrow_range ? q + 1 : q;  // [-127, 127] rather than [-128, 127]
}

int64_t QuantScheme::qmax() const {
  const int bits = UsedBits(*this);
  return IsSigned(dtype) ? (int64_t{1} << (bits - 1)) - 1 : (int64_t{1} << bits) - 1;
}

// Field by field, including fields the granularity does not use (axis of a
// per-tensor scheme): configurations compare as written.
bool QuantScheme::operator==(const QuantScheme& o) const {
  return dtype == o.dtype && symmetric == o.symmetric && granularity == o.granularity &&
         axis == o.axis && group_size == o.group_size && dynamic == o.dynamic &&
         reduce_range == o.reduce_range && narrow_range == o.narrow_range;
}

std::string QuantScheme::ToString() const {
  std::ostringstream os;
  os << DTypeName(dtype) << (symmetric ? " symmetric " : " affine ")
     << GranularityName(granularity);
  if (granularity == Granularity::kPerGroup) os << "(" << group_size << ")";
  if (granularity == Granularity::kPerChannel || granularity == Granularity::kPerGroup)
    os << " axis=" << axis;
  os << (dynamic ? " dynamic" : " static");
  if (reduce_range) os << " reduce-range";
  if (narrow_range) os << " narrow-range";
  return os.str();
}

Status ValidateScheme(const QuantScheme& s, const std::string& what) {
  if (!IsQuantizedType(s.dtype))
    return InvalidArgument(what, ": dtype ", DTypeName(s.dtype),
                           " is not a quantized type (expected u8, i8, u4 or i4)");
  switch (s.granularity) {
    case Granularity::kPerTensor:
    case Granularity::kPerChannel:
    case Granularity::kPerToken:
    case Granularity::kPerGroup:
      break;
    default:
      return InvalidArgument(what, ": unknown granularity ", static_cast<int>(s.granularity));
  }
  if (s.granularity == Granularity::kPerGroup && s.group_size <= 0)
    return InvalidArgument(what, ": per-group granularity needs group_size > 0, found ",
                           s.group_size);
  if (s.granularity != Granularity::kPerGroup && s.group_size != 0)
    return InvalidArgument(what, ": group_size ", s.group_size, " is only meaningful with ",
                           "per-group granularity, not ", GranularityName(s.granularity));
  // The number of rows is only known when the tensor arrives, so per-token
  // parameters cannot come from calibration.
  if (s.granularity == Granularity::kPerToken && !s.dynamic)
    return InvalidArgument(what, ": per-token granularity needs dynamic quantization");
  if (s.narrow_range && !IsSigned(s.dtype))
    return InvalidArgument(what, ": narrow_range applies to signed types only, not ",
                           DTypeName(s.dtype));
  // reduce_range exists for the saturating int16 pairs of 8-bit dot products.
  if (s.reduce_range && DTypeBits(s.dtype) != 8)
    return InvalidArgument(what, ": reduce_range applies to 8-bit types only, not ",
                           DTypeName(s.dtype));
  return Status::Ok();
}

const char* GranularityName(Granularity g) {
  switch (g) {
    case Granularity::kPerTensor:
      return "per-tensor";
    case Granularity::kPerChannel:
      return "per-channel";
    case Granularity::kPerToken:
      return "per-token";
    case Granularity::kPerGroup:
      return "per-group";
  }
  return "unknown";
}

Expected<Granularity> ParseGranularity(const std::string& name) {
  for (Granularity g : {Granularity::kPerTensor, Granularity::kPerChannel, Granularity::kPerToken,
                        Granularity::kPerGroup}) {
    if (name == GranularityName(g)) return g;
  }
  return InvalidArgument("unknown granularity '", name,
                         "' (expected per-tensor, per-channel, per-token or per-group)");
}

ScaleZeroPoint ChooseScaleZeroPoint(double lo, double hi, const QuantScheme& s) {
  // Callers pass calibrated ranges, which are finite; keep the result valid anyway.
  auto sanitize = [](double v) { return std::isnan(v) ? 0.0 : std::clamp(v, -DBL_MAX, DBL_MAX); };
  lo = std::min(sanitize(lo), 0.0);
  hi = std::max(sanitize(hi), 0.0);
  const double qmin = static_cast<double>(s.qmin()), qmax = static_cast<double>(s.qmax());

  double scale = s.symmetric ? std::max(-lo, hi) / ((qmax - qmin) / 2) : (hi - lo) / (qmax - qmin);
  if (scale == 0) scale = 1;  // constant-zero tensor: any scale represents it
  // Scales are stored as float; a subnormal or zero scale would make 1/scale overflow.
  const float fscale = static_cast<float>(std::clamp(scale, double{FLT_MIN}, double{FLT_MAX}));

  ScaleZeroPoint r;
  r.scale = fscale;
  if (s.symmetric) {
    // Signed: 0. Unsigned: the midpoint (u8: 128, 64 with reduce_range; u4: 8),
    // as PyTorch does for symmetric quint8.
    r.zero_point = IsSigned(s.dtype) ? 0 : static_cast<int32_t>((s.qmin() + s.qmax() + 1) / 2);
    return r;
  }
  // From the float scale actually stored, so that lo lands where it should.
  // nearbyint rounds half to even, like QuantizeLinear.
  const double zp = std::nearbyint(qmin - lo / static_cast<double>(fscale));
  r.zero_point = static_cast<int32_t>(std::clamp(zp, qmin, qmax));
  return r;
}

}  // namespace octet::quant
