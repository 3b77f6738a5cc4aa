#include "datamovement_util.h"

#include <algorithm>
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

// Copies the output of CopyByTables one innermost row at a time. Rows are
// independent (a row's base offset is the sum of its outer coordinates'
// table entries), so they are split across threads; within a row, runs of
// consecutive source offsets are one memcpy (Slice and Pad along outer axes
// copy whole rows this way) and runs of fill elements one fill.
template <typename T>
class TableCopier {
 public:
  TableCopier(const T* in, T* out, const std::vector<std::vector<int64_t>>& offsets, T fill)
      : in_(in), out_(out), offsets_(offsets), fill_(fill) {}

  void Run(int num_threads) {
    if (offsets_.empty()) {
      *out_ = *in_;
      return;
    }
    for (const auto& table : offsets_)
      if (table.empty()) return;  // an empty output
    const std::vector<int64_t>& inner = offsets_.back();
    for (size_t i = 0; i < inner.size();) {
      size_t j = i + 1;
      const bool fill = inner[i] == kFillElement;
      while (j < inner.size() && (fill ? inner[j] == kFillElement
                                       : inner[j] != kFillElement && inner[j] == inner[j - 1] + 1))
        ++j;
      runs_.push_back({inner[i], static_cast<int64_t>(j - i), fill});
      i = j;
    }
    int64_t rows = 1;
    for (size_t d = 0; d + 1 < offsets_.size(); ++d)
      rows *= static_cast<int64_t>(offsets_[d].size());
    const int64_t row_len = static_cast<int64_t>(inner.size());
    // Small copies stay on the calling thread (threads cost more than they save).
    const int threads = rows * row_len < (1 << 16) ? 1 : num_threads;
    ParallelFor(rows, threads, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) CopyRow(r, out_ + r * row_len);
    });
  }

 private:
  struct RowRun {
    int64_t offset;  // of the first source element (unused for fills)
    int64_t length;
    bool fill;
  };

  void CopyRow(int64_t row, T* out) const {
    int64_t base = 0;
    bool fill = false;
    for (int d = static_cast<int>(offsets_.size()) - 2; d >= 0; --d) {
      const int64_t n = static_cast<int64_t>(offsets_[d].size());
      const int64_t off = offsets_[d][row % n];
      row /= n;
      if (off == kFillElement) {
        fill = true;
      } else {
        base += off;
      }
    }
    for (const RowRun& run : runs_) {
      if (fill || run.fill) {
        std::fill_n(out, run.length, fill_);
      } else {
        std::memcpy(out, in_ + base + run.offset, static_cast<size_t>(run.length) * sizeof(T));
      }
      out += run.length;
    }
  }

  const T* in_;
  T* out_;
  const std::vector<std::vector<int64_t>>& offsets_;
  T fill_;
  std::vector<RowRun> runs_;
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
    TableCopier<T>(in.data<T>(), out.data<T>(), offsets, fill_value).Run(ctx.num_threads);
  });
  return Status::Ok();
}

}  // namespace octet::reference::movement
