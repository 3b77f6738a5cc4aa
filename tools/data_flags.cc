#include "data_flags.h"

#include <cstdio>

#include "octet/data/image_preprocess.h"

namespace octet::cli {

void AddDataFlags(CLI::App* cmd, DataFlags* f) {
  cmd->add_option("--preprocess,-p", f->preprocess,
                  "image preprocessing: imagenet, sam, sam:SIZE or KEY=VALUE,... "
                  "(resize, resize_longest, crop, scale, mean, std, pad, layout, channels); "
                  "for idx: data only mean=M,std=S");
  cmd->add_option("--labels", f->labels, ".npy of integer labels, one per sample");
  cmd->add_flag("--recursive", f->recursive, "search subfolders of DIR");
  cmd->add_flag("--class-subdirs", f->class_subdirs,
                "images: label = sorted index of the class subfolder (ImageFolder layout)");
  cmd->add_flag("--split-batch", f->split_batch, "npy: dim 0 of each file is a batch of samples");
}

Expected<data::DataSourceOptions> MakeSourceOptions(const DataFlags& f, const std::string& spec) {
  data::DataSourceOptions o;
  o.recursive = f.recursive;
  o.labels_from_subdirs = f.class_subdirs;
  o.npy_split_batch = f.split_batch;
  o.labels_file = f.labels;
  if (f.preprocess.empty()) return o;
  OCTET_ASSIGN_OR_RETURN(o.preprocess, data::ParsePreprocessSpec(f.preprocess));
  if (spec.rfind("idx:", 0) == 0) {
    // IDX samples are fixed 1xHxW; only the normalisation is configurable.
    data::ImagePreprocess rest = o.preprocess;
    rest.mean.clear();
    rest.std.clear();
    if (data::DescribePreprocess(rest) != data::DescribePreprocess(data::ImagePreprocess()) ||
        o.preprocess.mean.size() > 1 || o.preprocess.std.size() > 1)
      return InvalidArgument("--preprocess '", f.preprocess,
                             "': idx: data takes only mean=M and std=S (one value each)");
    if (!o.preprocess.mean.empty()) o.idx_mean = o.preprocess.mean[0];
    if (!o.preprocess.std.empty()) o.idx_std = o.preprocess.std[0];
  }
  return o;
}

}  // namespace octet::cli
