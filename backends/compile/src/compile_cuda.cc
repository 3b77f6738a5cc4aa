// The cuda lowering (docs/cuda-backend.md, "Lowering and runtime"). Every op
// of a cuda module runs on the device: there is no host fallback, because a
// host op in the middle of a device graph costs two synchronising copies and
// breaks CUDA Graph capture. So the lowering first decides, for every node,
// whether a device kernel takes it, and fails with one error listing all the
// nodes none takes; only then does it emit.
//
// Activations stay f32 on the device in this slice (the graph's own dtype):
// no conversion ops at the edges, and the int8 GEMM writes f32. The
// weight-only GEMMs run in bf16 and convert at their own edges. bf16
// activations come with the bf16 graph (attention, LayerNorm in bf16).
//
// Emission walks the nodes in graph order; a dynamic matmul is written where
// its last absorbed node stood.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "attention_pattern.h"
#include "cuda_attention.h"
#include "cuda_channel_layer_norm.h"
#include "cuda_conv_patterns.h"
#include "cuda_dynamic_conv.h"
#include "cuda_row_gather.h"
#include "cuda_rules.h"
#include "module_builder.h"
#include "octet/compile/compile.h"
#include "octet/passes/fold_batchnorm.h"
#include "x86_patterns.h"

namespace octet {
namespace {

using compile_internal::AttentionPattern;
using compile_internal::DynamicMatMulPattern;
using compile_internal::IsOnnxOp;
using compile_internal::RowGather;
using compile_internal::WeightOnlyMatMulPattern;

constexpr const char kDynamicMatMul[] = "cuda.dynamic_int8_matmul";
constexpr const char kWeightOnlyMatMul[] = "cuda.weight_only_matmul";
// The weight-only GEMM's scratch on its cuBLASLt path (octet::cuda::
// WeightOnlyGemm::MaxScratchBytes: the bf16 weights rounded up to 256 bytes,
// then cuBLASLt's 4 MiB workspace), and the rows from which that path runs
// (WeightOnlyGemmConfig::cublaslt_min_rows' default).
int64_t WeightOnlyScratchBytes(int64_t n, int64_t k) {
  return (n * k * 2 + 255) / 256 * 256 + (int64_t{4} << 20);
}
constexpr int64_t kWeightOnlyCublasLtMinRows = 33;
// From these rows on, dequantizing the weights into scratch on every run
// costs the cuBLASLt GEMM little: about 2.5 N K bytes of traffic against
// 2 m N K flops, 341 / m of the GEMM's time on the H100
// (bench/cuda_weight_only_bench's dq+lt column: 1.4x at m = 1024), so
// under 10% here. Static row counts between the two keep a resident bf16
// copy instead (no scratch output), so that the weight-only path is never
// much slower than bf16 there; dynamic rows take the scratch (the memory
// saving is the presets' point).
constexpr int64_t kWeightOnlyPerRunMinRows = 4096;
// The kernels are built for sm_90a only (wgmma and TMA in the int8 GEMM).
constexpr const char kCudaArch[] = "sm_90a";

class CudaLowering {
 public:
  CudaLowering(const Graph& graph, const CompileOptions& options)
      : graph_(graph), builder_(graph, options, "cuda") {
    builder_.desc().requirements["cuda_arch"] = kCudaArch;
    compile_internal::AddCudaNormRules(rules_);
    compile_internal::AddCudaElementwiseRules(rules_);
    compile_internal::AddCudaLayoutRules(rules_);
    compile_internal::AddCudaReduceRules(rules_);
    compile_internal::AddCudaPoolRules(rules_);
    compile_internal::AddCudaMatMulRules(rules_);
  }

  Expected<CompiledModule> Lower() {
    Match();
    OCTET_RETURN_IF_ERROR(CheckEverythingRuns());
    OCTET_RETURN_IF_ERROR(builder_.Begin());
    for (const Node* n : graph_.nodes()) {
      if (absorbed_.count(n)) {
        if (auto it = dynamics_.find(n); it != dynamics_.end())
          OCTET_RETURN_IF_ERROR(EmitDynamicMatMul(it->second));
        if (auto it = weight_only_.find(n); it != weight_only_.end())
          OCTET_RETURN_IF_ERROR(EmitWeightOnlyMatMul(it->second));
        if (auto it = attentions_.find(n); it != attentions_.end())
          OCTET_RETURN_IF_ERROR(compile_internal::EmitCudaAttention(
              it->second, builder_, bf16_values_.count(it->second.output()) != 0));
        if (auto it = float_fusions_.find(n); it != float_fusions_.end())
          OCTET_RETURN_IF_ERROR(
              compile_internal::EmitCudaFloatFusion(it->second, builder_, &cudnn_nhwc_));
        if (auto it = channel_norms_.find(n); it != channel_norms_.end())
          OCTET_RETURN_IF_ERROR(EmitChannelLayerNorm(it->second));
        if (auto it = dynamic_convs_.find(n); it != dynamic_convs_.end())
          OCTET_RETURN_IF_ERROR(EmitDynamicConv(it->second));
        continue;
      }
      if (nhwc_pools_.count(n)) {
        OCTET_RETURN_IF_ERROR(EmitNhwcMaxPool(*n));
        continue;
      }
      OCTET_RETURN_IF_ERROR(Rule(*n)->emit(*n, builder_));
    }
    // How many ops of each kernel id the module has (shown by `octet inspect`).
    std::map<std::string, int> counts;
    for (const ModuleOp& op : builder_.desc().ops) ++counts[op.kernel];
    for (const auto& [kernel, count] : counts)
      builder_.desc().metadata[kernel] = std::to_string(count);
    return builder_.Finish();
  }

