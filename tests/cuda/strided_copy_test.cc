// CopyStrided against a host loop over the same spec (the definition in
// strided_copy.h), bit for bit: transposes, slices with negative steps,
// padding, broadcasts and copies into a sub-box, for element sizes 1, 2, 4
// and 8, at odd sizes (no regrouping), at sizes the host regroups into 16-byte
// words (SAM's window partition) and from misaligned pointers.
#include "octet/cuda/strided_copy.h"

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <vector>

#include "cuda_test_util.h"

namespace octet::cuda::testing {
namespace {

// dst (dense over the box unless dst_strides) as the spec defines it.
std::vector<uint8_t> HostCopy(const StridedCopy& c, const std::vector<uint8_t>& src,
                              std::vector<uint8_t> dst) {
  const size_t rank = c.dims.size();
  const std::vector<int64_t> dense = DenseStrides(c.dims);
  int64_t n = 1;
  for (int64_t d : c.dims) n *= d;
  for (int64_t i = 0; i < n; ++i) {
    int64_t s = c.src_offset, t = c.dst_offset, rest = i;
    bool valid = true;
    for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
      const int64_t idx = rest % c.dims[d];
      rest /= c.dims[d];
      s += idx * c.src_strides[d];
      t += idx * (c.dst_strides.empty() ? dense[d] : c.dst_strides[d]);
      if (!c.valid_lo.empty()) valid = valid && idx >= c.valid_lo[d] && idx < c.valid_hi[d];
    }
    if (valid)
      std::memcpy(&dst[t * c.elem_bytes], &src[s * c.elem_bytes], c.elem_bytes);
    else
      std::memcpy(&dst[t * c.elem_bytes], &c.pad_bits, c.elem_bytes);
  }
  return dst;
}

std::vector<uint8_t> RandomBytes(size_t n, std::mt19937& rng) {
  std::vector<uint8_t> v(n);
  for (uint8_t& b : v) b = static_cast<uint8_t>(rng());
  return v;
}

// Runs `c` from src (+ src_shift bytes) into a dst of dst_elems elements
// (+ dst_shift bytes), poisoned, and compares with the host.
void Check(const StridedCopy& c, int64_t src_elems, int64_t dst_elems, std::mt19937& rng,
           uint32_t seed, size_t src_shift = 0, size_t dst_shift = 0) {
  const size_t eb = static_cast<size_t>(c.elem_bytes);
  std::vector<uint8_t> src = RandomBytes(src_elems * eb, rng);
  std::vector<uint8_t> host_src(src_shift, 0);
  host_src.insert(host_src.end(), src.begin(), src.end());
  DeviceBuffer dsrc = Upload(host_src);
  DeviceBuffer ddst = Poisoned(dst_elems * eb + dst_shift);
  Status s = CopyStrided(c, static_cast<const uint8_t*>(dsrc.data()) + src_shift,
                         static_cast<uint8_t*>(ddst.data()) + dst_shift, nullptr);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::vector<uint8_t> got = Download<uint8_t>(ddst, dst_elems * eb + dst_shift);
  got.erase(got.begin(), got.begin() + dst_shift);
  const std::vector<uint8_t> want = HostCopy(c, src, std::vector<uint8_t>(dst_elems * eb, 0xFF));
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(got[i], want[i]) << "byte " << i << " of " << got.size() << ", element size " << eb
                               << ", seed " << seed;
}

int64_t Numel(const std::vector<int64_t>& d) {
  return std::accumulate(d.begin(), d.end(), int64_t{1}, std::multiplies<>());
}

TEST(StridedCopy, TransposesAllElementSizes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  // The last two are long enough for the tiled transpose (dims >= 16).
  const std::vector<std::vector<int64_t>> shapes = {
      {3, 5, 7}, {2, 4, 8, 16}, {1, 9, 1, 4, 3}, {3, 40, 33}, {2, 17, 50, 5}};
  for (int64_t eb : {1, 2, 4, 8})
    for (const auto& in : shapes) {
      std::vector<int64_t> perm(in.size());
      std::iota(perm.begin(), perm.end(), 0);
      std::shuffle(perm.begin(), perm.end(), rng);
      const std::vector<int64_t> strides = DenseStrides(in);
      StridedCopy c;
      c.elem_bytes = eb;
      for (int64_t p : perm) {
        c.dims.push_back(in[p]);
        c.src_strides.push_back(strides[p]);
      }
      Check(c, Numel(in), Numel(in), rng, seed);
    }
}

// NCHW -> NHWC at odd sizes: the tiled transpose (A = 19 * 21 source-
// contiguous, B = 37 destination-contiguous, 2 batches), partial tiles at
// both edges.
TEST(StridedCopy, TiledTransposeAtOddSizes) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  const std::vector<int64_t> in = {2, 37, 19, 21};
  const std::vector<int64_t> strides = DenseStrides(in);
  for (int64_t eb : {1, 2, 4, 8}) {
    StridedCopy c;
    c.elem_bytes = eb;
    for (int p : {0, 2, 3, 1}) {
      c.dims.push_back(in[p]);
      c.src_strides.push_back(strides[p]);
    }
    Check(c, Numel(in), Numel(in), rng, seed);
  }
}

