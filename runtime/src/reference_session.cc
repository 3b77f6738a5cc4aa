#include "octet/runtime/reference_session.h"

#include <random>

#include "octet/onnx.h"
#include "octet/passes/pipelines.h"
#include "octet/reference/interpreter.h"

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
  std::map<std::string, Tensor> out;
  std::mt19937_64 rng(seed);
  for (const Value* in : model_->graph->inputs()) {
    const TensorType& type = in->type();
    if (!type.has_shape)
      return InvalidArgument("input '", in->name(),
                             "' has no declared shape; pass it explicitly with --input");
    std::vector<int64_t> dims;
    for (const Dim& d : type.shape.dims()) {
      if (d.is_static()) {
        dims.push_back(d.value());
      } else if (d.is_symbolic()) {
        dims.push_back(symbolic_dim);
      } else {
        return InvalidArgument("input '", in->name(), "' has an unknown dimension in ",
                               type.ToString(), "; pass it explicitly with --input");
      }
    }
    auto t = Tensor::Create(type.dtype, dims);
    if (!t.ok()) return t.status().WithContext("input '" + in->name() + "'");
    std::uniform_real_distribution<double> real(-1.0, 1.0);
    std::uniform_int_distribution<int> small(0, 9);
    for (int64_t i = 0; i < t->numel(); ++i) {
      if (IsFloat(type.dtype)) {
        t->SetFromDouble(i, real(rng));
      } else if (type.dtype == DType::kBool) {
        t->SetFromDouble(i, small(rng) % 2);
      } else {
        t->SetFromDouble(i, small(rng));
      }
    }
    out[in->name()] = std::move(t).value();
  }
  return out;
}

}  // namespace octet
