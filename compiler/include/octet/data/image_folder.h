// A folder of .jpg/.jpeg/.png images (extension case-insensitive), sorted by
// path, each decoded and preprocessed into one sample.
#pragma once

#include <memory>
#include <string>

#include "octet/data/data_source.h"

namespace octet::data {

struct ImageFolderOptions {
  ImagePreprocess preprocess;
  bool recursive = false;
  // torchvision ImageFolder layout: DIR/<class>/**/image; label = index of
  // <class> among the sorted subfolder names; files directly in DIR are ignored.
  bool labels_from_subdirs = false;
};

Expected<std::unique_ptr<DataSource>> OpenImageFolder(const std::string& dir,
                                                      const ImageFolderOptions& options);

// True for names ending in .jpg, .jpeg or .png in any case.
bool IsImageFileName(const std::string& name);

}  // namespace octet::data