// SAM's window partition: [1, 4, 16, 4, 16, 96] -> permute(0, 1, 3, 2, 4, 5),
// f32: the innermost 96 floats move as 16-byte words.
TEST(StridedCopy, WindowPartitionMovesWideWords) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  const std::vector<int64_t> in = {1, 4, 16, 4, 16, 96};
  const std::vector<int64_t> strides = DenseStrides(in);
  StridedCopy c;
  for (int p : {0, 1, 3, 2, 4, 5}) {
    c.dims.push_back(in[p]);
    c.src_strides.push_back(strides[p]);
  }
  Check(c, Numel(in), Numel(in), rng, seed);
  // Misaligned by one element: 4-byte words only, same result.
  Check(c, Numel(in), Numel(in), rng, seed, 4, 4);
  // Odd innermost dim: no regrouping.
  const std::vector<int64_t> odd = {1, 3, 5, 3, 5, 7};
  const std::vector<int64_t> os = DenseStrides(odd);
  c.dims.clear();
  c.src_strides.clear();
  for (int p : {0, 1, 3, 2, 4, 5}) {
    c.dims.push_back(odd[p]);
    c.src_strides.push_back(os[p]);
  }
  Check(c, Numel(odd), Numel(odd), rng, seed);
}

TEST(StridedCopy, SlicesWithNegativeStepsAndOffsets) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  // x [6, 10, 12]: x[1:6:2, ::-3, 4:12] (the last axis contiguous, 8 floats).
  const std::vector<int64_t> in = {6, 10, 12};
  const std::vector<int64_t> s = DenseStrides(in);
  for (int64_t eb : {2, 4, 8}) {
    StridedCopy c;
    c.elem_bytes = eb;
    c.dims = {3, 4, 8};
    c.src_strides = {2 * s[0], -3 * s[1], s[2]};
    c.src_offset = 1 * s[0] + 9 * s[1] + 4;
    Check(c, Numel(in), Numel(c.dims), rng, seed);
  }
}