 private:
  void Match() {
    const std::vector<Node*> nodes = graph_.nodes();
    // Attention first: its MatMuls must not be taken by other patterns. A
    // match the kernel cannot run keeps its nodes (they may run unfused);
    // any of them that cannot run carries the reason.
    for (const Node* n : nodes) {
      auto a = compile_internal::MatchAttention(n);
      if (!a) continue;
      if (std::string why = compile_internal::WhyNotCudaAttention(*a); !why.empty()) {
        for (const Node* x : a->absorbed) refused_attention_[x] = "attention found, but " + why;
        continue;
      }
      for (const Node* x : a->absorbed) absorbed_.insert(x);
      attentions_.emplace(a->pv, std::move(*a));
    }
    for (const Node* n : nodes) {
      if (absorbed_.count(n)) continue;
      if (auto c = compile_internal::MatchChannelLayerNorm(n)) {
        bool clash = false;
        for (const Node* x : c->nodes) clash = clash || absorbed_.count(x) != 0;
        if (!clash) {
          for (const Node* x : c->nodes) absorbed_.insert(x);
          channel_norms_.emplace(n, std::move(*c));
          continue;
        }
      }
      if (auto w = compile_internal::MatchWeightOnlyMatMul(n)) {
        for (const Node* x : {w->matmul, w->add}) {
          if (x != nullptr) absorbed_.insert(x);
        }
        for (const Node* g : w->gelu) absorbed_.insert(g);
        weight_only_.emplace(w->last(), std::move(*w));
        continue;
      }
      // The int8-dynamic convolution (cuda_dynamic_conv.h): a match the op
      // cannot take is refused with the reason.
      if (auto c = compile_internal::MatchCudaDynamicConv(n)) {
        bool clash = false;
        for (const Node* x : c->nodes()) clash = clash || absorbed_.count(x) != 0;
        if (clash) c = compile_internal::MatchCudaDynamicConv(n, false);
        if (!c->why_not.empty()) {
          refused_.emplace(n, c->why_not);
          continue;
        }
        for (const Node* x : c->nodes()) absorbed_.insert(x);
        dynamic_convs_.emplace(c->last(), std::move(*c));
        continue;
      }
      auto d = compile_internal::MatchDynamicMatMul(n);
      if (!d) d = compile_internal::MatchDynamicGemm(n);
      if (d) {
        for (const Node* x : {d->abs, d->reduce_max, d->div, d->max, d->q, d->dq_x, d->matmul,
                              d->add, d->residual_add})
          if (x != nullptr) absorbed_.insert(x);
        for (const Node* g : d->gelu) absorbed_.insert(g);
        dynamics_.emplace(d->last(), std::move(*d));
        continue;
      }
      // Conv / MatMul / Gemm in float (cuda_conv_patterns.h); a refused one
      // absorbs nothing and reports why.
      if (auto f = compile_internal::MatchCudaFloatFusion(n)) {
        bool clash = false;
        for (const Node* x : f->nodes) clash = clash || absorbed_.count(x) != 0;
        if (clash) f = compile_internal::MatchCudaFloatFusion(n, false);
        if (!f->why_not.empty()) {
          refused_.emplace(n, f->why_not);
          continue;
        }
        for (const Node* x : f->nodes) absorbed_.insert(x);
        float_fusions_.emplace(f->last, std::move(*f));
        continue;
      }
    }
    // Per-token quantization fused into its producer: a LayerNorm read only by
    // a dynamic matmul's quantization is computed inside that op.
    for (auto& [key, d] : dynamics_) {
      const Node* ln = d.x->producer();
      if (ln == nullptr || !IsOnnxOp(ln, "LayerNormalization") || d.x->is_graph_output() ||
          absorbed_.count(ln) || !Rule(*ln)->why_not(*ln).empty())
        continue;
      bool only_quantization = true;
      for (const Use& u : d.x->uses())
        only_quantization = only_quantization && (u.node == d.abs || u.node == d.q);
      if (!only_quantization) continue;
      absorbed_.insert(ln);
      fused_layer_norm_[key] = ln;
    }
    FoldRowGathersIntoQuantization();
    KeepDeviceEdgesInBf16();
    ChooseConvLayouts();
    cudnn_nhwc_ = compile_internal::ChooseCudnnNhwcValues(float_fusions_, builder_.options());
    // Weight DequantizeLinear nodes read only by absorbed nodes go too.
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it) {
      const Node* n = *it;
      if (!IsOnnxOp(n, "DequantizeLinear") || n->output(0)->is_graph_output()) continue;
      bool all_absorbed = !n->output(0)->uses().empty();
      for (const Use& u : n->output(0)->uses())
        all_absorbed = all_absorbed && absorbed_.count(u.node);
      if (all_absorbed) absorbed_.insert(n);
    }
  }

