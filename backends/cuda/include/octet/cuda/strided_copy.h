// One generic N-D strided copy for the cuda target's layout ops (Transpose,
// Slice, Pad, Split, Concat, Expand): every output element of a box of
// `dims` reads the source at src_offset + sum(i[d] * src_strides[d]) and is
// written at dst_offset + sum(i[d] * dst_strides[d]); elements outside an
// optional valid box get a constant pad value instead. Element size 1, 2, 4
// or 8 bytes (the bytes are copied, never interpreted, so any dtype of that
// size works).
//
// The host simplifies the copy before launching: size-1 dims are dropped,
// neighbouring dims that are contiguous in both tensors merge, and when the
// innermost dim is contiguous on both sides the elements are regrouped into
// 16-, 8- or 4-byte words (alignment and the pad box permitting), so that a
// window partition or a channel slice moves 16 bytes per access. A copy
// that reduces to one contiguous run is one cudaMemcpyAsync.
//
// As the other kernels: Run only enqueues on `stream` (no allocation, no
// synchronisation), so it can be captured in a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "octet/status.h"

namespace octet::cuda {

constexpr int kMaxCopyRank = 8;

struct StridedCopy {
  int64_t elem_bytes = 4;            // 1, 2, 4 or 8
  std::vector<int64_t> dims;         // the box copied (output iteration space)
  std::vector<int64_t> src_strides;  // in elements, per dim; 0 (broadcast) allowed
  int64_t src_offset = 0;            // in elements
  std::vector<int64_t> dst_strides;  // in elements; empty: dense row-major over dims
  int64_t dst_offset = 0;            // in elements
  // Optional valid box: index i reads the source iff valid_lo[d] <= i[d] <
  // valid_hi[d] for every d, else it writes pad_bits (the low elem_bytes
  // bytes). Empty: every element is valid.
  std::vector<int64_t> valid_lo, valid_hi;
  uint64_t pad_bits = 0;
};

// Enqueues the copy. dst must not overlap src (the executors give layout ops
// their own place unless the copy is the identity).
Status CopyStrided(const StridedCopy& copy, const void* src, void* dst, cudaStream_t stream);

// Dense row-major strides of `dims` (in elements).
std::vector<int64_t> DenseStrides(const std::vector<int64_t>& dims);

}  // namespace octet::cuda
