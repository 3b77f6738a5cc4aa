#include "octet/dtype.h"

#include <cmath>

namespace octet {
namespace {
struct DTypeInfo {
  DType type;
  const char* name;
  int bits;
};
constexpr DTypeInfo kInfos[] = {
    {DType::kUndefined, "undef", 0}, {DType::kF32, "f32", 32},      {DType::kF16, "f16", 16},
    {DType::kBF16, "bf16", 16},      {DType::kF64, "f64", 64},      {DType::kI8, "i8", 8},
    {DType::kU8, "u8", 8},           {DType::kI16, "i16", 16},      {DType::kU16, "u16", 16},
    {DType::kI32, "i32", 32},        {DType::kU32, "u32", 32},      {DType::kI64, "i64", 64},
    {DType::kU64, "u64", 64},        {DType::kBool, "bool", 8},     {DType::kI4, "i4", 4},
    {DType::kU4, "u4", 4},           {DType::kF8E4M3, "f8e4m3", 8}, {DType::kF8E5M2, "f8e5m2", 8},
    {DType::kString, "string", 0},
};
const DTypeInfo& Info(DType t) { return kInfos[static_cast<int>(t)]; }
}  // namespace

std::string_view DTypeName(DType t) { return Info(t).name; }

std::optional<DType> DTypeFromName(std::string_view name) {
  for (const auto& info : kInfos)
    if (name == info.name) return info.type;
  return std::nullopt;
}

namespace {
struct OnnxTypeId {
  int64_t id;
  DType dtype;
};
constexpr OnnxTypeId kOnnxTypeIds[] = {
    {1, DType::kF32},  {2, DType::kU8},    {3, DType::kI8},      {4, DType::kU16},
    {5, DType::kI16},  {6, DType::kI32},   {7, DType::kI64},     {8, DType::kString},
    {9, DType::kBool}, {10, DType::kF16},  {11, DType::kF64},    {12, DType::kU32},
    {13, DType::kU64}, {16, DType::kBF16}, {17, DType::kF8E4M3}, {19, DType::kF8E5M2},
    {21, DType::kU4},  {22, DType::kI4},
};
}  // namespace

std::optional<DType> DTypeFromOnnxTypeId(int64_t id) {
  for (const auto& e : kOnnxTypeIds)
    if (e.id == id) return e.dtype;
  return std::nullopt;
}

std::optional<int64_t> OnnxTypeIdOf(DType t) {
  for (const auto& e : kOnnxTypeIds)
    if (e.dtype == t) return e.id;
  return std::nullopt;
}

int DTypeBits(DType t) { return Info(t).bits; }

bool IsFloat(DType t) {
  return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16 || t == DType::kF64 ||
         t == DType::kF8E4M3 || t == DType::kF8E5M2;
}
bool IsInteger(DType t) {
  switch (t) {
    case DType::kI8:
    case DType::kU8:
    case DType::kI16:
    case DType::kU16:
    case DType::kI32:
    case DType::kU32:
    case DType::kI64:
    case DType::kU64:
    case DType::kI4:
    case DType::kU4:
      return true;
    default:
      return false;
  }
}
bool IsSigned(DType t) {
  return t == DType::kI8 || t == DType::kI16 || t == DType::kI32 || t == DType::kI64 ||
         t == DType::kI4 || IsFloat(t);
}

int64_t DTypeStorageBytes(DType t, int64_t count) { return (count * DTypeBits(t) + 7) / 8; }

uint16_t FloatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t abs = x & 0x7fffffffu;
  if (abs >= 0x7f800000u) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (abs > 0x7f800000u ? 0x200u : 0u));
  }
  if (abs >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs < 0x38800000u) {                                               // subnormal half or zero
    // value = abs as float; half subnormal unit = 2^-24
    float v;
    std::memcpy(&v, &abs, 4);
    const float scaled = v * 16777216.0f;  // / 2^-24
    const auto m = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | m);
  }
  const uint32_t exp = ((abs >> 23) - 127 + 15) << 10;
  const uint32_t mant = abs & 0x7fffffu;
  uint32_t h = exp | (mant >> 13);
  const uint32_t rest = mant & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) ++h;  // round to nearest even
  return static_cast<uint16_t>(sign | h);
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    float v = std::ldexp(static_cast<float>(mant), -24);
    std::memcpy(&x, &v, 4);
    x |= sign;
  } else if (exp == 31) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

uint16_t FloatToBFloat16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // nan
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

float BFloat16ToFloat(uint16_t b) {
  const uint32_t x = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

}  // namespace octet
