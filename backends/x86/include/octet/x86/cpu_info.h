// What the x86 CPU can do for int8, and what oneDNN will actually use.
//
// Why it matters: without VNNI (AVX2, AVX-512 before Cascade Lake) oneDNN's
// int8 kernels multiply u8 x s8 with vpmaddubsw, which adds pairs of products
// in int16 and saturates; activations must then stay 7-bit (u8 0..127, the
// "reduced range") for exact results. VNNI (vpdpbusd) and AMX accumulate in
// int32 directly. docs/x86-backend.md has the measured details.
#pragma once

#include <string>

namespace octet::x86 {

// Instruction set features from cpuid, counted only when the OS enables the
// register state (xgetbv), so "true" means usable in this process.
struct CpuFeatures {
  bool avx2 = false;
  bool avx512_core = false;  // AVX-512 F + BW + VL + DQ
  bool avx512_vnni = false;
  bool avx_vnni = false;  // VEX-encoded VNNI on AVX2 machines (Alder Lake and later)
  bool amx_int8 = false;  // AMX-TILE + AMX-INT8 (Sapphire Rapids and later)
  std::string brand;      // "Intel(R) Xeon(R) Platinum 8480+", or "" when unknown
};
const CpuFeatures& DetectCpuFeatures();

// u8 x s8 dot products accumulate in int32 without int16 saturation.
bool HasVnni();
bool HasAmxInt8();

// The ISA oneDNN's kernels dispatch to (dnnl::get_effective_cpu_isa(), which
// ONEDNN_MAX_CPU_ISA can lower): "avx2", "avx512_core_vnni", "avx512_core_amx"...
std::string OneDnnIsa();

// True when the ISA oneDNN uses has neither VNNI nor AMX: u8 activations must
// then be quantized to 0..127 (and s8 activations are not exact; see the doc).
bool Int8NeedsReducedRange();

// Threads the kernels called from this thread use (oneDNN's OpenMP team
// size; a per-thread setting, so concurrent sessions each keep their own).
// n <= 0 leaves the default, all hardware threads.
void SetKernelThreads(int n);

// One line for logs and benchmark headers, e.g.
// "Intel(R) Xeon(R) ... | oneDNN 3.2.0 isa avx2 | vnni no | amx-int8 no | int8 activations 7-bit"
std::string CpuSummary();

}  // namespace octet::x86
