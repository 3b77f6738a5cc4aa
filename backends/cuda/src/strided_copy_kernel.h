// The launch interface between strided_copy.cc (validation, simplification)
// and strided_copy.cu (the kernel).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "octet/cuda/strided_copy.h"
#include "octet/status.h"

namespace octet::cuda {

// A simplified copy, passed to the kernel by value. Dims are innermost last;
// word_bytes is the (possibly regrouped) element size: 1, 2, 4, 8 or 16.
struct CopyParams {
  int rank = 0;
  int64_t numel = 0;
  int64_t dims[kMaxCopyRank] = {};
  int64_t src_strides[kMaxCopyRank] = {};
  int64_t dst_strides[kMaxCopyRank] = {};
  int64_t lo[kMaxCopyRank] = {};
  int64_t hi[kMaxCopyRank] = {};
  int64_t src_offset = 0, dst_offset = 0;
  bool has_box = false;
  int word_bytes = 4;
  // >= 0: a transpose through shared-memory tiles of this dim (contiguous in
  // the source) and the innermost one (contiguous in the destination).
  int tile_dim = -1;
  uint32_t pad[4] = {};  // the pad value repeated over 16 bytes
};

Status LaunchStridedCopy(const CopyParams& p, const void* src, void* dst, cudaStream_t stream);

}  // namespace octet::cuda
