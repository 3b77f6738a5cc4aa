#include <cstdio>

#include "commands.h"
#include "octet/compile/compile.h"
#include "octet/onnx.h"
#include "octet/runtime/prepack.h"
#include "octet/runtime/tune.h"
#include "quantize_flow.h"

namespace octet::cli {
namespace {

// --preset bf16: no quantization; the cuda target's float kernels run in bf16.
constexpr const char kBf16Preset[] = "bf16";

struct CompileFlags {
  std::string model;
  std::string target = "reference";
  std::string output;
  int64_t batch = 1;
  int threads = 0;
  bool reduce_range = false;
  bool prepack = false;
  bool tune = false;
  std::string cuda_conv = OCTET_DEFAULT_CUDA_CONV;  // tools/CMakeLists.txt
  bool cuda_conv_given = false;
  std::string qdq_out;
  QuantizeFlags quantize;  // used when --calib, --stats-in or --preset is given
  bool preset_given = false;
};

bool HasQdq(const Graph& g) {
  for (const Node* n : g.nodes())
    if (n->op_type() == "QuantizeLinear" || n->op_type() == "DequantizeLinear") return true;
  return false;
}

// The model to compile: the file itself, or its quantization when
// calibration data (or saved statistics) is given.
Expected<Model> ModelToCompile(const CompileFlags& f) {
  const QuantizeFlags& q = f.quantize;
  if (f.preset_given && q.preset == kBf16Preset) {
    // Not a quantization: the float model, whose float ops the cuda target
    // runs in bf16 (f32 accumulation). Other targets would run it in f32.
    if (f.target != "cuda")
      return InvalidArgument(
          "--preset bf16 runs the float model's layers in bf16 on --target "
          "cuda; --target ",
          f.target, " runs float layers in f32: compile without --preset");
    if (!q.calib.empty() || !q.stats_in.empty())
      return InvalidArgument(
          "--preset bf16 quantizes nothing, so it takes no --calib or "
          "--stats-in");
    OCTET_ASSIGN_OR_RETURN(Model model, ImportOnnxFile(f.model));
    if (HasQdq(*model.graph))
      return InvalidArgument(f.model,
                             " is quantized (it has QuantizeLinear/DequantizeLinear "
                             "nodes); --preset bf16 takes a float model");
    return model;
  }
  if (q.calib.empty() && q.stats_in.empty() && !f.preset_given) {
    OCTET_ASSIGN_OR_RETURN(Model model, ImportOnnxFile(f.model));
    if ((f.target == "x86" || f.target == "cuda") && !HasQdq(*model.graph))
      std::fprintf(stderr,
                   "note: %s has no QuantizeLinear/DequantizeLinear nodes, so nothing runs in "
                   "int8; give --calib DATA to quantize it first\n",
                   f.model.c_str());
    return model;
  }
  {
    OCTET_ASSIGN_OR_RETURN(Model model, ImportOnnxFile(f.model));
    if (HasQdq(*model.graph))
      return InvalidArgument(f.model,
                             " is already quantized (it has QuantizeLinear/DequantizeLinear "
                             "nodes): compile it without --calib");
  }
  OCTET_ASSIGN_OR_RETURN(QuantizeOutcome out, RunQuantization(q, f.qdq_out));
  if (!f.qdq_out.empty()) OCTET_RETURN_IF_ERROR(ExportOnnxFile(out.qdq, f.qdq_out));
  OCTET_RETURN_IF_ERROR(WriteQuantizeReports(q, out));
  return std::move(out.qdq);
}

int Compile(const CompileFlags& f) {
  // Lowering needs no kernel library, so every target is offered in every
  // build; running x86 modules needs oneDNN, cuda modules CUDA and a GPU.
  if (f.target != "reference" && f.target != "x86" && f.target != "cuda")
    return Fail(InvalidArgument("unknown --target '", f.target, "'; use reference, x86 or cuda"));
  if (f.reduce_range && f.target != "x86")
    return Fail(InvalidArgument("--reduce-range applies to --target x86 only"));
  if (f.prepack && f.target != "x86")
    return Fail(InvalidArgument("--prepack applies to --target x86 only"));
  if (f.tune && f.target != "cuda")
    return Fail(InvalidArgument("--tune applies to --target cuda only"));
  if (f.cuda_conv_given && f.target != "cuda")
    return Fail(InvalidArgument("--cuda-conv applies to --target cuda only"));
  if (f.cuda_conv != "cudnn" && f.cuda_conv != "im2col")
    return Fail(InvalidArgument("unknown --cuda-conv '", f.cuda_conv, "'; use cudnn or im2col"));
  if (f.batch < 1) return Fail(InvalidArgument("--batch must be at least 1, got ", f.batch));
  auto model = ModelToCompile(f);
  if (!model.ok()) return Fail(model.status());
  CompileOptions options;
  options.num_threads = f.threads;
  options.default_symbol_value = f.batch;
  options.metadata["source"] = f.model;
  options.reduce_range = f.reduce_range;
  options.cuda_conv = f.cuda_conv == "im2col" ? CompileOptions::CudaConv::kIm2colBf16
                                              : CompileOptions::CudaConv::kCudnn;
  auto compiled = f.target == "x86"    ? CompileForX86(std::move(model).value(), options)
                  : f.target == "cuda" ? CompileForCuda(std::move(model).value(), options)
                                       : CompileForReference(std::move(model).value(), options);
  if (!compiled.ok()) return Fail(compiled.status().WithContext(f.model));
  if (f.prepack) {
    auto report = runtime::PrepackX86Weights(&*compiled);
    if (!report.ok()) return Fail(report.status().WithContext(f.model));
    std::printf(
        "prepacked %d ops for %s (%lld bytes; used in place on CPUs where oneDNN picks "
        "the same layouts, ignored elsewhere)\n",
        report->ops_packed, report->isa.c_str(), static_cast<long long>(report->bytes));
  }
  if (f.tune) {
    auto tuned = runtime::TuneCudaModule(&*compiled);
    if (!tuned.ok()) return Fail(tuned.status().WithContext(f.model));
    for (const runtime::TunedOp& t : *tuned) {
      std::printf("tuned %s (M %lld, N %lld, K %lld):", t.op.c_str(), static_cast<long long>(t.m),
                  static_cast<long long>(t.n), static_cast<long long>(t.k));
      for (size_t i = 0; i < t.tiles.size(); ++i)
        std::printf(" %s %.4f ms%s", t.tiles[i].c_str(), t.ms[i],
                    t.tiles[i] == t.chosen ? "*" : "");
      std::printf(" (model: %s)\n", t.model_choice.c_str());
    }
  }
  Status s = WriteModule(compiled->desc, compiled->weights, f.output);
  if (!s.ok()) return Fail(s);
  int64_t weight_bytes = 0;
  for (const WeightSection& w : compiled->weights) weight_bytes += w.bytes.size();
  std::printf("wrote %s: target %s, %zu ops, %zu weight sections (%lld bytes), arena %lld bytes\n",
              f.output.c_str(), compiled->desc.target.c_str(), compiled->desc.ops.size(),
              compiled->weights.size(), static_cast<long long>(weight_bytes),
              static_cast<long long>(compiled->desc.memory_plan.arena_size));
  return 0;
}

}  // namespace

Action AddCompileCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("compile",
                                 "Compile an ONNX model (float or QDQ) to a module; with --calib "
                                 "or --preset, quantize it first");
  auto f = std::make_shared<CompileFlags>();
  cmd->add_option("model", f->model, "ONNX model file")->required();
  AddQuantizeFlags(cmd, &f->quantize, "--calib-batch");
  cmd->add_option("--qdq-out", f->qdq_out, "with --calib: also write the QDQ ONNX model");
  cmd->add_option("--target", f->target, "target: reference, x86 or cuda")->capture_default_str();
  cmd->add_flag("--reduce-range", f->reduce_range,
                "x86: 7-bit activations (with --calib: quantize so; else: the QDQ model was "
                "quantized so); needed to run on CPUs without VNNI");
  cmd->add_flag("--prepack", f->prepack,
                "x86: also store the weights packed for this CPU's oneDNN kernels (used in place "
                "at load where the layout matches; the plain weights stay for other CPUs)");
  cmd->add_flag("--tune", f->tune,
                "cuda: time the tiles of each int8 GEMM (matmuls and convolutions), and the "
                "kernel shapes of each int4 weight-only GEMM below 33 rows, at the planned shape "
                "on this GPU and store the fastest in the module (needs the GPU the module will "
                "run on)");
  cmd->add_option("--cuda-conv", f->cuda_conv,
                  "cuda: float convolutions on cuDNN in bf16 channels-last where it is faster "
                  "(cudnn: the module needs a runtime built with cuDNN 9), or all as im2col + "
                  "cuBLASLt bf16 (im2col); the default is cudnn when this build has cuDNN")
      ->capture_default_str();
  cmd->add_option("--output,-o", f->output, "compiled module to write (.octet)")->required();
  cmd->add_option("--batch", f->batch,
                  "value of symbolic dims the arena is planned for (other values still run)")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads, "threads for constant folding (0: all cores)")
      ->capture_default_str();
  return [f, cmd]() {
    f->preset_given = cmd->count("--preset") > 0;  // int8-dynamic needs no calibration data
    f->cuda_conv_given = cmd->count("--cuda-conv") > 0;
    f->quantize.model = f->model;
    f->quantize.reduce_range = f->reduce_range;
    f->quantize.threads = f->threads;
    return Compile(*f);
  };
}

}  // namespace octet::cli
