// The strided copy kernels. The general one: one thread per word of the
// output box, in a grid-stride loop over the flat index (consecutive threads
// write consecutive words of the innermost dim). The flat index is split into
// per-dim indices with 32-bit division when the box has fewer than 2^31 words
// (it always does for the layout ops of vision transformers), else 64-bit.
// True transposes (the innermost output dim strided in the source) go
// through shared-memory tiles instead, so that reads are coalesced too.
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

// A transpose through 32 x 32 tiles: dim t (size A) is contiguous in the
// source, the innermost dim (size B) in the destination. A block of 32 x 8
// threads reads a tile along t (coalesced), then writes it along the
// innermost dim (coalesced); the other dims are batches, one tile-grid per
// batch index (grid.y and a loop).
template <typename Word>
__global__ void __launch_bounds__(kThreads)
    TiledTransposeKernel(const CopyParams p, const Word* __restrict__ src, Word* __restrict__ dst) {
  __shared__ Word tile[32][33];
  const int t = p.tile_dim, last = p.rank - 1;
  const int64_t a_size = p.dims[t], b_size = p.dims[last];
  const int64_t tiles_a = (a_size + 31) / 32;
  const int64_t a0 = (blockIdx.x % tiles_a) * 32, b0 = (blockIdx.x / tiles_a) * 32;
  const int64_t batches = p.numel / (a_size * b_size);
  const int tx = threadIdx.x % 32, ty = threadIdx.x / 32;
  for (int64_t batch = blockIdx.y; batch < batches; batch += gridDim.y) {
    int64_t rest = batch, s = p.src_offset, d = p.dst_offset;
    for (int k = last - 1; k >= 0; --k) {
      if (k == t) continue;
      const int64_t idx = rest % p.dims[k];
      rest /= p.dims[k];
      s += idx * p.src_strides[k];
      d += idx * p.dst_strides[k];
    }
    for (int k = ty; k < 32; k += kThreads / 32) {
      const int64_t a = a0 + tx, b = b0 + k;
      if (a < a_size && b < b_size)
        tile[k][tx] = src[s + a * p.src_strides[t] + b * p.src_strides[last]];
    }
    __syncthreads();
    for (int k = ty; k < 32; k += kThreads / 32) {
      const int64_t a = a0 + k, b = b0 + tx;
      if (a < a_size && b < b_size)
        dst[d + a * p.dst_strides[t] + b * p.dst_strides[last]] = tile[tx][k];
    }
    __syncthreads();  // the tile is refilled for the next batch
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
  if constexpr (sizeof(Word) <= 8) {
    if (p.tile_dim >= 0) {
      const int64_t a = p.dims[p.tile_dim], b = p.dims[p.rank - 1];
      const int64_t batches = p.numel / (a * b);
      const dim3 grid(static_cast<unsigned>(((a + 31) / 32) * ((b + 31) / 32)),
                      static_cast<unsigned>(batches < 65535 ? batches : 65535));
      TiledTransposeKernel<Word><<<grid, kThreads, 0, stream>>>(p, s, t);
      OCTET_CUDA_RETURN_IF_LAUNCH_ERROR("TiledTransposeKernel");
      return Status::Ok();
    }
  }
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
