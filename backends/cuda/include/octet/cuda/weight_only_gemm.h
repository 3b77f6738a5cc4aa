// Weight-only quantized GEMMs: the CUDA kernels of the int8-weight-only and
// int4-weight-only presets (passes/quant), where the activations stay bf16
// and only the weights are integers:
//
//   y[m, n] = act(sum_k x[m, k] * dequant(W)[k, n] + bias[n])      x, y: bf16
//
//   int8: dequant(W)[k, n] = q[k, n] * scale[n]                (i8 symmetric per channel,
//                                                              narrow range, zero point 0)
//   int4: dequant(W)[k, n] = (q[k, n] - zp[k / G, n]) * scale[k / G, n]
//                                                             (u4 affine, groups of G along K)
//
// exactly the QDQ graph's DequantizeLinear (per-axis, or blocked with
// block_size = G) followed by MatMul / Gemm. The kernels never form a
// dequantized weight matrix: the codes stay packed in device memory and are
// turned into exact bf16 integers (q or q - zp) in registers; the tensor cores
// multiply them with x, accumulating in f32, and the f32 scales are applied to
// the f32 partial sums (per group for int4, per column for int8). Apart from
// the f32 summation order, that is the reference's arithmetic.
//
// Paths, chosen per Run by the number of rows m (WeightOnlyGemm::PathFor):
//   m < cublaslt_min_rows   streaming kernels: each block of 4 or 8 warps
//             owns a row tile (x padded) and 16 or 32 columns of y; its warps
//             split K and stream 16-byte packed-weight blocks with several
//             loads in flight, multiply on mma.sync m16n8k16 and meet in shared
//             memory. int8: x is the mma's A operand (16-row tiles); int4: the
//             dequantized weights are (16 columns per mma, x the 8-row B
//             operand: 8-, 16- or 32-row tiles; 16 to 64 columns per block,
//             warps side by side sharing x through L1, small N split over a
//             2- or 4-block cluster), the group scales and zero points stream
//             with the codes, and the launch is a programmatic dependent
//             launch (programmatic_launch). Beyond one row tile the
//             row tiles are separate blocks (the weights are re-read, from L2
//             after the first).
//   m >= cublaslt_min_rows  cuBLASLt's bf16 GEMM on bf16 weights: by default
//             Run first dequantizes the packed weights into the caller's
//             scratch (scratch_bytes(m): 2 N K bytes and the cuBLASLt
//             workspace), so only the packed bytes stay on the device; with
//             Bf16Weights::kResidentCopy Create keeps a dequantized copy (4x
//             (u4) / 2x (i8) the packed bytes) and Run skips that step.
//             cublaslt_min_rows = 0 runs the kernels at every m. The default,
//             33, is the measured crossover on the H100 (docs/cuda-backend.md):
//             the kernels win up to m = 32, cuBLASLt from m = 64 on.
// Like the other kernels, Create validates (before touching the device),
// packs and uploads; Run only enqueues, allocates nothing and does not
// synchronise (the cuBLASLt path asks cuBLASLt's heuristic for the run's m on
// the host). A created kernel is immutable and may run on several streams,
// each with its own scratch.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "octet/cuda/int8_kernels.h"  // Activation, WeightLayout
#include "octet/status.h"
#include "octet/tensor.h"

