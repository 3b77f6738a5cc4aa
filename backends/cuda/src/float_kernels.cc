// float_kernels.h: validation, constant upload and launch.
#include "octet/cuda/float_kernels.h"

#include <cmath>
#include <memory>

#include "float_kernels_device.h"
#include "octet/cuda/device.h"

namespace octet::cuda {

Status AddF32(const float* a, const float* b, float* out, int64_t n, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  if (n < 0) return InvalidArgument("AddF32: negative element count ", n);
  if (a == nullptr || b == nullptr || out == nullptr)
    return InvalidArgument("AddF32: null a, b or out");
  return LaunchAddF32(a, b, out, n, stream);
}

Status ConvertF32ToBf16(const float* x, void* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  if (n < 0 || x == nullptr || y == nullptr)
    return InvalidArgument("ConvertF32ToBf16: null pointer or negative count ", n);
  return LaunchF32ToBf16(x, y, n, stream);
}

Status ConvertBf16ToF32(const void* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  if (n < 0 || x == nullptr || y == nullptr)
    return InvalidArgument("ConvertBf16ToF32: null pointer or negative count ", n);
  return LaunchBf16ToF32(x, y, n, stream);
}

namespace {

// The checks and device copies LayerNorm and ChannelLayerNorm share.
struct NormParams {
  std::shared_ptr<const DeviceBuffer> scale, bias;
};

Expected<NormParams> CheckAndUploadNorm(const LayerNormConfig& config, const std::string& what,
                                        const char* axis) {
  if (config.k <= 0) return InvalidArgument(what, ": the ", axis, " axis must be non-empty");
  if (static_cast<int64_t>(config.scale.size()) != config.k)
    return InvalidArgument(what, ": ", config.scale.size(), " scale values, expected ", config.k);
  if (!config.bias.empty() && static_cast<int64_t>(config.bias.size()) != config.k)
    return InvalidArgument(what, ": ", config.bias.size(), " bias values, expected ", config.k,
                           " or none");
  if (!(config.epsilon >= 0.f) || !std::isfinite(config.epsilon))
    return InvalidArgument(what, ": epsilon must be finite and non-negative, got ", config.epsilon);
  std::string reason;
  if (!DeviceAvailable(&reason)) return NotFound(what, ": no CUDA device: ", reason);
  NormParams p;
  const size_t bytes = sizeof(float) * static_cast<size_t>(config.k);
  OCTET_ASSIGN_OR_RETURN(DeviceBuffer scale, DeviceBuffer::FromHost(config.scale.data(), bytes));
  p.scale = std::make_shared<const DeviceBuffer>(std::move(scale));
  if (!config.bias.empty()) {
    OCTET_ASSIGN_OR_RETURN(DeviceBuffer bias, DeviceBuffer::FromHost(config.bias.data(), bytes));
    p.bias = std::make_shared<const DeviceBuffer>(std::move(bias));
  }
  return p;
}

}  // namespace

Expected<LayerNorm> LayerNorm::Create(const LayerNormConfig& config) {
  const std::string what = "LayerNorm f32[M," + std::to_string(config.k) + "]";
  OCTET_ASSIGN_OR_RETURN(NormParams p, CheckAndUploadNorm(config, what, "normalised"));
  LayerNorm kernel;
  kernel.k_ = config.k;
  kernel.epsilon_ = config.epsilon;
  kernel.description_ = what;
  kernel.scale_ = std::move(p.scale);
  kernel.bias_ = std::move(p.bias);
  return kernel;
}

Status LayerNorm::Run(const float* x, int64_t rows, float* y, cudaStream_t stream) const {
  if (rows == 0) return Status::Ok();
  if (rows < 0 || rows > int64_t{0x7fffffff})
    return InvalidArgument(description_, ": rows = ", rows, " is outside [0, 2^31)");
  if (x == nullptr || y == nullptr) return InvalidArgument(description_, ": null x or y");
  return LaunchLayerNormF32(x, rows, k_, scale_->as<float>(),
                            bias_ != nullptr ? bias_->as<float>() : nullptr, epsilon_, y, stream);
}

Expected<ChannelLayerNorm> ChannelLayerNorm::Create(const LayerNormConfig& config) {
  const std::string what = "ChannelLayerNorm f32[N," + std::to_string(config.k) + ",...]";
  OCTET_ASSIGN_OR_RETURN(NormParams p, CheckAndUploadNorm(config, what, "channel"));
  ChannelLayerNorm kernel;
  kernel.channels_ = config.k;
  kernel.epsilon_ = config.epsilon;
  kernel.description_ = what;
  kernel.scale_ = std::move(p.scale);
  kernel.bias_ = std::move(p.bias);
  return kernel;
}

Status ChannelLayerNorm::Run(const float* x, int64_t outer, int64_t inner, float* y,
                             cudaStream_t stream) const {
  if (outer == 0 || inner == 0) return Status::Ok();
  if (outer < 0 || inner < 0 || outer * inner > int64_t{0x7fffffff} * 32)
    return InvalidArgument(description_, ": outer ", outer, " x inner ", inner, " is out of range");
  if (x == nullptr || y == nullptr) return InvalidArgument(description_, ": null x or y");
  return LaunchChannelLayerNormF32(x, outer, channels_, inner, scale_->as<float>(),
                                   bias_ != nullptr ? bias_->as<float>() : nullptr, epsilon_, y,
                                   stream);
}

}  // namespace octet::cuda