  // A ViT block's window partition and its reverse, folded into the per-token
  // quantization that reads the rows (cuda_row_gather.h), so that neither the
  // copies nor the residual Add run on their own:
  // - [LayerNorm ->] Pad / Reshape / Transpose / Reshape -> quantization: the
  //   kernel normalises and quantizes the gathered rows (row_map), zeros for
  //   the padding;
  // - Reshape / Transpose / Reshape / Slice -> Add(residual, .) -> LayerNorm
  //   -> quantization: the kernel adds the gathered branch rows to the
  //   residual (add_map), writes the sum (which the block's second residual
  //   reads), then normalises and quantizes it.
  // Rows must be f32 with K a multiple of 4 up to 16384 (the kernel's rows).
  void FoldRowGathersIntoQuantization() {
    std::map<const Node*, size_t> position;
    for (const Node* n : graph_.nodes()) position.emplace(n, position.size());
    for (auto& [key, d] : dynamics_) {
      const Dim& kd = d.x->type().shape.dims().back();
      if (kd.is_symbolic() || kd.value() % 4 != 0 || kd.value() > 16384) continue;
      auto ln_it = fused_layer_norm_.find(key);
      if (ln_it == fused_layer_norm_.end()) {
        if (d.x->is_graph_output() || !OnlyReadByQuantization(d, d.x)) continue;
        auto g = compile_internal::MatchRowGather(d.x, absorbed_);
        if (!g || g->source->type().dtype != DType::kF32) continue;
        for (const Node* n : g->nodes) absorbed_.insert(n);
        const Node* ln = g->source->producer();
        if (ln != nullptr && IsOnnxOp(ln, "LayerNormalization") && !absorbed_.count(ln) &&
            !g->source->is_graph_output() && g->source->uses().size() == 1 &&
            ln->input(0)->type().dtype == DType::kF32 && Rule(*ln)->why_not(*ln).empty()) {
          absorbed_.insert(ln);
          fused_layer_norm_[key] = ln;
        }
        prologues_[key].gather = std::move(*g);
        continue;
      }
      const Value* sum = ln_it->second->input(0);
      const Node* add = sum->producer();
      if (add == nullptr || !IsOnnxOp(add, "Add") || absorbed_.count(add) ||
          add->num_inputs() != 2 || sum->type().dtype != DType::kF32)
        continue;
      // The sum is written where the quantization stands: every other reader
      // must come after it.
      bool readers_after = true;
      for (const Use& u : sum->uses())
        readers_after =
            readers_after && (u.node == ln_it->second || position[u.node] > position[d.last()]);
      if (!readers_after) continue;
      for (int i = 0; i < 2; ++i) {
        const Value *branch = add->input(i), *other = add->input(1 - i);
        if (branch->is_graph_output() || branch->uses().size() != 1 ||
            other->type().dtype != DType::kF32 || other->type().shape != sum->type().shape ||
            branch->type().shape != sum->type().shape)
          continue;
        auto g = compile_internal::MatchRowGather(branch, absorbed_);
        if (!g || g->source->type().dtype != DType::kF32) continue;
        for (const Node* n : g->nodes) absorbed_.insert(n);
        absorbed_.insert(add);
        QuantPrologue& p = prologues_[key];
        p.add = add;
        p.residual = other;
        p.add_gather = std::move(*g);
        break;
      }
    }
  }

