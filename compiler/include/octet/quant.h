// Quantization parameters carried in a tensor's type. real = scale * (q - zero_point).
// The storage type (i8, u8, i4, ...) is the tensor's own dtype.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace octet {

enum class QuantGranularity : uint8_t {
  kPerTensor,  // one scale/zero point
  kPerAxis,    // one per index along `axis` (per-channel, per-token)
  kPerBlock,   // one per `block_size` consecutive elements along `axis` (per-group)
};

struct QuantParams {
  QuantGranularity granularity = QuantGranularity::kPerTensor;
  int axis = 0;            // kPerAxis / kPerBlock
  int64_t block_size = 0;  // kPerBlock only
  std::vector<float> scales;
  std::vector<int32_t> zero_points;  // empty means all zero (symmetric)

  bool operator==(const QuantParams& o) const {
    return granularity == o.granularity && axis == o.axis && block_size == o.block_size &&
           scales == o.scales && zero_points == o.zero_points;
  }
  bool operator!=(const QuantParams& o) const { return !(*this == o); }
};

const char* QuantGranularityName(QuantGranularity g);  // "per_tensor", "per_axis", "per_block"

}  // namespace octet
