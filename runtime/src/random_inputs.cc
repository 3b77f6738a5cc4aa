#include "octet/runtime/random_inputs.h"

#include <random>

namespace octet {

Expected<std::map<std::string, Tensor>> MakeRandomInputs(
    const std::vector<std::pair<std::string, TensorType>>& inputs, uint64_t seed,
    int64_t symbolic_dim) {
  std::map<std::string, Tensor> out;
  std::mt19937_64 rng(seed);
  for (const auto& [name, type] : inputs) {
    if (!type.has_shape)
      return InvalidArgument("input '", name,
                             "' has no declared shape; pass it explicitly with --input");
    std::vector<int64_t> dims;
    for (const Dim& d : type.shape.dims()) {
      if (d.is_static()) {
        dims.push_back(d.value());
      } else if (d.is_symbolic()) {
        dims.push_back(symbolic_dim);
      } else {
        return InvalidArgument("input '", name, "' has an unknown dimension in ", type.ToString(),
                               "; pass it explicitly with --input");
      }
    }
    auto t = Tensor::Create(type.dtype, dims);
    if (!t.ok()) return t.status().WithContext("input '" + name + "'");
    std::uniform_real_distribution<double> real(-1.0, 1.0);
    std::uniform_int_distribution<int> small(0, 9);
    for (int64_t i = 0; i < t->numel(); ++i) {
      if (IsFloat(type.dtype)) {
        t->SetFromDouble(i, real(rng));
      } else if (type.dtype == DType::kBool) {
        t->SetFromDouble(i, small(rng) % 2);
      } else {
        t->SetFromDouble(i, small(rng));
      }
    }
    out[name] = std::move(t).value();
  }
  return out;
}

}  // namespace octet
