// Not a test: time and TFLOP/s of Bf16Attention (octet/cuda/attention.h) at
// the SAM image encoder's attention shapes, with and without the decomposed
// relative position terms (SAM's tables, whose shift form windows multiply on
// the tensor cores, and arbitrary [q, k, d] tables, which take the f32 path): windowed blocks
// (14x14 windows: 25 per image, padded from 64x64 tokens to 70x70) and global blocks (64x64
// tokens), for vit_b (12 heads, d 64) and vit_h (16 heads, d 80) at batch 1 and 8. Q, K and V are
// read from a packed qkv [B, N, 3, H, d] tensor and O is written as [B, N, H, d], as the encoder
// lays them out.
//
// TFLOP/s counts the two products only (4 * B * H * q * kv * d). Beside it,
// the unfused path's memory traffic for the score matrix alone (SAM's eager
// bf16 attention: Q K^T writes S, the position terms read and write it, the
// softmax reads and writes it, P V reads it: 12 bytes per score), and how
// long that traffic takes at 3.0 TB/s (the H100's measured copy rate).
// bench/sam_attention_torch.py measures PyTorch's unfused and fused paths.
//
// Each time is the median of 15 batches of back-to-back launches (cudaEvent),
// about 2 ms per batch, after 5 warm-up launches; inputs are random normal.
//
//   build/cuda_attention_bench
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "cuda_bench_util.h"
#include "octet/cuda/attention.h"
#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"

namespace {

using namespace octet;
using namespace octet::cuda;
using namespace octet::cuda::bench;

constexpr double kCopyBytesPerSecond = 3.0e12;  // H100 device copy, read + write (KINDS.md)

std::vector<float> Normal(size_t count, float stddev, std::mt19937& rng) {
  std::normal_distribution<float> dist(0.f, stddev);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

struct Shape {
  const char* model;
  const char* block;  // "window" or "global"
  int64_t images;     // SAM batch
  int64_t batch;      // attentions per head: windows or images
  int64_t heads, grid, d;
};

// Position tables: none; SAM's (get_rel_pos on equal grids: entry (a, b) is
// row a - b + grid - 1 of a [2 grid - 1, d] table); or arbitrary [grid, grid, d]
// tables (no shift form: the kernel's f32-table prologue).
enum class RelPos { kNone, kSam, kArbitrary };

Tensor SamTable(int64_t grid, int64_t d, std::mt19937& rng) {
  const std::vector<float> u = Normal(static_cast<size_t>((2 * grid - 1) * d), 0.1f, rng);
  std::vector<float> t(static_cast<size_t>(grid * grid * d));
  for (int64_t a = 0; a < grid; ++a)
    for (int64_t b = 0; b < grid; ++b)
      std::copy_n(&u[static_cast<size_t>((a - b + grid - 1) * d)], d,
                  &t[static_cast<size_t>((a * grid + b) * d)]);
  return Tensor::FromVector(t, {grid, grid, d});
}

void Bench(const Shape& s, RelPos rel_pos, cudaStream_t stream, std::mt19937& rng) {
  const int64_t n = s.grid * s.grid, B = s.batch, H = s.heads, d = s.d;
  Bf16AttentionConfig c;
  c.batch = B;
  c.heads = H;
  c.q_len = c.kv_len = n;
  c.head_dim = d;
  c.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d)));
  c.q_strides = c.k_strides = c.v_strides = {n * 3 * H * d, d, 3 * H * d};
  c.out_strides = {n * H * d, d, H * d};
  if (rel_pos == RelPos::kSam) {
    c.rel_pos_h = SamTable(s.grid, d, rng);
    c.rel_pos_w = SamTable(s.grid, d, rng);
  } else if (rel_pos == RelPos::kArbitrary) {
    c.rel_pos_h =
        Tensor::FromVector(Normal(static_cast<size_t>(n * d), 0.1f, rng), {s.grid, s.grid, d});
    c.rel_pos_w =
        Tensor::FromVector(Normal(static_cast<size_t>(n * d), 0.1f, rng), {s.grid, s.grid, d});
  }
  const Bf16Attention attn = Take(Bf16Attention::Create(c), "Bf16Attention::Create");
  DeviceBuffer qkv = RandomBf16(static_cast<size_t>(B * n * 3 * H * d), rng);
  DeviceBuffer out = Take(DeviceBuffer::Allocate(static_cast<size_t>(B * n * H * d) * 2), "out");
  const auto* base = qkv.as<uint16_t>();
  const double us = MedianMicros(
      stream, [&] { return attn.Run(base, base + H * d, base + 2 * H * d, out.data(), stream); });
  const double scores = static_cast<double>(B * H) * n * n;
  const double unfused_bytes = 12.0 * scores;
  std::printf(
      "| %-5s | %-6s | %2lld | %4lld x %2lld | %4lld | %3lld | %-9s | %9.1f | %6.1f | %7.2f | "
      "%9.1f |\n",
      s.model, s.block, static_cast<long long>(s.images), static_cast<long long>(B),
      static_cast<long long>(H), static_cast<long long>(n), static_cast<long long>(d),
      rel_pos == RelPos::kSam         ? "sam"
      : rel_pos == RelPos::kArbitrary ? "arbitrary"
                                      : "no",
      us, attn.flops() / us * 1e-6, unfused_bytes * 1e-9,
      unfused_bytes / kCopyBytesPerSecond * 1e6);
}

}  // namespace

int main() {
  std::string reason;
  if (!DeviceAvailable(&reason)) {
    std::fprintf(stderr, "no CUDA device: %s\n", reason.c_str());
    return 1;
  }
  const DeviceProperties device = Take(GetDeviceProperties(), "GetDeviceProperties");
  std::printf("%s\n\n", device.ToString().c_str());
  Stream stream = Take(Stream::Create(), "Stream::Create");
  std::mt19937 rng(1234);
  const Shape shapes[] = {
      {"vit_b", "window", 1, 25, 12, 14, 64},  {"vit_b", "global", 1, 1, 12, 64, 64},
      {"vit_b", "window", 8, 200, 12, 14, 64}, {"vit_b", "global", 8, 8, 12, 64, 64},
      {"vit_h", "window", 1, 25, 16, 14, 80},  {"vit_h", "global", 1, 1, 16, 64, 80},
      {"vit_h", "window", 8, 200, 16, 14, 80}, {"vit_h", "global", 8, 8, 16, 64, 80},
  };
  std::printf(
      "| model | block | images | batch x heads | tokens | d | rel pos | us | TFLOP/s | "
      "unfused S traffic GB | at 3 TB/s us |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Shape& s : shapes)
    for (RelPos rel : {RelPos::kSam, RelPos::kArbitrary, RelPos::kNone})
      Bench(s, rel, stream.get(), rng);
  return 0;
}
