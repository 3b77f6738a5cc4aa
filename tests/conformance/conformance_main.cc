// octet_conformance: runs ONNX's backend node tests (model.onnx plus
// test_data_set_*/input_N.pb and output_N.pb per test folder) through the
// importer and the reference interpreter and compares the outputs.
//
// Each test runs in a forked child so that a crashing or hanging kernel costs
// one test, not the run; the child reports back over a pipe. Tests that use
// what Octet does not support (ops outside the catalog, STRING tensors,
// opsets outside 13..21, sequences...) are "not applicable", not failures.
// The last line is always "N passed, N failed[, N skipped]".
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "conformance_compare.h"
#include "octet/compile/compile.h"
#include "octet/onnx.h"
#include "octet/reference/interpreter.h"
#include "octet/runtime/module.h"

namespace fs = std::filesystem;

namespace octet::conformance {
namespace {

enum class Outcome { kPass, kFail, kNotApplicable, kSkipped };

struct Result {
  Outcome outcome = Outcome::kFail;
  std::string category;  // e.g. "wrong result", "unsupported op"
  std::string detail;
};

struct Options {
  std::string data_dir;
  std::string exclusions;
  std::string filter;
  bool verbose = false;
  bool fork = true;
  bool roundtrip = false;
  std::string export_dir;
  double timeout_s = 30;
  std::string target = "reference";  // or "cuda"
};

Result Pass() { return {Outcome::kPass, "passed", ""}; }
Result Fail(std::string category, std::string detail) {
  return {Outcome::kFail, std::move(category), std::move(detail)};
}
Result NotApplicable(std::string category, std::string detail) {
  return {Outcome::kNotApplicable, std::move(category), std::move(detail)};
}

// Sorts an Unimplemented status into a not-applicable category. The phrases
// are the ones the importer's messages use.
std::string UnsupportedCategory(const std::string& message) {
  auto has = [&](const char* s) { return message.find(s) != std::string::npos; };
  if (has("unsupported op type")) return "unsupported op";
  if (has("opset")) return "opset not importable";
  if (has("data type")) return "unsupported data type";
  if (has("values are not supported")) return "non-tensor values";
  if (has("subgraph")) return "control flow (subgraphs)";
  return "other unsupported feature";
}

Result ImportFailure(const Status& s, const char* failure_category) {
  if (s.code() == StatusCode::kUnimplemented)
    return NotApplicable(UnsupportedCategory(s.message()), s.message());
  return Fail(failure_category, s.ToString());
}

std::vector<fs::path> SortedEntries(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().filename().string().rfind(prefix, 0) == 0) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Files prefix_0.pb, prefix_1.pb, ... in index order (so _10 sorts after _9).
std::vector<fs::path> NumberedFiles(const fs::path& dir, const std::string& prefix) {
  std::vector<fs::path> out;
  for (int i = 0;; ++i) {
    fs::path p = dir / (prefix + "_" + std::to_string(i) + ".pb");
    if (!fs::exists(p)) break;
    out.push_back(p);
  }
  return out;
}

// ONNX's test data stores bfloat16 tensors as UINT16 (numpy has no bfloat16);
// the bits are bfloat16 bits, so where the graph declares bf16 they are relabelled.
Tensor MatchBf16(Tensor t, DType declared) {
  if (declared != DType::kBF16 || t.dtype() != DType::kU16) return t;
  Tensor out(DType::kBF16, t.dims());
  if (t.nbytes() > 0) std::memcpy(out.raw(), t.raw(), t.nbytes());
  return out;
}

// One test_data_set_N: the inputs by graph input name and the expected
// outputs in graph output order.
struct DataSet {
  std::string name;
  std::map<std::string, Tensor> inputs;
  std::vector<Tensor> expected;
};

std::optional<Result> ReadDataSet(const Graph& g, const fs::path& set_dir, DataSet* data) {
  data->name = set_dir.filename().string();
  const auto input_files = NumberedFiles(set_dir, "input");
  const auto output_files = NumberedFiles(set_dir, "output");
  if (input_files.size() != g.inputs().size())
    return Fail("input count", data->name + ": has " + std::to_string(input_files.size()) +
                                   " input files but the graph has " +
                                   std::to_string(g.inputs().size()) + " inputs");
  if (output_files.size() != g.outputs().size())
    return Fail("output count", data->name + ": has " + std::to_string(output_files.size()) +
                                    " output files but the graph has " +
                                    std::to_string(g.outputs().size()) + " outputs");
  for (size_t i = 0; i < input_files.size(); ++i) {
    auto t = ReadTensorProtoFile(input_files[i].string());
    if (!t.ok()) return ImportFailure(t.status(), "bad test data");
    const Value* in = g.inputs()[i];
    data->inputs[in->name()] = MatchBf16(std::move(t).value(), in->type().dtype);
  }
  for (size_t i = 0; i < output_files.size(); ++i) {
    auto expected = ReadTensorProtoFile(output_files[i].string());
    if (!expected.ok()) return ImportFailure(expected.status(), "bad test data");
    data->expected.push_back(MatchBf16(*expected, g.outputs()[i]->type().dtype));
  }
  return std::nullopt;
}

// Compares each output of a run with the data set's expected ones.
Result CompareOutputs(const Graph& g, const DataSet& data,
                      const std::map<std::string, Tensor>& outputs, const Tolerance& tolerance) {
  for (size_t i = 0; i < data.expected.size(); ++i) {
    const std::string& name = g.outputs()[i]->name();
    auto it = outputs.find(name);
    if (it == outputs.end()) return Fail("wrong result", "output '" + name + "' missing");
    const std::string diff = CompareTensors(it->second, data.expected[i], tolerance);
    if (!diff.empty()) return Fail("wrong result", data.name + ": output '" + name + "': " + diff);
  }
  return Pass();
}

Result RunDataSet(const Model& model, const fs::path& set_dir) {
  const Graph& g = *model.graph;
  DataSet data;
  if (auto bad = ReadDataSet(g, set_dir, &data)) return *bad;
  reference::InterpreterOptions options;
  options.num_threads = 1;
  reference::Interpreter interpreter(g, options);
  auto outputs = interpreter.Run(data.inputs);
  if (!outputs.ok()) {
    const Status& s = outputs.status();
    if (s.code() == StatusCode::kUnimplemented &&
        s.message().find("no reference kernel") != std::string::npos)
      return Fail("no kernel", s.message());
    return Fail("run error", data.name + ": " + s.ToString());
  }
  return CompareOutputs(g, data, *outputs, Tolerance{});
}

// --target cuda: the test's model compiled for the cuda target and run on
// the GPU. Models with an op no cuda kernel takes are not applicable (the
// lowering says so); any other lowering error fails. Without a GPU the test
// stops after lowering. Ops that compute in bf16 by design (convolutions,
// float GEMMs, attention) are compared at bf16's precision: operands rounded
// to 8 significant bits, so rtol 2^-6 and an atol of 2^-6 for sums that
// cancel; the f32 ops keep ONNX's tolerance.
Result RunTestOnCuda(const Model& model, const fs::path& test_dir) {
  const Graph& g = *model.graph;
  auto compiled = CompileForCuda(model.Clone());
  if (!compiled.ok()) {
    if (compiled.status().code() == StatusCode::kUnimplemented)
      return NotApplicable("no cuda lowering", compiled.status().message());
    return Fail("lowering error", compiled.status().ToString());
  }
  Tolerance tolerance;
  for (const ModuleOp& op : compiled->desc.ops)
    if (op.kernel.find("bf16") != std::string::npos || op.kernel == "cuda.attention")
      tolerance = Tolerance{1.0 / 64, 1.0 / 64};
  const fs::path path =
      fs::temp_directory_path() / ("octet_conformance_" + std::to_string(getpid()) + ".octet");
  Status written = WriteModule(compiled->desc, compiled->weights, path.string());
  if (!written.ok()) return Fail("driver error", written.ToString());
  auto module = runtime::Module::Load(path.string());
  std::error_code ec;
  fs::remove(path, ec);
  if (!module.ok()) {
    const StatusCode code = module.status().code();
    if (code == StatusCode::kNotFound || code == StatusCode::kUnimplemented)
      return NotApplicable("lowered for cuda; no GPU here", module.status().message());
    return Fail("load error", module.status().ToString());
  }
  auto session = runtime::Session::Create(*module);
  if (!session.ok()) return Fail("session error", session.status().ToString());
  const auto sets = SortedEntries(test_dir, "test_data_set_");
  if (sets.empty()) return Fail("bad test data", "no test_data_set_* folder");
  for (const fs::path& set : sets) {
    DataSet data;
    if (auto bad = ReadDataSet(g, set, &data)) return *bad;
    auto outputs = (*session)->Run(data.inputs);
    if (!outputs.ok()) return Fail("run error", data.name + ": " + outputs.status().ToString());
    Result r = CompareOutputs(g, data, *outputs, tolerance);
    if (r.outcome != Outcome::kPass) return r;
  }
  return Pass();
}

Result RunTest(const fs::path& test_dir, const Options& opts) {
  auto model = ImportOnnxFile((test_dir / "model.onnx").string());
  if (!model.ok()) return ImportFailure(model.status(), "import error");
  if (opts.roundtrip) {
    // Exercises the exporter on every applicable model.
    auto bytes = ExportOnnxBytes(*model);
    if (!bytes.ok()) return Fail("export error", bytes.status().ToString());
    model = ImportOnnxBytes(*bytes, test_dir.string(), {}, "re-imported model");
    if (!model.ok()) return Fail("re-import error", model.status().ToString());
  }
  if (!opts.export_dir.empty()) {
    const fs::path out = fs::path(opts.export_dir) / (test_dir.filename().string() + ".onnx");
    Status s = ExportOnnxFile(*model, out.string());
    if (!s.ok()) return Fail("export error", s.ToString());
  }
  if (opts.target == "cuda") return RunTestOnCuda(*model, test_dir);
  const auto sets = SortedEntries(test_dir, "test_data_set_");
  if (sets.empty()) return Fail("bad test data", "no test_data_set_* folder");
  for (const fs::path& set : sets) {
    Result r = RunDataSet(*model, set);
    if (r.outcome != Outcome::kPass) return r;
  }
  return Pass();
}

// Single-line messages keep the report greppable.
std::string OneLine(std::string s, size_t max_len = 400) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  if (s.size() > max_len) s = s.substr(0, max_len) + "...";
  return s;
}

std::string EncodeResult(const Result& r) {
  return std::to_string(static_cast<int>(r.outcome)) + "\n" + OneLine(r.category) + "\n" +
         OneLine(r.detail, 4000);
}

Result DecodeResult(const std::string& s) {
  Result r;
  std::istringstream in(s);
  std::string outcome;
  std::getline(in, outcome);
  std::getline(in, r.category);
  std::getline(in, r.detail);
  r.outcome = static_cast<Outcome>(std::atoi(outcome.c_str()));
  return r;
}

Result RunTestForked(const fs::path& test_dir, const Options& opts) {
  int fds[2];
  if (pipe(fds) != 0) return Fail("driver error", std::string("pipe: ") + std::strerror(errno));
  std::cout.flush();
  const pid_t pid = fork();
  if (pid < 0) return Fail("driver error", std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    close(fds[0]);
    const std::string msg = EncodeResult(RunTest(test_dir, opts));
    size_t done = 0;
    while (done < msg.size()) {
      const ssize_t w = write(fds[1], msg.data() + done, msg.size() - done);
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  bool timed_out = false;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t(opts.timeout_s * 1000));
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      timed_out = true;
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      timed_out = r == 0;
      break;
    }
    char buf[4096];
    const ssize_t n = read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    msg.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  if (timed_out)
    return Fail("timeout", "did not finish within " + std::to_string(opts.timeout_s) + " s");
  if (WIFSIGNALED(status))
    return Fail("crash", std::string("killed by signal ") + std::to_string(WTERMSIG(status)) +
                             " (" + strsignal(WTERMSIG(status)) + ")");
  if (msg.empty()) return Fail("crash", "exited without a result");
  return DecodeResult(msg);
}

// Adds the op types named in the importer's "uses N unsupported op types:
// A x3 (...), B x1 (...)" message to `tests_per_op`.
void CountUnsupportedOps(const std::string& message, std::map<std::string, int>* tests_per_op) {
  static const std::regex kOp(R"(([A-Za-z0-9_.:]+) x[0-9]+ \()");
  const size_t start = message.find("unsupported op type");
  if (start == std::string::npos) return;
  const std::string list = message.substr(start);
  for (auto it = std::sregex_iterator(list.begin(), list.end(), kOp); it != std::sregex_iterator();
       ++it)
    ++(*tests_per_op)[(*it)[1].str()];
}

// test name -> reason, from lines "test_name  # reason".
std::map<std::string, std::string> ReadExclusions(const std::string& path, bool* ok) {
  std::map<std::string, std::string> out;
  *ok = true;
  if (path.empty()) return out;
  std::ifstream in(path);
  if (!in) {
    std::cerr << "error: cannot read exclusions file '" << path << "'\n";
    *ok = false;
    return out;
  }
  std::string line;
  while (std::getline(in, line)) {
    const size_t hash = line.find('#');
    std::string reason = hash == std::string::npos ? "" : line.substr(hash + 1);
    std::string name = line.substr(0, hash);
    name.erase(0, name.find_first_not_of(" \t\r"));
    name.erase(name.find_last_not_of(" \t\r") + 1);
    if (name.empty()) continue;
    reason.erase(0, reason.find_first_not_of(" \t"));
    out[name] = reason;
  }
  return out;
}

int Main(const Options& opts) {
  if (!fs::is_directory(opts.data_dir)) {
    std::cout << "ONNX test data not found at '" << opts.data_dir
              << "' (install Debian's libonnx-testdata); nothing to run\n";
    return 77;  // ctest SKIP_RETURN_CODE
  }
  bool ok = true;
  const auto exclusions = ReadExclusions(opts.exclusions, &ok);
  if (!ok) return 2;
  std::regex filter;
  try {
    filter = std::regex(opts.filter);
  } catch (const std::regex_error& e) {
    std::cerr << "error: --filter '" << opts.filter << "' is not a valid regex: " << e.what()
              << "\n";
    return 2;
  }
  const auto tests = SortedEntries(opts.data_dir, "test_");
  std::set<std::string> seen;
  std::map<Outcome, std::map<std::string, int>> counts;
  std::map<std::string, int> tests_per_op;  // unsupported op -> tests using it
  int passed = 0, failed = 0, not_applicable = 0, skipped = 0;
  const auto start = std::chrono::steady_clock::now();
  for (const fs::path& dir : tests) {
    const std::string name = dir.filename().string();
    seen.insert(name);
    if (!opts.filter.empty() && !std::regex_search(name, filter)) continue;
    Result r;
    if (exclusions.count(name)) {
      r = {Outcome::kSkipped, "excluded", exclusions.at(name)};
    } else {
      r = opts.fork ? RunTestForked(dir, opts) : RunTest(dir, opts);
    }
    ++counts[r.outcome][r.category];
    if (r.category == "unsupported op") CountUnsupportedOps(r.detail, &tests_per_op);
    switch (r.outcome) {
      case Outcome::kPass:
        ++passed;
        if (opts.verbose) std::cout << "PASS " << name << "\n";
        break;
      case Outcome::kFail:
        ++failed;
        std::cout << "FAIL " << name << " [" << r.category << "]: " << OneLine(r.detail) << "\n";
        break;
      case Outcome::kNotApplicable:
        ++not_applicable;
        if (opts.verbose)
          std::cout << "N/A  " << name << " [" << r.category << "]: " << OneLine(r.detail) << "\n";
        break;
      case Outcome::kSkipped:
        ++skipped;
        if (opts.verbose) std::cout << "SKIP " << name << ": " << r.detail << "\n";
        break;
    }
    std::cout.flush();
  }
  for (const auto& [name, reason] : exclusions)
    if (!seen.count(name))
      std::cout << "warning: exclusions list '" << name << "', which is not a test in "
                << opts.data_dir << "\n";
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::cout << "\nSummary (" << opts.data_dir << ", " << static_cast<int>(secs) << " s):\n";
  const std::pair<Outcome, const char*> kinds[] = {{Outcome::kPass, "passed"},
                                                   {Outcome::kFail, "failed"},
                                                   {Outcome::kNotApplicable, "not applicable"},
                                                   {Outcome::kSkipped, "skipped (exclusions)"}};
  for (const auto& [outcome, label] : kinds) {
    int total = 0;
    for (const auto& [category, n] : counts[outcome]) total += n;
    std::cout << "  " << label << ": " << total << "\n";
    if (outcome == Outcome::kPass || outcome == Outcome::kSkipped) continue;
    for (const auto& [category, n] : counts[outcome])
      std::cout << "    " << category << ": " << n << "\n";
  }
  if (!tests_per_op.empty()) {
    // Which missing ops would make the most tests applicable.
    std::vector<std::pair<int, std::string>> ranked;
    for (const auto& [op, n] : tests_per_op) ranked.emplace_back(-n, op);
    std::sort(ranked.begin(), ranked.end());
    std::cout << "  unsupported ops by tests using them:";
    for (size_t i = 0; i < ranked.size() && i < 20; ++i)
      std::cout << (i ? ", " : " ") << ranked[i].second << " " << -ranked[i].first;
    std::cout << (ranked.size() > 20 ? ", ..." : "") << "\n";
  }
  std::cout << passed << " passed, " << failed << " failed";
  if (skipped > 0) std::cout << ", " << skipped << " skipped";
  std::cout << std::endl;
  return failed > 0 ? 1 : 0;
}

}  // namespace
}  // namespace octet::conformance

