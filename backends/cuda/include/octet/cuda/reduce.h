// f32 reductions of the cuda target: ReduceSum / ReduceMean / ReduceMax over
// any set of axes, and Softmax over the last axis.
//
// Reductions: the host merges neighbouring dims that are both kept or both
// reduced, then picks one of two kernels. When the innermost merged dim is
// reduced (a row, contiguous), one warp reduces each output; else (e.g. the
// channel axis of NCHW, SAM's LayerNorm2d) a block takes 32 neighbouring
// outputs (neighbouring addresses for each warp) and splits each one's
// reduced elements over 8 threads, combined in a fixed order.
// Sums accumulate in double, as the reference interpreter does, so a mean
// over thousands of elements matches it to the last f32 rounding in most
// cases.
//
// Softmax: one warp per row: max, sum of expf(x - max) in f32, then
// expf(x - max) / sum (IEEE division). expf is within 2 ulp; the sum's f32
// rounding adds ~1e-7 relative per element.
//
// Run only enqueues on `stream`.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "octet/status.h"

namespace octet::cuda {

constexpr int kMaxReduceRank = 6;  // after merging neighbouring dims

enum class ReduceOp { kSum, kMean, kMax };

// y has the kept dims of x in order (keepdims only changes the y's shape, not
// its layout). `axes` are distinct and in [0, rank). An empty reduction (a
// reduced dim of 0) writes 0 (sum), NaN (mean) or -inf (max).
Status ReduceF32(ReduceOp op, const float* x, const std::vector<int64_t>& dims,
                 const std::vector<int64_t>& axes, float* y, cudaStream_t stream);

// y = softmax(x) along the last axis of [rows, k]; y may alias x.
Status SoftmaxLastAxisF32(const float* x, int64_t rows, int64_t k, float* y, cudaStream_t stream);

}  // namespace octet::cuda
