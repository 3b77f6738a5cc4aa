// Runs an ONNX model on the reference backend: import, the standard
// simplification pipeline (shape inference, constant folding, identity removal,
// dead code elimination), then the reference interpreter. This is Octet's fp32
// ground truth and what `octet run` uses for .onnx files.
//
// Thread safety: Run() is const and may be called from several threads at once.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "octet/ir.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet {

struct ReferenceSessionOptions {
  int num_threads = 0;   // 0: all hardware threads
  bool simplify = true;  // run the standard pass pipeline before executing
  bool verify_passes = false;
};

class ReferenceSession {
 public:
  static Expected<ReferenceSession> FromOnnxFile(const std::string& path,
                                                 const ReferenceSessionOptions& options = {});
  static Expected<ReferenceSession> FromModel(Model model,
                                              const ReferenceSessionOptions& options = {});

  const Model& model() const { return *model_; }
  // Inputs by name; dtype and shape are checked against the model's inputs.
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& inputs) const;
  // Seeded random data of every declared input (floats uniform in [-1, 1),
  // integers in [0, 10), bools fair coins); symbolic dims take `symbolic_dim`.
  Expected<std::map<std::string, Tensor>> MakeRandomInputs(uint64_t seed,
                                                           int64_t symbolic_dim = 1) const;

 private:
  ReferenceSession(std::shared_ptr<Model> model, ReferenceSessionOptions options)
      : model_(std::move(model)), options_(options) {}
  std::shared_ptr<Model> model_;
  ReferenceSessionOptions options_;
};

}  // namespace octet
