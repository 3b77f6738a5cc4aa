#include "datamovement_util.h"

#include <cstring>

namespace octet::reference::movement {
namespace {

// Calls fn(T{}) with an unsigned integer type of `bytes` bytes (1, 2, 4, 8):
// copying such a T copies one element of any dtype of that size.
template <typename Fn>
bool DispatchBySize(int bytes, Fn&& fn) {
  switch (bytes) {
    case 1:
      fn(uint8_t{});
      return true;
    case 2:
      fn(uint16_t{});
      return true;
    case 4:
      fn(uint32_t{});
      return true;
    case 8:
      fn(uint64_t{});
      return true;
    default:
      return false;
  }
}

// Walks the output of CopyByTables in row-major order with one recursion level
// per dimension; the innermost dimension is a plain loop.
template <typename T>
class TableCopier {
 public:
  TableCopier(const T* in, T* out, const std::vector<std::vector<int64_t>>& offsets, T fill)
      : in_(in), out_(out), offsets_(offsets), fill_(fill) {}

  void Run() {
    if (offsets_.empty()) {
      *out_ = *in_;
      return;
    }
    for (const auto& table : offsets_)
      if (table.empty()) return;  // an empty output
    Walk(0, 0, false);
  }

 private:
  void Walk(size_t d, int64_t base, bool fill) {
    const std::vector<int64_t>& table = offsets_[d];
    if (d + 1 == offsets_.size()) {
      for (int64_t off : table) *out_++ = (fill || off == kFillElement) ? fill_ : in_[base + off];
      return;
    }
    for (int64_t off : table)
      Walk(d + 1, off == kFillElement ? base : base + off, fill || off == kFillElement);
  }

  const T* in_;
  T* out_;
  const std::vector<std::vector<int64_t>>& offsets_;
  T fill_;
};

}  // namespace

std::string DimsString(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

Expected<int> ElementBytes(const KernelContext& ctx, const Tensor& t, const char* what) {
  const int bits = DTypeBits(t.dtype());
  if (bits == 4)
    return Unimplemented(ctx.node.Describe(), ": ", what, " has packed 4-bit dtype ",
                         DTypeName(t.dtype()),
                         ", which this op does not support (only whole-byte element types)");
  if (bits <= 0 || bits % 8 != 0)
    return ctx.Fail(what, " has dtype ", DTypeName(t.dtype()), ", which has no numeric storage");
  return bits / 8;
}

Expected<const Tensor*> RequiredInput(const KernelContext& ctx, int index, const char* what) {
  const Tensor* t = ctx.input(index);
  if (t == nullptr || !t->defined())
    return ctx.Fail("expected input ", index, " (", what, ") but it is missing");
  return t;
}

Expected<Tensor> NewOutput(const KernelContext& ctx, DType dtype, std::vector<int64_t> dims) {
  const std::string shape = DimsString(dims);
  auto t = Tensor::Create(dtype, std::move(dims));
  if (!t.ok())
    return Status(t.status().code(), ctx.node.Describe() + ": cannot create output of shape " +
                                         shape + ": " + t.status().message());
  return t;
}

Status CopyByTables(const KernelContext& ctx, const Tensor& in, Tensor& out,
                    const std::function<int64_t(int, int64_t)>& offset, const void* fill) {
  OCTET_ASSIGN_OR_RETURN(int bytes, ElementBytes(ctx, in, "input 0"));
  if (out.numel() == 0) return Status::Ok();
  std::vector<std::vector<int64_t>> offsets(out.rank());
  for (int d = 0; d < out.rank(); ++d) {
    offsets[d].resize(out.dim(d));
    for (int64_t c = 0; c < out.dim(d); ++c) offsets[d][c] = offset(d, c);
  }
  DispatchBySize(bytes, [&](auto zero) {
    using T = decltype(zero);
    T fill_value = zero;
    if (fill != nullptr) std::memcpy(&fill_value, fill, sizeof(T));
    TableCopier<T>(in.data<T>(), out.data<T>(), offsets, fill_value).Run();
  });
  return Status::Ok();
}

}  // namespace octet::reference::movement
