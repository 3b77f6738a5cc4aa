// Bf16Attention (octet/cuda/attention.h): validation, upload of the position
// tables, and the launch.
#include "octet/cuda/attention.h"

#include <cmath>
#include <cstring>
#include <sstream>
#include <vector>

#include "attention_kernel.h"
#include "octet/cuda/device.h"
#include "octet/cuda/device_buffer.h"

namespace octet::cuda {

namespace attention {

static_assert(kBlockQueries == Bf16Attention::kBlockQueries &&
              kBlockKeys == Bf16Attention::kBlockKeys);

Status Prepare(int head_dim, bool rel_pos, size_t shared_bytes) {
  switch (head_dim) {
    case 16:
      return PrepareFor<16>(rel_pos, shared_bytes);
    case 32:
      return PrepareFor<32>(rel_pos, shared_bytes);
    case 48:
      return PrepareFor<48>(rel_pos, shared_bytes);
    case 64:
      return PrepareFor<64>(rel_pos, shared_bytes);
    case 80:
      return PrepareFor<80>(rel_pos, shared_bytes);
    case 96:
      return PrepareFor<96>(rel_pos, shared_bytes);
    case 112:
      return PrepareFor<112>(rel_pos, shared_bytes);
    case 128:
      return PrepareFor<128>(rel_pos, shared_bytes);
    default:
      return Internal("attention::Prepare: no kernel for head dim ", head_dim);
  }
}

Status Launch(int head_dim, const Params& params, int64_t batch_heads, size_t shared_bytes,
              cudaStream_t stream) {
  switch (head_dim) {
    case 16:
      return LaunchFor<16>(params, batch_heads, shared_bytes, stream);
    case 32:
      return LaunchFor<32>(params, batch_heads, shared_bytes, stream);
    case 48:
      return LaunchFor<48>(params, batch_heads, shared_bytes, stream);
    case 64:
      return LaunchFor<64>(params, batch_heads, shared_bytes, stream);
    case 80:
      return LaunchFor<80>(params, batch_heads, shared_bytes, stream);
    case 96:
      return LaunchFor<96>(params, batch_heads, shared_bytes, stream);
    case 112:
      return LaunchFor<112>(params, batch_heads, shared_bytes, stream);
    case 128:
      return LaunchFor<128>(params, batch_heads, shared_bytes, stream);
    default:
      return Internal("attention::Launch: no kernel for head dim ", head_dim);
  }
}

}  // namespace attention

AttentionStrides DenseAttentionStrides(int64_t heads, int64_t tokens, int64_t channels) {
  return {heads * tokens * channels, tokens * channels, channels};
}

struct Bf16Attention::Impl {
  Bf16AttentionConfig c;  // strides resolved, without the tables
  bool rel_pos = false;
  int64_t q_h = 0, q_w = 0, k_h = 0, k_w = 0;
  DeviceBuffer rel_h_table, rel_w_table;  // f32 [q coord, head_dim, k padded to 4]
  // Or (shift-form tables, non-patch blocks) attention::Params::rel_h_frags.
  DeviceBuffer rel_h_frags, rel_w_frags;
  int rel_h_n_tiles = 0, rel_w_n_tiles = 0;

