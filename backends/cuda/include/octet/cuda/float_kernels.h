// The f32 kernels a transformer block needs around its int8 GEMMs: the
// residual sum and LayerNormalization over the last axis. Activations stay
// f32 on the device in this slice (docs/cuda-backend.md, "Lowering and
// runtime"); bf16 variants come with the bf16 graph.
//
// As for the int8 kernels: Create validates and uploads constants, Run takes
// device pointers and a stream, allocates nothing and does not synchronise,
// so a sequence of Runs can be captured in a CUDA graph.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/cuda/device_buffer.h"
#include "octet/status.h"

namespace octet::cuda {

// out[i] = a[i] + b[i] for i < n. out may alias a or b (each element is read
// before it is written, by the same thread).
Status AddF32(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream);

// y[i] = bf16(x[i]) (round to nearest even) and back, for n elements: the
// edges of kernels that run in bf16 (the weight-only GEMMs) inside an f32
// module. y is bf16 storage (2 bytes an element).
Status ConvertF32ToBf16(const float* x, void* y, int64_t n, cudaStream_t stream);
Status ConvertBf16ToF32(const void* x, float* y, int64_t n, cudaStream_t stream);

struct LayerNormConfig {
  int64_t k = 0;             // the normalised (last) axis
  std::vector<float> scale;  // k values (ONNX's Scale, gamma)
  std::vector<float> bias;   // k values or empty (ONNX's B, beta)
  float epsilon = 1e-5f;
};

// ONNX LayerNormalization over the last axis with stash_type f32:
//   y = (x - mean) / sqrt(var + epsilon) * scale + bias
// with mean and the (biased) variance of each row computed in f32 in two
// passes (mean first, then the centred squares, so a large mean does not
// cancel the variance away).
class LayerNorm {
 public:
  static Expected<LayerNorm> Create(const LayerNormConfig& config);

  // x, y: [rows, k] f32 row-major, device memory; y may alias x. rows == 0
  // does nothing.
  Status Run(const float* x, int64_t rows, float* y, cudaStream_t stream) const;

  int64_t k() const { return k_; }

 private:
  int64_t k_ = 0;
  float epsilon_ = 0.f;
  std::shared_ptr<const DeviceBuffer> scale_, bias_;  // shared by copies
  std::string description_;
};

// A LayerNorm over axis 1 of an NC... tensor, as SAM's neck writes it
// (LayerNorm2d: ReduceMean over the channels, Sub, Pow 2, ReduceMean, Add
// epsilon, Sqrt, Div, then Mul by scale [C, 1, 1] and Add bias):
//   y[o, c, i] = (x - mean) / sqrt(var + epsilon) * scale[c] + bias[c]
// with the graph's operations, each rounded once (a division by the square
// root, not a multiplication by its inverse); the sums over c in a fixed
// order (16 strided partial sums, then those in order). Config k is the channel count.
class ChannelLayerNorm {
 public:
  static Expected<ChannelLayerNorm> Create(const LayerNormConfig& config);

  // x, y: [outer, channels, inner] f32, device memory; y may alias x.
  Status Run(const float* x, int64_t outer, int64_t inner, float* y, cudaStream_t stream) const;

  int64_t channels() const { return channels_; }

 private:
  int64_t channels_ = 0;
  float epsilon_ = 0.f;
  std::shared_ptr<const DeviceBuffer> scale_, bias_;  // shared by copies
  std::string description_;
};

}  // namespace octet::cuda
