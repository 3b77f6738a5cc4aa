// QuantizeRowsPerToken (int8_kernels.h): validation and launch.
#include <algorithm>
#include <cmath>
#include <sstream>

#include "octet/cuda/int8_kernels.h"
#include "per_token_quant_kernel.h"

namespace octet::cuda {

Expected<QuantizeRowsPerToken> QuantizeRowsPerToken::Create(
    const QuantizeRowsPerTokenConfig& config) {
  std::ostringstream os;
  os << (config.ln_scale.empty() ? "QuantizeRowsPerToken " : "LayerNorm+QuantizeRowsPerToken ")
     << DTypeName(config.src_type) << "[M," << config.k << "] -> i8 (qmax " << config.qmax << ")";
  const std::string what = os.str();
  if (config.src_type != DType::kF32 && config.src_type != DType::kBF16)
    return InvalidArgument(what, ": source type must be f32 or bf16, got ",
                           DTypeName(config.src_type));
  if (config.k <= 0) return InvalidArgument(what, ": row length k must be positive");
  if (!(config.qmax > 0.f && config.qmax <= 127.f))
    return InvalidArgument(what, ": qmax must be in (0, 127], got ", config.qmax);
  if (!(config.min_scale > 0.f) || !std::isfinite(config.min_scale))
    return InvalidArgument(what, ": min_scale must be positive and finite, got ", config.min_scale);
  QuantizeRowsPerToken kernel;
  kernel.config_ = config;
  kernel.config_.ln_scale.clear();
  kernel.config_.ln_bias.clear();
  kernel.description_ = what;
  if (!config.ln_scale.empty()) {
    if (config.src_type != DType::kF32)
      return InvalidArgument(what, ": the fused LayerNorm takes f32 rows");
    if (static_cast<int64_t>(config.ln_scale.size()) != config.k ||
        (!config.ln_bias.empty() && static_cast<int64_t>(config.ln_bias.size()) != config.k))
      return InvalidArgument(what, ": LayerNorm scale and bias need ", config.k, " values, got ",
                             config.ln_scale.size(), " and ", config.ln_bias.size());
    if (!(config.ln_epsilon >= 0.f) || !std::isfinite(config.ln_epsilon))
      return InvalidArgument(what, ": LayerNorm epsilon must be finite and non-negative, got ",
                             config.ln_epsilon);
    const size_t bytes = sizeof(float) * static_cast<size_t>(config.k);
    OCTET_ASSIGN_OR_RETURN(DeviceBuffer scale,
                           DeviceBuffer::FromHost(config.ln_scale.data(), bytes));
    kernel.ln_scale_ = std::make_shared<const DeviceBuffer>(std::move(scale));
    if (!config.ln_bias.empty()) {
      OCTET_ASSIGN_OR_RETURN(DeviceBuffer bias,
                             DeviceBuffer::FromHost(config.ln_bias.data(), bytes));
      kernel.ln_bias_ = std::make_shared<const DeviceBuffer>(std::move(bias));
    }
  }
  const bool prologue = !config.row_map.empty() || config.add_rows;
  if (prologue) {
    if (config.src_type != DType::kF32)
      return InvalidArgument(what, ": the row prologue (row_map, add_rows) takes f32 rows");
    if (!RowPrologueSupported(config.k))
      return InvalidArgument(what,
                             ": the row prologue (row_map, add_rows) needs k to be a multiple of "
                             "4, at most 16384; k = ",
                             config.k);
    if (!config.row_map.empty() && config.add_rows)
      return InvalidArgument(what, ": row_map and add_rows cannot be combined");
    if (config.add_rows && config.add_type != DType::kF32 && config.add_type != DType::kBF16)
      return InvalidArgument(what, ": the added rows must be f32 or bf16, got ",
                             DTypeName(config.add_type));
  }
  if (!config.add_map.empty() && !config.add_rows)
    return InvalidArgument(what, ": add_map without add_rows");
  kernel.config_.row_map.clear();
  kernel.config_.add_map.clear();
  auto upload = [](const std::vector<int32_t>& map,
                   int64_t* max_plus_one) -> Expected<std::shared_ptr<const DeviceBuffer>> {
    *max_plus_one = 0;
    for (int32_t v : map) *max_plus_one = std::max<int64_t>(*max_plus_one, int64_t{v} + 1);
    OCTET_ASSIGN_OR_RETURN(DeviceBuffer buffer,
                           DeviceBuffer::FromHost(map.data(), sizeof(int32_t) * map.size()));
    return std::make_shared<const DeviceBuffer>(std::move(buffer));
  };
  if (!config.row_map.empty()) {
    OCTET_ASSIGN_OR_RETURN(kernel.row_map_, upload(config.row_map, &kernel.min_source_rows_));
    kernel.row_map_size_ = static_cast<int64_t>(config.row_map.size());
  }
  if (!config.add_map.empty()) {
    OCTET_ASSIGN_OR_RETURN(kernel.add_map_, upload(config.add_map, &kernel.min_add_rows_));
  }
  return kernel;
}

Status QuantizeRowsPerToken::Run(const void* src, int64_t rows, int8_t* codes, float* scales,
                                 cudaStream_t stream, const void* add, float* sum) const {
  if (row_map_ != nullptr && rows != row_map_size_)
    return InvalidArgument(description_, ": rows = ", rows, " but the row map has ", row_map_size_,
                           " rows");
  if ((add != nullptr || sum != nullptr) != config_.add_rows ||
      (add == nullptr) != (sum == nullptr))
    return InvalidArgument(description_,
                           config_.add_rows ? ": add_rows needs both the added rows and the sums"
                                            : ": added rows given, but add_rows is not configured");
  if (rows == 0) return Status::Ok();
  if (rows < 0 || rows > int64_t{0x7fffffff})
    return InvalidArgument(description_, ": rows = ", rows, " is outside [0, 2^31)");
  if (src == nullptr || codes == nullptr || scales == nullptr)
    return InvalidArgument(description_, ": null src, codes or scales");
  if (row_map_ != nullptr || config_.add_rows)
    return LaunchPrologueQuantizeRows(
        static_cast<const float*>(src), row_map_ != nullptr ? row_map_->as<int32_t>() : nullptr,
        add, config_.add_type == DType::kBF16,
        add_map_ != nullptr ? add_map_->as<int32_t>() : nullptr, sum, rows, config_.k,
        ln_scale_ != nullptr ? ln_scale_->as<float>() : nullptr,
        ln_bias_ != nullptr ? ln_bias_->as<float>() : nullptr, config_.ln_epsilon, config_.qmax,
        config_.min_scale, codes, scales, stream);
  if (ln_scale_ != nullptr)
    return LaunchLayerNormQuantizeRows(
        static_cast<const float*>(src), rows, config_.k, ln_scale_->as<float>(),
        ln_bias_ != nullptr ? ln_bias_->as<float>() : nullptr, config_.ln_epsilon, config_.qmax,
        config_.min_scale, codes, scales, stream);
  return LaunchQuantizeRowsPerToken(src, config_.src_type == DType::kBF16, rows, config_.k,
                                    config_.qmax, config_.min_scale, codes, scales, stream);
}

}  // namespace octet::cuda
