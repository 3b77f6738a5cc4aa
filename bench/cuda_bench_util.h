// Plumbing shared by the CUDA benchmarks (not tests): exit with the error on
// any failure, seeded device inputs, and event-timed medians.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <vector>

#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device_buffer.h"
#include "octet/dtype.h"
#include "octet/status.h"

namespace octet::cuda::bench {

inline void Check(const Status& s, const char* what) {
  if (!s.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, s.ToString().c_str());
    std::exit(1);
  }
}

template <typename T>
T Take(Expected<T> e, const char* what) {
  Check(e.status(), what);
  return std::move(e).value();
}

inline void CheckCuda(cudaError_t e, const char* call) {
  Check(e == cudaSuccess ? Status::Ok() : CudaCallStatus(e, call, __FILE__, __LINE__), call);
}

// `count` bf16 values drawn from N(0, 1), on the device.
inline DeviceBuffer RandomBf16(size_t count, std::mt19937& rng) {
  std::vector<uint16_t> host(count);
  std::normal_distribution<float> dist(0.f, 1.f);
  for (uint16_t& v : host) v = FloatToBFloat16(dist(rng));
  return Take(DeviceBuffer::FromHost(host.data(), count * 2), "upload");
}

// Median over 15 batches of the per-launch time in microseconds, after 5
// warm-up launches; a batch is sized to about 2 ms (at most 200 launches) so
// that the events' resolution does not matter.
inline double MedianMicros(cudaStream_t stream, const std::function<Status()>& launch) {
  constexpr int kWarmup = 5, kBatches = 15;
  cudaEvent_t start, stop;
  CheckCuda(cudaEventCreate(&start), "cudaEventCreate");
  CheckCuda(cudaEventCreate(&stop), "cudaEventCreate");
  for (int i = 0; i < kWarmup; ++i) Check(launch(), "warm-up");
  CheckCuda(cudaEventRecord(start, stream), "cudaEventRecord");
  Check(launch(), "probe");
  CheckCuda(cudaEventRecord(stop, stream), "cudaEventRecord");
  CheckCuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
  float probe_ms = 0;
  CheckCuda(cudaEventElapsedTime(&probe_ms, start, stop), "cudaEventElapsedTime");
  const int per_batch = std::clamp(static_cast<int>(2.0 / std::max(probe_ms, 1e-3f)), 1, 200);
  std::vector<double> micros;
  for (int b = 0; b < kBatches; ++b) {
    CheckCuda(cudaEventRecord(start, stream), "cudaEventRecord");
    for (int i = 0; i < per_batch; ++i) Check(launch(), "timed run");
    CheckCuda(cudaEventRecord(stop, stream), "cudaEventRecord");
    CheckCuda(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    CheckCuda(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    micros.push_back(1000.0 * ms / per_batch);
  }
  (void)cudaEventDestroy(start);
  (void)cudaEventDestroy(stop);
  std::sort(micros.begin(), micros.end());
  return micros[micros.size() / 2];
}

}  // namespace octet::cuda::bench
