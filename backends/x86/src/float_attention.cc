// F32Attention (attention.h): per (batch, head, block of query rows), on one
// thread: S = (scale Q_blk) K^T [oneDNN matmul] -> S += rel_h + rel_w ->
// softmax(S) in place [oneDNN softmax] -> O_blk = S V [oneDNN matmul, strided
// output]. The primitives are created for a single thread (OpenMP's
// nthreads-var set to 1 while they are made), so running them inside the
// parallel loop neither oversubscribes nor needs nested parallelism.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <sstream>
#include <vector>

#include "dnnl_util.h"
#include "octet/x86/attention.h"

namespace octet::x86 {

using dnnl::memory;
using namespace detail;

namespace {

constexpr auto kF32 = memory::data_type::f32;

// Primitives for one block height (the full block, and the last, shorter one).
struct BlockKernels {
  int64_t rows = 0;
  memory::desc q_md, k_md, s_md, v_md, o_md;
  dnnl::matmul::primitive_desc qk_pd, pv_pd;
  dnnl::matmul qk, pv;
  dnnl::softmax_forward::primitive_desc sm_pd;
  dnnl::softmax_forward sm;
};

// OpenMP's thread count for primitives created on this thread, set to 1 for
// the scope: oneDNN plans a primitive's work split for the count at creation.
class SingleThreadCreation {
 public:
  SingleThreadCreation() : saved_(omp_get_max_threads()) { omp_set_num_threads(1); }
  ~SingleThreadCreation() { omp_set_num_threads(saved_); }

 private:
  int saved_;
};

// A 64-byte aligned float buffer per thread, grown as needed and reused.
float* ThreadFloats(int slot, size_t n) {
  struct Buffer {
    float* p = nullptr;
    size_t size = 0;
    ~Buffer() { std::free(p); }
  };
  thread_local Buffer buffers[4];
  Buffer& b = buffers[slot];
  if (n > b.size) {
    std::free(b.p);
    const size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (b.p == nullptr) throw std::bad_alloc();
    b.size = bytes / sizeof(float);
  }
  return b.p;
}

// rel[i, j] = sum_c q[i, c] * r_t[c, j] for one query row: r_t is the
// position table of the row's coordinate, transposed at Create to [d, k] so
// the inner loop runs along j (vectorised without reassociating sums).
__attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default"))) void RowTimesTable(
    const float* q, const float* r_t, int64_t d, int64_t k, float* rel) {
  for (int64_t j = 0; j < k; ++j) rel[j] = 0.f;
  for (int64_t c = 0; c < d; ++c) {
    const float qc = q[c];
    const float* row = r_t + c * k;
#pragma omp simd
    for (int64_t j = 0; j < k; ++j) rel[j] += qc * row[j];
  }
}

// s[kh * k_w + kw] += rh[kh] + rw[kw] over one score row.
__attribute__((target_clones("arch=skylake-avx512", "arch=haswell", "default"))) void
AddPositionTerms(const float* rh, int64_t k_h, const float* rw, int64_t k_w, float* s) {
  for (int64_t kh = 0; kh < k_h; ++kh) {
    float* row = s + kh * k_w;
    const float h = rh[kh];
#pragma omp simd
    for (int64_t kw = 0; kw < k_w; ++kw) row[kw] += h + rw[kw];
  }
}

// [rows, cols] f32 with the given row stride (columns contiguous).
memory::desc Strided2d(int64_t rows, int64_t cols, int64_t row_stride) {
  return memory::desc({rows, cols}, kF32, memory::dims{row_stride, 1});
}

}  // namespace

AttentionStrides DenseAttentionStrides(int64_t heads, int64_t tokens, int64_t channels) {
  return {heads * tokens * channels, tokens * channels, channels};
}