  // An int8 convolution's output stays NHWC (as its GEMM writes it) when only
  // int8 convolutions read it, as their input or their residual, or a max
  // pool that only int8 convolutions read (resnet's stem pool, which then
  // reads and writes NHWC); otherwise (another pooling, a graph output, any
  // other reader) it is written NCHW. A convolution reads either layout, so
  // no value is ever converted twice.
  void ChooseConvLayouts() {
    std::map<const Node*, const compile_internal::DynamicConvPattern*> conv_of;
    std::set<const Value*> conv_outputs;
    for (const auto& [key, c] : dynamic_convs_) {
      for (const Node* x : c.nodes()) conv_of[x] = &c;
      conv_outputs.insert(c.last()->output(0));
    }
    // Every reader an int8 convolution (as its input or its residual) or one
    // of `pools`.
    auto only_convs_read = [&](const Value* v, const std::set<const Node*>& pools) {
      bool only_convs = !v->is_graph_output() && !v->uses().empty();
      for (const Use& u : v->uses()) {
        auto it = conv_of.find(u.node);
        const compile_internal::DynamicConvPattern* q = it != conv_of.end() ? it->second : nullptr;
        only_convs =
            only_convs && (pools.count(u.node) != 0 ||
                           (q != nullptr && ((u.node == q->flatten && q->x == v) ||
                                             (u.node == q->residual_add && q->residual == v))));
      }
      return only_convs;
    };
    std::set<const Node*> pools;  // max pools that may run NHWC
    for (const Node* n : graph_.nodes())
      if (IsOnnxOp(n, "MaxPool") && !absorbed_.count(n) && Rule(*n) != nullptr &&
          Rule(*n)->why_not(*n).empty() && conv_outputs.count(n->input(0)) &&
          only_convs_read(n->output(0), {}))
        pools.insert(n);
    for (const Value* y : conv_outputs)
      if (only_convs_read(y, pools)) nhwc_values_.insert(y);
    for (const Node* p : pools)
      if (nhwc_values_.count(p->input(0))) nhwc_pools_.insert(p);
    // The per-image maximum of an NHWC output is taken by its GEMM's
    // epilogue when the int8 convolutions that quantize it read it directly
    // (not through a max pool, whose output is what they quantize: the pool
    // takes that one's, below), saving each reader a pass over it.
    for (const Value* y : nhwc_values_) {
      bool fusable = false;
      for (const Use& u : y->uses()) {
        if (pools.count(u.node) != 0) {
          fusable = false;
          break;
        }
        auto it = conv_of.find(u.node);
        fusable = fusable || (it != conv_of.end() && u.node == it->second->flatten);
      }
      if (fusable) absmax_values_.insert(y);
    }
    // Likewise an NHWC max pool's output that an int8 convolution quantizes
    // (resnet's stem pool, layer1.0.conv1's input): the pool kernel takes its
    // maximum.
    for (const Node* p : nhwc_pools_)
      for (const Use& u : p->output(0)->uses())
        if (auto it = conv_of.find(u.node); it != conv_of.end() && u.node == it->second->flatten)
          absmax_values_.insert(p->output(0));
  }

  // True when `v` is read only by d's per-token quantization.
  static bool OnlyReadByQuantization(const DynamicMatMulPattern& d, const Value* v) {
    for (const Use& u : v->uses())
      if (u.node != d.abs && u.node != d.q) return false;
    return true;
  }

  // Values two device ops pass in bf16 instead of the graph's f32, halving
  // the bytes written and read and saving a conversion pass each way:
  // - a packed qkv an int8 GEMM writes (without a residual, which would have
  //   to be bf16 too) and only an attention reads, where the head dim needs
  //   no padding (the kernel then reads and writes in place);
  // - an attention's output that only an int8 GEMM's per-token quantization
  //   reads (it quantizes bf16 rows as exactly as f32 ones);
  // - an int8 GEMM's output (no residual) that only another int8 GEMM's
  //   per-token quantization reads: the MLP's hidden layer after GELU. Its
  //   codes are those of the bf16-rounded values (relative change <= 2^-9,
  //   a fraction of the int8 step), as torchao's bf16 model computes them.
  void KeepDeviceEdgesInBf16() {
    for (const auto& [key, a] : attentions_) {
      if (a.qkv == nullptr) continue;
      const int64_t c = a.qkv->type().shape.dims().back().value();
      if (c % (3 * a.heads) != 0 || (c / (3 * a.heads)) % 16 != 0) continue;
      const std::set<const Node*> inside(a.absorbed.begin(), a.absorbed.end());
      const Node* producer = a.qkv->producer();
      auto d = producer != nullptr ? dynamics_.find(producer) : dynamics_.end();
      bool only_attention = !a.qkv->is_graph_output() && d != dynamics_.end() &&
                            d->second.residual == nullptr && d->second.last()->output(0) == a.qkv;
      for (const Use& u : a.qkv->uses()) only_attention = only_attention && inside.count(u.node);
      if (only_attention) bf16_values_.insert(a.qkv);
      if (OnlyQuantizedByADynamicMatMul(a.output())) bf16_values_.insert(a.output());
    }
    for (const auto& [key, d] : dynamics_) {
      const Value* y = d.last()->output(0);
      if (d.residual == nullptr && OnlyQuantizedByADynamicMatMul(y)) bf16_values_.insert(y);
    }
    // - an int8 GEMM's output (no residual) that only a row prologue adds to
    //   its residual (the attention branch of a windowed block): one bf16
    //   rounding of the branch before the f32 sum.
    for (const auto& [key, p] : prologues_) {
      if (!p.add_gather) continue;
      const Value* branch = p.add_gather->source;
      const Node* producer = branch->producer();
      auto d = producer != nullptr ? dynamics_.find(producer) : dynamics_.end();
      if (d != dynamics_.end() && d->second.residual == nullptr &&
          d->second.last()->output(0) == branch && !branch->is_graph_output() &&
          branch->uses().size() == 1)
        bf16_values_.insert(branch);
    }
  }