namespace octet::cuda {

namespace weight_only {
struct GemmArgs;
}

enum class WeightOnlyPath {
  kAuto,  // by m, as above
  // int8 / int4 (auto as measured on the H100, docs/cuda-backend.md):
  // u4 maps each path onto kernel shapes by N and m (16 to 64 columns per
  // block, docs/cuda-backend.md); the names are i8's tiles.
  kStreaming8,      // 8-row tiles, 16 columns; i8: deeper prefetch. Auto: u4 m <= 8
  kStreaming16,     // 16-row tiles, 16 columns. Auto: i8 m <= 8 and N < 8192; u4 17..32
  kStreaming16x32,  // 16-row tiles, 32 columns. Auto: i8 otherwise; u4 9..16 and > 32
  kTensorCore32,    // 32-row tiles (i8: each weight fragment feeds two mma). Forced only
  kCublasLtBf16,    // cuBLASLt bf16 (cublaslt_min_rows > 0); scratch unless kResidentCopy
};

// Where the cuBLASLt path's bf16 weights come from.
enum class Bf16Weights {
  kDequantizePerRun,  // Run dequantizes the packed weights into the caller's scratch
  kResidentCopy,      // Create keeps a dequantized copy on the device (more memory)
};

// Device memory the caller lends one Run (arena scratch, 16-byte aligned);
// WeightOnlyGemm::scratch_bytes says how much.
struct WeightOnlyScratch {
  void* data = nullptr;
  size_t bytes = 0;
};
const char* WeightOnlyPathName(WeightOnlyPath path);  // "streaming16"

struct WeightOnlyGemmConfig {
  // i8 (int8-weight-only) or u4 (int4-weight-only) codes, [K, N] (kKN, an
  // ONNX MatMul's B) or [N, K] (kNK, a Gemm's B with transB = 1).
  Tensor codes;
  WeightLayout weight_layout = WeightLayout::kKN;
  // f32. i8: [N] (per channel) or one element (per tensor). u4: the codes'
  // shape with K replaced by K / group_size ([K/G, N] or [N, K/G]), as
  // quant::QuantizeWeight writes them.
  Tensor scales;
  // u4 only: u4 (or u8 in [0, 15]) of the scales' shape; undefined means 0.
  // i8: must be undefined (the preset is symmetric).
  Tensor zero_points;
  int64_t group_size = 0;  // u4: 32, 64 or 128; K must be a multiple of it. i8: 0
  Tensor bias;             // optional f32 [N]
  Activation activation = Activation::kNone;
  WeightOnlyPath path = WeightOnlyPath::kAuto;
  // From this many rows on, kAuto runs cuBLASLt bf16 on a dequantized copy;
  // 0: no copy, the kernels at every m (saves the copy's memory; slower than
  // bf16 from m = 64 on).
  int64_t cublaslt_min_rows = 33;
  Bf16Weights bf16_weights = Bf16Weights::kDequantizePerRun;
  // u4 kernels: launch with programmatic dependent launch, so that a kernel
  // queued right behind another PDL-aware kernel (this GEMM again, in a chain
  // of layers) starts streaming its weights before that one ends; x is read and
  // y written only after it has. Not for grids that leave many block slots of
  // the GPU free (slower there on the H100). Off: ordinary launches.
  bool programmatic_launch = true;
  // Tests and benchmarks: run the u4 kernel paths on this kernel shape, an
  // index below WeightOnlyInt4KernelShapes(group_size) (the instantiated
  // shapes, weight_only_gemm_int4.cu); -1: each path's own.
  int int4_kernel_shape = -1;
  // A u4 kernel shape measured fastest for runs of exactly tuned_rows rows
  // on the kernel paths (TuneInt4Shape; `octet compile --tune` stores it in
  // the module); -1: each path's shape rule. int4_kernel_shape overrides it.
  int tuned_int4_shape = -1;
  int64_t tuned_rows = 0;
};

// One u4 kernel shape timed by TuneInt4Shape.
struct Int4ShapeTiming {
  int shape = 0;
  bool programmatic_launch = false;  // as Run would launch it
  double us = 0;                     // median per launch
};
struct Int4ShapeTuning {
  int64_t m = 0;
  int rule_shape = 0;  // what the shape rule picks for m
  std::vector<Int4ShapeTiming> timings;
  int best_shape = 0;  // the fastest of timings
};

// The number of instantiated u4 kernel shapes for a group size (group 128 has
// extra ones, for the benchmark's sweep).
int WeightOnlyInt4KernelShapes(int64_t group_size);

class WeightOnlyGemm {
 public:
  // Shapes: N >= 1; K a multiple of 8 (i8) or of the group size (u4); both
  // below 2^31. Returns Unimplemented on GPUs other than compute capability 9.0:
  // the kernels need only sm_80's mma.sync, but this build compiles device code
  // for sm_90a alone.
  static Expected<WeightOnlyGemm> Create(const WeightOnlyGemmConfig& config);

