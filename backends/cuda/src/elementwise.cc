// elementwise.h: validation and broadcasting (dims right-aligned, merged).
#include <string>

#include "elementwise_kernel.h"

namespace octet::cuda {
namespace {

std::string DimsText(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

int64_t Numel(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace

const char* BinaryOpName(BinaryOp op) {
  switch (op) {
    case BinaryOp::kAdd:
      return "add";
    case BinaryOp::kSub:
      return "sub";
    case BinaryOp::kMul:
      return "mul";
    case BinaryOp::kDiv:
      return "div";
    case BinaryOp::kPow:
      return "pow";
    case BinaryOp::kMax:
      return "max";
    case BinaryOp::kMin:
      return "min";
  }
  return "?";
}

const char* UnaryOpName(UnaryOp op) {
  switch (op) {
    case UnaryOp::kRelu:
      return "relu";
    case UnaryOp::kSqrt:
      return "sqrt";
    case UnaryOp::kErf:
      return "erf";
    case UnaryOp::kExp:
      return "exp";
    case UnaryOp::kNeg:
      return "neg";
    case UnaryOp::kSigmoid:
      return "sigmoid";
    case UnaryOp::kTanh:
      return "tanh";
    case UnaryOp::kReciprocal:
      return "reciprocal";
    case UnaryOp::kAbs:
      return "abs";
  }
  return "?";
}

Status BinaryF32(BinaryOp op, const float* a, const std::vector<int64_t>& a_dims, const float* b,
                 const std::vector<int64_t>& b_dims, float* out,
                 const std::vector<int64_t>& out_dims, cudaStream_t stream) {
  const std::string what = std::string("BinaryF32 (") + BinaryOpName(op) + ") " + DimsText(a_dims) +
                           ", " + DimsText(b_dims) + " -> " + DimsText(out_dims);
  const size_t rank = out_dims.size();
  if (a_dims.size() > rank || b_dims.size() > rank)
    return InvalidArgument(what, ": an operand has a higher rank than the output");
  // Right-align and check: each operand dim is 1 or the output's.
  std::vector<int64_t> sa(rank, 0), sb(rank, 0);
  int64_t stride_a = 1, stride_b = 1;
  bool broadcast_ok = true;
  for (int d = static_cast<int>(rank) - 1; d >= 0; --d) {
    const int ia = d - static_cast<int>(rank - a_dims.size());
    const int ib = d - static_cast<int>(rank - b_dims.size());
    const int64_t da = ia >= 0 ? a_dims[ia] : 1, db = ib >= 0 ? b_dims[ib] : 1;
    const int64_t o = out_dims[d];
    if (o < 0 || (da != o && da != 1) || (db != o && db != 1) || (o != 1 && da != o && db != o) ||
        (o == 1 && (da != 1 || db != 1)))
      broadcast_ok = false;
    sa[d] = da == 1 ? 0 : stride_a;
    sb[d] = db == 1 ? 0 : stride_b;
    stride_a *= da;
    stride_b *= db;
  }
  if (!broadcast_ok)
    return InvalidArgument(what, ": the output is not the operands' broadcast shape");
  const int64_t n = Numel(out_dims);
  if (n == 0) return Status::Ok();
  if (a == nullptr || b == nullptr || out == nullptr)
    return InvalidArgument(what, ": null a, b or out");
  const int64_t na = Numel(a_dims), nb = Numel(b_dims);
  if ((na == n || na == 1) && (nb == n || nb == 1))
    return LaunchBinaryFlat(op, a, na == 1 && n != 1, b, nb == 1 && n != 1, out, n, stream);
  // Merge neighbouring dims that both operands step over contiguously (or
  // both broadcast); drop size-1 dims.
  BroadcastParams p;
  p.numel = n;
  int r = 0;
  for (size_t d = 0; d < rank; ++d) {
    if (out_dims[d] == 1) continue;
    if (r > 0) {
      const int64_t size = out_dims[d];
      const bool merge_a = p.a_strides[r - 1] == sa[d] * size;
      const bool merge_b = p.b_strides[r - 1] == sb[d] * size;
      if (merge_a && merge_b) {
        p.dims[r - 1] *= size;
        p.a_strides[r - 1] = sa[d];
        p.b_strides[r - 1] = sb[d];
        continue;
      }
    }
    if (r == kMaxElementwiseRank)
      return InvalidArgument(what, ": more than ", kMaxElementwiseRank,
                             " dims after merging those that broadcast alike");
    p.dims[r] = out_dims[d];
    p.a_strides[r] = sa[d];
    p.b_strides[r] = sb[d];
    ++r;
  }
  p.rank = r;
  return LaunchBinaryBroadcast(op, p, a, b, out, stream);
}

Status UnaryF32(UnaryOp op, const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return Status::Ok();
  if (n < 0 || x == nullptr || y == nullptr)
    return InvalidArgument("UnaryF32 (", UnaryOpName(op), "): null pointer or negative count ", n);
  return LaunchUnary(op, x, y, n, stream);
}

}  // namespace octet::cuda