  // True when `v` is read only by the per-token quantization of one dynamic
  // matmul without a fused LayerNorm (whose rows must be f32).
  bool OnlyQuantizedByADynamicMatMul(const Value* v) const {
    if (v->is_graph_output() || v->uses().empty()) return false;
    for (const auto& [key, d] : dynamics_) {
      if (d.x != v || fused_layer_norm_.count(key)) continue;
      bool only_quantization = true;
      for (const Use& u : v->uses())
        only_quantization = only_quantization && (u.node == d.abs || u.node == d.q);
      if (only_quantization) return true;
    }
    return false;
  }

  // Why the device cannot run `n` (empty when it can).
  std::string WhyNot(const Node& n) const {
    if (auto it = dynamics_.find(&n); it != dynamics_.end()) {
      const int64_t k = it->second.x->type().shape.dims().back().value();
      if (k % 16 != 0)
        return "the int8 GEMM needs K to be a multiple of 16 (its rows are loaded by TMA), K = " +
               std::to_string(k);
      return "";
    }
    if (auto it = weight_only_.find(&n); it != weight_only_.end()) {
      const WeightOnlyMatMulPattern& w = it->second;
      const int64_t k = w.codes.dim(0), g = w.group_size;
      if (w.codes.dtype() == DType::kI8 && k % 8 != 0)
        return "the int8 weight-only kernel needs K to be a multiple of 8, K = " +
               std::to_string(k);
      if (w.codes.dtype() == DType::kU4 && ((g != 32 && g != 64 && g != 128) || k % g != 0))
        return "the int4 weight-only kernel takes groups of 32, 64 or 128 dividing K; K = " +
               std::to_string(k) + ", group " + std::to_string(g);
      return "";
    }
    if (auto it = refused_.find(&n); it != refused_.end()) return it->second;
    if (absorbed_.count(&n)) return "";
    for (const Value* v : n.outputs())
      if (v != nullptr && !compile_internal::CudaPlannableShape(v->type()))
        return "output '" + v->name() + "' is " + compile_internal::CudaShapeText(v->type()) +
               "; device tensors need static or input-bound (symbolic) dims";
    const compile_internal::CudaNodeRule* rule = Rule(n);
    std::string why =
        rule == nullptr ? "no cuda kernel for " + n.op_type() + " yet" : rule->why_not(n);
    // The unfused ops may still run; if not, say why the fused one did not.
    if (auto it = refused_attention_.find(&n); !why.empty() && it != refused_attention_.end())
      why += " (" + it->second + ")";
    return why;
  }

  const compile_internal::CudaNodeRule* Rule(const Node& n) const {
    if (!n.domain().empty() && n.domain() != "ai.onnx") return nullptr;
    auto it = rules_.find(n.op_type());
    return it == rules_.end() ? nullptr : &it->second;
  }

  // One error for every node the device cannot run, so that a model's whole
  // gap is visible at once.
  Status CheckEverythingRuns() const {
    std::ostringstream list;
    int count = 0;
    for (const Node* n : graph_.nodes()) {
      const std::string why = WhyNot(*n);
      if (why.empty()) continue;
      list << "\n  " << n->name() << " (" << n->op_type() << "): " << why;
      ++count;
    }
    for (const Value* in : graph_.inputs())
      if (!compile_internal::CudaPlannableShape(in->type())) {
        list << "\n  graph input '" << in->name()
             << "': " << compile_internal::CudaShapeText(in->type())
             << " has unknown dims; declare them (static or symbolic)";
        ++count;
      }
    if (count == 0) return Status::Ok();
    return Unimplemented("target cuda cannot run ", count, count == 1 ? " node" : " nodes",
                         " of graph '", graph_.name(),
                         "' (cuda has no host fallback; see docs/cuda-backend.md):", list.str());
  }