struct F32Attention::Impl {
  F32AttentionConfig c;  // strides resolved, without the tables
  bool rel_pos = false;
  int64_t q_h = 0, q_w = 0, k_h = 0, k_w = 0;
  std::vector<float> rh_t, rw_t;  // [q_h, d, k_h] and [q_w, d, k_w]
  BlockKernels full, tail;        // tail.rows == 0 when q_len is a multiple
  std::string description, implementation;

  Expected<BlockKernels> MakeBlock(int64_t rows) const;
  Status RunBlock(const BlockKernels& bk, const float* q, const float* k, const float* v,
                  float* out, int64_t row0) const;
};

Expected<BlockKernels> F32Attention::Impl::MakeBlock(int64_t rows) const {
  BlockKernels b;
  b.rows = rows;
  const int64_t d = c.head_dim, n = c.kv_len, dv = c.v_dim;
  try {
    SingleThreadCreation one_thread;
    const auto& eng = CpuEngine();
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    b.q_md = Strided2d(rows, d, d);  // the scaled copy of the block
    b.k_md = memory::desc({d, n}, kF32, memory::dims{1, c.k_strides[2]});  // K^T by strides
    b.s_md = Strided2d(rows, n, n);
    b.v_md = Strided2d(n, dv, c.v_strides[2]);
    b.o_md = Strided2d(rows, dv, c.out_strides[2]);
    b.qk_pd = dnnl::matmul::primitive_desc(eng, b.q_md, b.k_md, b.s_md, attr);
    b.pv_pd = dnnl::matmul::primitive_desc(eng, b.s_md, b.v_md, b.o_md, attr);
    b.sm_pd = dnnl::softmax_forward::primitive_desc(eng, dnnl::prop_kind::forward_inference,
                                                    dnnl::algorithm::softmax_accurate, b.s_md,
                                                    b.s_md, 1, attr);
    b.qk = dnnl::matmul(b.qk_pd);
    b.pv = dnnl::matmul(b.pv_pd);
    b.sm = dnnl::softmax_forward(b.sm_pd);
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, description);
  }
  return b;
}

Status F32Attention::Impl::RunBlock(const BlockKernels& bk, const float* q, const float* k,
                                    const float* v, float* out, int64_t row0) const {
  const int64_t rows = bk.rows, d = c.head_dim, n = c.kv_len;
  float* q_scaled = ThreadFloats(0, static_cast<size_t>(rows * d));
  float* s = ThreadFloats(1, static_cast<size_t>(rows * n));
  for (int64_t i = 0; i < rows; ++i) {
    const float* qi = q + i * c.q_strides[2];
    for (int64_t j = 0; j < d; ++j) q_scaled[i * d + j] = c.scale * qi[j];
  }
  try {
    const auto& eng = CpuEngine();
    Execute(bk.qk, bk.qk_pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, memory(bk.q_md, eng, q_scaled)},
             {DNNL_ARG_WEIGHTS, memory(bk.k_md, eng, const_cast<float*>(k))},  // read only
             {DNNL_ARG_DST, memory(bk.s_md, eng, s)}});
    if (rel_pos) {
      float* rh = ThreadFloats(2, static_cast<size_t>(k_h));
      float* rw = ThreadFloats(3, static_cast<size_t>(k_w));
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t qi = row0 + i, qy = qi / q_w, qx = qi % q_w;
        const float* qrow = q + i * c.q_strides[2];
        RowTimesTable(qrow, rh_t.data() + qy * d * k_h, d, k_h, rh);
        RowTimesTable(qrow, rw_t.data() + qx * d * k_w, d, k_w, rw);
        AddPositionTerms(rh, k_h, rw, k_w, s + i * n);
      }
    }
    Execute(bk.sm, bk.sm_pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, memory(bk.s_md, eng, s)}, {DNNL_ARG_DST, memory(bk.s_md, eng, s)}});
    Execute(bk.pv, bk.pv_pd.scratchpad_desc(),
            {{DNNL_ARG_SRC, memory(bk.s_md, eng, s)},
             {DNNL_ARG_WEIGHTS, memory(bk.v_md, eng, const_cast<float*>(v))},  // read only
             {DNNL_ARG_DST, memory(bk.o_md, eng, out)}});
  } catch (const dnnl::error& e) {
    return FromDnnlError(e, description);
  }
  return Status::Ok();
}

