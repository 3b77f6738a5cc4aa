#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "octet/metrics.h"
#include "octet/npy.h"

namespace octet::cli {

// Compares .npy files: two files, or every NAME.npy of a reference folder with
// the same name in a candidate folder.
Action AddCompareCommand(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "compare", "Compare outputs (.npy files or folders of them): rel L2, cosine, SQNR");
  auto ref = std::make_shared<std::string>();
  auto cand = std::make_shared<std::string>();
  auto max_rel_l2 = std::make_shared<double>(-1);
  cmd->add_option("reference", *ref, "reference .npy file or folder")->required();
  cmd->add_option("candidate", *cand, "candidate .npy file or folder")->required();
  cmd->add_option("--max-rel-l2", *max_rel_l2,
                  "fail (exit 1) if any relative L2 error exceeds this");
  return [ref, cand, max_rel_l2]() {
    namespace fs = std::filesystem;
    std::vector<std::pair<std::string, std::string>> pairs;
    if (fs::is_directory(*ref)) {
      for (const auto& e : fs::directory_iterator(*ref))
        if (e.path().extension() == ".npy")
          pairs.emplace_back(e.path().string(), (fs::path(*cand) / e.path().filename()).string());
      std::sort(pairs.begin(), pairs.end());
    } else {
      pairs.emplace_back(*ref, *cand);
    }
    if (pairs.empty()) {
      std::fprintf(stderr, "error: no .npy files in '%s'\n", ref->c_str());
      return 1;
    }
    int worst = 0;
    for (const auto& [r, c] : pairs) {
      auto a = ReadNpy(r);
      auto b = ReadNpy(c);
      if (!a.ok() || !b.ok()) {
        std::fprintf(stderr, "error: %s\n", (!a.ok() ? a.status() : b.status()).ToString().c_str());
        return 1;
      }
      auto agreement = Compare(*a, *b, r + " vs " + c);
      if (!agreement.ok()) {
        std::fprintf(stderr, "error: %s\n", agreement.status().ToString().c_str());
        return 1;
      }
      std::printf("%s: %s\n", fs::path(r).filename().c_str(), FormatAgreement(*agreement).c_str());
      if (*max_rel_l2 >= 0 && !(agreement->relative_l2 <= *max_rel_l2)) worst = 1;
    }
    if (worst) std::printf("FAIL: relative L2 error above %.3g\n", *max_rel_l2);
    return worst;
  };
}

}  // namespace octet::cli