  // x: bf16 [m, K] row-major, 16-byte aligned; y: bf16 [m, N] row-major. Device
  // memory. m == 0 does nothing. The cuBLASLt path with kDequantizePerRun
  // needs scratch of scratch_bytes(m) (an InvalidArgument error names the
  // bytes otherwise); with kResidentCopy, scratch only lends cuBLASLt its
  // workspace.
  Status Run(const void* x, int64_t m, void* y, const WeightOnlyScratch& scratch,
             cudaStream_t stream) const;
  // The same on a given path (kAuto: PathFor(m)), for tests and benchmarks.
  Status Run(const void* x, int64_t m, void* y, const WeightOnlyScratch& scratch,
             cudaStream_t stream, WeightOnlyPath path) const;
  // Without scratch: the kernel paths, and the cuBLASLt path of a resident copy.
  Status Run(const void* x, int64_t m, void* y, cudaStream_t stream) const;
  // The same with y f32 [m, N] (the sums not rounded to bf16): only where
  // PathFor(m) is the cuBLASLt path (WritesF32), which saves a caller whose
  // activations are f32 a bf16 output and its conversion.
  Status RunF32(const void* x, int64_t m, float* y, const WeightOnlyScratch& scratch,
                cudaStream_t stream) const;
  bool WritesF32(int64_t m) const { return PathFor(m) == WeightOnlyPath::kCublasLtBf16; }

  // The scratch a Run of m rows on `path` (kAuto: PathFor(m)) uses: on the
  // cuBLASLt path the bf16 weights (kDequantizePerRun) and the workspace, else 0.
  size_t scratch_bytes(int64_t m, WeightOnlyPath path = WeightOnlyPath::kAuto) const;
  // The most any Run of an N x K kernel asks, for planners that size scratch
  // before creating the kernel.
  static size_t MaxScratchBytes(int64_t n, int64_t k);

  int64_t n() const;
  int64_t k() const;
  // Bytes Run reads of the weights per call on the kernel paths: packed codes,
  // scales and zero points (the benchmark's bandwidth numerator).
  int64_t packed_weight_bytes() const;
  WeightOnlyPath PathFor(int64_t m) const;
  // u4, m rows on a kernel path (PathFor(m) is not the cuBLASLt one): times
  // every kernel shape that path can run on this GPU, each launched as Run
  // would launch it, in a CUDA graph of back-to-back launches whose weights
  // rotate over copies spanning twice the L2 (so that they come from DRAM,
  // as in a model whose other layers evict them; at most 64 copies, so
  // layers under 2 x L2 / 64 are partly timed from L2); median of 7 replays.
  // About a millisecond per shape, plus the copies (up to 2 x L2 of device
  // memory).
  Expected<Int4ShapeTuning> TuneInt4Shape(int64_t m) const;
  // "WeightOnlyGemm bf16[M,4096] x u4[4096,4096] (group 128) + bias -> gelu -> bf16"
  const std::string& description() const;

 private:
  weight_only::GemmArgs ArgsFor(const void* x, int64_t m, void* y) const;
  int Int4ShapeFor(WeightOnlyPath path, const weight_only::GemmArgs& args) const;
  Status RunCublasLt(const weight_only::GemmArgs& args, bool y_f32,
                     const WeightOnlyScratch& scratch, cudaStream_t stream) const;
  struct Impl;
  std::shared_ptr<const Impl> impl_;
};

}  // namespace octet::cuda
