// The strided copy kernel: one thread per word of the output box, in a
// grid-stride loop over the flat index (consecutive threads write consecutive
// words of the innermost dim). The flat index is split into per-dim indices
// with 32-bit division when the box has fewer than 2^31 words (it always does
// for the layout ops of vision transformers), else 64-bit.
#include <cstring>

#include "octet/cuda/cuda_status.h"
#include "strided_copy_kernel.h"

namespace octet::cuda {
namespace {

constexpr int kThreads = 256;

template <typename Word, typename Index>
__global__ void __launch_bounds__(kThreads)
    StridedCopyKernel(const CopyParams p, const Word* __restrict__ src, Word* __restrict__ dst) {
  Word pad;
  memcpy(&pad, p.pad, sizeof(Word));
  const Index n = static_cast<Index>(p.numel);
  const Index stride = static_cast<Index>(gridDim.x) * kThreads;
  for (Index i = static_cast<Index>(blockIdx.x) * kThreads + threadIdx.x; i < n; i += stride) {
    Index rest = i;
    int64_t s = p.src_offset, t = p.dst_offset;
    bool valid = true;
#pragma unroll
    for (int d = kMaxCopyRank - 1; d >= 0; --d) {
      if (d >= p.rank) continue;
      const Index size = static_cast<Index>(p.dims[d]);
      const Index q = rest / size;
      const int64_t idx = static_cast<int64_t>(rest - q * size);
      rest = q;
      s += idx * p.src_strides[d];
      t += idx * p.dst_strides[d];
      if (p.has_box) valid = valid && idx >= p.lo[d] && idx < p.hi[d];
    }
    dst[t] = valid ? src[s] : pad;
  }
}

unsigned BlocksFor(int64_t n) {
  // Up to 16 blocks of 256 per SM of an H100 (132 SMs), several waves of
  // them; the grid-stride loop covers larger copies.
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 8192 ? (blocks > 0 ? blocks : 1) : 8192);
}

template <typename Word>
Status Launch(const CopyParams& p, const void* src, void* dst, cudaStream_t stream) {
  const auto* s = static_cast<const Word*>(src);
  auto* t = static_cast<Word*>(dst);
  if (p.numel < (int64_t{1} << 31))
    StridedCopyKernel<Word, uint32_t><<<BlocksFor(p.numel), kThreads, 0, stream>>>(p, s, t);
  else
    StridedCopyKernel<Word, uint64_t><<<BlocksFor(p.numel), kThreads, 0, stream>>>(p, s, t);
  OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("StridedCopyKernel");
  return Status::Ok();
}

}  // namespace

Status LaunchStridedCopy(const CopyParams& p, const void* src, void* dst, cudaStream_t stream) {
  switch (p.word_bytes) {
    case 1:
      return Launch<uint8_t>(p, src, dst, stream);
    case 2:
      return Launch<uint16_t>(p, src, dst, stream);
    case 4:
      return Launch<uint32_t>(p, src, dst, stream);
    case 8:
      return Launch<uint2>(p, src, dst, stream);
    case 16:
      return Launch<uint4>(p, src, dst, stream);
    default:
      return Internal("StridedCopy: word of ", p.word_bytes, " bytes");
  }
}

}  // namespace octet::cuda
