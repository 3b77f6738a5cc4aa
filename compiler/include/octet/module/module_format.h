// The byte layout of a compiled module file (specified in docs/module-format.md).
// The writer and the loader share these constants; tests and the fuzzer use
// them to build damaged files on purpose. Any change to the layout or to the
// description's meaning bumps kModuleFormatVersion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace octet {

// 8 bytes at offset 0, without a terminating NUL.
inline constexpr char kModuleMagic[] = "OCTETMOD";
inline constexpr size_t kModuleMagicSize = 8;
// 2: x86.dynamic_int8_matmul gained an "activation" attribute and a residual
// input, x86.attention appeared (a version-1 runtime would ignore the GELU).
// 3: cuda.max_pool gained layout = "nhwc" and cuda.dynamic_int8_conv the
// pixel_codes scratch output (a version-2 runtime would read an NHWC pool
// input as NCHW).
// 4: cuda.conv2d_cudnn gained x_layout / y_layout / residual_layout (bf16
// NHWC values between cuDNN convolutions; a version-3 runtime could take a
// bf16 NHWC residual for an f32 NCHW one).
inline constexpr uint32_t kModuleFormatVersion = 4;
// Weight sections start at multiples of this in the file; because the loader
// maps the file at a page boundary, the pointers it hands out are aligned too.
inline constexpr uint64_t kModuleSectionAlignment = 64;

namespace module_layout {

// Header fields (all integers little-endian). The first 16 bytes and the
// trailing header checksum keep their place in every format version, so any
// version can be recognised and its header checked before it is interpreted.
inline constexpr size_t kMagicOffset = 0;          // char[8] "OCTETMOD"
inline constexpr size_t kVersionOffset = 8;        // u32 format version
inline constexpr size_t kHeaderLengthOffset = 12;  // u32 header length in bytes
// Version 1 fields.
inline constexpr size_t kFileSizeOffset = 16;        // u64 total file size
inline constexpr size_t kSectionCountOffset = 24;    // u32 number of sections (>= 1)
inline constexpr size_t kFlagsOffset = 28;           // u32, 0
inline constexpr size_t kTableOffsetOffset = 32;     // u64 offset of the section table
inline constexpr size_t kTableChecksumOffset = 40;   // u32 CRC-32 of the section table
inline constexpr size_t kReservedOffset = 44;        // 16 bytes of zeros
inline constexpr size_t kHeaderChecksumOffset = 60;  // u32 CRC-32 of header bytes [0, 60)
inline constexpr size_t kHeaderSize = 64;
// Bounds a loader accepts for the header length of any version.
inline constexpr uint32_t kMinHeaderLength = 20;
inline constexpr uint32_t kMaxHeaderLength = 4096;

// Section table entry, kEntrySize bytes each.
inline constexpr size_t kEntryKindOffset = 0;       // u32 SectionKind
inline constexpr size_t kEntryFlagsOffset = 4;      // u32, 0
inline constexpr size_t kEntryOffsetOffset = 8;     // u64 offset in the file
inline constexpr size_t kEntrySizeOffset = 16;      // u64 size in bytes
inline constexpr size_t kEntryChecksumOffset = 24;  // u32 CRC-32 of the section bytes
inline constexpr size_t kEntryReservedOffset = 28;  // u32, 0
inline constexpr size_t kEntrySize = 32;

// Section 0 is the description (UTF-8 JSON); sections 1..n are weight
// sections 0..n-1 in the order the description lists them.
enum SectionKind : uint32_t { kDescriptionSection = 1, kWeightSection = 2 };

}  // namespace module_layout

// CRC-32 (zlib / ISO-HDLC polynomial) of `size` bytes, as stored in the file.
uint32_t ModuleChecksum(const void* data, size_t size);

// Recomputes the checksums of a module image in place (every section whose
// entry is in bounds, the section table, the header) and sets the header's
// file size to the image's size. Exists so tests and the fuzzer can edit an
// image and still reach the checks that sit behind the checksums; the loader
// never uses it. Returns false when the image is too short to have a header.
bool ResealModuleImage(std::string* image);

}  // namespace octet
