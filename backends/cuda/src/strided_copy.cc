// strided_copy.h: validation and simplification of a strided copy (drop
// size-1 dims, merge contiguous neighbours, regroup into wide words).
#include <cstring>

#include "octet/cuda/cuda_status.h"
#include "strided_copy_kernel.h"

namespace octet::cuda {
namespace {

struct Dim {
  int64_t size, src, dst, lo, hi;
  bool full() const { return lo <= 0 && hi >= size; }
};

// Drops size-1 dims (a full one contributes nothing) and merges dim d into
// d+1 when both tensors step over d as over d+1 times its size.
std::vector<Dim> Simplify(std::vector<Dim> dims) {
  std::vector<Dim> kept;
  for (const Dim& d : dims)
    if (!(d.size == 1 && d.full())) kept.push_back(d);
  std::vector<Dim> merged;
  for (const Dim& d : kept) {
    if (!merged.empty()) {
      Dim& o = merged.back();
      if (o.full() && d.full() && o.src == d.src * d.size && o.dst == d.dst * d.size) {
        o = Dim{o.size * d.size, d.src, d.dst, 0, o.size * d.size};
        continue;
      }
    }
    merged.push_back(d);
  }
  return merged;
}

bool Divides(int64_t g, int64_t v) { return v % g == 0; }

}  // namespace

std::vector<int64_t> DenseStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

Status CopyStrided(const StridedCopy& c, const void* src, void* dst, cudaStream_t stream) {
  const size_t rank = c.dims.size();
  if (c.elem_bytes != 1 && c.elem_bytes != 2 && c.elem_bytes != 4 && c.elem_bytes != 8)
    return InvalidArgument("CopyStrided: element size ", c.elem_bytes, " is not 1, 2, 4 or 8");
  if (c.src_strides.size() != rank || (!c.dst_strides.empty() && c.dst_strides.size() != rank) ||
      (!c.valid_lo.empty() && (c.valid_lo.size() != rank || c.valid_hi.size() != rank)))
    return InvalidArgument("CopyStrided: ", rank, " dims but ", c.src_strides.size(),
                           " source strides, ", c.dst_strides.size(), " destination strides, ",
                           c.valid_lo.size(), "/", c.valid_hi.size(), " box bounds");
  int64_t numel = 1;
  for (int64_t d : c.dims) {
    if (d < 0) return InvalidArgument("CopyStrided: negative dim ", d);
    numel *= d;
  }
  if (numel == 0) return Status::Ok();
  if (src == nullptr || dst == nullptr) return InvalidArgument("CopyStrided: null src or dst");
  const std::vector<int64_t> dense = DenseStrides(c.dims);
  std::vector<Dim> dims(rank);
  for (size_t d = 0; d < rank; ++d) {
    dims[d] =
        Dim{c.dims[d], c.src_strides[d], c.dst_strides.empty() ? dense[d] : c.dst_strides[d],
            c.valid_lo.empty() ? 0 : c.valid_lo[d], c.valid_lo.empty() ? c.dims[d] : c.valid_hi[d]};
    dims[d].lo = std::max<int64_t>(dims[d].lo, 0);
    dims[d].hi = std::min(dims[d].hi, dims[d].size);
  }
  dims = Simplify(std::move(dims));
  if (dims.size() > static_cast<size_t>(kMaxCopyRank))
    return InvalidArgument("CopyStrided: ", dims.size(), " dims after merging, at most ",
                           kMaxCopyRank);
  CopyParams p;
  p.rank = static_cast<int>(dims.size());
  p.src_offset = c.src_offset;
  p.dst_offset = c.dst_offset;
  int64_t word = c.elem_bytes;
  bool has_box = false;
  for (const Dim& d : dims) has_box = has_box || !d.full();
  // One contiguous run on both sides: a plain copy.
  if (!has_box && (dims.empty() || (dims.size() == 1 && dims[0].src == 1 && dims[0].dst == 1))) {
    const auto* s = static_cast<const uint8_t*>(src) + c.src_offset * word;
    auto* t = static_cast<uint8_t*>(dst) + c.dst_offset * word;
    OCTET_CUDA_RETURN_IF_ERROR(
        cudaMemcpyAsync(t, s, static_cast<size_t>(numel * word), cudaMemcpyDeviceToDevice, stream));
    return Status::Ok();
  }
  // Regroup g elements into one word when the innermost dim is contiguous on
  // both sides and everything (sizes, strides, offsets, box, addresses) is a
  // multiple of g elements.
  if (!dims.empty() && dims.back().src == 1 && dims.back().dst == 1) {
    for (int64_t bytes : {16, 8, 4}) {
      if (bytes <= word) break;
      const int64_t g = bytes / word;
      const Dim& in = dims.back();
      bool ok = Divides(g, in.size) && Divides(g, in.lo) && Divides(g, in.hi) &&
                Divides(g, c.src_offset) && Divides(g, c.dst_offset) &&
                reinterpret_cast<uintptr_t>(src) % bytes == 0 &&
                reinterpret_cast<uintptr_t>(dst) % bytes == 0;
      for (size_t d = 0; ok && d + 1 < dims.size(); ++d)
        ok = Divides(g, dims[d].src) && Divides(g, dims[d].dst);
      if (!ok) continue;
      for (size_t d = 0; d + 1 < dims.size(); ++d) {
        dims[d].src /= g;
        dims[d].dst /= g;
      }
      Dim& last = dims.back();
      last.size /= g;
      last.lo /= g;
      last.hi /= g;
      p.src_offset /= g;
      p.dst_offset /= g;
      word = bytes;
      break;
    }
  }
  p.word_bytes = static_cast<int>(word);
  // The innermost output dim strided in the source (a true transpose): tile
  // it with the dim the source has contiguous, when both are long enough for
  // 32 x 32 tiles to pay.
  if (!has_box && dims.size() >= 2 && dims.back().dst == 1 && dims.back().src != 1 &&
      dims.back().size >= 16)
    for (size_t d = 0; d + 1 < dims.size(); ++d)
      if (dims[d].src == 1 && dims[d].size >= 16) p.tile_dim = static_cast<int>(d);
  p.has_box = has_box;
  p.numel = 1;
  for (int d = 0; d < p.rank; ++d) {
    p.dims[d] = dims[d].size;
    p.src_strides[d] = dims[d].src;
    p.dst_strides[d] = dims[d].dst;
    p.lo[d] = dims[d].lo;
    p.hi[d] = dims[d].hi;
    p.numel *= dims[d].size;
  }
  uint8_t pattern[16];
  for (int i = 0; i < 16; ++i)
    pattern[i] = static_cast<uint8_t>(c.pad_bits >> (8 * (i % c.elem_bytes)));
  std::memcpy(p.pad, pattern, sizeof(pattern));
  return LaunchStridedCopy(p, src, dst, stream);
}

}  // namespace octet::cuda