namespace {

Status Validate(const F32AttentionConfig& c) {
  if (c.batch <= 0 || c.heads <= 0 || c.q_len <= 0 || c.kv_len <= 0 || c.head_dim <= 0 ||
      c.v_dim <= 0)
    return InvalidArgument("batch, heads, q_len, kv_len, head_dim and v_dim must be positive");
  if (!(c.scale == c.scale)) return InvalidArgument("scale is NaN");
  const std::pair<const AttentionStrides*, int64_t> operands[] = {{&c.q_strides, c.head_dim},
                                                                  {&c.k_strides, c.head_dim},
                                                                  {&c.v_strides, c.v_dim},
                                                                  {&c.out_strides, c.v_dim}};
  for (const auto& [s, channels] : operands)
    if ((*s)[0] < 0 || (*s)[1] < 0 || (*s)[2] < channels)
      return InvalidArgument("a token stride is below the channel count ", channels,
                             " or a stride is negative");
  const bool h = c.rel_pos_h.defined(), w = c.rel_pos_w.defined();
  if (h != w) return InvalidArgument("rel_pos_h and rel_pos_w go together");
  if (!h) return Status::Ok();
  for (const Tensor* t : {&c.rel_pos_h, &c.rel_pos_w})
    if (t->dtype() != DType::kF32 || t->rank() != 3 || t->dim(2) != c.head_dim)
      return InvalidArgument("relative position tables must be f32 [q, k, ", c.head_dim, "], got ",
                             t->ShapeString());
  const int64_t q_h = c.rel_pos_h.dim(0), k_h = c.rel_pos_h.dim(1);
  const int64_t q_w = c.rel_pos_w.dim(0), k_w = c.rel_pos_w.dim(1);
  if (q_h * q_w != c.q_len || k_h * k_w != c.kv_len)
    return InvalidArgument("position grids ", q_h, "x", q_w, " (queries) and ", k_h, "x", k_w,
                           " (keys) do not match q_len ", c.q_len, " and kv_len ", c.kv_len);
  return Status::Ok();
}

// [q, k, d] -> [q, d, k].
std::vector<float> TransposeTable(const Tensor& t) {
  const int64_t nq = t.dim(0), nk = t.dim(1), d = t.dim(2);
  std::vector<float> out(static_cast<size_t>(nq * nk * d));
  const float* src = t.data<float>();
  for (int64_t a = 0; a < nq; ++a)
    for (int64_t b = 0; b < nk; ++b)
      for (int64_t c = 0; c < d; ++c) out[(a * d + c) * nk + b] = src[(a * nk + b) * d + c];
  return out;
}

// Query rows per block: the scores of a block (rows x kv_len) fit in about
// 512 KB, so they stay in a core's L2 between the three steps; at least 16
// rows so the products keep their efficiency.
int64_t BlockRows(int64_t q_len, int64_t kv_len) {
  const int64_t fit = (512 * 1024 / 4) / kv_len;
  const int64_t rows = std::max<int64_t>(16, fit / 16 * 16);
  return std::min(rows, q_len);
}

}  // namespace

