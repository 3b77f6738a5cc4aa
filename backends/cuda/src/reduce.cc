// reduce.h: validation and merging of neighbouring kept / reduced dims.
#include <string>

#include "reduce_kernel.h"

namespace octet::cuda {

Status ReduceF32(ReduceOp op, const float* x, const std::vector<int64_t>& dims,
                 const std::vector<int64_t>& axes, float* y, cudaStream_t stream) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  std::vector<bool> reduced(dims.size(), false);
  for (int64_t a : axes) {
    if (a < 0 || a >= rank || reduced[a])
      return InvalidArgument("ReduceF32: axes must be distinct and in [0, ", rank, "), got ", a);
    reduced[a] = true;
  }
  ReduceParams p;
  // Innermost first: merge a dim into the previous group of its kind when
  // that group is its immediate (contiguous) neighbour.
  int64_t stride = 1;
  int last_kind = -1;                   // 0 kept, 1 reduced
  std::vector<int64_t> kd, ks, rd, rs;  // innermost first
  for (int64_t d = rank - 1; d >= 0; --d) {
    const int64_t size = dims[d];
    if (size < 0) return InvalidArgument("ReduceF32: negative dim ", size);
    if (size != 1) {
      const int kind = reduced[d] ? 1 : 0;
      auto& ds = kind ? rd : kd;
      auto& ss = kind ? rs : ks;
      if (kind == last_kind) {
        ds.back() *= size;
      } else {
        ds.push_back(size);
        ss.push_back(stride);
      }
      if (last_kind == -1) p.inner_reduced = kind == 1;
      last_kind = kind;
    }
    stride *= size;
  }
  if (kd.size() > static_cast<size_t>(kMaxReduceRank) ||
      rd.size() > static_cast<size_t>(kMaxReduceRank))
    return InvalidArgument("ReduceF32: more than ", kMaxReduceRank,
                           " alternating kept / reduced dims");
  p.kept_rank = static_cast<int>(kd.size());
  p.reduced_rank = static_cast<int>(rd.size());
  for (size_t i = 0; i < kd.size(); ++i) {  // stored innermost last
    p.kept_dims[kd.size() - 1 - i] = kd[i];
    p.kept_strides[kd.size() - 1 - i] = ks[i];
    p.outputs *= kd[i];
  }
  for (size_t i = 0; i < rd.size(); ++i) {
    p.reduced_dims[rd.size() - 1 - i] = rd[i];
    p.reduced_strides[rd.size() - 1 - i] = rs[i];
    p.count *= rd[i];
  }
  // A reduced dim of size 0 empties the reduction (its group has size 0).
  for (int64_t d = 0; d < rank; ++d)
    if (dims[d] == 0 && !reduced[d])
      p.outputs = 0;
    else if (dims[d] == 0)
      p.count = 0;
  if (p.outputs == 0) return Status::Ok();
  // x may be empty (null) when every output is an empty reduction.
  if (y == nullptr || (x == nullptr && p.count > 0))
    return InvalidArgument("ReduceF32: null x or y");
  return LaunchReduce(op, p, x, y, stream);
}

Status SoftmaxLastAxisF32(const float* x, int64_t rows, int64_t k, float* y, cudaStream_t stream) {
  if (rows < 0 || k < 0) return InvalidArgument("SoftmaxF32: negative rows ", rows, " or k ", k);
  if (rows == 0 || k == 0) return Status::Ok();
  if (x == nullptr || y == nullptr) return InvalidArgument("SoftmaxF32: null x or y");
  return LaunchSoftmax(x, rows, k, y, stream);
}

}  // namespace octet::cuda
