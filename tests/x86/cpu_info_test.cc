// CPU feature detection agrees with itself and with what oneDNN dispatches to.
#include "octet/x86/cpu_info.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>

namespace octet::x86 {
namespace {

TEST(CpuInfo, SummaryIsOneLineNamingTheIsa) {
  const std::string s = CpuSummary();
  std::cout << "[ info ] " << s << "\n";
  EXPECT_EQ(s.find('\n'), std::string::npos);
  EXPECT_NE(s.find("oneDNN 3."), std::string::npos) << s;
  EXPECT_NE(s.find("isa " + OneDnnIsa()), std::string::npos) << s;
}

TEST(CpuInfo, OneDnnIsaIsConsistentWithCpuid) {
  const CpuFeatures& f = DetectCpuFeatures();
  const std::string isa = OneDnnIsa();
  EXPECT_NE(isa, "unknown");
  // oneDNN never uses more than the CPU (and OS) offers.
  EXPECT_TRUE(isa.find("amx") == std::string::npos || f.amx_int8) << isa;
  EXPECT_TRUE(isa.find("avx512_core") == std::string::npos || f.avx512_core) << isa;
  EXPECT_TRUE(isa.find("vnni") == std::string::npos || HasVnni()) << isa;
  // Every AMX CPU also has AVX-512 VNNI.
  EXPECT_TRUE(!f.amx_int8 || f.avx512_vnni);
  // Reduced range exactly when oneDNN's ISA has neither VNNI nor AMX; with
  // ONEDNN_MAX_CPU_ISA unset that follows cpuid.
  if (std::getenv("ONEDNN_MAX_CPU_ISA") == nullptr && f.avx2) {
    EXPECT_EQ(Int8NeedsReducedRange(), !HasVnni() && !HasAmxInt8()) << isa;
  }
}

}  // namespace
}  // namespace octet::x86