int main(int argc, char** argv) {
  octet::conformance::Options opts;
  CLI::App app{"Runs ONNX backend node tests through Octet's importer and reference interpreter"};
  app.add_option("--data-dir", opts.data_dir, "Folder of test_* folders")
      ->default_val("/usr/share/libonnx-testdata/data/node");
  app.add_option("--exclusions", opts.exclusions, "File of 'test_name  # reason' lines to skip");
  app.add_option("--filter", opts.filter, "Run only tests whose name matches this regex");
  app.add_flag("--verbose,-v", opts.verbose,
               "Also print passing, not applicable and skipped tests");
  app.add_option("--timeout", opts.timeout_s, "Seconds per test before it counts as failed")
      ->default_val(30);
  app.add_flag("--roundtrip", opts.roundtrip, "Export and re-import each model before running it");
  app.add_option("--export-dir", opts.export_dir,
                 "Also export each imported model to DIR/<test>.onnx (to check the exporter)");
  app.add_option("--target", opts.target,
                 "reference: the interpreter; cuda: compile for the cuda target and run on the "
                 "GPU (lowering only without one)")
      ->check(CLI::IsMember({"reference", "cuda"}))
      ->default_val("reference");
  bool no_fork = false;
  app.add_flag("--no-fork", no_fork, "Run tests in this process (for debuggers)");
  CLI11_PARSE(app, argc, argv);
  opts.fork = !no_fork;
  return octet::conformance::Main(opts);
}
