#include "model_runner.h"

#include <cstring>
#include <fstream>

#include "octet/module/module_format.h"
#include "octet/runtime/module.h"
#include "octet/runtime/reference_session.h"

namespace octet::cli {
namespace {

class OnnxRunner : public ModelRunner {
 public:
  explicit OnnxRunner(ReferenceSession s) : s_(std::move(s)) {}
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& in) override {
    return s_.Run(in);
  }
  Expected<std::map<std::string, Tensor>> RandomInputs(uint64_t seed, int64_t batch) override {
    return s_.MakeRandomInputs(seed, batch);
  }
  std::vector<std::string> InputNames() const override {
    std::vector<std::string> names;
    for (const Value* v : s_.model().graph->inputs()) names.push_back(v->name());
    return names;
  }
  std::string Engine() const override { return "reference interpreter"; }

 private:
  ReferenceSession s_;
};

class ModuleRunner : public ModelRunner {
 public:
  explicit ModuleRunner(std::unique_ptr<runtime::Session> s) : s_(std::move(s)) {}
  Expected<std::map<std::string, Tensor>> Run(const std::map<std::string, Tensor>& in) override {
    return s_->Run(in);
  }
  Expected<std::map<std::string, Tensor>> RandomInputs(uint64_t seed, int64_t batch) override {
    return s_->module().MakeRandomInputs(seed, batch);
  }
  std::vector<std::string> InputNames() const override {
    std::vector<std::string> names;
    for (const runtime::TensorInfo& t : s_->module().inputs()) names.push_back(t.name);
    return names;
  }
  std::string Engine() const override {
    return "compiled module (target " + s_->module().target() + ")";
  }

 private:
  std::unique_ptr<runtime::Session> s_;
};

}  // namespace

bool IsCompiledModule(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[kModuleMagicSize] = {};
  in.read(magic, kModuleMagicSize);
  return in.gcount() == static_cast<std::streamsize>(kModuleMagicSize) &&
         std::memcmp(magic, kModuleMagic, kModuleMagicSize) == 0;
}

Expected<std::unique_ptr<ModelRunner>> OpenModel(const std::string& path, int threads) {
  if (IsCompiledModule(path)) {
    OCTET_ASSIGN_OR_RETURN(std::shared_ptr<const runtime::Module> m, runtime::Module::Load(path));
    OCTET_ASSIGN_OR_RETURN(std::unique_ptr<runtime::Session> s,
                           runtime::Session::Create(m, {threads}));
    return std::unique_ptr<ModelRunner>(new ModuleRunner(std::move(s)));
  }
  ReferenceSessionOptions options;
  options.num_threads = threads;
  OCTET_ASSIGN_OR_RETURN(ReferenceSession s, ReferenceSession::FromOnnxFile(path, options));
  return std::unique_ptr<ModelRunner>(new OnnxRunner(std::move(s)));
}

}  // namespace octet::cli
