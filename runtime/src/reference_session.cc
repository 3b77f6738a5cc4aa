#include "octet/runtime/reference_session.h"

#include "octet/onnx.h"
#include "octet/passes/pipelines.h"
#include "octet/reference/interpreter.h"
#include "octet/runtime/random_inputs.h"

namespace octet {

Expected<ReferenceSession> ReferenceSession::FromOnnxFile(const std::string& path,
                                                          const ReferenceSessionOptions& options) {
  OCTET_ASSIGN_OR_RETURN(Model model, ImportOnnxFile(path));
  auto session = FromModel(std::move(model), options);
  if (!session.ok()) return session.status().WithContext(path);
  return session;
}

Expected<ReferenceSession> ReferenceSession::FromModel(Model model,
                                                       const ReferenceSessionOptions& options) {
  if (options.simplify) {
    PassManagerOptions pm;
    pm.verify_after_each_pass = options.verify_passes;
    const int threads = options.num_threads;
    OCTET_RETURN_IF_ERROR(RunStandardPipeline(
        model,
        [threads](const Node& n, const std::vector<const Tensor*>& in) {
          return reference::EvaluateNode(n, in, threads);
        },
        pm));
  }
  return ReferenceSession(std::make_shared<Model>(std::move(model)), options);
}

Expected<std::map<std::string, Tensor>> ReferenceSession::Run(
    const std::map<std::string, Tensor>& inputs) const {
  reference::InterpreterOptions opts;
  opts.num_threads = options_.num_threads;
  reference::Interpreter interpreter(*model_->graph, opts);
  return interpreter.Run(inputs);
}

Expected<std::map<std::string, Tensor>> ReferenceSession::MakeRandomInputs(
    uint64_t seed, int64_t symbolic_dim) const {
  std::vector<std::pair<std::string, TensorType>> inputs;
  for (const Value* in : model_->graph->inputs()) inputs.emplace_back(in->name(), in->type());
  return octet::MakeRandomInputs(inputs, seed, symbolic_dim);
}

}  // namespace octet
