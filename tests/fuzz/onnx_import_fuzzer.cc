// libFuzzer target for the ONNX importer: arbitrary bytes must give a model or
// an error, never a crash, hang or sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "octet/ir_text.h"
#include "octet/onnx.h"
#include "octet/verifier.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto model = octet::ImportOnnxBytes(bytes, "/nonexistent-octet-fuzz-dir");
  if (model.ok()) {
    // An imported model must be structurally valid and printable.
    if (!octet::VerifyGraph(*model->graph).ok()) __builtin_trap();
    (void)octet::PrintModel(*model);
  }
  return 0;
}