  Status UploadPositionTables();  // from c.rel_pos_h / w, which it then drops
  size_t shared_bytes = 0;
  int m_tiles = 1;     // attention::Params::m_tiles
  bool patch = false;  // attention::Params::patch
  std::string description;
};

namespace {

// The largest dynamic shared memory a block may have on sm_90 (227 KiB);
// checked again against the device at Create.
constexpr size_t kSm90SharedLimit = 227 * 1024;
// Keys are split into (kh, kw) with an f32 reciprocal, exact below this.
constexpr int64_t kMaxRelPosKeys = int64_t{1} << 22;

std::string Describe(const Bf16AttentionConfig& c) {
  std::ostringstream os;
  os << "Bf16Attention " << c.batch << "x" << c.heads << " heads q " << c.q_len << " kv "
     << c.kv_len << " d " << c.head_dim;
  if (c.v_dim != 0 && c.v_dim != c.head_dim) os << " dv " << c.v_dim;
  if (c.rel_pos_h.defined() && c.rel_pos_w.defined() && c.rel_pos_h.rank() == 3 &&
      c.rel_pos_w.rank() == 3)
    os << " +rel_pos(" << c.rel_pos_h.dim(0) << "x" << c.rel_pos_w.dim(0) << ", "
       << c.rel_pos_h.dim(1) << "x" << c.rel_pos_w.dim(1) << ")";
  return os.str();
}

Status Validate(const Bf16AttentionConfig& c) {
  if (c.batch <= 0 || c.heads <= 0 || c.q_len <= 0 || c.kv_len <= 0 || c.head_dim <= 0)
    return InvalidArgument("batch, heads, q_len, kv_len and head_dim must be positive");
  if (!attention::HeadDimSupported(c.head_dim))
    return InvalidArgument("head_dim ", c.head_dim,
                           " has no kernel: supported are multiples of 16 from 16 to 128 (SAM "
                           "uses 64 and 80); pad Q, K and V with zero channels to the next one");
  if (c.v_dim != 0 && c.v_dim != c.head_dim)
    return InvalidArgument("v_dim ", c.v_dim, " must equal head_dim ", c.head_dim,
                           " (or be 0): the kernel has one head dim for Q, K, V and O");
  if (!std::isfinite(c.scale)) return InvalidArgument("scale ", c.scale, " is not finite");
  if (c.q_len >= (int64_t{1} << 31) || c.kv_len >= (int64_t{1} << 31))
    return InvalidArgument("q_len and kv_len must be below 2^31");
  const int64_t q_blocks =
      (c.q_len + Bf16Attention::kBlockQueries - 1) / Bf16Attention::kBlockQueries;
  if (c.heads >= (int64_t{1} << 31) || c.batch * c.heads >= (int64_t{1} << 31) / q_blocks)
    return InvalidArgument("batch * heads * ceil(q_len / ", Bf16Attention::kBlockQueries,
                           ") thread blocks must be below 2^31");
  const std::pair<const char*, const AttentionStrides*> operands[] = {
      {"q", &c.q_strides}, {"k", &c.k_strides}, {"v", &c.v_strides}, {"out", &c.out_strides}};
  for (const auto& [name, s] : operands) {
    if ((*s)[0] < 0 || (*s)[1] < 0 || (*s)[2] < c.head_dim)
      return InvalidArgument(name, " strides {", (*s)[0], ", ", (*s)[1], ", ", (*s)[2],
                             "}: a stride is negative or the token stride is below the ",
                             c.head_dim, " channels");
    if ((*s)[0] % 8 != 0 || (*s)[1] % 8 != 0 || (*s)[2] % 8 != 0)
      return InvalidArgument(name, " strides {", (*s)[0], ", ", (*s)[1], ", ", (*s)[2],
                             "} must be multiples of 8 elements: rows are copied in 16-byte "
                             "pieces (cp.async)");
  }
  const bool h = c.rel_pos_h.defined(), w = c.rel_pos_w.defined();
  if (h != w) return InvalidArgument("rel_pos_h and rel_pos_w go together");
  if (!h) return Status::Ok();
  for (const Tensor* t : {&c.rel_pos_h, &c.rel_pos_w})
    if ((t->dtype() != DType::kF32 && t->dtype() != DType::kBF16) || t->rank() != 3 ||
        t->dim(2) != c.head_dim)
      return InvalidArgument("relative position tables must be f32 or bf16 [q, k, ", c.head_dim,
                             "], got ", t->ShapeString());
  const int64_t q_h = c.rel_pos_h.dim(0), k_h = c.rel_pos_h.dim(1);
  const int64_t q_w = c.rel_pos_w.dim(0), k_w = c.rel_pos_w.dim(1);
  if (q_h * q_w != c.q_len || k_h * k_w != c.kv_len)
    return InvalidArgument("position grids ", q_h, "x", q_w, " (queries) and ", k_h, "x", k_w,
                           " (keys) do not match q_len ", c.q_len, " and kv_len ", c.kv_len);
  if (c.kv_len >= kMaxRelPosKeys)
    return InvalidArgument("kv_len ", c.kv_len, " with position terms must be below 2^22");
  const size_t bytes = attention::SharedBytes(static_cast<int>(c.head_dim), static_cast<int>(k_h),
                                              static_cast<int>(k_w));
  if (bytes > kSm90SharedLimit)
    return InvalidArgument(
        "the key grid ", k_h, "x", k_w, " needs ", bytes / 1024,
        " KiB of shared memory per block (K and V, and the f32 rel_h and "
        "rel_w of 128 query rows in place of Q); the limit is 227 KiB, which allows "
        "k_h + k_w up to about ",
        (kSm90SharedLimit - attention::KvBytes(static_cast<int>(c.head_dim))) /
            (4 * attention::kRelPitch),
        " at head_dim ", c.head_dim);
  return Status::Ok();
}

// [q, k, d] (f32 or bf16) -> f32 [q, d, k_pad], zero-padded.
std::vector<float> TransposeTable(const Tensor& t, int64_t k_pad) {
  const int64_t nq = t.dim(0), nk = t.dim(1), d = t.dim(2);
  std::vector<float> out(static_cast<size_t>(nq * d * k_pad), 0.f);
  for (int64_t a = 0; a < nq; ++a)
    for (int64_t b = 0; b < nk; ++b)
      for (int64_t c = 0; c < d; ++c) {
        const int64_t i = (a * nk + b) * d + c;
        out[(a * d + c) * k_pad + b] =
            t.dtype() == DType::kF32 ? t.data<float>()[i] : BFloat16ToFloat(t.data<uint16_t>()[i]);
      }
  return out;
}

int64_t RoundUp4(int64_t x) { return (x + 3) / 4 * 4; }

float TableValue(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kF32 ? t.data<float>()[i] : BFloat16ToFloat(t.data<uint16_t>()[i]);
}

// The rows U [q + k - 1, d] of a table [q, k, d] whose entry (a, b) is
// U[a - b + k - 1] (bit for bit), as SAM's get_rel_pos makes it when the
// query and key grids are equal; empty when the table is not of that form.
std::vector<float> ShiftFormRows(const Tensor& t) {
  const int64_t nq = t.dim(0), nk = t.dim(1), d = t.dim(2);
  const int64_t rows = nq + nk - 1;
  std::vector<float> u(static_cast<size_t>(rows * d));
  std::vector<bool> seen(static_cast<size_t>(rows), false);
  for (int64_t a = 0; a < nq; ++a)
    for (int64_t b = 0; b < nk; ++b) {
      const int64_t l = a - b + nk - 1;
      for (int64_t c = 0; c < d; ++c) {
        const float v = TableValue(t, (a * nk + b) * d + c);
        float& slot = u[static_cast<size_t>(l * d + c)];
        if (!seen[static_cast<size_t>(l)])
          slot = v;
        else if (std::memcmp(&slot, &v, sizeof v) != 0)
          return {};
      }
      seen[static_cast<size_t>(l)] = true;
    }
  return u;
}

// U [rows, d] as the kernel's mma B fragments (attention::Params::rel_h_frags):
// per (n-tile, k-step, lane) the words {hi b0, hi b1, lo b0, lo b1}, where b0
// packs B[k0][n], B[k0 + 1][n] and b1 B[k0 + 8][n], B[k0 + 9][n] (B = U^T,
// n = 8 nt + lane / 4, k0 = 16 ks + 2 (lane % 4)), low half first; hi is
// bf16(U) and lo bf16(U - hi); rows past `rows` are zeros.
std::vector<uint32_t> MmaFragments(const std::vector<float>& u, int64_t rows, int64_t d,
                                   int* n_tiles) {
  *n_tiles = static_cast<int>((rows + 7) / 8);
  const int64_t k_steps = d / 16;
  std::vector<uint32_t> out(static_cast<size_t>(*n_tiles * k_steps * 32 * 4));
  const auto split = [&](int64_t n, int64_t c, uint16_t* hi, uint16_t* lo) {
    const float v = n < rows ? u[static_cast<size_t>(n * d + c)] : 0.f;
    *hi = FloatToBFloat16(v);
    *lo = FloatToBFloat16(v - BFloat16ToFloat(*hi));
  };
  for (int64_t nt = 0; nt < *n_tiles; ++nt)
    for (int64_t ks = 0; ks < k_steps; ++ks)
      for (int64_t lane = 0; lane < 32; ++lane) {
        const int64_t n = nt * 8 + lane / 4, k0 = ks * 16 + 2 * (lane % 4);
        uint32_t* w = &out[static_cast<size_t>(((nt * k_steps + ks) * 32 + lane) * 4)];
        for (int word = 0; word < 2; ++word) {  // b0: k0, k0 + 1; b1: k0 + 8, k0 + 9
          uint16_t hi0, lo0, hi1, lo1;
          split(n, k0 + 8 * word, &hi0, &lo0);
          split(n, k0 + 8 * word + 1, &hi1, &lo1);
          w[word] = uint32_t{hi0} | uint32_t{hi1} << 16;
          w[2 + word] = uint32_t{lo0} | uint32_t{lo1} << 16;
        }
      }
  return out;
}

}  // namespace

// Patch blocks read the f32 tables; other blocks take shift-form tables as
// mma fragments (the prologue on the tensor cores: measured in
// docs/cuda-backend.md, "bf16 attention") and any other form as f32 tables.
Status Bf16Attention::Impl::UploadPositionTables() {
  const std::vector<float> uh = patch ? std::vector<float>{} : ShiftFormRows(c.rel_pos_h);
  const std::vector<float> uw = uh.empty() ? std::vector<float>{} : ShiftFormRows(c.rel_pos_w);
  if (!uw.empty()) {
    const std::vector<uint32_t> h = MmaFragments(uh, q_h + k_h - 1, c.head_dim, &rel_h_n_tiles);
    const std::vector<uint32_t> w = MmaFragments(uw, q_w + k_w - 1, c.head_dim, &rel_w_n_tiles);
    OCTET_ASSIGN_OR_RETURN(rel_h_frags, DeviceBuffer::FromHost(h.data(), h.size() * 4));
    OCTET_ASSIGN_OR_RETURN(rel_w_frags, DeviceBuffer::FromHost(w.data(), w.size() * 4));
  } else {
    const std::vector<float> h = TransposeTable(c.rel_pos_h, RoundUp4(k_h));
    const std::vector<float> w = TransposeTable(c.rel_pos_w, RoundUp4(k_w));
    OCTET_ASSIGN_OR_RETURN(rel_h_table, DeviceBuffer::FromHost(h.data(), h.size() * 4));
    OCTET_ASSIGN_OR_RETURN(rel_w_table, DeviceBuffer::FromHost(w.data(), w.size() * 4));
  }
  c.rel_pos_h = Tensor();
  c.rel_pos_w = Tensor();
  return Status::Ok();
}

Expected<Bf16Attention> Bf16Attention::Create(const Bf16AttentionConfig& config) {
  auto impl = std::make_shared<Impl>();
  Bf16AttentionConfig& c = impl->c;
  c = config;
  impl->description = Describe(c);
  const auto resolve = [&](AttentionStrides& s, int64_t tokens) {
    if (s == AttentionStrides{}) s = DenseAttentionStrides(c.heads, tokens, c.head_dim);
  };
  resolve(c.q_strides, c.q_len);
  resolve(c.k_strides, c.kv_len);
  resolve(c.v_strides, c.kv_len);
  resolve(c.out_strides, c.q_len);
  if (Status s = Validate(c); !s.ok()) return s.WithContext(impl->description);
  c.v_dim = c.head_dim;

  std::string no_device;
  if (!DeviceAvailable(&no_device))
    return NotFound(impl->description, ": no CUDA device: ", no_device);
  OCTET_ASSIGN_OR_RETURN(DeviceProperties device, GetDeviceProperties());
  if (device.compute_capability() < 80)
    return Unimplemented(impl->description,
                         ": the kernel uses bf16 mma.sync (compute capability 8.0 or newer) and "
                         "this GPU is ",
                         device.ToString());
  if (c.rel_pos_h.defined()) {
    impl->rel_pos = true;
    impl->q_h = c.rel_pos_h.dim(0);
    impl->k_h = c.rel_pos_h.dim(1);
    impl->q_w = c.rel_pos_w.dim(0);
    impl->k_w = c.rel_pos_w.dim(1);
  }
  const int d = static_cast<int>(c.head_dim);
  impl->shared_bytes = attention::SharedBytes(d, static_cast<int>(impl->k_h),
                                              static_cast<int>(impl->rel_pos ? impl->k_w : 0));
  if (impl->shared_bytes > device.max_shared_memory_per_block_optin)
    return InvalidArgument(impl->description, ": needs ", impl->shared_bytes,
                           " bytes of shared memory per block and ", device.ToString(), " allows ",
                           device.max_shared_memory_per_block_optin);
  // 32 rows per warp where it measured faster (docs/cuda-backend.md): with
  // position terms on patch blocks (the query grid in 8 x 16 patches), plain
  // attention past 256 queries with at least 512 blocks; 8 warps of 16 rows
  // otherwise (SAM's 14x14 windows, few blocks).
  const int64_t blocks = c.batch * c.heads * ((c.q_len + kBlockQueries - 1) / kBlockQueries);
  if (attention::HasTwoRowTiles(d)) {
    if (impl->rel_pos) impl->patch = impl->q_h % 8 == 0 && impl->q_w % 16 == 0;
    impl->m_tiles = impl->patch || (!impl->rel_pos && c.q_len > 256 && blocks >= 512) ? 2 : 1;
  }
  if (impl->rel_pos) OCTET_RETURN_IF_ERROR(impl->UploadPositionTables());
  // The limit is the device's, not this configuration's: several attentions
  // with different grids share the kernel.
  OCTET_RETURN_IF_ERROR(
      attention::Prepare(d, impl->rel_pos, device.max_shared_memory_per_block_optin));
  Bf16Attention out;
  out.impl_ = std::move(impl);
  return out;
}

Status Bf16Attention::Run(const void* q, const void* k, const void* v, void* out,
                          cudaStream_t stream) const {
  const Impl& p = *impl_;
  const Bf16AttentionConfig& c = p.c;
  if (!q || !k || !v || !out) return InvalidArgument(p.description, ": null operand");
  for (const void* ptr : {q, k, v, static_cast<const void*>(out)})
    if (reinterpret_cast<uintptr_t>(ptr) % 16 != 0)
      return InvalidArgument(p.description, ": operand ", ptr,
                             " is not 16-byte aligned (rows are copied in 16-byte pieces)");
  attention::Params params;
  params.q = q;
  params.k = k;
  params.v = v;
  params.out = out;
  for (int i = 0; i < 3; ++i) {
    params.q_strides[i] = c.q_strides[i];
    params.k_strides[i] = c.k_strides[i];
    params.v_strides[i] = c.v_strides[i];
    params.out_strides[i] = c.out_strides[i];
  }
  params.heads = static_cast<int>(c.heads);
  params.q_len = static_cast<int>(c.q_len);
  params.kv_len = static_cast<int>(c.kv_len);
  params.q_blocks = static_cast<int>((c.q_len + kBlockQueries - 1) / kBlockQueries);
  params.scale_log2e = static_cast<float>(c.scale * 1.4426950408889634);
  if (p.rel_pos) {
    params.rel_h_table = p.rel_h_table.as<float>();
    params.rel_w_table = p.rel_w_table.as<float>();
    params.rel_h_frags = p.rel_h_frags.as<uint4>();
    params.rel_w_frags = p.rel_w_frags.as<uint4>();
    params.rel_h_n_tiles = p.rel_h_n_tiles;
    params.rel_w_n_tiles = p.rel_w_n_tiles;
    params.q_w = static_cast<int>(p.q_w);
    params.k_h = static_cast<int>(p.k_h);
    params.k_w = static_cast<int>(p.k_w);
    params.k_h_pad = static_cast<int>(RoundUp4(p.k_h));
    params.k_w_pad = static_cast<int>(RoundUp4(p.k_w));
    params.inv_k_w = 1.f / static_cast<float>(p.k_w);
    params.rel_w_pitch = attention::RelWPitch(params.k_w);
    params.rel_replaces_q =
        attention::RelReplacesQ(static_cast<int>(c.head_dim), params.k_h, params.k_w);
  }
  params.m_tiles = p.m_tiles;
  params.patch = p.patch;
  params.key_row_tiles = p.patch && p.k_w % kBlockKeys == 0;
  return attention::Launch(static_cast<int>(c.head_dim), params, c.batch * c.heads, p.shared_bytes,
                           stream);
}

double Bf16Attention::flops() const {
  const Bf16AttentionConfig& c = impl_->c;
  return 4.0 * static_cast<double>(c.batch * c.heads) * static_cast<double>(c.q_len) *
         static_cast<double>(c.kv_len) * static_cast<double>(c.head_dim);
}

const std::string& Bf16Attention::description() const { return impl_->description; }

}  // namespace octet::cuda