Expected<F32Attention> F32Attention::Create(const F32AttentionConfig& config) {
  auto impl = std::make_shared<Impl>();
  F32AttentionConfig& c = impl->c;
  c = config;
  if (c.v_dim == 0) c.v_dim = c.head_dim;
  {
    std::ostringstream os;
    os << "F32Attention " << c.batch << "x" << c.heads << " heads q " << c.q_len << " kv "
       << c.kv_len << " d " << c.head_dim;
    if (c.v_dim != c.head_dim) os << " dv " << c.v_dim;
    if (c.rel_pos_h.defined())
      os << " +rel_pos(" << c.rel_pos_h.ShapeString() << ", " << c.rel_pos_w.ShapeString() << ")";
    impl->description = os.str();
  }
  const auto resolve = [&](AttentionStrides& s, int64_t tokens, int64_t channels) {
    if (s == AttentionStrides{}) s = DenseAttentionStrides(c.heads, tokens, channels);
  };
  resolve(c.q_strides, c.q_len, c.head_dim);
  resolve(c.k_strides, c.kv_len, c.head_dim);
  resolve(c.v_strides, c.kv_len, c.v_dim);
  resolve(c.out_strides, c.q_len, c.v_dim);
  if (Status s = Validate(c); !s.ok()) return s.WithContext(impl->description);
  if (c.rel_pos_h.defined()) {
    impl->rel_pos = true;
    impl->q_h = c.rel_pos_h.dim(0);
    impl->k_h = c.rel_pos_h.dim(1);
    impl->q_w = c.rel_pos_w.dim(0);
    impl->k_w = c.rel_pos_w.dim(1);
    impl->rh_t = TransposeTable(c.rel_pos_h);
    impl->rw_t = TransposeTable(c.rel_pos_w);
    c.rel_pos_h = Tensor();
    c.rel_pos_w = Tensor();
  }
  const int64_t rows = BlockRows(c.q_len, c.kv_len);
  OCTET_ASSIGN_OR_RETURN(impl->full, impl->MakeBlock(rows));
  if (c.q_len % rows != 0) {
    OCTET_ASSIGN_OR_RETURN(impl->tail, impl->MakeBlock(c.q_len % rows));
  }
  impl->implementation = std::string("matmul ") + impl->full.qk_pd.impl_info_str() + ", softmax " +
                         impl->full.sm_pd.impl_info_str();
  F32Attention out;
  out.impl_ = std::move(impl);
  return out;
}

Status F32Attention::Run(const float* q, const float* k, const float* v, float* out,
                         int num_threads) const {
  const Impl& p = *impl_;
  const F32AttentionConfig& c = p.c;
  if (!q || !k || !v || !out) return InvalidArgument(p.description, ": null operand");
  const int64_t rows = p.full.rows;
  const int64_t blocks = (c.q_len + rows - 1) / rows;
  const int64_t tasks = c.batch * c.heads * blocks;
  const int threads = num_threads > 0 ? num_threads : omp_get_max_threads();
  std::atomic<bool> failed{false};
  std::mutex mu;
  Status first_error;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t t = 0; t < tasks; ++t) {
    if (failed.load(std::memory_order_relaxed)) continue;
    const int64_t bh = t / blocks, blk = t % blocks;
    const int64_t b = bh / c.heads, h = bh % c.heads, row0 = blk * rows;
    const BlockKernels& bk = row0 + rows <= c.q_len ? p.full : p.tail;
    Status s;
    try {
      s = p.RunBlock(
          bk, q + b * c.q_strides[0] + h * c.q_strides[1] + row0 * c.q_strides[2],
          k + b * c.k_strides[0] + h * c.k_strides[1], v + b * c.v_strides[0] + h * c.v_strides[1],
          out + b * c.out_strides[0] + h * c.out_strides[1] + row0 * c.out_strides[2], row0);
    } catch (const std::bad_alloc&) {
      s = Internal(p.description, ": out of memory for a block's buffers");
    }
    if (!s.ok() && !failed.exchange(true)) {
      std::lock_guard<std::mutex> lock(mu);
      first_error = s;
    }
  }
  return failed ? first_error : Status::Ok();
}

int64_t F32Attention::block_rows() const { return impl_->full.rows; }
const std::string& F32Attention::implementation() const { return impl_->implementation; }
const std::string& F32Attention::description() const { return impl_->description; }

}  // namespace octet::x86