  // Inputs: x f32 [..., K], weight i8 [N, K] (the kernel's own layout, packed
  // here from the graph's [K, N]), weight scales f32 [N] or [1], bias f32 [N]
  // (absent: -1), residual f32 [..., N] added last (absent: -1; the output
  // may take its place); with a fused LayerNorm (attr layer_norm_epsilon),
  // x is the LayerNorm's input and inputs 5, 6 its Scale and B (B absent:
  // -1). With a row prologue (FoldRowGathersIntoQuantization) inputs 7-9
  // follow (inputs 5, 6 -1 without a LayerNorm): row_map i32 [rows] (x's row
  // per quantized row, -1: zeros; absent: -1), the added rows f32 / bf16
  // [..., K] (absent: -1) and add_map i32 [rows] (absent: -1), and with
  // added rows the sum x + added f32 [..., K] is output 3.
  // Outputs: y f32 [..., N] after the optional GELU or
  // residual sum, then two
  // scratch tensors the op writes before its GEMM and nothing else reads: the
  // per-token codes i8 [..., K] and row scales f32 [..., 1]. Being outputs,
  // they are planned in the arena like any activation (nothing is allocated
  // on the run path), and they die at this op.
  Status EmitDynamicMatMul(const DynamicMatMulPattern& m) {
    const Node& n = *m.matmul;
    ModuleOp op;
    op.kernel = kDynamicMatMul;
    op.name = n.name();
    auto ln_it = fused_layer_norm_.find(m.last());
    const Node* ln = ln_it != fused_layer_norm_.end() ? ln_it->second : nullptr;
    auto pro_it = prologues_.find(m.last());
    const QuantPrologue* pro = pro_it != prologues_.end() ? &pro_it->second : nullptr;
    const Value* x_value = ln != nullptr ? ln->input(0) : m.x;
    if (pro != nullptr && pro->gather && ln == nullptr) x_value = pro->gather->source;
    if (pro != nullptr && pro->add != nullptr) x_value = pro->residual;
    auto x = builder_.InputSlot(x_value);
    auto scales = builder_.InputSlot(m.dq_w->input(1));
    for (const auto* e : {&x, &scales})
      if (!e->ok()) return e->status().WithContext(n.Describe());
    const Tensor& w = m.dq_w->input(0)->constant();
    Tensor w_nk = w;  // a Gemm's transB weight is [N, K] already
    if (!m.weight_nk) {
      const int64_t k = w.dim(0), cols = w.dim(1);
      w_nk = Tensor(DType::kI8, {cols, k});
      for (int64_t i = 0; i < k; ++i)
        for (int64_t j = 0; j < cols; ++j)
          w_nk.data<int8_t>()[j * k + i] = w.data<int8_t>()[i * cols + j];
    }
    op.inputs = {*x, builder_.AddConstantTensor(n.name() + "/w_nk", w_nk), *scales,
                 m.bias.defined() ? builder_.AddConstantTensor(n.name() + "/bias", m.bias) : -1,
                 -1};
    if (m.residual != nullptr) {
      auto residual = builder_.InputSlot(m.residual);
      if (!residual.ok()) return residual.status().WithContext(n.Describe());
      op.inputs[4] = *residual;
      op.inplace = {{0, 4}};
    }
    if (ln != nullptr) {
      for (int i = 1; i < 3; ++i) {
        auto slot = builder_.InputSlot(i < ln->num_inputs() ? ln->input(i) : nullptr);
        if (!slot.ok()) return slot.status().WithContext(ln->Describe());
        op.inputs.push_back(*slot);
      }
    }
    if (pro != nullptr) {
      op.inputs.resize(7, -1);
      auto map_tensor = [](const std::vector<int32_t>& map) {
        Tensor t(DType::kI32, {static_cast<int64_t>(map.size())});
        std::copy(map.begin(), map.end(), t.data<int32_t>());
        return t;
      };
      op.inputs.push_back(pro->gather ? builder_.AddConstantTensor(n.name() + "/row_map",
                                                                   map_tensor(pro->gather->map))
                                      : -1);
      op.inputs.push_back(-1);
      op.inputs.push_back(-1);
      if (pro->add != nullptr) {
        auto branch = builder_.InputSlot(pro->add_gather->source);
        if (!branch.ok()) return branch.status().WithContext(pro->add->Describe());
        op.inputs[8] = *branch;
        op.inputs[9] =
            builder_.AddConstantTensor(n.name() + "/add_map", map_tensor(pro->add_gather->map));
      }
    }
    const TensorType& xt = m.x->type();
    std::vector<Dim> row_dims = xt.shape.dims();
    row_dims.back() = Dim(1);
    op.outputs = {
        bf16_values_.count(m.last()->output(0))
            ? builder_.OutputSlotAs(m.last()->output(0), DType::kBF16)
            : builder_.OutputSlot(m.last()->output(0)),
        builder_.AddActivation(n.name() + "/codes", TensorType(DType::kI8, xt.shape)),
        builder_.AddActivation(n.name() + "/row_scales", TensorType(DType::kF32, Shape(row_dims)))};
    op.attrs = {{"qmax", m.qmax},
                {"min_scale", m.min_scale},
                {"activation", std::string(m.gelu.empty() ? "none" : "gelu_erf")}};
    if (ln != nullptr) {
      OCTET_ASSIGN_OR_RETURN(float epsilon, ln->GetFloat("epsilon", 1e-5f));
      op.attrs.push_back({"layer_norm_epsilon", epsilon});
    }
    if (pro != nullptr && pro->add != nullptr)  // the residual sum, output 3
      op.outputs.push_back(builder_.OutputSlot(pro->add->output(0)));
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  // cuda.dynamic_int8_conv (cuda_dynamic_conv.h), reading and writing NHWC
  // where ChooseConvLayouts said so.
  Status EmitDynamicConv(const compile_internal::DynamicConvPattern& c) {
    compile_internal::DynamicConvPlaces at;
    auto slot = [&](const Value* v, bool* nhwc) -> Expected<int32_t> {
      if (auto it = nhwc_slots_.find(v); it != nhwc_slots_.end()) {
        *nhwc = true;
        return it->second;
      }
      return builder_.InputSlot(v);
    };
    auto x = slot(c.x, &at.x_nhwc);
    if (auto it = absmax_slots_.find(c.x); it != absmax_slots_.end()) at.x_absmax = it->second;
    auto residual = slot(c.residual, &at.residual_nhwc);
    for (const auto* e : {&x, &residual})
      if (!e->ok()) return e->status().WithContext(c.conv->Describe());
    at.x = *x;
    at.residual = *residual;
    const Value* y = c.last()->output(0);
    at.y_nhwc = nhwc_values_.count(y) != 0;
    at.y_absmax = absmax_values_.count(y) != 0;
    OCTET_ASSIGN_OR_RETURN(compile_internal::DynamicConvSlots slots,
                           compile_internal::EmitCudaDynamicConv(c, at, builder_));
    if (at.y_nhwc) nhwc_slots_[y] = slots.y;
    if (at.y_absmax) absmax_slots_[y] = slots.y_absmax;
    return Status::Ok();
  }

  // cuda.max_pool with layout = "nhwc": x is an int8 convolution's NHWC
  // output, y an NHWC slot of its own [N, OH, OW, C] (ChooseConvLayouts).
  Status EmitNhwcMaxPool(const Node& n) {
    auto x = nhwc_slots_.find(n.input(0));
    if (x == nhwc_slots_.end())
      return Internal(n.Describe(), ": the NHWC max pool's input was not written NHWC");
    const Value* y = n.output(0);
    const std::vector<Dim>& yd = y->type().shape.dims();
    ModuleOp op;
    op.kernel = "cuda.max_pool";
    op.name = n.name();
    op.inputs = {x->second};
    const int32_t y_slot = builder_.AddActivation(
        y->name() + "/nhwc", TensorType(DType::kF32, Shape({yd[0], yd[2], yd[3], yd[1]})));
    op.outputs = {y_slot};
    const bool y_absmax = absmax_values_.count(y) != 0;
    if (y_absmax) {
      absmax_slots_[y] =
          builder_.AddActivation(y->name() + "/absmax", TensorType(DType::kF32, Shape({yd[0]})));
      op.outputs.push_back(absmax_slots_[y]);
    }
    op.attrs = {{"kernel_shape", compile_internal::IntsAttr(n, "kernel_shape", {})},
                {"strides", compile_internal::IntsAttr(n, "strides", {1, 1})},
                {"pads", compile_internal::IntsAttr(n, "pads", {0, 0, 0, 0})},
                {"dilations", compile_internal::IntsAttr(n, "dilations", {1, 1})},
                {"layout", std::string("nhwc")},
                {"y_absmax", int64_t{y_absmax}}};
    builder_.AddOp(std::move(op));
    nhwc_slots_[y] = y_slot;
    return Status::Ok();
  }

  // Inputs: x f32 [N, C, ...], scale f32 [C], bias f32 [C] (constants).
  // Output y f32 of x's dims, which may take x's place.
  Status EmitChannelLayerNorm(const compile_internal::ChannelLayerNormPattern& c) {
    ModuleOp op;
    op.kernel = "cuda.channel_layer_norm";
    op.name = c.last->name();
    auto x = builder_.InputSlot(c.x);
    if (!x.ok()) return x.status().WithContext(c.last->Describe());
    op.inputs = {*x, builder_.AddConstantTensor(op.name + "/scale", c.scale),
                 builder_.AddConstantTensor(op.name + "/bias", c.bias)};
    op.outputs = {builder_.OutputSlot(c.last->output(0))};
    op.attrs = {{"epsilon", c.epsilon}};
    op.inplace = {{0, 0}};
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  // Inputs: x f32 [..., K], codes i8 / u4 [K, N], scales f32 ([N] / [K/G, N]),
  // zero points u4 [K/G, N] (absent: -1), bias f32 [N] (absent: -1). Outputs:
  // y f32 [..., N] after the optional GELU, then the bf16 copies of x and y the
  // kernel reads and writes, and u8 scratch for the weights dequantized to
  // bf16 when the rows run cuBLASLt (all scratch in the arena, dead after this
  // op; a few bytes where the rows are static and below that path's; absent,
  // for a resident bf16 copy, where they are static and below
  // kWeightOnlyPerRunMinRows).
  // The bytes of the op's weight scratch output, 0 for none (a resident
  // bf16 copy at load), by the rows x has.
  static int64_t WeightOnlyScratch(const WeightOnlyMatMulPattern& m) {
    const std::vector<Dim>& xd = m.x->type().shape.dims();
    int64_t rows = 1;
    for (size_t i = 0; i + 1 < xd.size() && rows >= 0; ++i)
      rows = xd[i].is_static() ? rows * xd[i].value() : -1;
    if (rows >= 0 && rows < kWeightOnlyCublasLtMinRows) return 16;  // the kernels only
    if (rows >= 0 && rows < kWeightOnlyPerRunMinRows) return 0;
    return WeightOnlyScratchBytes(m.codes.dim(1), m.codes.dim(0));  // codes [K, N]
  }

  Status EmitWeightOnlyMatMul(const WeightOnlyMatMulPattern& m) {
    const Node& n = *m.matmul;
    ModuleOp op;
    op.kernel = kWeightOnlyMatMul;
    op.name = n.name();
    auto x = builder_.InputSlot(m.x);
    auto codes = builder_.InputSlot(m.dq_w->input(0));
    auto scales = builder_.InputSlot(m.dq_w->input(1));
    for (const auto* e : {&x, &codes, &scales})
      if (!e->ok()) return e->status().WithContext(n.Describe());
    op.inputs = {*x, *codes, *scales,
                 m.zero_points.defined()
                     ? builder_.AddConstantTensor(n.name() + "/zero_points", m.zero_points)
                     : -1,
                 m.bias.defined() ? builder_.AddConstantTensor(n.name() + "/bias", m.bias) : -1};
    const TensorType& yt = m.last()->output(0)->type();
    op.outputs = {
        bf16_values_.count(m.last()->output(0))
            ? builder_.OutputSlotAs(m.last()->output(0), DType::kBF16)
            : builder_.OutputSlot(m.last()->output(0)),
        builder_.AddActivation(n.name() + "/x_bf16", TensorType(DType::kBF16, m.x->type().shape)),
        builder_.AddActivation(n.name() + "/y_bf16", TensorType(DType::kBF16, yt.shape))};
    if (const int64_t scratch = WeightOnlyScratch(m); scratch > 0)
      op.outputs.push_back(builder_.AddActivation(n.name() + "/scratch",
                                                  TensorType(DType::kU8, Shape({Dim(scratch)}))));
    op.attrs = {{"group_size", m.group_size},
                {"activation", std::string(m.gelu.empty() ? "none" : "gelu_erf")}};
    builder_.AddOp(std::move(op));
    return Status::Ok();
  }

  const Graph& graph_;
  compile_internal::ModuleBuilder builder_;
  std::set<const Node*> absorbed_;
  std::map<const Node*, DynamicMatMulPattern> dynamics_;        // keyed by the last fused node
  std::map<const Node*, WeightOnlyMatMulPattern> weight_only_;  // likewise
  std::map<const Node*, const Node*> fused_layer_norm_;         // dynamic key -> its LayerNorm
  // What FoldRowGathersIntoQuantization folded in front of a dynamic matmul's
  // quantization: the rows it reads (gather), or a residual Add whose branch
  // arrives through add_gather.
  struct QuantPrologue {
    std::optional<RowGather> gather;
    const Node* add = nullptr;
    const Value* residual = nullptr;  // the Add's operand in the output's row order
    std::optional<RowGather> add_gather;
  };
  std::map<const Node*, QuantPrologue> prologues_;        // dynamic key -> its prologue
  std::map<const Node*, AttentionPattern> attentions_;    // keyed by P x V
  std::map<const Node*, std::string> refused_attention_;  // by each node of the match
  std::set<const Value*> bf16_values_;                    // KeepDeviceEdgesInBf16
  std::map<const Node*, compile_internal::CudaFloatFusion> float_fusions_;  // likewise
  compile_internal::CudnnNhwcValues cudnn_nhwc_;  // values between cuDNN convolutions
  std::map<const Node*, compile_internal::ChannelLayerNormPattern> channel_norms_;  // likewise
  std::map<const Node*, std::string> refused_;  // float fusions' anchors the device cannot run
  std::map<const Node*, compile_internal::DynamicConvPattern> dynamic_convs_;  // by last node
  std::set<const Value*> nhwc_values_;                                         // ChooseConvLayouts
  std::map<const Value*, int32_t> nhwc_slots_;  // their slots, once emitted
  std::set<const Node*> nhwc_pools_;            // max pools between them (ChooseConvLayouts)
  std::set<const Value*> absmax_values_;  // NHWC values whose maximum the producer takes (same)
  std::map<const Value*, int32_t> absmax_slots_;  // their per-image maximum's slots, once emitted
  compile_internal::CudaNodeRules rules_;
};

}  // namespace

namespace compile_internal {

std::string CudaShapeText(const TensorType& t) {
  return std::string(DTypeName(t.dtype)) + (t.has_shape ? t.shape.ToString() : "[?]");
}

bool CudaPlannableShape(const TensorType& t) {
  if (!t.has_shape) return false;
  for (const Dim& d : t.shape.dims())
    if (!d.is_symbolic() && d.value() < 0) return false;
  return true;
}

}  // namespace compile_internal

Expected<CompiledModule> CompileForCuda(Model model, const CompileOptions& options) {
  OCTET_RETURN_IF_ERROR(compile_internal::SimplifyForCompile(model, options));
  // cuda has no BatchNormalization kernel: one after a Conv / Gemm / MatMul
  // is folded into its weights (as the quantization flow does); others stay
  // and are listed.
  OCTET_ASSIGN_OR_RETURN(bool folded, FoldBatchNorm(*model.graph));
  (void)folded;
  return CudaLowering(*model.graph, options).Lower();
}

}  // namespace octet
