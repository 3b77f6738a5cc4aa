// Command-line flags that describe how a data source is read (shared by eval
// and quantize): preprocessing, labels and folder layout.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "octet/data/data_source.h"
#include "octet/status.h"

namespace octet::cli {

struct DataFlags {
  std::string preprocess, labels;
  bool recursive = false, class_subdirs = false, split_batch = false;
};

// Registers --preprocess, --labels, --recursive, --class-subdirs, --split-batch.
void AddDataFlags(CLI::App* cmd, DataFlags* f);

// Data source options for `spec` ("images:DIR", "idx:...", ...) from the flags.
Expected<data::DataSourceOptions> MakeSourceOptions(const DataFlags& f, const std::string& spec);

}  // namespace octet::cli
