// Compile-time weight packing for x86 modules (`octet compile --target x86
// --prepack`): each int8 convolution and matmul gets its weights stored a
// second time, in the blocked layout the oneDNN primitive for the module's
// planned shape wants on THIS CPU, with a fingerprint of that layout. At load
// a kernel whose primitive wants the same layout (same oneDNN, same ISA, same
// configuration) uses those bytes in place, mapped from the file, without
// packing; on any other CPU it ignores them and packs the plain weights as
// usual, so a prepacked module still runs everywhere (docs/x86-backend.md).
#pragma once

#include <string>

#include "octet/compile/compile.h"
#include "octet/status.h"

namespace octet::runtime {

struct PrepackReport {
  int ops_packed = 0;  // ops that got packed weights
  int64_t bytes = 0;   // packed bytes added to the module
  std::string isa;     // oneDNN's ISA here, e.g. "avx512_core_amx"
};

// Adds the packed weights to `module` (a target "x86" module): a u8 constant
// slot per op and the op attributes "prepacked_slot" and "prepacked_layout".
// Unimplemented in a build without the x86 backend; an error naming the op
// when a kernel cannot be created here.
Expected<PrepackReport> PrepackX86Weights(CompiledModule* module);

}  // namespace octet::runtime
