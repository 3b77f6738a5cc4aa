// QuantizeRowsPerToken (int8_kernels.h): plain loops the compiler vectorises;
// the division (not a multiplication by 1 / scale) and round-half-even keep
// the codes bit-identical to the reference QuantizeLinear.
#include <algorithm>
#include <cmath>

#include "octet/x86/int8_kernels.h"

namespace octet::x86 {

void QuantizeRowsPerToken(const float* x, int64_t rows, int64_t k, float qmax, float min_scale,
                          int8_t* q, float* scales, int num_threads) {
#pragma omp parallel for num_threads(std::max(1, num_threads)) schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * k;
    float absmax = 0.f;
    for (int64_t i = 0; i < k; ++i) absmax = std::max(absmax, std::fabs(xr[i]));
    const float scale = std::max(absmax / qmax, min_scale);
    scales[r] = scale;
    int8_t* qr = q + r * k;
    for (int64_t i = 0; i < k; ++i) {
      const float v = std::nearbyint(xr[i] / scale);
      qr[i] = static_cast<int8_t>(std::min(127.f, std::max(-128.f, v)));
    }
  }
}

}  // namespace octet::x86
