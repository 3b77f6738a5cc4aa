// WeightOnlyGemm::TuneInt4Shape (weight_only_gemm.h): the u4 shape rule
// (GemvShapeFor) is a fit to the layer sizes measured on the H100; this
// measures the candidates of a path for one layer and row count instead.
//
// The timing is the benchmark's (bench/cuda_weight_only_bench.cc): launches
// back to back in a CUDA graph, so that host launch overhead does not bound
// microsecond kernels and programmatic launch overlaps each launch with the
// previous one's tail as in a model; the weights rotate over copies spanning
// twice the L2, since a layer's weights are evicted by the other layers'
// before it runs again (at most kMaxCopies: a layer under 1.6 MB on the
// H100's 50 MB L2 is partly timed from L2, where it is latency-bound anyway).
#include <algorithm>
#include <vector>

#include "octet/cuda/cuda_status.h"
#include "octet/cuda/device.h"
#include "weight_only_gemm_impl.h"

namespace octet::cuda {
namespace {

constexpr int kReplays = 7;
constexpr int kMaxCopies = 64;

// What one measurement creates, released however it ends.
struct GraphTiming {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  ~GraphTiming() {
    if (stop != nullptr) (void)cudaEventDestroy(stop);
    if (start != nullptr) (void)cudaEventDestroy(start);
    if (exec != nullptr) (void)cudaGraphExecDestroy(exec);
    if (graph != nullptr) (void)cudaGraphDestroy(graph);
  }
};

// Median time per launch of `launches` launches of one shape, args rotating.
Expected<double> TimeShape(int shape, int group_size, bool pdl,
                           const std::vector<weight_only::GemmArgs>& args, int launches,
                           cudaStream_t stream) {
  GraphTiming t;
  OCTET_CUDA_RETURN_IF_ERROR(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  Status launched = Status::Ok();
  for (int i = 0; i < launches && launched.ok(); ++i)
    launched = weight_only::LaunchInt4(shape, group_size, args[i % args.size()], pdl, stream);
  const cudaError_t ended = cudaStreamEndCapture(stream, &t.graph);
  OCTET_RETURN_IF_ERROR(launched);
  OCTET_CUDA_RETURN_IF_ERROR(ended);
  OCTET_CUDA_RETURN_IF_ERROR(cudaGraphInstantiate(&t.exec, t.graph, 0));
  OCTET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&t.start));
  OCTET_CUDA_RETURN_IF_ERROR(cudaEventCreate(&t.stop));
  std::vector<double> us;
  for (int r = 0; r <= kReplays; ++r) {  // replay 0 warms up
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventRecord(t.start, stream));
    OCTET_CUDA_RETURN_IF_ERROR(cudaGraphLaunch(t.exec, stream));
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventRecord(t.stop, stream));
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(t.stop));
    float ms = 0.f;
    OCTET_CUDA_RETURN_IF_ERROR(cudaEventElapsedTime(&ms, t.start, t.stop));
    if (r > 0) us.push_back(1000.0 * ms / launches);
  }
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

// A device copy of `from` (empty stays empty).
Expected<DeviceBuffer> CopyOf(const DeviceBuffer& from) {
  if (from.bytes() == 0) return DeviceBuffer();
  OCTET_ASSIGN_OR_RETURN(DeviceBuffer to, DeviceBuffer::Allocate(from.bytes()));
  OCTET_CUDA_RETURN_IF_ERROR(
      cudaMemcpy(to.data(), from.data(), from.bytes(), cudaMemcpyDeviceToDevice));
  return to;
}

}  // namespace

Expected<Int4ShapeTuning> WeightOnlyGemm::TuneInt4Shape(int64_t m) const {
  const Impl& impl = *impl_;
  if (impl.bits != 4)
    return InvalidArgument(impl.description, ": TuneInt4Shape is for u4 (int4) weights");
  if (m < 1 || m > 65535)
    return InvalidArgument(impl.description, ": TuneInt4Shape needs 1 to 65535 rows, got ", m);
  const WeightOnlyPath path = PathFor(m);
  if (path == WeightOnlyPath::kCublasLtBf16)
    return InvalidArgument(impl.description, ": m = ", m,
                           " runs cuBLASLt's bf16 GEMM (cublaslt_min_rows ", impl.cublaslt_min_rows,
                           "), no u4 kernel shape to tune");
  OCTET_ASSIGN_OR_RETURN(DeviceProperties device, GetDeviceProperties());
  OCTET_ASSIGN_OR_RETURN(Stream stream, Stream::Create());
  // x and y: their values do not change the time.
  OCTET_ASSIGN_OR_RETURN(DeviceBuffer x,
                         DeviceBuffer::Allocate(static_cast<size_t>(m * impl.k) * 2));
  OCTET_ASSIGN_OR_RETURN(DeviceBuffer y,
                         DeviceBuffer::Allocate(static_cast<size_t>(m * impl.n) * 2));
  OCTET_CUDA_RETURN_IF_ERROR(cudaMemset(x.data(), 0, x.bytes()));

  const size_t bytes = static_cast<size_t>(packed_weight_bytes());
  const int copies = static_cast<int>(
      std::clamp<size_t>((2 * device.l2_cache_bytes + bytes - 1) / bytes, 1, kMaxCopies));
  std::vector<DeviceBuffer> spare;  // the copies beyond the kernel's own weights
  std::vector<weight_only::GemmArgs> args(copies, ArgsFor(x.data(), m, y.data()));
  for (int i = 1; i < copies; ++i) {
    for (const DeviceBuffer* from : {&impl.blocks, &impl.scales, &impl.zeros}) {
      OCTET_ASSIGN_OR_RETURN(DeviceBuffer copy, CopyOf(*from));
      spare.push_back(std::move(copy));
    }
    const size_t at = spare.size() - 3;
    args[i].packed = spare[at].data();
    args[i].scales = spare[at + 1].as<float>();
    args[i].zeros = spare[at + 2].bytes() > 0 ? spare[at + 2].as<uint8_t>() : nullptr;
  }
  const int launches = std::max(2 * copies, 20);

  Int4ShapeTuning tuning;
  tuning.m = m;
  const weight_only::Variant variant = VariantOf(path);
  tuning.rule_shape = weight_only::GemvShapeFor(variant, args[0], impl.group_size);
  for (int shape : weight_only::GemvCandidateShapes(variant)) {
    const bool pdl =
        impl.pdl && weight_only::GemvProgrammaticLaunchHelps(shape, impl.group_size, args[0]);
    // A shape these arguments do not fit (x in shared memory beyond what the
    // GPU gives a block) is not a candidate.
    const Status fits =
        weight_only::LaunchInt4(shape, impl.group_size, args[0], false, stream.get());
    if (fits.code() == StatusCode::kInvalidArgument) continue;
    if (!fits.ok()) return fits.WithContext(impl.description);
    auto us = TimeShape(shape, impl.group_size, pdl, args, launches, stream.get());
    if (!us.ok()) return us.status().WithContext(impl.description);
    tuning.timings.push_back({shape, pdl, *us});
  }
  OCTET_RETURN_IF_ERROR(stream.Synchronize());
  if (tuning.timings.empty())
    return Internal(impl.description, ": no u4 kernel shape could run m = ", m);
  tuning.best_shape = std::min_element(tuning.timings.begin(), tuning.timings.end(),
                                       [](const Int4ShapeTiming& a, const Int4ShapeTiming& b) {
                                         return a.us < b.us;
                                       })
                          ->shape;
  return tuning;
}

}  // namespace octet::cuda
