#include "cuda_row_gather.h"

#include <limits>
#include <string>

#include "cuda_rules_util.h"

namespace octet::compile_internal {
namespace {

using Dims = std::vector<int64_t>;

bool StaticDims(const Value* v, Dims* dims) {
  const TensorType& t = v->type();
  if (!t.has_shape || t.shape.rank() < 1) return false;
  dims->clear();
  for (const Dim& d : t.shape.dims()) {
    if (d.is_symbolic() || d.value() < 0) return false;
    dims->push_back(d.value());
  }
  return true;
}

bool IsRowLayoutOp(const Node* n) {
  if (n == nullptr || (!n->domain().empty() && n->domain() != "ai.onnx")) return false;
  for (const char* op :
       {"Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity", "Transpose", "Slice", "Pad"})
    if (n->op_type() == op) return true;
  return false;
}

int64_t Product(const Dims& d, size_t end) {
  int64_t p = 1;
  for (size_t i = 0; i < end; ++i) p *= d[i];
  return p;
}

// ids over the leading dims of `in` (all but the last) -> ids over those of
// `out`, where in_index(out multi-index, in multi-index&) fills the source
// position and returns false for padding.
template <typename F>
std::vector<int32_t> Remap(const std::vector<int32_t>& ids, const Dims& in, const Dims& out,
                           F in_index) {
  const size_t lead = out.size() - 1, in_lead = in.size() - 1;
  std::vector<int32_t> result(static_cast<size_t>(Product(out, lead)));
  Dims o(lead, 0), i(in_lead, 0);
  for (size_t r = 0; r < result.size(); ++r) {
    int32_t id = -1;
    if (in_index(o, i)) {
      int64_t flat = 0;
      for (size_t a = 0; a < in_lead; ++a) flat = flat * in[a] + i[a];
      id = ids[static_cast<size_t>(flat)];
    }
    result[r] = id;
    for (size_t a = lead; a-- > 0;) {  // next multi-index, last axis fastest
      if (++o[a] < out[a]) break;
      o[a] = 0;
    }
  }
  return result;
}

// Applies node `n` to the row ids of its input; false when `n` does not move
// whole rows (or its arguments cannot be read).
bool Step(const Node& n, std::vector<int32_t>* ids) {
  Dims in, out;
  if (!StaticDims(n.input(0), &in) || !StaticDims(n.output(0), &out)) return false;
  if (in.back() != out.back() || in.back() <= 0) return false;
  const int64_t rank = static_cast<int64_t>(in.size());
  const std::string& op = n.op_type();
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
      op == "Identity")
    return Product(in, in.size() - 1) == Product(out, out.size() - 1);  // row order kept
  if (op == "Transpose") {
    auto perm = n.GetInts("perm", std::vector<int64_t>{});
    if (!perm.ok() || static_cast<int64_t>(perm->size()) != rank || perm->back() != rank - 1)
      return false;
    std::vector<bool> seen(perm->size(), false);
    for (int64_t p : *perm) {
      if (p < 0 || p >= rank || seen[p]) return false;
      seen[p] = true;
    }
    *ids = Remap(*ids, in, out, [&](const Dims& o, Dims& i) {
      for (size_t a = 0; a + 1 < perm->size(); ++a) i[(*perm)[a]] = o[a];
      return true;
    });
    return true;
  }
  if (op == "Slice") {
    SliceArgs s = GetSliceArgs(n);
    if (!s.error.empty()) return false;
    Dims start(in.size(), 0), step(in.size(), 1);
    for (size_t k = 0; k < s.axes.size(); ++k) {
      const int64_t a = s.axes[k], dim = in[a];
      if (a == rank - 1) return false;
      int64_t b = s.starts[k];
      if (b < 0) b += dim;
      b = s.steps[k] > 0 ? std::min(std::max<int64_t>(b, 0), dim)
                         : std::min(std::max<int64_t>(b, 0), dim - 1);
      start[a] = b;
      step[a] = s.steps[k];
    }
    bool in_range = true;
    *ids = Remap(*ids, in, out, [&](const Dims& o, Dims& i) {
      for (size_t a = 0; a + 1 < in.size(); ++a) {
        i[a] = start[a] + o[a] * step[a];
        if (i[a] < 0 || i[a] >= in[a]) {
          in_range = false;  // shapes and arguments disagree: do not fuse
          return false;
        }
      }
      return true;
    });
    return in_range;
  }
  if (op == "Pad") {
    PadArgs p = GetPadArgs(n);
    if (!p.error.empty() || p.value != 0.f || p.pads[rank - 1] != 0 || p.pads[2 * rank - 1] != 0)
      return false;
    *ids = Remap(*ids, in, out, [&](const Dims& o, Dims& i) {
      for (size_t a = 0; a + 1 < in.size(); ++a) {
        i[a] = o[a] - p.pads[a];
        if (i[a] < 0 || i[a] >= in[a]) return false;
      }
      return true;
    });
    return true;
  }
  return false;
}

// The row map of nodes[first..] applied to their source, or nullopt.
std::optional<std::vector<int32_t>> Simulate(const std::vector<const Node*>& nodes, size_t first) {
  Dims src;
  if (!StaticDims(nodes[first]->input(0), &src)) return std::nullopt;
  const int64_t rows = Product(src, src.size() - 1);
  if (rows > std::numeric_limits<int32_t>::max()) return std::nullopt;
  std::vector<int32_t> ids(static_cast<size_t>(rows));
  for (size_t r = 0; r < ids.size(); ++r) ids[r] = static_cast<int32_t>(r);
  for (size_t k = first; k < nodes.size(); ++k)
    if (!Step(*nodes[k], &ids)) return std::nullopt;
  return ids;
}

}  // namespace

std::optional<RowGather> MatchRowGather(const Value* end, const std::set<const Node*>& absorbed) {
  // Producers back from `end`, each feeding only the next.
  std::vector<const Node*> chain;
  const Value* v = end;
  while (true) {
    const Node* p = v->producer();
    if (!IsRowLayoutOp(p) || absorbed.count(p) || p->output(0) != v) break;
    if (v != end && (v->is_graph_output() || v->uses().size() != 1)) break;
    chain.insert(chain.begin(), p);
    v = p->input(0);
  }
  // The longest suffix of the chain whose every node moves whole rows.
  for (size_t first = 0; first < chain.size(); ++first) {
    auto map = Simulate(chain, first);
    if (!map) continue;
    bool identity = true;
    for (size_t r = 0; r < map->size() && identity; ++r)
      identity = (*map)[r] == static_cast<int32_t>(r);
    Dims src;
    StaticDims(chain[first]->input(0), &src);
    if (identity && static_cast<int64_t>(map->size()) == Product(src, src.size() - 1))
      return std::nullopt;  // nothing moves: the reshapes cost nothing as they are
    RowGather g;
    g.source = chain[first]->input(0);
    g.nodes.assign(chain.begin() + static_cast<std::ptrdiff_t>(first), chain.end());
    g.map = std::move(*map);
    return g;
  }
  return std::nullopt;
}

}  // namespace octet::compile_internal
