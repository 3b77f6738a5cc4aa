#include "elementwise_util.h"

#include <string>

namespace octet::reference {

BroadcastWalker::BroadcastWalker(const std::vector<std::vector<int64_t>>& in_shapes,
                                 const std::vector<int64_t>& out)
    : num_inputs_(static_cast<int>(in_shapes.size())) {
  numel_ = 1;
  for (int64_t d : out) numel_ *= d;
  const int n = num_inputs_;
  std::vector<std::vector<int64_t>> in_strides;
  in_strides.reserve(n);
  for (const auto& s : in_shapes) in_strides.push_back(BroadcastStrides(s, out));

  // Drop size-1 dims (their strides never matter), then merge a dim into the
  // previous kept one when every operand walks both as one contiguous stretch.
  std::vector<int64_t> dims;
  std::vector<std::vector<int64_t>> strides(n);
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    bool mergeable = !dims.empty();
    for (int i = 0; i < n && mergeable; ++i)
      mergeable = strides[i].back() == in_strides[i][d] * out[d];
    if (mergeable) {
      dims.back() *= out[d];
      for (int i = 0; i < n; ++i) strides[i].back() = in_strides[i][d];
    } else {
      dims.push_back(out[d]);
      for (int i = 0; i < n; ++i) strides[i].push_back(in_strides[i][d]);
    }
  }
  if (dims.empty()) {
    dims.push_back(1);
    for (int i = 0; i < n; ++i) strides[i].push_back(0);
  }
  dims_ = dims;
  const int rank = static_cast<int>(dims.size());
  strides_.assign(static_cast<size_t>(n) * rank, 0);
  for (int i = 0; i < n; ++i)
    for (int d = 0; d < rank; ++d) strides_[i * rank + d] = strides[i][d];
}

Tensor WidenHalf(const Tensor& t) {
  if (!IsHalfLike(t.dtype())) return t;
  Tensor out(DType::kF32, t.dims());
  const uint16_t* in = t.data<uint16_t>();
  float* o = out.data<float>();
  const bool half = t.dtype() == DType::kF16;
  for (int64_t i = 0; i < t.numel(); ++i) o[i] = half ? HalfToFloat(in[i]) : BFloat16ToFloat(in[i]);
  return out;
}

Tensor NarrowHalf(const Tensor& t, DType to) {
  if (!IsHalfLike(to)) return t;
  Tensor out(to, t.dims());
  const float* in = t.data<float>();
  uint16_t* o = out.data<uint16_t>();
  const bool half = to == DType::kF16;
  for (int64_t i = 0; i < t.numel(); ++i) o[i] = half ? FloatToHalf(in[i]) : FloatToBFloat16(in[i]);
  return out;
}

Expected<const Tensor*> RequireInput(const KernelContext& ctx, int i, const char* name) {
  const Tensor* t = ctx.input(i);
  if (t == nullptr || !t->defined())
    return ctx.Fail("input ", i, " (", name, ") is required but absent");
  return t;
}

Expected<std::vector<int64_t>> BroadcastOrFail(const KernelContext& ctx,
                                               const std::vector<int64_t>& a,
                                               const std::vector<int64_t>& b) {
  auto out = BroadcastShapes(a, b);
  if (!out.ok()) return ctx.Fail(out.status().message());
  return out;
}

Status CheckDType(const KernelContext& ctx, const Tensor& t, const char* name, bool ok,
                  const char* allowed) {
  if (ok) return Status::Ok();
  return ctx.Fail("input ", name, " has dtype ", DTypeName(t.dtype()), " but this op takes ",
                  allowed);
}

std::string DimsForMessage(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace octet::reference
