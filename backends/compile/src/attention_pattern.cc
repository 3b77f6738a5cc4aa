#include "attention_pattern.h"

#include <algorithm>
#include <string>

#include "x86_patterns.h"  // IsOnnxOp, SoleUser

namespace octet::compile_internal {
namespace {

// The producer of `v` when it is an `op_type` node and `v` has one reader.
const Node* SoleUseProducer(const Value* v, const char* op_type) {
  if (v == nullptr || v->is_graph_output() || v->uses().size() != 1) return nullptr;
  const Node* p = v->producer();
  return IsOnnxOp(p, op_type) ? p : nullptr;
}

std::optional<std::vector<int64_t>> StaticF32Dims(const Value* v) {
  const TensorType& t = v->type();
  if (t.dtype != DType::kF32 || !t.has_shape) return std::nullopt;
  std::vector<int64_t> dims;
  for (const auto& d : t.shape.dims()) {
    if (d.is_symbolic() || d.value() < 0) return std::nullopt;
    dims.push_back(d.value());
  }
  return dims;
}

std::optional<float> ScalarConstant(const Value* v) {
  if (v == nullptr || !v->is_constant()) return std::nullopt;
  const Tensor& t = v->constant();
  if (t.dtype() != DType::kF32 || t.numel() != 1) return std::nullopt;
  return t.data<float>()[0];
}

// Mul(x, c) or Mul(c, x) -> c; Div(x, c) -> 1 / c. Sets *x.
std::optional<float> ScaleOf(const Node* n, const Value** x) {
  if (IsOnnxOp(n, "Mul")) {
    for (int i = 0; i < 2; ++i)
      if (auto c = ScalarConstant(n->input(i))) {
        *x = n->input(1 - i);
        return c;
      }
  }
  if (IsOnnxOp(n, "Div")) {
    if (auto c = ScalarConstant(n->input(1)); c && *c != 0.f) {
      *x = n->input(0);
      return 1.f / *c;
    }
  }
  return std::nullopt;
}

int64_t Product(const std::vector<int64_t>& d, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) p *= d[i];
  return p;
}

// One relative-position term: Unsqueeze(Einsum(Reshape(q), table)).
struct RelTerm {
  const Node* unsqueeze = nullptr;
  const Node* einsum = nullptr;
  bool along_h = false;  // "bhwc,hkc->bhwk"; else "bhwc,wkc->bhwk"
  Tensor table;
};

std::optional<RelTerm> MatchRelTerm(const Value* v) {
  RelTerm t;
  t.unsqueeze = SoleUseProducer(v, "Unsqueeze");
  if (t.unsqueeze == nullptr) return std::nullopt;
  t.einsum = SoleUseProducer(t.unsqueeze->input(0), "Einsum");
  if (t.einsum == nullptr || t.einsum->num_inputs() != 2) return std::nullopt;
  auto eq = t.einsum->GetString("equation", std::nullopt);
  if (!eq.ok()) return std::nullopt;
  std::string e = *eq;
  e.erase(std::remove(e.begin(), e.end(), ' '), e.end());
  if (e == "bhwc,hkc->bhwk") {
    t.along_h = true;
  } else if (e != "bhwc,wkc->bhwk") {
    return std::nullopt;
  }
  const Value* table = t.einsum->input(1);
  if (!table->is_constant() || table->constant().dtype() != DType::kF32 ||
      table->constant().rank() != 3)
    return std::nullopt;
  t.table = table->constant();
  return t;
}

// Whether the Transpose swaps the last two axes only.
bool SwapsLastTwo(const Node* transpose, int rank) {
  auto perm = transpose->GetInts("perm", std::nullopt);
  if (!perm.ok() || static_cast<int>(perm->size()) != rank || rank < 2) return false;
  for (int i = 0; i < rank - 2; ++i)
    if ((*perm)[i] != i) return false;
  return (*perm)[rank - 2] == rank - 1 && (*perm)[rank - 1] == rank - 2;
}

bool IsAbsorbed(const AttentionPattern& m, const Node* n) {
  return std::find(m.absorbed.begin(), m.absorbed.end(), n) != m.absorbed.end();
}

// Every reader of `v` is in the pattern.
bool OnlyReadByPattern(const AttentionPattern& m, const Value* v) {
  if (v->is_graph_output()) return false;
  for (const Use& u : v->uses())
    if (!IsAbsorbed(m, u.node)) return false;
  return true;
}

std::optional<std::vector<int64_t>> ConstantInts(const Value* v) {
  if (v == nullptr || !v->is_constant() || v->constant().dtype() != DType::kI64)
    return std::nullopt;
  const Tensor& t = v->constant();
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel());
}

