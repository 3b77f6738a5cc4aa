#include "octet/x86/cpu_info.h"

#include <cpuid.h>
#include <omp.h>

#include <cstdint>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>
#include <sstream>

namespace octet::x86 {
namespace {

struct Regs {
  uint32_t eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs Cpuid(uint32_t leaf, uint32_t subleaf = 0) {
  Regs r;
  if (!__get_cpuid_count(leaf, subleaf, &r.eax, &r.ebx, &r.ecx, &r.edx)) return Regs{};
  return r;
}

// XCR0: which register states the OS saves (and so lets programs use).
uint64_t Xcr0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (uint64_t{hi} << 32) | lo;
}

bool Bit(uint32_t reg, int bit) { return (reg >> bit) & 1u; }

CpuFeatures Detect() {
  CpuFeatures f;
  const uint32_t max_leaf = Cpuid(0).eax;
  const Regs l1 = Cpuid(1);
  if (!Bit(l1.ecx, 27) || !Bit(l1.ecx, 28)) return f;  // no OSXSAVE or no AVX
  const uint64_t xcr0 = Xcr0();
  const bool os_avx = (xcr0 & 0x6) == 0x6;                 // XMM + YMM state
  const bool os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;  // opmask + ZMM state
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;         // XTILECFG + XTILEDATA
  if (max_leaf >= 7) {
    const Regs l7 = Cpuid(7, 0);
    f.avx2 = os_avx && Bit(l7.ebx, 5);
    f.avx512_core =
        os_avx512 && Bit(l7.ebx, 16) && Bit(l7.ebx, 17) && Bit(l7.ebx, 30) && Bit(l7.ebx, 31);
    f.avx512_vnni = f.avx512_core && Bit(l7.ecx, 11);
    f.amx_int8 = os_amx && Bit(l7.edx, 24) && Bit(l7.edx, 25);
    if (l7.eax >= 1) f.avx_vnni = f.avx2 && Bit(Cpuid(7, 1).eax, 4);
  }
  if (Cpuid(0x80000000).eax >= 0x80000004) {
    char brand[49] = {};
    for (uint32_t i = 0; i < 3; ++i) {
      const Regs r = Cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i, &r, 16);
    }
    f.brand = brand;
    // Trim the padding some CPUs put around the name.
    f.brand.erase(0, f.brand.find_first_not_of(' '));
    f.brand.erase(f.brand.find_last_not_of(' ') + 1);
  }
  return f;
}

}  // namespace

const CpuFeatures& DetectCpuFeatures() {
  static const CpuFeatures features = Detect();
  return features;
}

bool HasVnni() { return DetectCpuFeatures().avx512_vnni || DetectCpuFeatures().avx_vnni; }
bool HasAmxInt8() { return DetectCpuFeatures().amx_int8; }

std::string OneDnnIsa() {
  using isa = dnnl::cpu_isa;
  switch (dnnl::get_effective_cpu_isa()) {
    case isa::sse41:
      return "sse41";
    case isa::avx:
      return "avx";
    case isa::avx2:
      return "avx2";
    case isa::avx2_vnni:
      return "avx2_vnni";
    case isa::avx2_vnni_2:
      return "avx2_vnni_2";
    case isa::avx512_core:
      return "avx512_core";
    case isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case isa::avx512_core_fp16:
      return "avx512_core_fp16";
    case isa::avx512_core_amx:
      return "avx512_core_amx";
    case isa::avx512_core_amx_fp16:
      return "avx512_core_amx_fp16";
    default:
      return "unknown";
  }
}

bool Int8NeedsReducedRange() {
  // Every oneDNN ISA from avx2_vnni / avx512_core_vnni up has VNNI or AMX.
  const std::string isa = OneDnnIsa();
  return isa == "sse41" || isa == "avx" || isa == "avx2" || isa == "avx512_core" ||
         isa == "unknown";
}

std::string CpuSummary() {
  const CpuFeatures& f = DetectCpuFeatures();
  const dnnl_version_t* v = dnnl_version();
  std::ostringstream os;
  os << (f.brand.empty() ? "unknown CPU" : f.brand) << " | oneDNN " << v->major << "." << v->minor
     << "." << v->patch << " isa " << OneDnnIsa() << " | vnni " << (HasVnni() ? "yes" : "no")
     << " | amx-int8 " << (HasAmxInt8() ? "yes" : "no") << " | int8 activations "
     << (Int8NeedsReducedRange() ? "7-bit" : "8-bit");
  return os.str();
}

void SetKernelThreads(int n) {
  if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}

}  // namespace octet::x86