TEST(StridedCopy, PadsWithAValueAndCopiesIntoASubBox) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  const uint32_t seed = FreshSeed();
  std::mt19937 rng(seed);
  // Pad x [2, 14, 14, 8] by (0, 1, 2, 0) before and (0, 3, 0, 4) after with -1.5f.
  const std::vector<int64_t> in = {2, 14, 14, 8};
  const std::vector<int64_t> s = DenseStrides(in);
  const std::vector<int64_t> before = {0, 1, 2, 0}, after = {0, 3, 0, 4};
  StridedCopy c;
  c.src_strides = s;
  float value = -1.5f;
  uint32_t bits;
  std::memcpy(&bits, &value, 4);
  c.pad_bits = bits;
  for (size_t d = 0; d < in.size(); ++d) {
    c.dims.push_back(in[d] + before[d] + after[d]);
    c.valid_lo.push_back(before[d]);
    c.valid_hi.push_back(before[d] + in[d]);
    c.src_offset -= before[d] * s[d];
  }
  Check(c, Numel(in), Numel(c.dims), rng, seed);
  // The same pad, innermost padded by multiples of 4 floats: 16-byte words.
  c.dims.back() = 16;
  c.valid_lo.back() = 4;
  c.valid_hi.back() = 12;
  c.src_offset = -(before[1] * s[1] + before[2] * s[2] + 4);
  Check(c, Numel(in), Numel(c.dims), rng, seed);
  // Concat's second input: x [2, 3, 8] into y [2, 5, 8] at row 2.
  StridedCopy k;
  k.dims = {2, 3, 8};
  k.src_strides = DenseStrides(k.dims);
  k.dst_strides = DenseStrides({2, 5, 8});
  k.dst_offset = 2 * 8;
  Check(k, 48, 80, rng, seed);
  // Expand [3, 1] to [2, 3, 5] (broadcast strides 0).
  StridedCopy e;
  e.dims = {2, 3, 5};
  e.src_strides = {0, 1, 0};
  Check(e, 3, 30, rng, seed);
}

// Not a check: prints the bandwidth (bytes read + written per second) of
// SAM ViT-B's layout copies at 1024x1024 input: the window partition of the
// padded 70x70x768 map and the patch embedding's NCHW -> NHWC transpose.
TEST(StridedCopy, PrintsBandwidthOfSamCopies) {
  OCTET_SKIP_WITHOUT_CUDA_DEVICE();
  struct Named {
    const char* name;
    std::vector<int64_t> in;
    std::vector<int> perm;
  };
  const std::vector<Named> copies = {
      {"window partition [1,5,14,5,14,768]", {1, 5, 14, 5, 14, 768}, {0, 1, 3, 2, 4, 5}},
      {"NCHW->NHWC [1,768,64,64]", {1, 768, 64, 64}, {0, 2, 3, 1}}};
  for (const Named& c : copies) {
    const std::vector<int64_t> strides = DenseStrides(c.in);
    StridedCopy spec;
    for (int p : c.perm) {
      spec.dims.push_back(c.in[p]);
      spec.src_strides.push_back(strides[p]);
    }
    const int64_t bytes = Numel(c.in) * 4;
    DeviceBuffer src = Poisoned(bytes), dst = Poisoned(bytes);
    cudaEvent_t start, stop;
    ASSERT_EQ(cudaEventCreate(&start), cudaSuccess);
    ASSERT_EQ(cudaEventCreate(&stop), cudaSuccess);
    ASSERT_TRUE(CopyStrided(spec, src.data(), dst.data(), nullptr).ok());  // warm-up
    constexpr int kReps = 50;
    cudaEventRecord(start);
    for (int i = 0; i < kReps; ++i)
      ASSERT_TRUE(CopyStrided(spec, src.data(), dst.data(), nullptr).ok());
    cudaEventRecord(stop);
    ASSERT_EQ(cudaEventSynchronize(stop), cudaSuccess);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    std::printf("%s: %.1f us, %.0f GB/s\n", c.name, 1e3 * ms / kReps,
                2.0 * bytes * kReps / (ms * 1e-3) / 1e9);
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
}

TEST(StridedCopy, RejectsBadSpecs) {
  StridedCopy c;
  c.dims = {2, 3};
  c.src_strides = {3};
  float a[6], b[6];
  EXPECT_FALSE(CopyStrided(c, a, b, nullptr).ok());
  c.src_strides = {3, 1};
  c.elem_bytes = 3;
  EXPECT_FALSE(CopyStrided(c, a, b, nullptr).ok());
  c.elem_bytes = 4;
  EXPECT_FALSE(CopyStrided(c, nullptr, b, nullptr).ok());
}

}  // namespace
}  // namespace octet::cuda::testing
