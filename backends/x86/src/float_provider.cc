// MakeFloatKernelProvider (float_provider.h): one KernelFn per handled op type.
// Each run looks up the kernel prepared for (node, input dims and dtypes); on a
// miss the op's planner checks the configuration and creates the oneDNN kernel,
// or records "use the reference kernel" when it cannot (unsupported attributes,
// dtypes or ranks, non-constant weights, or oneDNN refusing it). Either answer
// is cached, so each (node, shape) is planned once.
#include "octet/x86/float_provider.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "dnnl_util.h"
#include "octet/x86/cpu_info.h"
#include "octet/x86/float_kernels.h"

namespace octet::x86 {
namespace {

using reference::KernelContext;
using reference::KernelFn;

// A prepared kernel for one node and input shape.
struct Runner {
  std::function<Status(KernelContext&)> run;
  std::string description;  // the oneDNN kernel's, with its implementation
};
// Returns the runner, or null to run the reference kernel.
using Planner = std::shared_ptr<const Runner> (*)(const KernelContext&);

template <typename Kernel, typename Fn>
std::shared_ptr<const Runner> MakeRunner(const Kernel& k, Fn fn) {
  return std::make_shared<const Runner>(
      Runner{std::move(fn), k.description() + " [" + k.implementation() + "]"});
}

Status RunReference(KernelContext& ctx) {
  const KernelFn* fn = reference::KernelRegistry::Get().Find(ctx.node.domain(), ctx.node.op_type());
  if (fn == nullptr) return Unimplemented("no reference kernel for ", ctx.node.Describe());
  return (*fn)(ctx);
}

// An attribute read; nullopt when it has the wrong kind (the reference kernel
// then reports it).
template <typename T>
std::optional<T> Attr(Expected<T> e) {
  if (!e.ok()) return std::nullopt;
  return std::move(*e);
}

// The input, or null when absent (a missing optional input).
const Tensor* In(const KernelContext& ctx, int i) {
  const Tensor* t = ctx.input(i);
  return t != nullptr && t->defined() ? t : nullptr;
}

bool IsF32(const Tensor* t) { return t != nullptr && t->dtype() == DType::kF32; }

bool AllPositive(const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (d <= 0) return false;
  return true;
}

// Node input i is a constant of the graph (read once, when the kernel is made).
bool IsConstantInput(const Node& node, int i) {
  const Value* v = node.input(i);
  return v != nullptr && v->is_constant();
}

// f32 holding n values laid out as a vector ([n], or [1, ..., 1, n]).
bool IsF32Vector(const Tensor* t, int64_t n) {
  return IsF32(t) && t->rank() >= 1 && t->numel() == n && t->dim(t->rank() - 1) == n;
}

// An f32 tensor left uninitialised, for outputs the kernel writes in full (a
// Tensor(dtype, dims) would be zeroed first).
Tensor UninitializedF32(const std::vector<int64_t>& dims) {
  return Tensor::Uninitialized(DType::kF32, dims);
}

int64_t Product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= dims[i];
  return p;
}

// ---------------------------------------------------------------- Conv

// Layout changes NCHW <-> NHWC (oneDNN reorders), around an NHWC convolution.
struct NhwcReorders {
  dnnl::memory::desc src_nchw, src_nhwc, dst_nhwc, dst_nchw;
  dnnl::reorder to_nhwc, to_nchw;
};

Expected<NhwcReorders> MakeNhwcReorders(const std::vector<int64_t>& src,
                                        const std::vector<int64_t>& dst) {
  using dnnl::memory;
  using tag = memory::format_tag;
  constexpr auto f32 = memory::data_type::f32;
  try {
    const auto& eng = detail::CpuEngine();
    const memory::dims s(src.begin(), src.end()), d(dst.begin(), dst.end());
    NhwcReorders r{memory::desc(s, f32, tag::nchw),
                   memory::desc(s, f32, tag::nhwc),
                   memory::desc(d, f32, tag::nhwc),
                   memory::desc(d, f32, tag::nchw),
                   {},
                   {}};
    r.to_nhwc = dnnl::reorder(dnnl::reorder::primitive_desc(eng, r.src_nchw, eng, r.src_nhwc));
    r.to_nchw = dnnl::reorder(dnnl::reorder::primitive_desc(eng, r.dst_nhwc, eng, r.dst_nchw));
    return r;
  } catch (const dnnl::error& e) {
    return detail::FromDnnlError(e, "NCHW <-> NHWC reorders");
  }
}

Status Reorder(const dnnl::reorder& r, const dnnl::memory::desc& from, const void* src,
               const dnnl::memory::desc& to, void* dst) {
  try {
    const auto& eng = detail::CpuEngine();
    detail::Execute(r, dnnl::memory::desc(),
                    {{DNNL_ARG_FROM, dnnl::memory(from, eng, const_cast<void*>(src))},  // read only
                     {DNNL_ARG_TO, dnnl::memory(to, eng, dst)}});
  } catch (const dnnl::error& e) {
    return detail::FromDnnlError(e, "reorder");
  }
  return Status::Ok();
}

// oneDNN's own reference implementations ("ref:any") are slower than Octet's.
bool IsFast(const std::string& implementation) { return implementation.rfind("ref", 0) != 0; }

std::shared_ptr<const Runner> PlanConv(const KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor *x = In(ctx, 0), *w = In(ctx, 1), *b = In(ctx, 2);
  if (ctx.num_outputs() != 1 || !IsF32(x) || !IsF32(w) || x->rank() != 4 || w->rank() != 4)
    return nullptr;
  if (!AllPositive(x->dims()) || !AllPositive(w->dims()) || !IsConstantInput(node, 1))
    return nullptr;
  if (b != nullptr && !(IsConstantInput(node, 2) && b->rank() == 1 && IsF32Vector(b, w->dim(0))))
    return nullptr;
  const auto auto_pad = Attr(node.GetString("auto_pad", std::string("NOTSET")));
  const auto group = Attr(node.GetInt("group", 1));
  const auto kernel =
      Attr(node.GetInts("kernel_shape", std::vector<int64_t>{w->dim(2), w->dim(3)}));
  const auto strides = Attr(node.GetInts("strides", std::vector<int64_t>{1, 1}));
  const auto dilations = Attr(node.GetInts("dilations", std::vector<int64_t>{1, 1}));
  const auto pads = Attr(node.GetInts("pads", std::vector<int64_t>{0, 0, 0, 0}));
  if (!auto_pad || *auto_pad != "NOTSET" || !group || !kernel || !strides || !dilations || !pads)
    return nullptr;
  if (*kernel != std::vector<int64_t>{w->dim(2), w->dim(3)} || strides->size() != 2 ||
      dilations->size() != 2 || pads->size() != 4)
    return nullptr;
  F32Conv2dConfig c;
  c.src_dims = x->dims();
  c.weights = *w;
  if (b != nullptr) c.bias = *b;
  c.strides = {(*strides)[0], (*strides)[1]};
  c.dilations = {(*dilations)[0], (*dilations)[1]};
  c.pads = {(*pads)[0], (*pads)[1], (*pads)[2], (*pads)[3]};
  c.groups = *group;
  // NHWC first: oneDNN 3.2 runs it on its direct kernels (brgconv), where NCHW
  // gets im2col + sgemm; measured on resnet18 (AVX2), the convolutions take
  // about 0.7x the time of NCHW even with the two reorders. NCHW when oneDNN
  // has no fast NHWC kernel for the configuration.
  c.layout = Layout::kNHWC;
  auto conv = F32Conv2d::Create(c);  // validates groups, pads, strides and the output size
  if (conv.ok() && IsFast(conv->implementation())) {
    auto reorders = MakeNhwcReorders(x->dims(), conv->dst_dims());
    if (reorders.ok())
      return MakeRunner(*conv, [k = *conv, r = std::move(*reorders)](KernelContext& ctx) -> Status {
        const Tensor& x = *ctx.inputs[0];
        Tensor x_nhwc = UninitializedF32(x.dims()), y_nhwc = UninitializedF32(k.dst_dims());
        Tensor y = UninitializedF32(k.dst_dims());
        OCTET_RETURN_IF_ERROR(Reorder(r.to_nhwc, r.src_nchw, x.raw(), r.src_nhwc, x_nhwc.raw()));
        OCTET_RETURN_IF_ERROR(k.Run(x_nhwc.data<float>(), y_nhwc.data<float>()));
        OCTET_RETURN_IF_ERROR(Reorder(r.to_nchw, r.dst_nhwc, y_nhwc.raw(), r.dst_nchw, y.raw()));
        ctx.outputs[0] = std::move(y);
        return Status::Ok();
      });
  }
  c.layout = Layout::kNCHW;
  conv = F32Conv2d::Create(c);
  if (!conv.ok() || !IsFast(conv->implementation())) return nullptr;
  return MakeRunner(*conv, [k = *conv](KernelContext& ctx) -> Status {
    Tensor y = UninitializedF32(k.dst_dims());
    OCTET_RETURN_IF_ERROR(k.Run(ctx.inputs[0]->data<float>(), y.data<float>()));
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------- MatMul, Gemm

// C = A x B through one F32MatMul. b_index < 0: B is the kernel's constant
// weights (and Run takes no B).
std::shared_ptr<const Runner> MatMulRunner(const F32MatMul& k, std::vector<int64_t> out_dims,
                                           int b_index) {
  return MakeRunner(k, [k, out_dims = std::move(out_dims), b_index](KernelContext& ctx) -> Status {
    Tensor y = UninitializedF32(out_dims);
    const float* b = b_index >= 0 ? ctx.inputs[b_index]->data<float>() : nullptr;
    OCTET_RETURN_IF_ERROR(k.Run(ctx.inputs[0]->data<float>(), b, y.data<float>()));
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  });
}

std::shared_ptr<const Runner> PlanMatMul(const KernelContext& ctx) {
  const Tensor *a = In(ctx, 0), *b = In(ctx, 1);
  if (ctx.num_outputs() != 1 || !IsF32(a) || !IsF32(b) || a->rank() < 2 || b->rank() < 2)
    return nullptr;
  if (!AllPositive(a->dims()) || !AllPositive(b->dims())) return nullptr;
  const int ra = a->rank(), rb = b->rank();
  const int64_t m = a->dim(ra - 2), k = a->dim(ra - 1), n = b->dim(rb - 1);
  if (b->dim(rb - 2) != k) return nullptr;
  // Batch dims, right-aligned to the longer of the two (numpy broadcasting).
  const int batch_rank = std::max(ra, rb) - 2;
  std::vector<int64_t> ab(batch_rank, 1), bb(batch_rank, 1), out(batch_rank);
  for (int i = 0; i < ra - 2; ++i) ab[batch_rank - (ra - 2) + i] = a->dim(i);
  for (int i = 0; i < rb - 2; ++i) bb[batch_rank - (rb - 2) + i] = b->dim(i);
  for (int i = 0; i < batch_rank; ++i) {
    if (ab[i] != bb[i] && ab[i] != 1 && bb[i] != 1) return nullptr;  // the reference says why
    out[i] = std::max(ab[i], bb[i]);
  }
  const int64_t a_batch = Product(ab, 0, ab.size()), b_batch = Product(bb, 0, bb.size());
  F32MatMulConfig c;
  c.k = k;
  c.n = n;
  if (b_batch == 1) {
    // B is one [K, N] matrix: every row of A is one row of a single product.
    c.batch = 1;
    c.m = a_batch * m;
  } else if (a_batch == 1) {
    c.batch = b_batch;
    c.m = m;
    c.broadcast_a = true;
  } else if (ab == bb) {
    c.batch = a_batch;
    c.m = m;
  } else {
    return nullptr;  // partial broadcasting: left to the reference kernel
  }
  int b_index = 1;
  if (IsConstantInput(ctx.node, 1)) {
    c.weights = b->Reshaped({b_batch, k, n});  // B's dims as F32MatMul states them
    b_index = -1;
  }
  auto mm = F32MatMul::Create(c);
  if (!mm.ok()) return nullptr;
  out.push_back(m);
  out.push_back(n);
  return MatMulRunner(*mm, std::move(out), b_index);
}

std::shared_ptr<const Runner> PlanGemm(const KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor *a = In(ctx, 0), *b = In(ctx, 1), *bias = In(ctx, 2);
  if (ctx.num_outputs() != 1 || !IsF32(a) || !IsF32(b) || a->rank() != 2 || b->rank() != 2)
    return nullptr;
  if (!AllPositive(a->dims()) || !AllPositive(b->dims())) return nullptr;
  const auto trans_a = Attr(node.GetInt("transA", 0));
  const auto trans_b = Attr(node.GetInt("transB", 0));
  const auto alpha = Attr(node.GetFloat("alpha", 1.0f));
  const auto beta = Attr(node.GetFloat("beta", 1.0f));
  if (!trans_a || *trans_a != 0 || !trans_b || (*trans_b != 0 && *trans_b != 1) || !alpha ||
      *alpha != 1.0f || !beta)
    return nullptr;
  F32MatMulConfig c;
  c.m = a->dim(0);
  c.k = a->dim(1);
  c.transpose_b = *trans_b == 1;
  c.n = c.transpose_b ? b->dim(0) : b->dim(1);
  if ((c.transpose_b ? b->dim(1) : b->dim(0)) != c.k) return nullptr;
  if (bias != nullptr) {
    // C broadcast along M only: [N] or [1, N], a constant (packed at Create).
    if (*beta != 1.0f || bias->rank() > 2 || !IsF32Vector(bias, c.n) || !IsConstantInput(node, 2))
      return nullptr;
    c.bias = *bias;
  }
  int b_index = 1;
  if (IsConstantInput(node, 1)) {
    c.weights = *b;
    b_index = -1;
  }
  auto mm = F32MatMul::Create(c);
  if (!mm.ok()) return nullptr;
  return MatMulRunner(*mm, {c.m, c.n}, b_index);
}

// ---------------------------------------------------------------- Softmax, LayerNorm

// The axis attribute (default -1) normalised; nullopt when invalid.
std::optional<int> LastAxis(const Node& node, int rank) {
  const auto axis = Attr(node.GetInt("axis", -1));
  if (!axis || *axis < -rank || *axis >= rank) return std::nullopt;
  return static_cast<int>(*axis < 0 ? *axis + rank : *axis);
}

std::shared_ptr<const Runner> PlanSoftmax(const KernelContext& ctx) {
  const Tensor* x = In(ctx, 0);
  if (ctx.num_outputs() != 1 || !IsF32(x) || x->rank() < 1 || !AllPositive(x->dims()))
    return nullptr;
  const std::optional<int> axis = LastAxis(ctx.node, x->rank());
  if (!axis || *axis != x->rank() - 1) return nullptr;
  F32SoftmaxConfig c;
  c.channels = x->dim(x->rank() - 1);
  c.rows = x->numel() / c.channels;
  auto sm = F32Softmax::Create(c);
  if (!sm.ok()) return nullptr;
  return MakeRunner(*sm, [k = *sm](KernelContext& ctx) -> Status {
    const Tensor& x = *ctx.inputs[0];
    Tensor y = UninitializedF32(x.dims());
    OCTET_RETURN_IF_ERROR(k.Run(x.data<float>(), y.data<float>()));
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  });
}

std::shared_ptr<const Runner> PlanLayerNorm(const KernelContext& ctx) {
  const Node& node = ctx.node;
  const Tensor *x = In(ctx, 0), *scale = In(ctx, 1), *bias = In(ctx, 2);
  // Mean and InvStdDev (outputs 1, 2) are not computed by the oneDNN kernel.
  if (ctx.num_outputs() != 1 || !IsF32(x) || x->rank() < 1 || !AllPositive(x->dims()))
    return nullptr;
  const std::optional<int> axis = LastAxis(node, x->rank());
  if (!axis || *axis != x->rank() - 1) return nullptr;
  const int64_t channels = x->dim(x->rank() - 1);
  if (!IsF32Vector(scale, channels) || !IsConstantInput(node, 1)) return nullptr;
  if (bias != nullptr && !(IsF32Vector(bias, channels) && IsConstantInput(node, 2))) return nullptr;
  const auto epsilon = Attr(node.GetFloat("epsilon", 1e-5f));
  const auto stash = Attr(node.GetInt("stash_type", 1));
  if (!epsilon || !stash || *stash != 1) return nullptr;
  F32LayerNormConfig c;
  c.channels = channels;
  c.rows = x->numel() / channels;
  c.gamma = *scale;
  if (bias != nullptr) c.beta = *bias;
  c.epsilon = *epsilon;
  auto ln = F32LayerNorm::Create(c);
  if (!ln.ok()) return nullptr;
  return MakeRunner(*ln, [k = *ln](KernelContext& ctx) -> Status {
    const Tensor& x = *ctx.inputs[0];
    Tensor y = UninitializedF32(x.dims());
    OCTET_RETURN_IF_ERROR(k.Run(x.data<float>(), y.data<float>()));
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------- Transpose, Pow, binary

// Ints of a constant i64/i32 input, or nullopt (absent: `dflt`).
std::optional<std::vector<int64_t>> ConstantInts(const KernelContext& ctx, int i,
                                                 std::optional<std::vector<int64_t>> dflt) {
  const Tensor* t = In(ctx, i);
  if (t == nullptr) return dflt;
  if (!IsConstantInput(ctx.node, i)) return std::nullopt;
  std::vector<int64_t> v(static_cast<size_t>(t->numel()));
  for (int64_t k = 0; k < t->numel(); ++k) {
    if (t->dtype() == DType::kI64) {
      v[k] = t->data<int64_t>()[k];
    } else if (t->dtype() == DType::kI32) {
      v[k] = t->data<int32_t>()[k];
    } else {
      return std::nullopt;
    }
  }
  return v;
}

std::vector<int64_t> DenseStrides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (int i = static_cast<int>(dims.size()) - 2; i >= 0; --i) s[i] = s[i + 1] * dims[i + 1];
  return s;
}

// f32 elements of `dims` laid out with `strides` (in elements): a box inside
// a larger tensor, or a permuted view of one.
struct StridedView {
  std::vector<int64_t> dims, strides;
  dnnl::memory::desc desc() const {  // throws dnnl::error like the calls it wraps
    return dnnl::memory::desc(dnnl::memory::dims(dims.begin(), dims.end()),
                              dnnl::memory::data_type::f32,
                              dnnl::memory::dims(strides.begin(), strides.end()));
  }
};

// A box of `dims` inside a dense tensor of `outer` dims.
StridedView Box(const std::vector<int64_t>& dims, const std::vector<int64_t>& outer) {
  return {dims, DenseStrides(outer)};
}

// One oneDNN reorder as a runner: the op's input 0 from element `src_offset`
// on, read as `src`, into a new f32 tensor of `out_dims` from element
// `dst_offset` on, written as `dst` (after zeroing the whole tensor when
// `zero_fill`). Null when oneDNN has no fast reorder for the pair.
std::shared_ptr<const Runner> ReorderRunner(const char* what, const StridedView& src,
                                            const StridedView& dst, std::vector<int64_t> out_dims,
                                            int64_t src_offset, int64_t dst_offset,
                                            bool zero_fill) {
  try {
    const auto& eng = detail::CpuEngine();
    const dnnl::memory::desc from = src.desc(), to = dst.desc();
    const dnnl::reorder::primitive_desc pd(eng, from, eng, to);
    const std::string impl = pd.impl_info_str();
    if (!IsFast(impl)) return nullptr;
    std::string description =
        std::string(what) + " reorder " + detail::DimsString(out_dims) + " [" + impl + "]";
    return std::make_shared<const Runner>(
        Runner{[r = dnnl::reorder(pd), from, to, out_dims = std::move(out_dims), src_offset,
                dst_offset, zero_fill](KernelContext& ctx) -> Status {
                 Tensor y = UninitializedF32(out_dims);
                 float* p = y.data<float>();
                 if (zero_fill) {
                   const int64_t n = y.numel();
                   const int threads = std::max(1, ctx.num_threads);
#pragma omp parallel for num_threads(threads) schedule(static)
                   for (int64_t c = 0; c < threads; ++c)
                     std::fill(p + n * c / threads, p + n * (c + 1) / threads, 0.f);
                 }
                 OCTET_RETURN_IF_ERROR(Reorder(r, from, ctx.inputs[0]->data<float>() + src_offset,
                                               to, p + dst_offset));
                 ctx.outputs[0] = std::move(y);
                 return Status::Ok();
               },
               std::move(description)});
  } catch (const dnnl::error&) {
    return nullptr;
  }
}

// Transpose as one oneDNN reorder: the source is described with the output's
// dims and the input's strides permuted, so the reorder reads x in the
// permuted order and writes y densely.
std::shared_ptr<const Runner> PlanTranspose(const KernelContext& ctx) {
  const Tensor* x = In(ctx, 0);
  if (ctx.num_outputs() != 1 || !IsF32(x) || x->rank() < 2 || x->rank() > DNNL_MAX_NDIMS ||
      !AllPositive(x->dims()))
    return nullptr;
  const int rank = x->rank();
  std::vector<int64_t> dflt(rank);
  for (int i = 0; i < rank; ++i) dflt[i] = rank - 1 - i;
  const auto perm = Attr(ctx.node.GetInts("perm", dflt));
  if (!perm || static_cast<int>(perm->size()) != rank) return nullptr;
  const std::vector<int64_t> in_strides = DenseStrides(x->dims());
  std::vector<int64_t> out_dims(rank), src_strides(rank);
  std::vector<bool> seen(rank, false);
  for (int i = 0; i < rank; ++i) {
    const int64_t p = (*perm)[i];
    if (p < 0 || p >= rank || seen[p]) return nullptr;  // the reference kernel says why
    seen[p] = true;
    out_dims[i] = x->dim(p);
    src_strides[i] = in_strides[p];
  }
  return ReorderRunner("Transpose", StridedView{out_dims, src_strides}, Box(out_dims, out_dims),
                       out_dims, 0, 0, false);
}

// Slice with constant starts / ends / axes and unit steps as one reorder of
// the box it selects (ONNX's clamping of starts and ends, as the reference).
std::shared_ptr<const Runner> PlanSlice(const KernelContext& ctx) {
  const Tensor* x = In(ctx, 0);
  if (ctx.num_outputs() != 1 || !IsF32(x) || x->rank() < 1 || x->rank() > DNNL_MAX_NDIMS ||
      !AllPositive(x->dims()))
    return nullptr;
  const int rank = x->rank();
  const auto starts = ConstantInts(ctx, 1, std::nullopt);
  const auto ends = ConstantInts(ctx, 2, std::nullopt);
  std::vector<int64_t> all(rank);
  for (int i = 0; i < rank; ++i) all[i] = i;
  const auto axes = ConstantInts(
      ctx, 3,
      std::vector<int64_t>(all.begin(),
                           all.begin() + (starts ? std::min<size_t>(starts->size(), rank) : 0)));
  const auto steps = ConstantInts(ctx, 4, std::vector<int64_t>(starts ? starts->size() : 0, 1));
  if (!starts || !ends || !axes || !steps || starts->size() != ends->size() ||
      axes->size() != starts->size() || steps->size() != starts->size())
    return nullptr;
  std::vector<int64_t> first(rank, 0), out_dims = x->dims();
  std::vector<bool> seen(rank, false);
  for (size_t i = 0; i < axes->size(); ++i) {
    int64_t a = (*axes)[i];
    if (a < -rank || a >= rank || (*steps)[i] != 1) return nullptr;
    const int d = static_cast<int>(a < 0 ? a + rank : a);
    if (seen[d]) return nullptr;
    seen[d] = true;
    const int64_t dim = x->dim(d);
    const int64_t start =
        std::clamp<int64_t>((*starts)[i] < 0 ? (*starts)[i] + dim : (*starts)[i], 0, dim);
    const int64_t end = std::clamp<int64_t>((*ends)[i] < 0 ? (*ends)[i] + dim : (*ends)[i], 0, dim);
    if (end <= start) return nullptr;  // empty: the reference handles it
    first[d] = start;
    out_dims[d] = end - start;
  }
  int64_t offset = 0;
  const std::vector<int64_t> in_strides = DenseStrides(x->dims());
  for (int d = 0; d < rank; ++d) offset += first[d] * in_strides[d];
  return ReorderRunner("Slice", Box(out_dims, x->dims()), Box(out_dims, out_dims), out_dims, offset,
                       0, false);
}

// Pad, mode constant, non-negative constant pads, value 0 (absent or a
// constant zero): zero the output, then one reorder of x into its box.
std::shared_ptr<const Runner> PlanPad(const KernelContext& ctx) {
  const Tensor *x = In(ctx, 0), *value = In(ctx, 2);
  if (ctx.num_outputs() != 1 || !IsF32(x) || x->rank() < 1 || x->rank() > DNNL_MAX_NDIMS ||
      !AllPositive(x->dims()) || In(ctx, 3) != nullptr)
    return nullptr;
  const auto mode = Attr(ctx.node.GetString("mode", std::string("constant")));
  if (!mode || *mode != "constant") return nullptr;
  if (value != nullptr &&
      !(IsConstantInput(ctx.node, 2) && IsF32(value) && value->numel() == 1 &&
        value->data<float>()[0] == 0.f && !std::signbit(value->data<float>()[0])))
    return nullptr;
  const int rank = x->rank();
  const auto pads = ConstantInts(ctx, 1, std::nullopt);
  if (!pads || static_cast<int>(pads->size()) != 2 * rank) return nullptr;
  std::vector<int64_t> out_dims = x->dims();
  for (int d = 0; d < rank; ++d) {
    if ((*pads)[d] < 0 || (*pads)[d + rank] < 0) return nullptr;
    out_dims[d] += (*pads)[d] + (*pads)[d + rank];
  }
  int64_t offset = 0;
  const std::vector<int64_t> out_strides = DenseStrides(out_dims);
  for (int d = 0; d < rank; ++d) offset += (*pads)[d] * out_strides[d];
  return ReorderRunner("Pad", Box(x->dims(), x->dims()), Box(x->dims(), out_dims), out_dims, 0,
                       offset, true);
}

// Pow(x, 2) (LayerNorm2d's variance, written out by PyTorch's export).
std::shared_ptr<const Runner> PlanPow(const KernelContext& ctx) {
  const Tensor *x = In(ctx, 0), *e = In(ctx, 1);
  if (ctx.num_outputs() != 1 || !IsF32(x) || !IsF32(e) || e->numel() != 1 ||
      e->data<float>()[0] != 2.f || x->numel() == 0)
    return nullptr;
  auto k = F32Eltwise::Create({UnaryOp::kSquare, x->numel()});
  if (!k.ok() || !IsFast(k->implementation())) return nullptr;
  return MakeRunner(*k, [k = *k](KernelContext& ctx) -> Status {
    const Tensor& x = *ctx.inputs[0];
    Tensor y = UninitializedF32(x.dims());
    OCTET_RETURN_IF_ERROR(k.Run(x.data<float>(), y.data<float>()));
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  });
}

// Add, Sub, Mul, Div with numpy broadcasting (ranks aligned on the right)
// where oneDNN has a fast kernel for the broadcast; else the reference.
template <BinaryOp kOp>
std::shared_ptr<const Runner> PlanBinary(const KernelContext& ctx) {
  const Tensor *a = In(ctx, 0), *b = In(ctx, 1);
  if (ctx.num_outputs() != 1 || !IsF32(a) || !IsF32(b) || a->numel() == 0 || b->numel() == 0)
    return nullptr;
  const int rank = std::max(a->rank(), b->rank());
  if (rank < 1 || rank > DNNL_MAX_NDIMS) return nullptr;
  auto aligned = [rank](const Tensor& t) {
    std::vector<int64_t> d(rank - t.rank(), 1);
    d.insert(d.end(), t.dims().begin(), t.dims().end());
    return d;
  };
  auto k = F32Binary::Create({kOp, aligned(*a), aligned(*b)});  // checks broadcasting
  if (!k.ok() || !IsFast(k->implementation())) return nullptr;
  return MakeRunner(*k, [k = *k](KernelContext& ctx) -> Status {
    Tensor y = UninitializedF32(k.dst_dims());
    OCTET_RETURN_IF_ERROR(
        k.Run(ctx.inputs[0]->data<float>(), ctx.inputs[1]->data<float>(), y.data<float>()));
    ctx.outputs[0] = std::move(y);
    return Status::Ok();
  });
}

// ---------------------------------------------------------------- the provider

class FloatKernelProvider final : public reference::KernelProvider {
 public:
  FloatKernelProvider() {
    const std::array<std::pair<const char*, Planner>, 13> ops{{
        {"Slice", PlanSlice},
        {"Pad", PlanPad},
        {"Conv", PlanConv},
        {"MatMul", PlanMatMul},
        {"Gemm", PlanGemm},
        {"Softmax", PlanSoftmax},
        {"LayerNormalization", PlanLayerNorm},
        {"Transpose", PlanTranspose},
        {"Pow", PlanPow},
        {"Add", PlanBinary<BinaryOp::kAdd>},
        {"Sub", PlanBinary<BinaryOp::kSub>},
        {"Mul", PlanBinary<BinaryOp::kMul>},
        {"Div", PlanBinary<BinaryOp::kDiv>},
    }};
    for (const auto& [op, plan] : ops)
      fns_.emplace(op, [this, plan = plan](KernelContext& ctx) { return Run(ctx, plan); });
  }
  FloatKernelProvider(const FloatKernelProvider&) = delete;  // fns_ point at this one
  FloatKernelProvider& operator=(const FloatKernelProvider&) = delete;

  const KernelFn* Find(const Node& node) const override {
    if (!node.domain().empty()) return nullptr;
    auto it = fns_.find(node.op_type());
    return it == fns_.end() ? nullptr : &it->second;
  }

 private:
  // (node, then per input: -1 when absent, else dtype, rank, dims).
  using Key = std::pair<const Node*, std::vector<int64_t>>;

  static Key KeyOf(const KernelContext& ctx) {
    std::vector<int64_t> shape;
    for (const Tensor* t : ctx.inputs) {
      if (t == nullptr || !t->defined()) {
        shape.push_back(-1);
        continue;
      }
      shape.push_back(static_cast<int64_t>(t->dtype()));
      shape.push_back(t->rank());
      shape.insert(shape.end(), t->dims().begin(), t->dims().end());
    }
    return {&ctx.node, std::move(shape)};
  }

  Status Run(KernelContext& ctx, Planner plan) const {
    SetKernelThreads(ctx.num_threads);
    Key key = KeyOf(ctx);
    std::shared_ptr<const Runner> runner;
    bool found = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = cache_.find(key);
      if (it != cache_.end()) {
        runner = it->second;
        found = true;
      }
    }
    if (!found) {
      // Planned outside the lock (creating a primitive takes a while); when two
      // threads race, the first one's kernel is kept.
      runner = plan(ctx);
      std::lock_guard<std::mutex> lock(mu_);
      runner = cache_.emplace(std::move(key), std::move(runner)).first->second;
    }
    if (runner == nullptr) return RunReference(ctx);
    return runner->run(ctx);
  }

 public:
  std::vector<std::string> Describe() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> lines;
    for (const auto& [key, runner] : cache_) {
      std::string line = key.first->Describe() + " (";
      for (size_t i = 0; i < key.second.size();) {
        if (i > 0) line += ", ";
        if (key.second[i] < 0) {
          line += "none";
          ++i;
          continue;
        }
        const int64_t rank = key.second[i + 1];
        std::vector<int64_t> dims(key.second.begin() + i + 2, key.second.begin() + i + 2 + rank);
        line += std::string(DTypeName(static_cast<DType>(key.second[i]))) + "[";
        for (size_t d = 0; d < dims.size(); ++d) line += (d ? "," : "") + std::to_string(dims[d]);
        line += "]";
        i += 2 + rank;
      }
      line += "): " + (runner ? runner->description : std::string("reference kernel"));
      lines.push_back(std::move(line));
    }
    return lines;
  }

 private:
  std::map<std::string, KernelFn> fns_;  // by op type; fixed after construction
  mutable std::mutex mu_;
  mutable std::map<Key, std::shared_ptr<const Runner>> cache_;  // null: reference kernel
};

}  // namespace

std::shared_ptr<const reference::KernelProvider> MakeFloatKernelProvider() {
  return std::make_shared<const FloatKernelProvider>();
}

std::vector<std::string> DescribeFloatKernels(const reference::KernelProvider& provider) {
  const auto* p = dynamic_cast<const FloatKernelProvider*>(&provider);
  return p != nullptr ? p->Describe() : std::vector<std::string>{};
}

}  // namespace octet::x86
