// Passes transform a Model in place. The PassManager runs them in order, times
// each one and (in tests and debug builds) runs the verifier after each pass so
// a broken rewrite is caught at the pass that made it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "octet/ir.h"
#include "octet/status.h"

namespace octet {

class Pass {
 public:
  virtual ~Pass() = default;
  virtual std::string_view name() const = 0;
  // Returns whether the model changed.
  virtual Expected<bool> Run(Model& model) = 0;
};

struct PassTiming {
  std::string name;
  double milliseconds = 0;
  bool changed = false;
};

struct PassManagerOptions {
#ifdef NDEBUG
  bool verify_after_each_pass = false;
#else
  bool verify_after_each_pass = true;
#endif
};

class PassManager {
 public:
  explicit PassManager(PassManagerOptions options = {}) : options_(options) {}
  PassManager& Add(std::unique_ptr<Pass> pass) {
    passes_.push_back(std::move(pass));
    return *this;
  }
  // Runs every pass once, in order. Errors name the pass that failed.
  Status Run(Model& model);
  const std::vector<PassTiming>& timings() const { return timings_; }
  std::string TimingReport() const;

 private:
  PassManagerOptions options_;
  std::vector<std::unique_ptr<Pass>> passes_;
  std::vector<PassTiming> timings_;
};

}  // namespace octet
