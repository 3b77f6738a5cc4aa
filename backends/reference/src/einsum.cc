// Einsum, in general: any number of operands, repeated labels within a term
// (diagonals/traces), broadcasting ellipsis and the implicit output form.
//
// Each operand is first brought to a canonical form with distinct labels (a
// strided gather takes diagonals and expands broadcast dims). Operands are then
// contracted pairwise from the left: labels used by neither the other operand,
// any later operand nor the output are summed away, the rest is permuted into
// [batch, free, contracted] x [batch, contracted, free] and multiplied with the
// shared GEMM. So "bhwc,hkc->bhwk" (SAM's relative position bias) is one batched
// GEMM over h, not a six-deep loop.
#include "einsum.h"

#include <algorithm>
#include <cctype>
#include <string>

#include "gemm.h"
#include "kernel_util.h"
#include "tensor_convert.h"

namespace octet::reference {
namespace {

constexpr int kLetters = 52;  // 'A'-'Z' -> 0..25, 'a'-'z' -> 26..51 (ASCII order)

struct Equation {
  std::vector<std::vector<int>> inputs;  // label per input dim (may repeat)
  std::vector<int> output;
  int num_labels = kLetters;  // letters plus the ellipsis dims
};

// Parses one term into letter labels, with -1 marking where "..." was.
Expected<std::vector<int>> ParseTerm(const KernelContext& ctx, const std::string& term) {
  std::vector<int> out;
  bool ellipsis = false;
  for (size_t i = 0; i < term.size(); ++i) {
    const char c = term[i];
    if (c >= 'A' && c <= 'Z') {
      out.push_back(c - 'A');
    } else if (c >= 'a' && c <= 'z') {
      out.push_back(26 + (c - 'a'));
    } else if (term.compare(i, 3, "...") == 0 && !ellipsis) {
      ellipsis = true;
      out.push_back(-1);
      i += 2;
    } else {
      return ctx.Fail("equation term '", term, "' has an unexpected character '", c,
                      "' (expected letters and at most one '...')");
    }
  }
  return out;
}

Expected<Equation> ParseEquation(const KernelContext& ctx, const std::string& raw,
                                 const std::vector<const Tensor*>& inputs) {
  std::string eq;
  for (char c : raw)
    if (!std::isspace(static_cast<unsigned char>(c))) eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<std::string> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    terms.push_back(
        lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != inputs.size())
    return ctx.Fail("equation '", raw, "' has ", terms.size(), " input terms but the node has ",
                    inputs.size(), " inputs");
  Equation e;
  std::vector<std::vector<int>> parsed;
  int max_ellipsis = 0;
  std::vector<int> ellipsis_rank(terms.size(), 0);
  for (size_t t = 0; t < terms.size(); ++t) {
    OCTET_ASSIGN_OR_RETURN(std::vector<int> labels, ParseTerm(ctx, terms[t]));
    const bool has_ellipsis = std::count(labels.begin(), labels.end(), -1) > 0;
    const int letters = static_cast<int>(labels.size()) - (has_ellipsis ? 1 : 0);
    const int rank = inputs[t]->rank();
    if (rank < letters || (!has_ellipsis && rank != letters))
      return ctx.Fail("equation term '", terms[t], "' has ", letters, " labels",
                      has_ellipsis ? " plus '...'" : "", " but input ", t, " has shape ",
                      inputs[t]->ShapeString());
    ellipsis_rank[t] = rank - letters;
    max_ellipsis = std::max(max_ellipsis, ellipsis_rank[t]);
    parsed.push_back(std::move(labels));
  }
  e.num_labels = kLetters + max_ellipsis;
  // Ellipsis dims are right-aligned across operands, as in numpy broadcasting.
  auto expand = [&](const std::vector<int>& labels, int rank) {
    std::vector<int> out;
    for (int l : labels) {
      if (l >= 0) {
        out.push_back(l);
        continue;
      }
      for (int j = max_ellipsis - rank; j < max_ellipsis; ++j) out.push_back(kLetters + j);
    }
    return out;
  };
  for (size_t t = 0; t < terms.size(); ++t) e.inputs.push_back(expand(parsed[t], ellipsis_rank[t]));
  if (arrow != std::string::npos) {
    OCTET_ASSIGN_OR_RETURN(std::vector<int> out, ParseTerm(ctx, eq.substr(arrow + 2)));
    e.output = expand(out, max_ellipsis);
  } else {
    // Implicit output: the ellipsis dims, then labels used exactly once, sorted.
    std::vector<int> count(e.num_labels, 0);
    for (const auto& in : e.inputs)
      for (int l : in) ++count[l];
    for (int j = 0; j < max_ellipsis; ++j) e.output.push_back(kLetters + j);
    for (int l = 0; l < kLetters; ++l)
      if (count[l] == 1) e.output.push_back(l);
  }
  std::vector<bool> seen(e.num_labels, false);
  for (int l : e.output) {
    bool in_input = false;
    for (const auto& in : e.inputs) in_input = in_input || std::count(in.begin(), in.end(), l);
    if (!in_input || seen[l])
      return ctx.Fail(
          "equation '", raw, "': output label ",
          l < kLetters ? std::string(1, l < 26 ? 'A' + l : 'a' + (l - 26)) : std::string("..."),
          seen[l] ? " appears twice in the output" : " does not appear in any input");
    seen[l] = true;
  }
  return e;
}

// A tensor whose dims carry distinct labels, row-major.
template <typename C>
struct Operand {
  std::vector<int> labels;
  std::vector<int64_t> dims;
  std::vector<C> data;
};

int64_t Product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// out[i0, ..., ir] = src[sum i_d * strides[d]] for the given dims.
template <typename C>
std::vector<C> Gather(const C* src, const std::vector<int64_t>& dims,
                      const std::vector<int64_t>& strides) {
  const int64_t total = Product(dims);
  std::vector<C> out(total);
  if (total == 0) return out;
  const int r = static_cast<int>(dims.size());
  if (r == 0) {
    out[0] = src[0];
    return out;
  }
  std::vector<int64_t> idx(r, 0);
  const int64_t inner = dims[r - 1], inner_stride = strides[r - 1];
  int64_t off = 0;
  for (int64_t pos = 0; pos < total; pos += inner) {
    for (int64_t j = 0; j < inner; ++j) out[pos + j] = src[off + j * inner_stride];
    for (int d = r - 2; d >= 0; --d) {
      off += strides[d];
      if (++idx[d] < dims[d]) break;
      off -= strides[d] * dims[d];
      idx[d] = 0;
    }
  }
  return out;
}

// Returns `x` with its dims reordered to `labels` (a permutation of x.labels).
template <typename C>
Operand<C> Permute(Operand<C> x, const std::vector<int>& labels) {
  if (labels == x.labels) return x;
  const std::vector<int64_t> strides = Strides(x.dims);
  Operand<C> out;
  std::vector<int64_t> gather_strides;
  for (int l : labels) {
    const size_t pos = std::find(x.labels.begin(), x.labels.end(), l) - x.labels.begin();
    out.labels.push_back(l);
    out.dims.push_back(x.dims[pos]);
    gather_strides.push_back(strides[pos]);
  }
  out.data = Gather(x.data.data(), out.dims, gather_strides);
  return out;
}

// Sums away every dim whose label is not in `keep`.
template <typename C>
Operand<C> SumOut(Operand<C> x, const std::vector<bool>& keep) {
  Operand<C> out;
  for (size_t d = 0; d < x.labels.size(); ++d) {
    if (!keep[x.labels[d]]) continue;
    out.labels.push_back(x.labels[d]);
    out.dims.push_back(x.dims[d]);
  }
  if (out.labels.size() == x.labels.size()) return x;
  out.data.assign(Product(out.dims), C(0));
  const std::vector<int64_t> out_strides = Strides(out.dims);
  const int r = static_cast<int>(x.dims.size());
  std::vector<int64_t> stride_of(r, 0), idx(r, 0);
  for (int d = 0, o = 0; d < r; ++d)
    if (keep[x.labels[d]]) stride_of[d] = out_strides[o++];
  int64_t off = 0;
  for (size_t i = 0; i < x.data.size(); ++i) {
    out.data[off] += x.data[i];
    for (int d = r - 1; d >= 0; --d) {
      off += stride_of[d];
      if (++idx[d] < x.dims[d]) break;
      off -= stride_of[d] * x.dims[d];
      idx[d] = 0;
    }
  }
  return out;
}

template <typename C>
Operand<C> Contract(Operand<C> a, Operand<C> b, const std::vector<bool>& needed, int num_labels,
                    int threads) {
  std::vector<bool> in_a(num_labels, false), in_b(num_labels, false);
  for (int l : a.labels) in_a[l] = true;
  for (int l : b.labels) in_b[l] = true;
  std::vector<bool> keep_a(num_labels), keep_b(num_labels);
  for (int l = 0; l < num_labels; ++l) {
    keep_a[l] = needed[l] || in_b[l];
    keep_b[l] = needed[l] || in_a[l];
  }
  a = SumOut(std::move(a), keep_a);
  b = SumOut(std::move(b), keep_b);
  std::vector<int> batch, a_free, contracted, b_free;
  for (int l : a.labels) {
    if (!in_b[l]) {
      a_free.push_back(l);
    } else if (needed[l]) {
      batch.push_back(l);
    } else {
      contracted.push_back(l);
    }
  }
  for (int l : b.labels)
    if (!in_a[l]) b_free.push_back(l);
  auto concat = [](std::vector<int> x, const std::vector<int>& y, const std::vector<int>& z) {
    x.insert(x.end(), y.begin(), y.end());
    x.insert(x.end(), z.begin(), z.end());
    return x;
  };
  a = Permute(std::move(a), concat(batch, a_free, contracted));
  b = Permute(std::move(b), concat(batch, contracted, b_free));
  auto size_of = [](const Operand<C>& x, const std::vector<int>& labels) {
    int64_t n = 1;
    for (int l : labels)
      n *= x.dims[std::find(x.labels.begin(), x.labels.end(), l) - x.labels.begin()];
    return n;
  };
  const int64_t nb = size_of(a, batch), m = size_of(a, a_free), k = size_of(a, contracted),
                n = size_of(b, b_free);
  Operand<C> out;
  out.labels = concat(batch, a_free, b_free);
  for (int l : out.labels) {
    const auto ia = std::find(a.labels.begin(), a.labels.end(), l);
    out.dims.push_back(
        ia != a.labels.end()
            ? a.dims[ia - a.labels.begin()]
            : b.dims[std::find(b.labels.begin(), b.labels.end(), l) - b.labels.begin()]);
  }
  out.data.resize(nb * m * n);
  std::vector<GemmProblem<C>> problems;
  for (int64_t i = 0; i < nb; ++i) {
    GemmProblem<C> p;
    p.m = m;
    p.n = n;
    p.k = k;
    p.a = RowMajorView(a.data.data() + i * m * k, k);
    p.b = RowMajorView(b.data.data() + i * k * n, n);
    p.c = out.data.data() + i * m * n;
    p.ldc = n;
    problems.push_back(p);
  }
  RunGemms(problems, threads);
  return out;
}

template <typename C>
Status RunEinsum(KernelContext& ctx, const Equation& eq) {
  // Label sizes; a size-1 dim broadcasts against a larger one (ellipsis dims).
  std::vector<int64_t> size(eq.num_labels, -1);
  for (size_t t = 0; t < eq.inputs.size(); ++t) {
    const Tensor& x = *ctx.input(static_cast<int>(t));
    for (size_t d = 0; d < eq.inputs[t].size(); ++d) {
      int64_t& s = size[eq.inputs[t][d]];
      const int64_t v = x.dim(static_cast<int>(d));
      if (s == -1 || s == 1) {
        s = v;
      } else if (v != s && v != 1) {
        return ctx.Fail("label sizes disagree: input ", t, " ", x.ShapeString(), " has size ", v,
                        " at dim ", d, " where another dim has size ", s);
      }
    }
  }
  std::vector<Operand<C>> ops;
  for (size_t t = 0; t < eq.inputs.size(); ++t) {
    const Tensor& x = *ctx.input(static_cast<int>(t));
    const std::vector<int64_t> strides = Strides(x.dims());
    Operand<C> op;
    std::vector<int64_t> gather_strides;
    for (size_t d = 0; d < eq.inputs[t].size(); ++d) {
      const int l = eq.inputs[t][d];
      // A repeated label walks the diagonal: its strides add up.
      const int64_t stride = x.dim(static_cast<int>(d)) == 1 ? 0 : strides[d];
      const auto it = std::find(op.labels.begin(), op.labels.end(), l);
      if (it != op.labels.end()) {
        gather_strides[it - op.labels.begin()] += stride;
        continue;
      }
      op.labels.push_back(l);
      op.dims.push_back(size[l]);
      gather_strides.push_back(stride);
    }
    const std::vector<C> values = ReadAs<C>(x);
    op.data = Gather(values.data(), op.dims, gather_strides);
    ops.push_back(std::move(op));
  }
  Operand<C> acc = std::move(ops[0]);
  for (size_t t = 1; t < ops.size(); ++t) {
    std::vector<bool> needed(eq.num_labels, false);
    for (int l : eq.output) needed[l] = true;
    for (size_t u = t + 1; u < ops.size(); ++u)
      for (int l : ops[u].labels) needed[l] = true;
    acc = Contract(std::move(acc), std::move(ops[t]), needed, eq.num_labels, ctx.num_threads);
  }
  std::vector<bool> keep(eq.num_labels, false);
  for (int l : eq.output) keep[l] = true;
  acc = Permute(SumOut(std::move(acc), keep), eq.output);
  OCTET_ASSIGN_OR_RETURN(Tensor y, Tensor::Create(ctx.input(0)->dtype(), acc.dims));
  WriteFrom(acc.data.data(), y);
  ctx.outputs[0] = std::move(y);
  return Status::Ok();
}

}  // namespace

Status EinsumKernel(KernelContext& ctx) {
  OCTET_ASSIGN_OR_RETURN(std::string equation, ctx.node.GetString("equation", std::nullopt));
  if (ctx.num_inputs() == 0) return ctx.Fail("Einsum needs at least one input");
  const DType dtype = ctx.input(0)->dtype();
  for (int i = 0; i < ctx.num_inputs(); ++i) {
    if (ctx.input(i) == nullptr) return ctx.Fail("input ", i, " is missing");
    if (ctx.input(i)->dtype() != dtype)
      return ctx.Fail("all inputs must have the same dtype but input 0 is ", DTypeName(dtype),
                      " and input ", i, " is ", DTypeName(ctx.input(i)->dtype()));
  }
  OCTET_ASSIGN_OR_RETURN(Equation eq, ParseEquation(ctx, equation, ctx.inputs));
  // Integers compute in unsigned types of at least their width: the low bits of
  // wrapping unsigned sums and products equal the narrow type's.
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      return RunEinsum<float>(ctx, eq);
    case DType::kF64:
      return RunEinsum<double>(ctx, eq);
    case DType::kI8:
    case DType::kU8:
    case DType::kI16:
    case DType::kU16:
    case DType::kI32:
    case DType::kU32:
      return RunEinsum<uint32_t>(ctx, eq);
    case DType::kI64:
    case DType::kU64:
      return RunEinsum<uint64_t>(ctx, eq);
    default:
      return ctx.Fail("inputs must be numeric (float or integer) but are ", DTypeName(dtype));
  }
}

}  // namespace octet::reference