// The packed form (attention_pattern.h); adds its nodes on success.
void MatchPackedQkv(AttentionPattern& m) {
  const Node* split = nullptr;
  std::vector<const Node*> nodes;
  const Value* operands[3] = {m.q, m.k, m.v};
  for (int i = 0; i < 3; ++i) {
    const Node* sq = operands[i]->producer();
    if (!IsOnnxOp(sq, "Squeeze") || !OnlyReadByPattern(m, operands[i]) ||
        ConstantInts(sq->input(1)) != std::optional(std::vector<int64_t>{0}))
      return;
    const Node* sp = SoleUseProducer(sq->input(0), "Split");
    if (sp == nullptr || (split != nullptr && sp != split) || sq->input(0) != sp->output(i)) return;
    split = sp;
    nodes.push_back(sq);
  }
  auto axis = split->GetInt("axis", 0);
  if (split->num_outputs() != 3 || !axis.ok() || *axis != 0) return;
  nodes.push_back(split);
  const Node* heads_flat = SoleUseProducer(split->input(0), "Reshape");
  const Node* perm = heads_flat ? SoleUseProducer(heads_flat->input(0), "Transpose") : nullptr;
  const Node* grid = perm ? SoleUseProducer(perm->input(0), "Reshape") : nullptr;
  if (grid == nullptr) return;
  auto p = perm->GetInts("perm", std::nullopt);
  const auto g = StaticF32Dims(grid->output(0)), x = StaticF32Dims(grid->input(0));
  const auto q = StaticF32Dims(m.q);
  if (!p.ok() || *p != std::vector<int64_t>{2, 0, 3, 1, 4} || !g || g->size() != 5 || !x ||
      x->size() < 2 || !q)
    return;
  // grid [B, N, 3, H, d] over qkv [B, ..., 3*H*d]; q [B*H, N, d] (rank 3).
  const int64_t b = (*g)[0], n = (*g)[1], h = (*g)[3], d = (*g)[4];
  if ((*g)[2] != 3 || (*x)[0] != b || x->back() != 3 * h * d ||
      Product(*x, 1, x->size() - 1) != n || *q != std::vector<int64_t>{b * h, n, d})
    return;
  nodes.insert(nodes.end(), {heads_flat, perm, grid});
  m.absorbed.insert(m.absorbed.end(), nodes.begin(), nodes.end());
  m.qkv = grid->input(0);
  m.heads = h;
}

// The interleaved output (attention_pattern.h), after MatchPackedQkv.
void MatchInterleavedOutput(AttentionPattern& m) {
  const Node* split_heads = SoleUser(m.pv->output(0));
  if (!IsOnnxOp(split_heads, "Reshape")) return;
  const Node* perm = SoleUser(split_heads->output(0));
  const Node* merged = IsOnnxOp(perm, "Transpose") ? SoleUser(perm->output(0)) : nullptr;
  if (!IsOnnxOp(merged, "Reshape")) return;
  const auto s = StaticF32Dims(split_heads->output(0)), o = StaticF32Dims(merged->output(0));
  const auto x = StaticF32Dims(m.qkv), v = StaticF32Dims(m.v);
  auto p = perm->GetInts("perm", std::nullopt);
  if (!s || !o || !x || !v || !p.ok() || s->size() < 4) return;
  // [B, H, t..., dv] -> perm [0, 2, ..., r-2, 1, r-1] -> qkv's dims with H*dv last.
  const int64_t r = static_cast<int64_t>(s->size()), dv = v->back();
  std::vector<int64_t> want_perm{0};
  for (int64_t i = 2; i < r - 1; ++i) want_perm.push_back(i);
  want_perm.insert(want_perm.end(), {1, r - 1});
  std::vector<int64_t> want_out = *x;
  want_out.back() = m.heads * dv;
  if ((*s)[0] != (*x)[0] || (*s)[1] != m.heads || s->back() != dv || *p != want_perm ||
      *o != want_out)
    return;
  m.absorbed.insert(m.absorbed.end(), {split_heads, perm, merged});
  m.out_last = merged;
}

}  // namespace

