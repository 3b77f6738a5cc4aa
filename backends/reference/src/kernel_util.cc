#include "kernel_util.h"

namespace octet::reference {

Expected<std::vector<int64_t>> BroadcastShapes(const std::vector<int64_t>& a,
                                               const std::vector<int64_t>& b) {
  const size_t rank = std::max(a.size(), b.size());
  std::vector<int64_t> out(rank);
  for (size_t i = 0; i < rank; ++i) {
    const int64_t da = i < rank - a.size() ? 1 : a[i - (rank - a.size())];
    const int64_t db = i < rank - b.size() ? 1 : b[i - (rank - b.size())];
    if (da != db && da != 1 && db != 1) {
      auto str = [](const std::vector<int64_t>& d) {
        std::string s = "[";
        for (size_t k = 0; k < d.size(); ++k) s += (k ? "," : "") + std::to_string(d[k]);
        return s + "]";
      };
      return InvalidArgument("shapes ", str(a), " and ", str(b), " cannot be broadcast");
    }
    out[i] = da == 1 ? db : da;
  }
  return out;
}

std::vector<int64_t> Strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

std::vector<int64_t> BroadcastStrides(const std::vector<int64_t>& in,
                                      const std::vector<int64_t>& out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> in_strides = Strides(in);
  const size_t offset = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) strides[offset + i] = in[i] == 1 ? 0 : in_strides[i];
  return strides;
}

BroadcastIndexer::BroadcastIndexer(const std::vector<int64_t>& in, const std::vector<int64_t>& out)
    : out_dims_(out), in_strides_(BroadcastStrides(in, out)), identity_(in == out) {}

int64_t BroadcastIndexer::Map(int64_t out_index) const {
  if (identity_) return out_index;
  int64_t in_index = 0;
  for (int d = static_cast<int>(out_dims_.size()) - 1; d >= 0; --d) {
    const int64_t extent = out_dims_[d];
    in_index += (out_index % extent) * in_strides_[d];
    out_index /= extent;
  }
  return in_index;
}

Expected<int> NormalizeAxis(const KernelContext& ctx, int64_t axis, int rank) {
  if (axis < -rank || axis >= std::max(rank, 1))
    return ctx.Fail("axis ", axis, " is out of range for rank ", rank);
  return static_cast<int>(axis < 0 ? axis + rank : axis);
}

Expected<std::vector<int64_t>> ReadInts(const KernelContext& ctx, const Tensor& t,
                                        const char* what) {
  if (t.dtype() != DType::kI64 && t.dtype() != DType::kI32)
    return ctx.Fail(what, " must be int64 or int32 but is ", DTypeName(t.dtype()));
  if (t.rank() > 1) return ctx.Fail(what, " must be 1-D but has shape ", t.ShapeString());
  std::vector<int64_t> out(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = t.GetAsInt64(i);
  return out;
}

}  // namespace octet::reference
