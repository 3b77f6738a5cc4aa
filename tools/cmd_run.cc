#include <chrono>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "model_runner.h"
#include "octet/npy.h"

namespace octet::cli {
namespace {

struct RunFlags {
  std::string model;
  std::vector<std::string> inputs;  // NAME=FILE.npy
  std::string output_dir;
  uint64_t seed = 0;
  int threads = 0;
  int64_t batch = 1;
};

// Output names may contain '/' or ':' (PyTorch exports); file names must not.
std::string FileNameFor(const std::string& name) {
  std::string out;
  for (char c : name)
    out +=
        (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-') ? c : '_';
  return out.empty() ? "output" : out;
}

int Run(const RunFlags& f) {
  auto opened = OpenModel(f.model, f.threads);
  if (!opened.ok()) return Fail(opened.status());
  ModelRunner& session = **opened;

  auto random = session.RandomInputs(f.seed, f.batch);
  std::map<std::string, Tensor> inputs;
  for (const std::string& spec : f.inputs) {
    const size_t eq = spec.find('=');
    if (eq == std::string::npos || eq == 0)
      return Fail(InvalidArgument("--input '", spec, "' should be NAME=FILE.npy"));
    auto t = ReadNpy(spec.substr(eq + 1));
    if (!t.ok()) return Fail(t.status().WithContext("--input " + spec.substr(0, eq)));
    inputs[spec.substr(0, eq)] = std::move(t).value();
  }
  for (const std::string& name : session.InputNames()) {
    if (inputs.count(name)) continue;
    if (!random.ok()) return Fail(random.status());
    std::fprintf(stderr, "note: input '%s' not given; using seeded random data (seed %llu)\n",
                 name.c_str(), static_cast<unsigned long long>(f.seed));
    inputs[name] = (*random)[name];
  }
  const auto start = std::chrono::steady_clock::now();
  auto outputs = session.Run(inputs);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!outputs.ok()) return Fail(outputs.status());

  if (!f.output_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(f.output_dir, ec);
    if (ec)
      return Fail(IoError("cannot create output directory '", f.output_dir, "': ", ec.message()));
  }
  for (const auto& [name, t] : *outputs) {
    std::printf("%s : %s\n", name.c_str(), t.ShapeString().c_str());
    if (f.output_dir.empty()) continue;
    const std::string path = f.output_dir + "/" + FileNameFor(name) + ".npy";
    Status s = WriteNpy(path, t);
    if (!s.ok()) return Fail(s);
    std::printf("  wrote %s\n", path.c_str());
  }
  std::printf("ran in %.2f ms (%s)\n", ms, session.Engine().c_str());
  return 0;
}

}  // namespace

Action AddRunCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand("run", "Run a model and write one .npy file per output");
  auto f = std::make_shared<RunFlags>();
  cmd->add_option("model", f->model, "ONNX model or compiled module (.octet)")->required();
  cmd->add_option("--input,-i", f->inputs,
                  "NAME=FILE.npy for an input; inputs not given get seeded random data");
  cmd->add_option("--output-dir,-o", f->output_dir, "folder for the output .npy files");
  cmd->add_option("--seed", f->seed, "seed for random inputs")->capture_default_str();
  cmd->add_option("--threads", f->threads, "worker threads (0: all cores)")->capture_default_str();
  cmd->add_option("--batch", f->batch, "value of symbolic dimensions for random inputs")
      ->capture_default_str();
  return [f]() { return Run(*f); };
}

}  // namespace octet::cli
