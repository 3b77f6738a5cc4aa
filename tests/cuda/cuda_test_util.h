// Helpers for the CUDA kernel tests: skipping without a GPU, seeded random
// inputs, and device buffers filled from and read back to host vectors.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"
#include "octet/cuda/int8_kernels.h"
#include "octet/dtype.h"

namespace octet::cuda::testing {

// Every int8 GEMM tile, kAuto first: the parameter of the tests that run the
// GEMM on each (Int8DynamicGemm::Run, and RunConv's implicit convolution).
inline const std::vector<Int8GemmTile>& AllInt8GemmTiles() {
  static const std::vector<Int8GemmTile> tiles = {Int8GemmTile::kAuto,
                                                  Int8GemmTile::kPingpong128x128,
                                                  Int8GemmTile::kCooperative128x256,
                                                  Int8GemmTile::kCooperative256x128,
                                                  Int8GemmTile::kCooperative128x192,
                                                  Int8GemmTile::kCooperative256x64};
  return tiles;
}

// CI has the toolkit but no GPU: kernel tests skip there, with the reason.
#define OCTET_SKIP_WITHOUT_CUDA_DEVICE()                                             \
  do {                                                                               \
    std::string _octet_no_device;                                                    \
    if (!::octet::cuda::DeviceAvailable(&_octet_no_device))                          \
      GTEST_SKIP() << "no CUDA device (" << _octet_no_device                         \
                   << "); this test runs on the GPU machine (docs/cuda-backend.md)"; \
  } while (0)

// A fresh seed per call (printed by the tests in their failure messages), so
// that every run draws new inputs and a failure can be replayed.
inline uint32_t FreshSeed() { return std::random_device{}(); }

inline std::vector<int8_t> RandomCodes(size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> dist(-127, 127);
  std::vector<int8_t> v(count);
  for (int8_t& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

inline std::vector<float> RandomFloats(size_t count, std::mt19937& rng, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(count);
  for (float& x : v) x = dist(rng);
  return v;
}

inline std::vector<uint16_t> ToBf16(const std::vector<float>& v) {
  std::vector<uint16_t> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = FloatToBFloat16(v[i]);
  return out;
}

template <typename T>
DeviceBuffer Upload(const std::vector<T>& host) {
  auto buffer = DeviceBuffer::FromHost(host.data(), host.size() * sizeof(T));
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  return buffer.ok() ? std::move(buffer).value() : DeviceBuffer();
}

template <typename T>
std::vector<T> Download(const DeviceBuffer& buffer, size_t count) {
  std::vector<T> host(count);
  const Status s = buffer.CopyToHost(host.data(), count * sizeof(T));
  EXPECT_TRUE(s.ok()) << s.ToString();
  return host;
}

// A device buffer of `bytes` filled with 0xFF (NaN as bf16 or f32, -1 as
// int8): elements a kernel failed to write stand out.
inline DeviceBuffer Poisoned(size_t bytes) { return Upload(std::vector<uint8_t>(bytes, 0xFF)); }

}  // namespace octet::cuda::testing
