// Element types of tensors. The set mirrors what quantized inference needs: the
// float types a model arrives in, the integer types quantization produces
// (including packed 4-bit), and fp8 formats for later targets.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace octet {

enum class DType : uint8_t {
  kUndefined = 0,
  kF32,
  kF16,
  kBF16,
  kF64,
  kI8,
  kU8,
  kI16,
  kU16,
  kI32,
  kU32,
  kI64,
  kU64,
  kBool,
  kI4,  // two values per byte, low nibble first (ONNX INT4 packing)
  kU4,
  kF8E4M3,  // reserved for fp8 targets; storage only
  kF8E5M2,
  kString,  // only so that importers can name it in errors; no kernels
};

// Short textual name used by the IR text form: "f32", "i8", "u4", ...
std::string_view DTypeName(DType t);
std::optional<DType> DTypeFromName(std::string_view name);

// Bits per element (4 for packed i4/u4, 8 for bool).
int DTypeBits(DType t);
bool IsFloat(DType t);
bool IsInteger(DType t);  // signed or unsigned, including i4/u4; not bool
bool IsSigned(DType t);

// Bytes needed to store `count` elements (rounds up for 4-bit types).
int64_t DTypeStorageBytes(DType t, int64_t count);

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBFloat16(float f);
float BFloat16ToFloat(uint16_t b);

// ONNX TensorProto.DataType ids. Attributes that name a type (Cast 'to',
// QuantizeLinear 'output_dtype', LayerNormalization 'stash_type') keep these ids
// in the IR, so every layer maps them through this one table. Returns nullopt
// for ids without a DType (complex, the fp8 FNUZ variants, unknown ids);
// STRING (8) maps to kString so callers can name it in errors.
std::optional<DType> DTypeFromOnnxTypeId(int64_t id);
// The ONNX id of a dtype; nullopt for kUndefined.
std::optional<int64_t> OnnxTypeIdOf(DType t);

// Maps C++ types to DType for typed tensor access.
template <typename T>
struct DTypeOf;
template <>
struct DTypeOf<float> {
  static constexpr DType value = DType::kF32;
};
template <>
struct DTypeOf<double> {
  static constexpr DType value = DType::kF64;
};
template <>
struct DTypeOf<int8_t> {
  static constexpr DType value = DType::kI8;
};
template <>
struct DTypeOf<uint8_t> {
  static constexpr DType value = DType::kU8;
};
template <>
struct DTypeOf<int16_t> {
  static constexpr DType value = DType::kI16;
};
template <>
struct DTypeOf<uint16_t> {
  static constexpr DType value = DType::kU16;
};
template <>
struct DTypeOf<int32_t> {
  static constexpr DType value = DType::kI32;
};
template <>
struct DTypeOf<uint32_t> {
  static constexpr DType value = DType::kU32;
};
template <>
struct DTypeOf<int64_t> {
  static constexpr DType value = DType::kI64;
};
template <>
struct DTypeOf<uint64_t> {
  static constexpr DType value = DType::kU64;
};
template <>
struct DTypeOf<bool> {
  static constexpr DType value = DType::kBool;
};

}  // namespace octet
