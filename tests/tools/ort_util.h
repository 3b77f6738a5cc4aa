// ONNX Runtime as a peer in gtest: runs a model with scripts/ort_run.py under
// the venv python (${OCTET_VENV:-<source>/.venv}/bin/python, made by
// scripts/venv.sh) and returns its outputs as octet::Tensor.
//
//   TEST(X, Y) {
//     OCTET_ORT_OR_SKIP(python);   // skips (or FAILs with OCTET_REQUIRE_ORT=1)
//     auto out = octet::ort::Run(python, "model.onnx", inputs);
//     ASSERT_TRUE(out.ok()) << out.status().ToString();
//   }
//
// Header-only; needs OCTET_SOURCE_DIR (set by tests/CMakeLists.txt) and
// nlohmann_json (to read ort_run.py's JSON line).
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "octet/npy.h"
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::ort {

namespace ort_fs = std::filesystem;

// Single-quoted for /bin/sh.
inline std::string ShellQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline bool Required() {
  const char* env = std::getenv("OCTET_REQUIRE_ORT");
  return env != nullptr && std::string(env) == "1";
}

inline std::string SourceDir() { return OCTET_SOURCE_DIR; }

inline std::string VenvDir() {
  const char* env = std::getenv("OCTET_VENV");
  return env != nullptr && *env != '\0' ? std::string(env) : SourceDir() + "/.venv";
}

// Runs `cmd` through /bin/sh; returns its exit code and what it wrote to stdout.
inline int RunShell(const std::string& cmd, std::string* output) {
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return -1;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) output->append(buf.data(), n);
  const int status = pclose(pipe);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The venv python if it exists and can `import onnxruntime`; otherwise an
// error that says how to get it. Checked once per process.
inline Expected<std::string> FindPython() {
  static const Expected<std::string> found = []() -> Expected<std::string> {
    const std::string python = VenvDir() + "/bin/python";
    if (!ort_fs::exists(python))
      return NotFound("no venv python at ", python,
                      " (create it with scripts/venv.sh, or set OCTET_VENV)");
    std::string out;
    if (RunShell(ShellQuote(python) + " -c 'import onnxruntime' 2>&1", &out) != 0)
      return NotFound(python, " cannot import onnxruntime (run scripts/venv.sh): ", out);
    return python;
  }();
  return found;
}

// A fresh temporary folder, removed when this goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (ort_fs::temp_directory_path() / "octet_ort_XXXXXX").string();
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) ort_fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct RunOptions {
  std::string opt_level = "default";  // default | disable | basic | extended | all
  int threads = 0;                    // 0: ONNX Runtime's default
};

// Runs `model` with ONNX Runtime's CPU EP on `inputs`; outputs by graph output
// name. Errors carry ort_run.py's message (ONNX Runtime's own text).
inline Expected<std::map<std::string, Tensor>> Run(const std::string& python,
                                                   const std::string& model,
                                                   const std::map<std::string, Tensor>& inputs,
                                                   const RunOptions& options = {}) {
  TempDir tmp;
  if (tmp.path().empty()) return Error(StatusCode::kIoError, "cannot create a temporary folder");
  std::string cmd = ShellQuote(python) + " " + ShellQuote(SourceDir() + "/scripts/ort_run.py") +
                    " " + ShellQuote(model);
  int k = 0;
  for (const auto& [name, tensor] : inputs) {
    const std::string path = tmp.path() + "/input_" + std::to_string(k++) + ".npy";
    OCTET_RETURN_IF_ERROR(WriteNpy(path, tensor));
    cmd += " --input " + ShellQuote(name + "=" + path);
  }
  const std::string out_dir = tmp.path() + "/out";
  cmd += " -o " + ShellQuote(out_dir) + " --opt-level " + ShellQuote(options.opt_level);
  if (options.threads > 0) cmd += " --threads " + std::to_string(options.threads);
  // stdout (the JSON line) to a file; stderr (errors, ORT warnings) to `log`.
  const std::string json_path = tmp.path() + "/result.json";
  std::string log;
  const int rc = RunShell(cmd + " 2>&1 >" + ShellQuote(json_path), &log);
  if (rc != 0) return InvalidArgument("ort_run.py exited with ", rc, " on ", model, ": ", log);
  std::ifstream in(json_path);
  std::stringstream ss;
  ss << in.rdbuf();
  std::map<std::string, Tensor> outputs;
  try {
    const nlohmann::json line = nlohmann::json::parse(ss.str());
    for (const auto& o : line.at("outputs")) {
      OCTET_ASSIGN_OR_RETURN(Tensor t, ReadNpy(out_dir + "/" + o.at("file").get<std::string>()));
      outputs.emplace(o.at("name").get<std::string>(), std::move(t));
    }
  } catch (const nlohmann::json::exception& e) {
    return Internal("unexpected ort_run.py output (", e.what(), "): ", ss.str(), log);
  }
  return outputs;
}

}  // namespace octet::ort

// Declares `std::string var` = the venv python with onnxruntime, or ends the
// test: GTEST_SKIP, or FAIL when OCTET_REQUIRE_ORT=1 (CI).
#define OCTET_ORT_OR_SKIP(var)                                                      \
  std::string var;                                                                  \
  do {                                                                              \
    auto _octet_ort_python = ::octet::ort::FindPython();                            \
    if (!_octet_ort_python.ok()) {                                                  \
      if (::octet::ort::Required())                                                 \
        FAIL() << "OCTET_REQUIRE_ORT=1: " << _octet_ort_python.status().ToString(); \
      GTEST_SKIP() << _octet_ort_python.status().ToString();                        \
    }                                                                               \
    var = *_octet_ort_python;                                                       \
  } while (0)