std::optional<AttentionPattern> MatchAttention(const Node* softmax) {
  if (!IsOnnxOp(softmax, "Softmax")) return std::nullopt;
  AttentionPattern m;
  m.softmax = softmax;
  const auto p_dims = StaticF32Dims(softmax->output(0));
  if (!p_dims || p_dims->size() < 2) return std::nullopt;
  const int rank = static_cast<int>(p_dims->size());
  auto axis = softmax->GetInt("axis", -1);
  if (!axis.ok() || (*axis != -1 && *axis != rank - 1)) return std::nullopt;
  m.pv = SoleUser(softmax->output(0));
  if (!IsOnnxOp(m.pv, "MatMul") || m.pv->input(0) != softmax->output(0)) return std::nullopt;
  m.v = m.pv->input(1);
  m.absorbed = {softmax, m.pv};

  // Softmax input back to the scores: [scale], [relative-position terms].
  const Value* s = softmax->input(0);
  bool scaled_scores = false;  // then the scale would apply to position terms too
  if (const Node* n = s->uses().size() == 1 && !s->is_graph_output() ? s->producer() : nullptr) {
    const Value* x = nullptr;
    if (auto c = ScaleOf(n, &x)) {
      m.scale *= *c;
      m.absorbed.push_back(n);
      s = x;
      scaled_scores = true;
    }
  }
  std::optional<RelTerm> rel_h, rel_w;
  const Node* reshape_q = nullptr;  // the Reshape(q) both terms read
  const Node* grid = nullptr;       // Reshape(S) to [B, q_h, q_w, k_h, k_w]
  if (const Node* flat = SoleUseProducer(s, "Reshape")) {
    const Value* sum = flat->input(0);
    std::vector<const Node*> nodes{flat};
    while (const Node* add = SoleUseProducer(sum, "Add")) {
      bool found = false;
      for (int i = 0; i < 2 && !found; ++i) {
        auto term = MatchRelTerm(add->input(i));
        if (!term) continue;
        auto& slot = term->along_h ? rel_h : rel_w;
        const Node* rq = term->einsum->input(0)->producer();
        if (slot || !IsOnnxOp(rq, "Reshape") || (reshape_q != nullptr && rq != reshape_q)) break;
        reshape_q = rq;
        nodes.insert(nodes.end(), {add, term->unsqueeze, term->einsum});
        slot = std::move(term);
        sum = add->input(1 - i);
        found = true;
      }
      if (!found) break;
    }
    grid = SoleUseProducer(sum, "Reshape");
    if (rel_h && rel_w && grid != nullptr) {
      nodes.push_back(grid);
      m.absorbed.insert(m.absorbed.end(), nodes.begin(), nodes.end());
      s = grid->input(0);
    } else {
      rel_h.reset();
      rel_w.reset();
      reshape_q = nullptr;
      grid = nullptr;
    }
  }
  if (scaled_scores && reshape_q != nullptr) return std::nullopt;

  // S = MatMul(q [* scale], Transpose(k)).
  const Node* qk = SoleUseProducer(s, "MatMul");
  if (qk == nullptr) return std::nullopt;
  m.absorbed.push_back(qk);
  const Value* a = qk->input(0);
  m.q = a;
  if (const Node* n = SoleUseProducer(a, "Mul")) {
    const Value* x = nullptr;
    if (auto c = ScaleOf(n, &x)) {
      m.scale *= *c;
      m.q = x;
      m.absorbed.push_back(n);
    }
  }
  const Node* kt = SoleUseProducer(qk->input(1), "Transpose");
  if (kt == nullptr) return std::nullopt;
  m.k = kt->input(0);
  m.absorbed.push_back(kt);

  // Shapes: q, k, v [..., tokens, channels] with equal leading dims.
  const auto q = StaticF32Dims(m.q), k = StaticF32Dims(m.k), v = StaticF32Dims(m.v);
  if (!q || !k || !v || static_cast<int>(q->size()) != rank || k->size() != q->size() ||
      v->size() != q->size() || !SwapsLastTwo(kt, rank))
    return std::nullopt;
  for (int i = 0; i < rank - 2; ++i)
    if ((*k)[i] != (*q)[i] || (*v)[i] != (*q)[i]) return std::nullopt;
  const int64_t q_len = (*q)[rank - 2], d = (*q)[rank - 1], kv_len = (*k)[rank - 2];
  if ((*k)[rank - 1] != d || (*v)[rank - 2] != kv_len || (*p_dims)[rank - 2] != q_len ||
      (*p_dims)[rank - 1] != kv_len)
    return std::nullopt;

  if (reshape_q != nullptr) {
    // Both terms read Reshape(q) [B, q_h, q_w, d], which nothing else reads.
    const auto rq = StaticF32Dims(reshape_q->output(0));
    if (reshape_q->input(0) != m.q || !rq || rq->size() != 4 ||
        reshape_q->output(0)->uses().size() != 2 || reshape_q->output(0)->is_graph_output())
      return std::nullopt;
    const Tensor &th = rel_h->table, &tw = rel_w->table;
    const int64_t q_h = (*rq)[1], q_w = (*rq)[2];
    if ((*rq)[0] != Product(*q, 0, rank - 2) || (*rq)[3] != d || q_h * q_w != q_len ||
        th.dim(0) != q_h || tw.dim(0) != q_w || th.dim(2) != d || tw.dim(2) != d ||
        th.dim(1) * tw.dim(1) != kv_len)
      return std::nullopt;
    // The terms broadcast as [B, q_h, q_w, k_h, 1] and [B, q_h, q_w, 1, k_w].
    const auto uh = StaticF32Dims(rel_h->unsqueeze->output(0));
    const auto uw = StaticF32Dims(rel_w->unsqueeze->output(0));
    const std::vector<int64_t> want_h{(*rq)[0], q_h, q_w, th.dim(1), 1};
    const std::vector<int64_t> want_w{(*rq)[0], q_h, q_w, 1, tw.dim(1)};
    const std::vector<int64_t> want_s{(*rq)[0], q_h, q_w, th.dim(1), tw.dim(1)};
    if (!uh || !uw || *uh != want_h || *uw != want_w ||
        StaticF32Dims(grid->output(0)) != std::optional(want_s))
      return std::nullopt;
    m.absorbed.push_back(reshape_q);
    m.rel_pos_h = th;
    m.rel_pos_w = tw;
  }
  MatchPackedQkv(m);
  if (m.qkv != nullptr) MatchInterleavedOutput(m);
  return m;
}

}  // namespace octet::compile_internal
